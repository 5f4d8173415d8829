"""Distances between probability mass functions on a common grid.

How far a model's colour histograms are from the real ones. For PMFs p and q over
the same bins (counts are normalised first):

* :func:`total_variation_distance` -- TV(p, q) = 1/2 sum_k |p_k - q_k|, in [0, 1];
* :func:`jensen_shannon_divergence` -- JS(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m)
  with m = (p + q) / 2, in bits, in [0, 1];
* :func:`wasserstein1_distance` -- W1(p, q) = integral |F_p - F_q|, in grey levels
  (it knows that neighbouring bins are close; TV and JS do not);
* :func:`joint_histogram_distance` -- TV between joint (two-channel) PMFs, which
  sees how colours combine where per-channel PMFs cannot.

Distances between sets of samples (FD, KID, nearest neighbours) are in
:mod:`diffprob.evaluation.sample_distances`. Everything here is numpy/scipy;
nothing imports torch.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from diffprob.errors import ParameterError

__all__ = [
    "total_variation_distance",
    "jensen_shannon_divergence",
    "wasserstein1_distance",
    "joint_histogram_distance",
]


def _as_pmf(p, *, axis=-1, name="p") -> np.ndarray:
    """Return ``p`` (counts, a PMF, or an object with ``.pmf``) normalised along ``axis``."""
    p = getattr(p, "pmf", p)
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 0:
        raise ParameterError(f"{name} must be an array of probabilities, got a scalar")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ParameterError(f"{name} must hold finite, non-negative values")
    total = p.sum(axis=axis, keepdims=True)
    if np.any(total <= 0):
        raise ParameterError(f"{name} has a distribution with no mass")
    return p / total


def _pmf_pair(p, q, axis) -> tuple[np.ndarray, np.ndarray]:
    p = _as_pmf(p, axis=axis, name="p")
    q = _as_pmf(q, axis=axis, name="q")
    if p.shape != q.shape:
        raise ParameterError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    return p, q


def total_variation_distance(p, q, *, axis=-1):
    """Total variation distance between two PMFs on the same grid.

    Parameters
    ----------
    p, q : array_like or histogram object
        Probability mass functions (or counts, which are normalised) of the same
        shape; objects with a ``pmf`` attribute (``ChannelHistograms``,
        ``JointHistogram``) are accepted. Several distributions may be stacked,
        e.g. ``(channels, bins)``.
    axis : int or tuple of int, optional
        The axis (or axes) that index the bins. The other axes are kept, so
        ``(3, 256)`` inputs give three distances.

    Returns
    -------
    float or numpy.ndarray
        Distances in [0, 1].

    Notes
    -----
    .. math:: \\mathrm{TV}(p, q) = \\tfrac12 \\sum_k |p_k - q_k|
              = \\max_A |P(A) - Q(A)|

    0 for identical distributions, 1 for distributions with disjoint support.

    Examples
    --------
    >>> total_variation_distance([0.5, 0.5, 0.0], [0.0, 0.5, 0.5])
    0.5
    >>> total_variation_distance([[1, 0], [0, 1]], [[0, 1], [0, 1]])
    array([1., 0.])
    """
    p, q = _pmf_pair(p, q, axis)
    tv = 0.5 * np.abs(p - q).sum(axis=axis)
    return float(tv) if np.ndim(tv) == 0 else tv


def jensen_shannon_divergence(p, q, *, axis=-1):
    """Jensen--Shannon divergence in bits between two PMFs on the same grid.

    Parameters
    ----------
    p, q : array_like or histogram object
        PMFs (or counts) of the same shape; see :func:`total_variation_distance`.
    axis : int, optional
        The axis that indexes the bins.

    Returns
    -------
    float or numpy.ndarray
        Divergences in [0, 1] bits.

    Notes
    -----
    With the mixture :math:`m = (p + q) / 2`,

    .. math:: \\mathrm{JS}(p, q) = \\tfrac12 \\mathrm{KL}(p \\| m)
              + \\tfrac12 \\mathrm{KL}(q \\| m)

    in bits (base-2 logarithms): 0 for identical distributions, 1 for disjoint
    supports. This is the square of ``scipy.spatial.distance.jensenshannon(p, q,
    base=2)``, which returns the Jensen--Shannon *distance* (a metric).

    Examples
    --------
    >>> jensen_shannon_divergence([1, 0], [0, 1])
    1.0
    >>> round(jensen_shannon_divergence([0.5, 0.5], [0.9, 0.1]), 4)
    0.1468
    """
    p, q = _pmf_pair(p, q, axis)
    js = jensenshannon(p, q, base=2, axis=axis) ** 2
    js = np.clip(js, 0.0, 1.0)  # rounding can leave -1e-17 or 1 + 1e-16
    return float(js) if np.ndim(js) == 0 else js


def wasserstein1_distance(p, q, grid=None):
    """Wasserstein-1 (earth mover's) distance between PMFs on a common 1-D grid.

    Parameters
    ----------
    p, q : array_like or histogram object
        PMFs (or counts) over the same bins, shape ``(bins,)`` or stacked
        ``(..., bins)`` (e.g. one row per channel).
    grid : array_like, optional
        Position of each bin, shape ``(bins,)``. Default ``0, 1, ..., bins - 1``:
        for 256-bin histograms of 8-bit images the distance is in grey levels.

    Returns
    -------
    float or numpy.ndarray
        Distances in the units of `grid`.

    Notes
    -----
    .. math:: W_1(p, q) = \\min_{\\gamma \\in \\Pi(p, q)} \\sum_{j,k}
              \\gamma_{jk} |x_j - x_k| = \\int |F_p(x) - F_q(x)| \\, dx

    computed with ``scipy.stats.wasserstein_distance`` using the PMFs as weights.
    Unlike TV and JS it knows that neighbouring bins are close: moving all mass
    by one grey level costs 1, not the maximal distance.

    Examples
    --------
    >>> p = [0, 1, 0, 0, 0]
    >>> q = [0, 0, 0, 0, 1]
    >>> wasserstein1_distance(p, q)
    3.0
    >>> wasserstein1_distance(p, q, grid=[0.0, 0.25, 0.5, 0.75, 1.0])
    0.75
    """
    p, q = _pmf_pair(p, q, -1)
    bins = p.shape[-1]
    grid = np.arange(bins, dtype=np.float64) if grid is None else np.asarray(grid, float)
    if grid.shape != (bins,):
        raise ParameterError(f"grid must have shape ({bins},), got {grid.shape}")
    flat_p = p.reshape(-1, bins)
    flat_q = q.reshape(-1, bins)
    out = np.array(
        [wasserstein_distance(grid, grid, u, v) for u, v in zip(flat_p, flat_q, strict=True)]
    ).reshape(p.shape[:-1])
    return float(out) if out.ndim == 0 else out


def joint_histogram_distance(p, q):
    """Total variation distance between two joint (two-channel) PMFs.

    Parameters
    ----------
    p, q : array_like or JointHistogram
        Joint PMFs (or counts) of shape ``(..., x_bins, y_bins)``, or
        ``JointHistogram`` objects (their ``pmf`` is used).

    Returns
    -------
    float or numpy.ndarray
        One distance in [0, 1] per leading index (a float for a single pair).

    Notes
    -----
    .. math:: \\tfrac12 \\sum_{j,k} |p(x_j, y_k) - q(x_j, y_k)|

    Two images can share both channel marginals and still differ here: the
    joint histogram sees how colours combine (e.g. red *with* green), which
    per-channel PMFs cannot.

    Examples
    --------
    >>> a = [[0.5, 0.0], [0.0, 0.5]]   # R and G equal
    >>> b = [[0.0, 0.5], [0.5, 0.0]]   # R and G opposite; same marginals
    >>> joint_histogram_distance(a, b)
    1.0
    """
    return total_variation_distance(p, q, axis=(-2, -1))
