"""KID: the kernel distance between two feature clouds, an unbiased squared MMD.

:func:`kernel_distance` is the unbiased squared maximum mean discrepancy with the
cubic kernel k(x, y) = (x.y / d + 1)^3 (Binkowski et al. 2018), averaged over random
subsets, optionally stratified by class for sets drawn a fixed number per class;
:class:`KernelReference` evaluates the same estimator against a fixed reference for many
resamples of one set (the bootstrap of :mod:`diffprob.evaluation.uncertainty`).

Everything here is numpy; nothing imports torch.
"""

from __future__ import annotations

import copy

import numpy as np

from diffprob.errors import ParameterError
from diffprob.evaluation.sample_distances import _as_features, _feature_pair

__all__ = ["kernel_distance", "KernelReference"]


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    m = len(x)
    k_xx = _polynomial_kernel(x, x)
    k_yy = _polynomial_kernel(y, y)
    k_xy = _polynomial_kernel(x, y)
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def _stratified_kernel_mean(x, x_strata, y, y_strata, same: bool) -> float:
    """E k(X, Y) for two stratified samples: block means weighted by each set's proportions.

    Each block (stratum c of x, stratum c' of y) is averaged over its own pairs, leaving
    out i == j when x and y are the same sample, so every block mean is unbiased.
    """
    cx, ix = np.unique(x_strata, return_inverse=True)
    cy, iy = np.unique(y_strata, return_inverse=True)
    one_x = np.eye(len(cx))[ix]  # (n_x, strata of x)
    one_y = np.eye(len(cy))[iy]
    k = _polynomial_kernel(x, y)
    block_sums = one_x.T @ k @ one_y
    n_x, n_y = one_x.sum(0), one_y.sum(0)
    pairs = np.outer(n_x, n_y)
    if same:
        block_sums -= np.diag(one_x.T @ np.diag(k))
        pairs -= np.diag(n_x)
    return float((n_x / n_x.sum()) @ (block_sums / pairs) @ (n_y / n_y.sum()))


def _mmd2_stratified(x, x_strata, y, y_strata) -> float:
    return (
        _stratified_kernel_mean(x, x_strata, x, x_strata, True)
        + _stratified_kernel_mean(y, y_strata, y, y_strata, True)
        - 2.0 * _stratified_kernel_mean(x, x_strata, y, y_strata, False)
    )


class KernelReference:
    """A fixed feature set, for the stratified MMD^2 of one set's many resamples to it.

    :func:`kernel_distance` averages over random subsets; a bootstrap that called it on
    every resample would spend minutes on kernel matrices. Here the kernel is evaluated
    once on the full sets -- k(b, b) in blocks, k(a, a) and k(a, b) -- and a resample
    of `a` (indices with repeats) only re-weights block sums: the same unbiased
    stratified estimator as :func:`kernel_distance`, on the whole of both sets.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> b = rng.normal(size=(400, 4)); a = rng.normal(size=(100, 4)) + 0.5
    >>> ref = KernelReference(b, np.arange(400) % 2).with_set(a, np.arange(100) % 2)
    >>> bool(ref.mmd2() > 0.1), bool(abs(ref.mmd2(np.arange(100)) - ref.mmd2()) < 1e-12)
    (True, True)
    """

    def __init__(self, reference, strata=None, *, chunk: int = 1000):
        self.y = _as_features(reference, "reference")
        self.y_strata = np.zeros(len(self.y), np.int64) if strata is None else np.asarray(strata)
        self._cy, iy = np.unique(self.y_strata, return_inverse=True)
        self._one_y = np.eye(len(self._cy))[iy]
        n_y = self._one_y.sum(0)
        block = np.zeros((len(self._cy), len(self._cy)))
        for start in range(0, len(self.y), chunk):  # k(y, y) a block of rows at a time
            k = _polynomial_kernel(self.y[start : start + chunk], self.y)
            block += self._one_y[start : start + chunk].T @ k @ self._one_y
            rows = np.arange(start, min(start + chunk, len(self.y)))
            block -= np.diag(self._one_y[rows].T @ k[rows - start, rows])
        pairs = np.outer(n_y, n_y) - np.diag(n_y)
        self._w_y = n_y / n_y.sum()
        self.term_yy = float(self._w_y @ (block / pairs) @ self._w_y)
        self.x = None

    def with_set(self, a, strata=None) -> KernelReference:
        """A copy that holds the kernels of set `a`, for :meth:`mmd2` of its resamples."""
        out = copy.copy(self)
        out.x = _as_features(a, "a")
        out.x_strata = np.zeros(len(out.x), np.int64) if strata is None else np.asarray(strata)
        out._k_xx = _polynomial_kernel(out.x, out.x)
        out._k_xy_y = _polynomial_kernel(out.x, self.y) @ self._one_y  # (n_x, strata_y)
        return out

    def mmd2(self, idx=None) -> float:
        """Stratified unbiased MMD^2 between ``a[idx]`` (default: all of `a`) and the reference."""
        idx = np.arange(len(self.x)) if idx is None else np.asarray(idx)
        cx, ix = np.unique(self.x_strata[idx], return_inverse=True)
        one_x = np.eye(len(cx))[ix]
        n_x = one_x.sum(0)
        k = self._k_xx[np.ix_(idx, idx)]
        block = one_x.T @ k @ one_x - np.diag(one_x.T @ np.diag(k))
        pairs = np.outer(n_x, n_x) - np.diag(n_x)
        w_x = n_x / n_x.sum()
        term_xx = w_x @ (block / pairs) @ w_x
        term_xy = (
            w_x @ ((one_x.T @ self._k_xy_y[idx]) / np.outer(n_x, self._one_y.sum(0))) @ self._w_y
        )
        return float(term_xx + self.term_yy - 2.0 * term_xy)


def _as_strata(strata, n: int, name: str) -> np.ndarray:
    strata = np.asarray(strata)
    if strata.shape != (n,):
        raise ParameterError(f"{name} must have one entry per sample ({n}), got {strata.shape}")
    _, counts = np.unique(strata, return_counts=True)
    if counts.min() < 2:
        raise ParameterError(f"every stratum of {name} needs at least 2 samples")
    return strata


def _stratified_subset(rng, strata: np.ndarray, m: int) -> np.ndarray:
    """Indices of about m samples, each stratum in its proportion (at least 2 of each)."""
    classes, counts = np.unique(strata, return_counts=True)
    take = np.minimum(np.maximum(np.rint(counts * m / len(strata)).astype(int), 2), counts)
    return np.concatenate(
        [
            rng.choice(np.flatnonzero(strata == c), k, replace=False)
            for c, k in zip(classes, take, strict=True)
        ]
    )


def kernel_distance(
    a, b, *, subset_size=1000, n_subsets=100, rng=None, return_std=False, strata=None
):
    """Kernel distance (KID): unbiased squared MMD with a cubic polynomial kernel.

    Parameters
    ----------
    a, b : array_like, shape (n_samples, n_features)
        Feature vectors of the two sets (each needs at least 2 samples).
    subset_size : int, optional
        Size m of the random subsets; capped at the size of the smaller set.
    n_subsets : int, optional
        Number of subset pairs the estimate is averaged over.
    rng : int or numpy.random.Generator, optional
        Seed or generator that draws the subsets.
    return_std : bool, optional
        Also return the standard deviation of the per-subset estimates.
    strata : (array_like, array_like), optional
        The stratum (e.g. class) of every row of `a` and of `b`, when the sets were
        drawn a fixed number per stratum rather than independently (as
        :func:`~diffprob.evaluate` draws its class-balanced sets). Every stratum needs
        at least 2 rows; subsets keep each set's proportions. See Notes.

    Returns
    -------
    float or tuple of float
        The mean of the per-subset MMD^2 estimates (and their standard deviation).
        It can be slightly negative: the estimator is unbiased, so for identical
        distributions it scatters around 0.

    Notes
    -----
    With :math:`k(x, y) = (x^\\top y / d + 1)^3` (d = number of features) and
    subsets :math:`x_1..x_m` of `a` and :math:`y_1..y_m` of `b` drawn without
    replacement,

    .. math:: \\widehat{\\mathrm{MMD}}^2 = \\frac{1}{m(m-1)} \\sum_{i \\ne j}
              \\left[k(x_i, x_j) + k(y_i, y_j)\\right]
              - \\frac{2}{m^2} \\sum_{i,j} k(x_i, y_j)

    (Bińkowski et al., 2018). Unlike :func:`frechet_distance` its expectation
    does not depend on the sample size, so small-sample values can be compared
    directly; only their spread grows as n shrinks.

    That holds for independent draws. A set drawn with exactly :math:`m/K` rows per
    class has fewer same-class pairs among its :math:`i \\ne j` than a pair of sets
    has between them (:math:`(m/K - 1)/(m - 1)` against :math:`1/K`), and same-class
    features are closer, so the formula above falls below 0 by about
    :math:`2\\Delta(1 - 1/K)/(m - 1)`, where :math:`\\Delta` is how much larger the
    kernel is within a class than between classes. With `strata`, each term is
    instead the average of per-stratum block means, weighted by the strata's
    proportions in each set, each block leaving out :math:`i = j`: every block mean is
    unbiased, and so is the estimate.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    >>> round(kernel_distance(a, b, n_subsets=20, rng=0), 2)        # same distribution: ~0
    0.02
    >>> round(kernel_distance(a, b + 1.0, n_subsets=20, rng=0), 2)  # shifted by 1 everywhere
    9.04

    Two sets of 10 per class from the same 4 well-separated classes:

    >>> centres = 3.0 * rng.normal(size=(4, 8))
    >>> labels = np.repeat(np.arange(4), 10)
    >>> x = centres[labels] + rng.normal(size=(40, 8))
    >>> y = centres[labels] + rng.normal(size=(40, 8))
    >>> kernel_distance(x, y, rng=0) < -10                          # biased by the balance
    True
    >>> abs(kernel_distance(x, y, rng=0, strata=(labels, labels))) < 10
    True
    """
    a, b = _feature_pair(a, b, 2)
    if int(subset_size) < 2 or int(n_subsets) < 1:
        raise ParameterError("subset_size must be >= 2 and n_subsets >= 1")
    m = min(int(subset_size), len(a), len(b))
    rng = np.random.default_rng(rng)
    if strata is None:
        estimates = [
            _mmd2_unbiased(
                a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
            )
            for _ in range(int(n_subsets))
        ]
    else:
        if len(strata) != 2:
            raise ParameterError("strata must be a pair (strata of a, strata of b)")
        sa, sb = (
            _as_strata(strata[0], len(a), "strata of a"),
            _as_strata(strata[1], len(b), "strata of b"),
        )
        estimates = []
        for _ in range(int(n_subsets)):
            ia, ib = _stratified_subset(rng, sa, m), _stratified_subset(rng, sb, m)
            estimates.append(_mmd2_stratified(a[ia], sa[ia], b[ib], sb[ib]))
    estimates = np.array(estimates)
    mean = float(estimates.mean())
    if return_std:
        return mean, float(estimates.std())
    return mean
