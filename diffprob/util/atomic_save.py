"""Writing a file so that a crash or Ctrl-C never leaves a damaged one behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["torch_save_atomic", "write_text_atomic"]


def torch_save_atomic(obj, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` through a temporary file in the same folder, then a rename.

    The rename is atomic, so `path` holds either its previous content or the whole new
    file, never a part of it. The file gets the usual umask-based mode.
    """
    import torch

    _write_atomic(path, "wb", lambda handle: torch.save(obj, handle))


def write_text_atomic(text: str, path: str | os.PathLike) -> None:
    """Write `text` to `path` as :func:`torch_save_atomic` writes: whole or not at all."""
    _write_atomic(path, "w", lambda handle: handle.write(text))


def _write_atomic(path, mode: str, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates the file private (0600); give it the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
