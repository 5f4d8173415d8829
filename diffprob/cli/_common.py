"""Helpers shared by the command-line verbs: output paths, JSON, parsers."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from ..errors import ImageWriteError, ParameterError
from ..jsonable import to_jsonable


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


def print_json(obj) -> None:
    """Print ``obj`` (numpy values allowed) as JSON on stdout."""
    json.dump(to_jsonable(obj), sys.stdout, indent=2)
    sys.stdout.write("\n")


def info(message: str) -> None:
    """A diagnostic line on stderr (results go to stdout)."""
    print(message, file=sys.stderr)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


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
