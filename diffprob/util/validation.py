"""Checks of user input that several modules share, each written once.

Every check raises a :class:`~diffprob.errors.DiffprobError` subclass whose message
names the argument, so the API gives a precise exception and the command line one
line without a traceback.
"""

from __future__ import annotations

import numpy as np

from diffprob.errors import DataError, ParameterError

__all__ = ["describe_array", "check_image_batch", "check_choice"]


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
