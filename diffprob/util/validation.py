"""Checks of user input that several modules share, each written once.

Every check raises a :class:`~diffprob.errors.DiffprobError` subclass whose message
names the argument, so the API gives a precise exception and the command line one
line without a traceback.
"""

from __future__ import annotations

import numpy as np

from diffprob.errors import DataError, ParameterError

__all__ = [
    "describe_array",
    "check_image_batch",
    "check_choice",
    "check_int_fields",
    "config_from_dict",
]


def check_image_batch(
    images,
    what: str = "images",
    *,
    channels: int | None = 3,
    size: int | None = None,
    error: type[Exception] = DataError,
) -> np.ndarray:
    """``images`` as a uint8 ``(N, H, W, C)`` array, or ``error`` naming ``what``.

    Parameters
    ----------
    images : array_like
        The batch to check; converted with :func:`numpy.asarray` (no copy for arrays).
    what : str
        How the message names the batch ("reference", "training data", ...).
    channels : int or None
        Required number of channels C; None accepts any.
    size : int or None
        Required height and width; None accepts any.
    error : exception class
        Raised on a mismatch (``DataError`` for data sets, ``ParameterError`` for
        arguments).

    Examples
    --------
    >>> check_image_batch(np.zeros((2, 4, 4, 3), np.uint8)).shape
    (2, 4, 4, 3)
    >>> check_image_batch(np.zeros((2, 4, 4)), "reference")
    Traceback (most recent call last):
    ...
    diffprob.errors.DataError: reference must be uint8 (N, H, W, 3), got float64 (2, 4, 4)
    """
    images = np.asarray(images)
    c = "C" if channels is None else channels
    hw = "H, W" if size is None else f"{size}, {size}"
    ok = images.dtype == np.uint8 and images.ndim == 4
    ok = ok and (channels is None or images.shape[-1] == channels)
    ok = ok and (size is None or images.shape[1:3] == (size, size))
    if not ok:
        raise error(f"{what} must be uint8 (N, {hw}, {c}), got {images.dtype} {images.shape}")
    return images


def check_choice(name: str, value, choices, *, error: type[Exception] = ParameterError) -> None:
    """Raise ``error`` naming ``name`` unless ``value`` is one of ``choices``.

    Examples
    --------
    >>> check_choice("lr_decay", "step", ("cosine", "linear"))
    Traceback (most recent call last):
    ...
    diffprob.errors.ParameterError: lr_decay must be one of ('cosine', 'linear'), got 'step'
    """
    if value not in choices:
        raise error(f"{name} must be one of {choices}, got {value!r}")


def describe_array(a) -> str:
    """How a message names a value that should have been an array: dtype and shape.

    Examples
    --------
    >>> describe_array(np.zeros((2, 3), np.uint8)), describe_array([1, 2])
    ('uint8 array of shape (2, 3)', 'list')
    """
    if isinstance(a, np.ndarray):
        return f"{a.dtype} array of shape {a.shape}"
    return type(a).__name__


def check_int_fields(config, limits: dict, where: str) -> None:
    """Check the integer fields of a configuration against their bounds, before any layer
    is built (so a file asking for a huge network is one line, not an allocation).

    `limits` maps a field to its upper bound (the field must be in [1, bound]) or to a
    pair (low, high); `where` names the table in the message.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> check_int_fields(SimpleNamespace(width=8), {"width": 512}, "LIMITS")
    >>> check_int_fields(SimpleNamespace(width=0), {"width": 512}, "LIMITS")
    Traceback (most recent call last):
    ...
    diffprob.errors.ParameterError: width must be an integer >= 1, got 0
    """
    for key, limit in limits.items():
        value = getattr(config, key)
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if isinstance(limit, tuple):
            low, high = limit
            if not is_int:
                raise ParameterError(f"{key} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise ParameterError(f"{key} must be in [{low}, {high}] ({where}), got {value}")
            continue
        if not is_int or value < 1:
            raise ParameterError(f"{key} must be an integer >= 1, got {value!r}")
        if value > limit:
            raise ParameterError(f"{key} must be at most {limit} ({where}), got {value}")


def config_from_dict(cls, data, what: str):
    """``cls(**data)`` for a configuration dataclass, refusing a non-dict and unknown keys.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Config:
    ...     width: int = 8
    >>> config_from_dict(Config, {"width": 4}, "toy")
    Config(width=4)
    >>> config_from_dict(Config, {"depth": 4}, "toy")
    Traceback (most recent call last):
    ...
    diffprob.errors.ParameterError: unknown toy configuration keys: ['depth']
    """
    from dataclasses import fields

    if not isinstance(data, dict):
        raise ParameterError(f"a {what} configuration must be a dict, got {type(data).__name__}")
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise ParameterError(f"unknown {what} configuration keys: {sorted(unknown)}")
    return cls(**data)
