"""The file of one trained part (the autoencoder, the CLIP pair, the text-to-sprite U-Net).

A part file is a plain dictionary that ``torch.load(..., weights_only=True)`` reads::

    {"format": "diffprob-part", "format_version": 1, "part": "vae",
     "model_config": {...}, "state_dict": {...}, "metadata": {...}}

``model_config`` is what the part's config class rebuilds the network from;
``metadata`` holds JSON values only (the training settings, what the run measured at its
end, e.g. the autoencoder's latent scale factor). :func:`load_part` checks all of it, so
a foreign or damaged file is one :class:`~diffprob.errors.CheckpointError` line.
"""

from __future__ import annotations

import os

import torch

from diffprob.errors import CheckpointError
from diffprob.util.atomic_save import torch_save_atomic
from diffprob.util.jsonable import to_jsonable
from diffprob.util.safe_load import load_weights_only

__all__ = ["PART_FORMAT", "PARTS", "save_part", "load_part"]

PART_FORMAT = "diffprob-part"
FORMAT_VERSION = 1
#: The parts a file can hold.
PARTS = ("vae", "clip", "txt2img")


def save_part(
    path: str | os.PathLike,
    part: str,
    model_config: dict,
    state_dict: dict,
    metadata: dict | None = None,
) -> None:
    """Write one part atomically (a crash never leaves a damaged file)."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; expected one of {PARTS}")
    torch_save_atomic(
        {
            "format": PART_FORMAT,
            "format_version": FORMAT_VERSION,
            "part": part,
            "model_config": to_jsonable(model_config),
            "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
            "metadata": to_jsonable(metadata or {}),
        },
        path,
    )


def load_part(path: str | os.PathLike, part: str) -> tuple[dict, dict, dict]:
    """``(model_config, state_dict, metadata)`` of the `part` stored in `path`.

    Raises
    ------
    CheckpointError
        The file is missing, not a diffprob part file, or holds another part.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"no such file: {str(path)!r}")
    data = load_weights_only(path, f"diffprob {part} file")
    if not isinstance(data, dict) or data.get("format") != PART_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a diffprob part file")
    if data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} has part-file version {data.get('format_version')!r}; "
            f"this diffprob reads version {FORMAT_VERSION}"
        )
    if data.get("part") != part:
        raise CheckpointError(f"{str(path)!r} holds a {data.get('part')!r} part, not a {part!r}")
    config, state, metadata = (data.get(k) for k in ("model_config", "state_dict", "metadata"))
    if not isinstance(config, dict) or not isinstance(metadata, dict):
        raise CheckpointError(f"{str(path)!r} has a malformed model_config or metadata")
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{str(path)!r} has a malformed state_dict")
    return config, state, metadata
