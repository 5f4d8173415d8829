"""Additive Gaussian noise with the semantics of ``skimage.util.random_noise``."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from diffprob.errors import ParameterError

__all__ = ["NoisyImage", "add_gaussian_noise", "image_as_float"]

# Noise is drawn in blocks of this many values, each from its own child
# generator, so two threads can fill an image at once and the result depends
# only on the seed and the image size, never on the number of threads.
_BLOCK = 1 << 22


class NoisyImage(NamedTuple):
    """Result of :func:`add_gaussian_noise`."""

    image: np.ndarray
    """The noisy image, float64, in [0, 1] (or [-1, 1] for signed input) when clipped."""
    noise: np.ndarray
    """The noise that was drawn, float32, same shape; before clipping."""


def image_as_float(image) -> np.ndarray:
    """Return ``image`` as float64 with skimage's ``img_as_float`` scaling.

    Unsigned integers are divided by their dtype's maximum (``uint8``: 255),
    signed integers by theirs and floored at -1, booleans become 0/1 and floats
    are *not* rescaled.

    Examples
    --------
    >>> image_as_float(np.array([0, 51, 255], np.uint8))
    array([0. , 0.2, 1. ])
    """
    image = np.asarray(image)
    if image.dtype == np.bool_:
        return image.astype(np.float64)
    if image.dtype.kind == "u":
        return np.multiply(image, 1.0 / np.iinfo(image.dtype).max, dtype=np.float64)
    if image.dtype.kind == "i":
        scaled = np.multiply(image, 1.0 / np.iinfo(image.dtype).max, dtype=np.float64)
        return np.maximum(scaled, -1.0, out=scaled)
    if image.dtype.kind == "f":
        return image.astype(np.float64, copy=True)
    raise ParameterError(f"expected a numeric image, got dtype {image.dtype}")


def _check_parameter(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ParameterError(f"{name} must be finite, got {value}")
    return value


def add_gaussian_noise(image, mean=0.0, var=0.01, *, clip=True, rng=None) -> NoisyImage:
    """Add independent Gaussian noise N(mean, var) to every pixel and channel.

    Same distribution as ``skimage.util.random_noise(image, mode="gaussian",
    mean=mean, var=var, clip=clip)``, about twice as fast, and the drawn noise is
    returned too so it can be studied on its own.

    Parameters
    ----------
    image : ndarray
        Any shape. Integer images are scaled to [0, 1] by their dtype's maximum
        (signed ones to [-1, 1]); float images are used as they are.
    mean : float, optional
        Mean of the noise, in the [0, 1] units of the scaled image.
    var : float, optional
        Variance of the noise (not its standard deviation), >= 0.
    clip : bool, optional
        Clip the result to [0, 1] ([-1, 1] if the image has negative values),
        as skimage does. The returned ``noise`` is never clipped.
    rng : int, numpy.random.Generator or None, optional
        Seed or generator (passed through :func:`numpy.random.default_rng`).

    Returns
    -------
    NoisyImage
        ``image``: float64 noisy image; ``noise``: float32 noise that was added
        (float32 precision, 2**-24 relative, is far below 8-bit quantisation).

    Raises
    ------
    ParameterError
        ``var`` < 0, ``mean`` or ``var`` not finite, or a non-numeric image.

    Notes
    -----
    With :math:`x` the scaled image and :math:`\\varepsilon \\sim
    \\mathcal{N}(0, 1)` drawn independently per value,

    .. math:: y = \\mathrm{clip}(x + \\mu + \\sigma\\varepsilon,\\ 0,\\ 1),
              \\qquad \\sigma = \\sqrt{\\mathrm{var}}.

    Clipping piles probability :math:`\\Phi(-(x + \\mu)/\\sigma)` at 0 and
    :math:`1 - \\Phi((1 - x - \\mu)/\\sigma)` at 1; see
    :func:`diffprob.stats.distributions.quantized_noise_pmf` for the distribution
    once the result is stored in 8 bits.

    Images larger than 2**22 values are filled in blocks, each from a child
    generator seeded from ``rng``, on two threads; the output is the same
    for a given seed whatever the number of cores.

    Examples
    --------
    >>> gray = np.full((64, 64, 3), 128, np.uint8)
    >>> noisy, noise = add_gaussian_noise(gray, var=0.01, rng=0)
    >>> noisy.dtype, noisy.shape, bool(0 <= noisy.min() and noisy.max() <= 1)
    (dtype('float64'), (64, 64, 3), True)
    >>> round(float(noise.std()), 2)
    0.1
    """
    mean = _check_parameter("mean", mean)
    var = _check_parameter("var", var)
    if var < 0:
        raise ParameterError(f"var must be >= 0, got {var}")
    image = np.asarray(image)
    if image.dtype.kind not in "biuf":
        raise ParameterError(f"expected a numeric image, got dtype {image.dtype}")
    low = -1.0 if image.size and image.min() < 0 else 0.0
    rng = np.random.default_rng(rng)
    std = math.sqrt(var)
    scale = 1.0 / np.iinfo(image.dtype).max if image.dtype.kind in "iu" else None

    out = np.empty(image.shape, np.float64)
    noise = np.empty(image.shape, np.float32)
    flat_in = image.reshape(-1)
    flat_out = out.reshape(-1)
    flat_noise = noise.reshape(-1)

    def fill(start: int, stop: int, generator: np.random.Generator) -> None:
        chunk = flat_noise[start:stop]
        generator.standard_normal(out=chunk, dtype=np.float32)
        chunk *= np.float32(std)
        chunk += np.float32(mean)
        dest = flat_out[start:stop]
        src = flat_in[start:stop]
        if scale is None:
            dest[...] = src
        else:
            np.multiply(src, scale, out=dest)
            if image.dtype.kind == "i":
                np.maximum(dest, -1.0, out=dest)
        dest += chunk
        if clip:
            np.clip(dest, low, 1.0, out=dest)

    n = flat_in.size
    if n <= _BLOCK:
        fill(0, n, rng)
    else:
        starts = range(0, n, _BLOCK)
        # Child seeds drawn from rng itself: works for any Generator, any numpy.
        seeds = rng.integers(0, 2**63, size=len(starts))
        children = [np.random.default_rng(int(s)) for s in seeds]
        workers = min(2, os.cpu_count() or 1)
        with ThreadPoolExecutor(workers) as pool:
            jobs = [
                pool.submit(fill, s, min(s + _BLOCK, n), g)
                for s, g in zip(starts, children, strict=True)
            ]
            for job in jobs:
                job.result()
    return NoisyImage(out, noise)
