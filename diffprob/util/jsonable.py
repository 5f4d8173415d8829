"""Conversion of results (numpy arrays and scalars, paths) to plain JSON values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["to_jsonable"]


def to_jsonable(obj):
    """Return `obj` with numpy values, tuples and paths turned into JSON types.

    Non-finite floats become None, since JSON has no NaN or infinity.

    Examples
    --------
    >>> to_jsonable({"mean": np.float32(0.5), "counts": np.arange(3), "p": float("nan")})
    {'mean': 0.5, 'counts': [0, 1, 2], 'p': None}
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj
