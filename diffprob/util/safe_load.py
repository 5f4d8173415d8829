"""Loading a ``.pt`` file without ever running it: the one place ``torch.load`` is called.

Checkpoints and classifier weights are read with ``weights_only=True``, which refuses any
pickled object but tensors and plain containers. A refused or damaged file is reported in
diffprob's words, never with torch's advice to retry with ``weights_only=False`` (that would
run whatever the file holds).
"""

from __future__ import annotations

import os
from pathlib import Path

from diffprob.errors import CheckpointError

__all__ = ["load_weights_only"]

# The first bytes of torch.save's zip container.
_ZIP_MAGIC = b"PK\x03\x04"


def load_weights_only(path: str | os.PathLike, what: str, map_location="cpu"):
    """``torch.load(path, weights_only=True)``, or CheckpointError naming the file as `what`.

    `what` is how the message names the kind of file ("diffprob checkpoint", ...): the
    error reads ``'f.pt' is not a readable <what> and was not loaded (<reason>)``.
    """
    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        with open(path, "rb") as handle:
            is_zip = handle.read(4) == _ZIP_MAGIC
        text = str(exc)
        if not is_zip:
            reason = "not a PyTorch file, or truncated"
        elif "weights_only" in text or "WeightsUnpickler" in text or "Weights only" in text:
            reason = "it holds objects that a weights-only load refuses; not written by diffprob"
        else:
            reason = f"corrupt: {type(exc).__name__}"
        raise CheckpointError(
            f"{str(path)!r} is not a readable {what} and was not loaded ({reason[:200]})"
        ) from None
