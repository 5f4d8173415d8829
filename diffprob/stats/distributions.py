"""The Gaussian noise distribution, and the same noise as an 8-bit image stores it.

:func:`~diffprob.stats.noise.add_gaussian_noise` adds :math:`\\mathcal{N}(\\mu,
\\sigma^2)` to pixel values in [0, 1]. Written to an 8-bit file, a pixel with
clean code :math:`c` (0..255) becomes

.. math:: s = \\mathrm{clip}(\\mathrm{round}(c + 255\\,n),\\ 0,\\ 255),

so the noise that survives, :math:`(s - c)/255`, lives on the grid
:math:`k/255` and clipping piles the two Gaussian tails onto :math:`s = 0` and
:math:`s = 255`. :func:`quantized_noise_pmf` gives that distribution exactly.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from diffprob.errors import ParameterError

__all__ = [
    "gaussian_pdf",
    "gaussian_cdf",
    "QuantizedNoise",
    "quantized_noise_pmf",
    "quantized_noise_cdf",
]


def _check(mean, var) -> tuple[float, float]:
    try:
        mean, var = float(mean), float(var)
    except (TypeError, ValueError):
        raise ParameterError(f"mean and var must be numbers, got {mean!r}, {var!r}") from None
    if not (math.isfinite(mean) and math.isfinite(var)):
        raise ParameterError(f"mean and var must be finite, got {mean}, {var}")
    if var < 0:
        raise ParameterError(f"var must be >= 0, got {var}")
    return mean, var


def _norm(mean, var):
    from scipy.stats import norm

    mean, var = _check(mean, var)
    if var == 0:
        raise ParameterError("var must be > 0 for a density")
    return norm(loc=mean, scale=math.sqrt(var))


def gaussian_pdf(x, mean=0.0, var=0.01) -> np.ndarray:
    """Density of :math:`\\mathcal{N}(\\mu, \\sigma^2)` (:func:`scipy.stats.norm.pdf`).

    .. math:: f(x) = \\frac{1}{\\sqrt{2\\pi\\sigma^2}} e^{-(x - \\mu)^2 / 2\\sigma^2}

    Parameters
    ----------
    x : array_like
    mean : float, optional
    var : float, optional
        Variance :math:`\\sigma^2 > 0` (not the standard deviation).

    Examples
    --------
    >>> round(float(gaussian_pdf(0.0, 0.0, 1.0)), 6)       # 1 / sqrt(2 pi)
    0.398942
    """
    return _norm(mean, var).pdf(x)


def gaussian_cdf(x, mean=0.0, var=0.01) -> np.ndarray:
    """Distribution function :math:`\\Phi((x - \\mu)/\\sigma)` (:func:`scipy.stats.norm.cdf`).

    Examples
    --------
    >>> float(gaussian_cdf(0.0, 0.0, 0.01))
    0.5
    """
    return _norm(mean, var).cdf(x)


class QuantizedNoise(NamedTuple):
    """Distribution of the noise as stored in an 8-bit image."""

    steps: np.ndarray
    """Integer noise steps :math:`k = s - c`, from -255 to 255."""
    values: np.ndarray
    """The same in [0, 1] image units, :math:`k / 255`."""
    pmf: np.ndarray
    """:math:`P(s - c = k)`; sums to 1."""
    cdf: np.ndarray
    """Running sum of ``pmf``."""
    clipped_low: float
    """Probability that clipping moved the pixel up to 0 (it would have rounded below 0)."""
    clipped_high: float
    """Probability that clipping moved the pixel down to 255."""


def quantized_noise_pmf(clean, mean=0.0, var=0.01) -> QuantizedNoise:
    """PMF and CDF of Gaussian noise after rounding and clipping to 8 bits.

    Parameters
    ----------
    clean : int or array_like of uint8
        The clean pixel code :math:`c` (0..255), or an image / array of codes:
        the result is then the mixture over its values, weighted by how often
        each occurs (the noise histogram of the whole image).
    mean, var : float, optional
        Noise parameters in [0, 1] image units, as for
        :func:`~diffprob.stats.noise.add_gaussian_noise`. ``var = 0`` is allowed
        (the noise is then deterministic).

    Returns
    -------
    QuantizedNoise
        ``steps`` k = -255..255, ``values`` k/255, ``pmf``, ``cdf``, and the
        clipped masses.

    Notes
    -----
    With :math:`F` the CDF of :math:`255\\,n \\sim \\mathcal{N}(255\\mu,
    (255\\sigma)^2)` and :math:`s = c + k`,

    .. math::

        P(s) = \\begin{cases}
            F(0.5 - c) & s = 0 \\\\
            F(s + 0.5 - c) - F(s - 0.5 - c) & 0 < s < 255 \\\\
            1 - F(254.5 - c) & s = 255,
        \\end{cases}

    and ``clipped_low`` :math:`= F(-0.5 - c)`, ``clipped_high`` :math:`= 1 -
    F(255.5 - c)`: the parts of the end masses that exist only because of
    clipping. Rounding is to nearest (:func:`diffprob.stats.io.to_uint8`); ties have
    probability zero.

    Examples
    --------
    >>> q = quantized_noise_pmf(128, mean=0.0, var=0.01)
    >>> float(q.pmf.sum()), float(q.cdf[-1])
    (1.0, 1.0)
    >>> round(float(q.pmf[q.steps == 0][0]), 4)     # P(|255 n| < 0.5), sigma = 25.5
    0.0156
    >>> q0 = quantized_noise_pmf(0, var=0.01)        # black: half the mass at 0
    >>> round(float(q0.pmf[q0.steps == 0][0]), 3), round(q0.clipped_low, 3)
    (0.508, 0.492)
    """
    from scipy.stats import norm

    mean, var = _check(mean, var)
    codes = np.asarray(clean)
    if codes.dtype.kind not in "iu" and not (
        codes.dtype.kind == "f" and np.all(codes == np.round(codes))
    ):
        raise ParameterError("clean must be integer pixel codes 0..255")
    if codes.size == 0:
        raise ParameterError("clean has no values")
    if codes.min() < 0 or codes.max() > 255:
        raise ParameterError("clean pixel codes must be in 0..255")
    weights = np.bincount(codes.astype(np.int64).ravel(), minlength=256).astype(np.float64)
    weights /= weights.sum()
    present = np.flatnonzero(weights)

    mu, sigma = 255.0 * mean, 255.0 * math.sqrt(var)
    # F at the rounding boundaries s - 0.5 for s = 1..255, relative to each c.
    bounds = np.arange(1, 256) - 0.5  # (255,)
    rel = bounds[None, :] - present[:, None]  # (n_present, 255)
    if sigma > 0:
        cdf_at = norm.cdf(rel, loc=mu, scale=sigma)
        low_tail = norm.cdf(-0.5 - present, loc=mu, scale=sigma)
        high_tail = norm.sf(255.5 - present, loc=mu, scale=sigma)
    else:
        cdf_at = (rel >= mu).astype(np.float64)  # a step at the mean
        low_tail = (-0.5 - present > mu).astype(np.float64)
        high_tail = (255.5 - present <= mu).astype(np.float64)
    # P(s) for s = 0..255 per clean value: differences of F, ends take the tails.
    edges = np.concatenate(
        [np.zeros((len(present), 1)), cdf_at, np.ones((len(present), 1))], axis=1
    )
    p_stored = np.diff(edges, axis=1)  # (n_present, 256)

    pmf = np.zeros(511)  # index k + 255
    for row, c in enumerate(present):
        pmf[255 - c : 511 - c] += weights[c] * p_stored[row]
    pmf = np.clip(pmf, 0.0, None)
    pmf /= pmf.sum()
    cdf = np.cumsum(pmf)
    cdf[-1] = 1.0
    steps = np.arange(-255, 256)
    w = weights[present]
    return QuantizedNoise(
        steps=steps,
        values=steps / 255.0,
        pmf=pmf,
        cdf=cdf,
        clipped_low=float(w @ low_tail),
        clipped_high=float(w @ high_tail),
    )


def quantized_noise_cdf(clean, mean=0.0, var=0.01) -> np.ndarray:
    """CDF over steps k = -255..255 of the 8-bit stored noise; see :func:`quantized_noise_pmf`.

    Examples
    --------
    >>> cdf = quantized_noise_cdf(128, var=0.01)
    >>> cdf.shape, round(float(cdf[255]), 3)         # P(k <= 0): just over half
    ((511,), 0.508)
    """
    return quantized_noise_pmf(clean, mean, var).cdf
