"""Helpers shared by the command-line verbs: output paths, JSON, parsers."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import ImageWriteError, ParameterError


def output_path(path: str | os.PathLike | None, default: str, inputs: Iterable = ()) -> Path:
    """Return the output path, refusing one that names any of ``inputs``.

    ``path`` None means ``default`` in the current directory. The parent folder
    is created. Checking before anything is written keeps inputs intact.
    """
    out = Path(default if path is None else path)
    out_resolved = out.expanduser().resolve()
    for item in inputs:
        src = Path(item).expanduser()
        same = src.resolve() == out_resolved
        if not same and out.exists() and src.exists():
            same = os.path.samefile(src, out)
        if same:
            raise ImageWriteError(f"output {str(out)!r} is an input file; refusing to overwrite it")
    if out.is_dir():
        raise ImageWriteError(f"output {str(out)!r} is a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _to_builtin(obj):
    if isinstance(obj, dict):
        return {str(k): _to_builtin(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_builtin(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _to_builtin(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no NaN/inf
    if isinstance(obj, Path):
        return str(obj)
    return obj


def print_json(obj) -> None:
    """Print ``obj`` (numpy values allowed) as JSON on stdout."""
    json.dump(_to_builtin(obj), sys.stdout, indent=2)
    sys.stdout.write("\n")


def info(message: str) -> None:
    """A diagnostic line on stderr (results go to stdout)."""
    print(message, file=sys.stderr)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite float."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def check_range(name: str, value, low=None, high=None) -> None:
    """Raise ParameterError unless low <= value <= high."""
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ParameterError(f"{name} must be in {bounds}, got {value}")
