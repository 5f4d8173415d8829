"""The model's pixel range: uint8 codes 0..255 <-> floats in [-1, 1], channels first.

One mapping for every user (training data, samples, the classifier, the forward
process): ``x = v / 127.5 - 1`` maps 0 -> -1 and 255 -> 1 exactly and its inverse
rounds to the nearest code, so a round trip is lossless.
"""

from __future__ import annotations

import numpy as np

from diffprob.errors import ParameterError

__all__ = ["to_model_range", "from_model_range"]


def to_model_range(images) -> np.ndarray:
    """Map uint8 ``(N, H, W, C)`` images to float32 ``(N, C, H, W)`` in [-1, 1].

    Notes
    -----
    x = v / 127.5 - 1, so 0 -> -1 and 255 -> 1 exactly; :func:`from_model_range`
    inverts it without loss.

    Examples
    --------
    >>> x = to_model_range(np.array([[[[0, 255, 51]]]], dtype=np.uint8))
    >>> x.shape, x.dtype, x.ravel().tolist()
    ((1, 3, 1, 1), dtype('float32'), [-1.0, 1.0, -0.6000000238418579])
    """
    a = np.asarray(images)
    if a.dtype != np.uint8:
        raise ParameterError(f"images must be uint8, got {a.dtype}")
    if a.ndim != 4:
        raise ParameterError(f"images must have shape (N, H, W, C), got {a.shape}")
    x = a.transpose(0, 3, 1, 2).astype(np.float32)
    x /= np.float32(127.5)
    x -= np.float32(1.0)
    return np.ascontiguousarray(x)


def from_model_range(x) -> np.ndarray:
    """Map model outputs ``(N, C, H, W)`` in [-1, 1] back to uint8 ``(N, H, W, C)``.

    Accepts a numpy array or a torch tensor (any device). Values are rounded
    to the nearest level and clipped to [0, 255].

    Examples
    --------
    >>> from_model_range(np.array([[[[-1.2]], [[0.0]], [[1.0]]]])).ravel().tolist()
    [0, 128, 255]
    """
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 4:
        raise ParameterError(f"x must have shape (N, C, H, W), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ParameterError("x holds NaN or infinite values")
    v = np.rint((a + 1.0) * 127.5)
    return np.clip(v, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
