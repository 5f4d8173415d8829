"""Additive Gaussian noise with the semantics of ``skimage.util.random_noise``."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from diffprob.errors import ParameterError

__all__ = [
    "NoisyImage",
    "StoredNoise",
    "add_gaussian_noise",
    "add_gaussian_noise_uint8",
    "image_as_float",
]

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


class StoredNoise(NamedTuple):
    """Result of :func:`add_gaussian_noise_uint8`: the 8-bit image and its statistics."""

    image: np.ndarray
    """The noisy image stored in 8 bits: ``to_uint8(add_gaussian_noise(...).image)``."""
    noise_mean: float
    """Mean of the drawn noise (before clipping)."""
    noise_var: float
    """Population variance of the drawn noise."""
    stored_noise_mean: float
    """Mean of ``image / 255 - x``, the noise that the 8-bit file keeps."""
    stored_noise_var: float
    """Its population variance."""
    fraction_at_0: float
    """Share of stored values equal to 0."""
    fraction_at_255: float
    """Share of stored values equal to 255."""
    fraction_outside_0_1: float
    """Share of float results outside [0, 1] (0 when clipped)."""


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

    Memory: the result takes 12 bytes per value (float64 image, float32
    noise), four times a uint8 RGB input. For large images,
    :func:`add_gaussian_noise_uint8` draws the same noise block by block and
    keeps only the 8-bit result and its statistics.

    Examples
    --------
    >>> gray = np.full((64, 64, 3), 128, np.uint8)
    >>> noisy, noise = add_gaussian_noise(gray, var=0.01, rng=0)
    >>> noisy.dtype, noisy.shape, bool(0 <= noisy.min() and noisy.max() <= 1)
    (dtype('float64'), (64, 64, 3), True)
    >>> round(float(noise.std()), 2)
    0.1
    """
    image, mean, std, low = _prepare(image, mean, var)
    out = np.empty(image.shape, np.float64)
    noise = np.empty(image.shape, np.float32)
    flat_out = out.reshape(-1)
    flat_noise = noise.reshape(-1)
    fill = _filler(image, mean, std, low, clip)

    def run(start: int, stop: int, generator: np.random.Generator) -> None:
        fill(start, stop, flat_out[start:stop], flat_noise[start:stop], generator)

    blocks = _blocks(image.size, rng)
    if len(blocks) == 1:
        run(*blocks[0])
    else:
        with ThreadPoolExecutor(_workers()) as pool:
            for job in [pool.submit(run, *block) for block in blocks]:
                job.result()
    return NoisyImage(out, noise)


def _prepare(image, mean, var):
    mean = _check_parameter("mean", mean)
    var = _check_parameter("var", var)
    if var < 0:
        raise ParameterError(f"var must be >= 0, got {var}")
    image = np.asarray(image)
    if image.dtype.kind not in "biuf":
        raise ParameterError(f"expected a numeric image, got dtype {image.dtype}")
    low = -1.0 if image.size and image.min() < 0 else 0.0
    return image, mean, math.sqrt(var), low


def _workers() -> int:
    return min(2, os.cpu_count() or 1)


def _blocks(n: int, rng) -> list:
    """``(start, stop, generator)`` of each block; one block, ``rng`` itself, up to _BLOCK."""
    rng = np.random.default_rng(rng)
    if n <= _BLOCK:
        return [(0, n, rng)]
    starts = range(0, n, _BLOCK)
    # Child seeds drawn from rng itself: works for any Generator, any numpy.
    seeds = rng.integers(0, 2**63, size=len(starts))
    return [
        (s, min(s + _BLOCK, n), np.random.default_rng(int(seed)))
        for s, seed in zip(starts, seeds, strict=True)
    ]


def _filler(image: np.ndarray, mean: float, std: float, low: float, clip: bool):
    """``fill(start, stop, dest, noise, generator)``: values start:stop of the flat result."""
    flat_in = image.reshape(-1)
    scale = 1.0 / np.iinfo(image.dtype).max if image.dtype.kind in "iu" else None

    def fill(start, stop, dest, chunk, generator) -> None:
        generator.standard_normal(out=chunk, dtype=np.float32)
        chunk *= np.float32(std)
        chunk += np.float32(mean)
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

    return fill


def _moments(values: np.ndarray) -> tuple[int, float, float]:
    """(count, mean, sum of squared deviations), in float64."""
    m = float(values.mean(dtype=np.float64))
    d = values.astype(np.float64) - m
    return values.size, m, float(np.dot(d, d))


def _merge(a, b):
    """Chan et al.'s pairwise update of (count, mean, M2)."""
    (na, ma, qa), (nb, mb, qb) = a, b
    n = na + nb
    if n == 0:
        return 0, 0.0, 0.0
    delta = mb - ma
    return n, ma + delta * nb / n, qa + qb + delta * delta * na * nb / n


def add_gaussian_noise_uint8(image, mean=0.0, var=0.01, *, clip=True, rng=None) -> StoredNoise:
    """:func:`add_gaussian_noise` stored in 8 bits, in bounded memory, with its statistics.

    Draws exactly the noise of :func:`add_gaussian_noise` with the same arguments
    (``image`` equals ``to_uint8(add_gaussian_noise(...).image)``) but one block of
    2**22 values at a time, so memory is the input plus the uint8 output plus a few
    tens of MB, instead of 12 bytes per value for the float64 image and float32 noise.
    ``diffprob noise`` uses it.

    Returns
    -------
    StoredNoise
        The uint8 image and the measured noise statistics (population moments).

    Examples
    --------
    >>> from diffprob.stats.io import to_uint8
    >>> gray = np.full((64, 64, 3), 128, np.uint8)
    >>> stored = add_gaussian_noise_uint8(gray, var=0.01, rng=0)
    >>> bool(np.array_equal(stored.image, to_uint8(add_gaussian_noise(gray, var=0.01, rng=0).image)))
    True
    >>> round(stored.noise_var, 2)
    0.01
    """
    from diffprob.stats.io import to_uint8

    image, mean, std, low = _prepare(image, mean, var)
    fill = _filler(image, mean, std, low, clip)
    flat_in = image.reshape(-1)
    stored = np.empty(image.shape, np.uint8)
    flat_stored = stored.reshape(-1)
    x_scale = 1.0 / np.iinfo(image.dtype).max if image.dtype.kind in "iu" else 1.0

    def run(start: int, stop: int, generator: np.random.Generator):
        dest = np.empty(stop - start, np.float64)
        chunk = np.empty(stop - start, np.float32)
        fill(start, stop, dest, chunk, generator)
        out = flat_stored[start:stop]
        out[...] = to_uint8(dest)
        src = flat_in[start:stop]
        if image.dtype == np.uint8:
            kept = (out.astype(np.int16) - src) / 255.0
        else:
            kept = out / 255.0 - np.asarray(src, np.float64) * x_scale
        counts = np.array(
            [
                np.count_nonzero(out == 0),
                np.count_nonzero(out == 255),
                np.count_nonzero((dest < 0) | (dest > 1)),
            ]
        )
        return _moments(chunk), _moments(kept), counts

    noise_m, stored_m, counts = (0, 0.0, 0.0), (0, 0.0, 0.0), np.zeros(3, np.int64)
    blocks = _blocks(image.size, rng)
    workers = _workers()
    with ThreadPoolExecutor(workers) as pool:
        # `workers` blocks in flight at a time, so memory does not grow with the image;
        # the statistics are merged in block order.
        for first in range(0, len(blocks), workers):
            jobs = [pool.submit(run, *block) for block in blocks[first : first + workers]]
            for job in jobs:
                block_noise, block_stored, block_counts = job.result()
                noise_m = _merge(noise_m, block_noise)
                stored_m = _merge(stored_m, block_stored)
                counts += block_counts
    n = max(1, image.size)
    return StoredNoise(
        stored,
        noise_m[1],
        noise_m[2] / n,
        stored_m[1],
        stored_m[2] / n,
        int(counts[0]) / n,
        int(counts[1]) / n,
        int(counts[2]) / n,
    )
