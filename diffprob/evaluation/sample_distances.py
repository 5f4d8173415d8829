"""Distances between two sets of samples, or from samples to a training set.

Where :mod:`diffprob.evaluation.divergences` compares histograms, these compare
the samples themselves, as points:

* :func:`frechet_distance` -- FD (FID with any feature extractor): the 2-Wasserstein
  distance between Gaussians fitted to two feature clouds,
  ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)); biased upward at small n;
* :func:`~diffprob.evaluation.kernel_mmd.kernel_distance` -- KID, in its own module;
* :func:`nearest_neighbor_distances` -- the RMS distance from each sample to its
  nearest training image: near 0 means the model copies its training data.

Everything here is numpy/scipy; nothing imports torch.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from diffprob.errors import ParameterError

__all__ = [
    "frechet_distance",
    "FrechetReference",
    "nearest_neighbor_distances",
]


def _as_features(x, name) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ParameterError(f"{name} must have shape (n_samples, n_features), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ParameterError(f"{name} contains NaN or infinite values")
    return x


def _feature_pair(a, b, min_samples) -> tuple[np.ndarray, np.ndarray]:
    a = _as_features(a, "a")
    b = _as_features(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ParameterError(
            f"a and b must have the same number of features, got {a.shape[1]} and {b.shape[1]}"
        )
    if min(len(a), len(b)) < min_samples:
        raise ParameterError(f"need at least {min_samples} samples in each set")
    return a, b


def frechet_distance(a, b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets.

    Parameters
    ----------
    a, b : array_like, shape (n_samples, n_features)
        Feature vectors, e.g. ``extract_features(classifier, images)``. The two
        sets may differ in size; each needs at least 2 samples.

    Returns
    -------
    float
        The squared Fréchet (2-Wasserstein) distance between N(mu_a, S_a) and
        N(mu_b, S_b), >= 0.

    Notes
    -----
    .. math:: \\mathrm{FD} = \\|\\mu_a - \\mu_b\\|^2 + \\operatorname{tr}\\left(
              \\Sigma_a + \\Sigma_b - 2 (\\Sigma_a \\Sigma_b)^{1/2}\\right)

    This is FID (Heusel et al., 2017) with the Inception network replaced by
    whatever produced the features. ``scipy.linalg.sqrtm`` may return tiny
    imaginary parts for a product of covariance matrices (rounding); they are
    dropped, and a nearly singular product gets ``1e-6`` added to both
    diagonals, as in the reference FID code.

    **FD is biased upward for small samples**: the covariance estimates carry
    sampling noise that adds to the trace term, so two independent sets drawn
    from the *same* distribution give FD > 0, shrinking roughly like 1/n
    (Chong & Forsyth, 2020). Compare FD values only at equal sample sizes, and
    read them against two real samples' FD at that size.
    :func:`kernel_distance` (:mod:`~diffprob.evaluation.kernel_mmd`) is unbiased.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(5000, 2))
    >>> b = rng.normal(size=(5000, 2)) + [3.0, 4.0]
    >>> round(frechet_distance(a, b))     # |mu_a - mu_b|^2 = 25
    25
    """
    a, b = _feature_pair(a, b, 2)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():
        # A singular product (fewer samples than features, constant features) is
        # expected; sqrtm still returns its square root, and a non-finite one is
        # retried with the diagonal offset below.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
        if not np.all(np.isfinite(covmean)):
            offset = 1e-6 * np.eye(cov_a.shape[0])
            covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    if np.iscomplexobj(covmean):
        # Eigenvalues of S_a S_b are real and >= 0 in exact arithmetic; a large
        # imaginary part would mean the covariances are not what we think.
        scale = max(1.0, float(np.abs(covmean).max()))
        if np.abs(covmean.imag).max() > 1e-3 * scale:
            raise ParameterError("covariance product has a complex square root; check the features")
        covmean = covmean.real
    diff = mu_a - mu_b
    fd = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean)
    return max(float(fd), 0.0)


class FrechetReference:
    """A fixed feature set's Gaussian, for the FD of many sets to it (e.g. a bootstrap).

    :func:`frechet_distance` fits both Gaussians and takes a matrix square root on every
    call. Against a fixed reference N(mu_r, S_r), with R = S_r^(1/2) computed once, the
    trace term is a sum over eigenvalues of a symmetric matrix instead:

    .. math:: \\operatorname{tr} (\\Sigma_a \\Sigma_r)^{1/2}
              = \\sum_i \\sqrt{\\lambda_i(R \\Sigma_a R)},

    since :math:`\\Sigma_a \\Sigma_r` and :math:`R \\Sigma_a R` are similar. The two agree
    to rounding.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=(500, 3)); a = rng.normal(size=(200, 3)) + 1
    >>> bool(np.isclose(FrechetReference(ref).distance(a), frechet_distance(a, ref)))
    True
    """

    def __init__(self, reference):
        reference = _as_features(reference, "reference")
        if len(reference) < 2:
            raise ParameterError("need at least 2 samples in the reference")
        self.mean = reference.mean(axis=0)
        self.cov = np.atleast_2d(np.cov(reference, rowvar=False))
        w, v = np.linalg.eigh(self.cov)
        self._root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    def distance(self, a) -> float:
        """FD between a Gaussian fitted to `a` (n, d) and the reference's, >= 0."""
        a = _as_features(a, "a")
        if len(a) < 2 or a.shape[1] != len(self.mean):
            raise ParameterError(f"a must have >= 2 rows of {len(self.mean)} features")
        cov_a = np.atleast_2d(np.cov(a, rowvar=False))
        eig = np.linalg.eigvalsh(self._root @ cov_a @ self._root)
        diff = a.mean(axis=0) - self.mean
        trace = np.trace(cov_a) + np.trace(self.cov) - 2.0 * np.sqrt(np.clip(eig, 0, None)).sum()
        return max(float(diff @ diff + trace), 0.0)


def _as_flat_images(x, name) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 2:
        raise ParameterError(f"{name} must hold one sample per row, got shape {x.shape}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0  # compare 8-bit images in [0, 1] units
    return x.reshape(len(x), -1).astype(np.float64, copy=False)


def nearest_neighbor_distances(samples, reference, *, chunk_size=256):
    """Distance from each sample to its nearest neighbour in a reference set.

    Parameters
    ----------
    samples : array_like, shape (n, ...)
        Query images or vectors; ``uint8`` images are scaled to [0, 1].
    reference : array_like, shape (m, ...)
        The set searched, e.g. the training images; same trailing shape and the
        same scaling rule as `samples`.
    chunk_size : int, optional
        Number of samples compared at once (bounds memory to
        ``chunk_size * m`` floats).

    Returns
    -------
    distances : numpy.ndarray, shape (n,)
        Root-mean-square difference per element to the nearest reference item:
        ``||x - r|| / sqrt(D)``. For 8-bit images it is in [0, 1] pixel units; 0
        means an exact copy.
    indices : numpy.ndarray of int64, shape (n,)
        Index in `reference` of that nearest item.

    Notes
    -----
    The nearest item is found with squared distances expanded as
    :math:`\\|x\\|^2 + \\|r\\|^2 - 2 x^\\top r` (one matrix product per chunk of
    samples, float64); the distance to it is then computed directly, so exact
    copies give exactly 0. A model that memorises its
    training set gives distances near 0; compare against the same statistic for
    held-out real images, which are new draws from the data distribution.

    Examples
    --------
    >>> ref = np.array([[0.0, 0.0], [3.0, 4.0]])
    >>> d, i = nearest_neighbor_distances([[3.0, 4.0], [0.0, 1.0]], ref)
    >>> d * np.sqrt(2)      # Euclidean distances
    array([0., 1.])
    >>> i
    array([1, 0])
    """
    x = _as_flat_images(samples, "samples")
    r = _as_flat_images(reference, "reference")
    if x.shape[1] != r.shape[1]:
        raise ParameterError(
            f"samples and reference differ in size per item: {x.shape[1]} vs {r.shape[1]}"
        )
    if len(r) == 0:
        raise ParameterError("reference set is empty")
    chunk_size = max(1, int(chunk_size))
    r_sq = np.einsum("ij,ij->i", r, r)
    distances = np.empty(len(x))
    indices = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), chunk_size):
        block = x[start : start + chunk_size]
        d2 = np.einsum("ij,ij->i", block, block)[:, None] + r_sq[None, :] - 2.0 * block @ r.T
        nearest = d2.argmin(axis=1)
        indices[start : start + len(block)] = nearest
        # The expanded form cancels badly for near-identical vectors; the distance to
        # the chosen neighbour is recomputed directly, so an exact copy gives 0.
        diff = block - r[nearest]
        distances[start : start + len(block)] = np.einsum("ij,ij->i", diff, diff)
    distances = np.sqrt(distances / x.shape[1])
    return distances, indices
