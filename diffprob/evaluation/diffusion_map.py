"""Diffusion maps (Coifman & Lafon, 2006): a random walk on a data graph.

A different "diffusion" from the DDPM's: here diffusion is a Markov chain that
hops between data points, preferring near neighbours. After t steps, points
between which the walk mixes easily are close; the leading eigenvectors of the
walk's transition matrix turn that into coordinates. Plotting real, generated
and baseline sprites in one diffusion-map picture shows whether generated
sprites live on the same "manifold" as real ones.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg
from scipy.spatial.distance import pdist, squareform

from diffprob.errors import ParameterError

__all__ = ["DiffusionMap", "median_heuristic"]


def median_heuristic(sq_distances: np.ndarray) -> float:
    """Median of the non-zero off-diagonal squared distances (a kernel bandwidth).

    Parameters
    ----------
    sq_distances : numpy.ndarray, shape (n, n)
        Squared pairwise distances.

    Returns
    -------
    float
        The median, or 1.0 if every distance is zero.

    Examples
    --------
    >>> d2 = np.array([[0.0, 1.0, 4.0], [1.0, 0.0, 9.0], [4.0, 9.0, 0.0]])
    >>> median_heuristic(d2)
    4.0
    """
    d2 = np.asarray(sq_distances, dtype=np.float64)
    off = d2[~np.eye(len(d2), dtype=bool)]
    off = off[off > 0]
    return float(np.median(off)) if off.size else 1.0


class DiffusionMap:
    """Diffusion-map embedding with a Gaussian kernel.

    Parameters
    ----------
    n_components : int, optional
        Number of diffusion coordinates kept (the trivial constant one excluded).
    epsilon : float, optional
        Kernel bandwidth in :math:`k(x, y) = \\exp(-\\|x - y\\|^2 / \\varepsilon)`.
        Default: the median of the squared pairwise distances
        (:func:`median_heuristic`).
    t : float, optional
        Diffusion time (number of random-walk steps), >= 0. Larger t shrinks the
        coordinates of faster-decaying eigenvectors, keeping coarser structure.
    alpha : float, optional
        Density normalisation in [0, 1]: 0 is the classical normalised graph
        Laplacian, 0.5 the Fokker--Planck diffusion, 1 removes the effect of the
        sampling density (Laplace--Beltrami operator).
    n_eigenvalues : int, optional
        How many leading eigenvalues to compute and keep in ``eigenvalues_`` (for
        the spectrum plot); at least ``n_components + 1``. Default
        ``max(n_components + 1, 20)``, capped at the number of points.

    Attributes
    ----------
    embedding_ : numpy.ndarray, shape (n, n_components)
        Diffusion coordinates :math:`\\lambda_i^t \\psi_i(x)`, i = 1..n_components.
    eigenvalues_ : numpy.ndarray
        Leading eigenvalues of P in decreasing order; ``eigenvalues_[0]`` = 1.
    eigenvectors_ : numpy.ndarray, shape (n, len(eigenvalues_))
        Right eigenvectors :math:`\\psi_i` of P, normalised so that
        :math:`\\sum_x \\pi(x) \\psi_i(x)^2 = 1`; column 0 is constant 1.
    stationary_distribution_ : numpy.ndarray, shape (n,)
        :math:`\\pi = d / \\sum d`, the walk's stationary distribution.
    transition_matrix_ : numpy.ndarray, shape (n, n)
        The Markov matrix P (each row sums to 1).
    epsilon_ : float
        The bandwidth used.

    Notes
    -----
    With :math:`K_{ij} = \\exp(-\\|x_i - x_j\\|^2 / \\varepsilon)` and
    :math:`q_i = \\sum_j K_{ij}`, the alpha-normalised kernel is
    :math:`K^{(\\alpha)}_{ij} = K_{ij} / (q_i q_j)^{\\alpha}`. With degrees
    :math:`d_i = \\sum_j K^{(\\alpha)}_{ij}`, the random walk is

    .. math:: P = D^{-1} K^{(\\alpha)}, \\qquad P_{ij} = K^{(\\alpha)}_{ij} / d_i .

    P is not symmetric, but it is conjugate to the symmetric
    :math:`A = D^{-1/2} K^{(\\alpha)} D^{-1/2}`: if :math:`A v = \\lambda v` then
    :math:`P \\psi = \\lambda \\psi` with :math:`\\psi = D^{-1/2} v`. So the
    eigenvalues are real, :math:`1 = \\lambda_0 \\ge \\lambda_1 \\ge \\dots \\ge 0`
    (a Gaussian kernel is positive semi-definite), and ``scipy.linalg.eigh`` on
    A finds them stably. :math:`\\psi_0` is constant and carries no information;
    the diffusion map is

    .. math:: \\Psi_t(x) = (\\lambda_1^t \\psi_1(x), \\dots, \\lambda_k^t \\psi_k(x)),

    and Euclidean distance between :math:`\\Psi_t(x)` and :math:`\\Psi_t(y)`
    approximates the diffusion distance
    :math:`\\|P^t(x, \\cdot) - P^t(y, \\cdot)\\|_{L^2(1/\\pi)}`. Eigenvector signs
    are arbitrary; they are fixed so that each :math:`\\psi_i` has its largest
    absolute entry positive.

    Cost: O(n^2) memory and O(n^2 k) time for k eigenpairs; a few thousand
    points take seconds.

    References
    ----------
    R. R. Coifman and S. Lafon, "Diffusion maps", Applied and Computational
    Harmonic Analysis 21 (2006) 5--30.

    Examples
    --------
    Points on a circle map to a circle, and the eigenvalues come in pairs
    (cos and sin of the same frequency):

    >>> angle = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    >>> circle = np.c_[np.cos(angle), np.sin(angle)]
    >>> dmap = DiffusionMap(n_components=2, epsilon=0.1).fit(circle)
    >>> np.round(dmap.eigenvalues_[:5], 3)
    array([1.   , 0.975, 0.975, 0.903, 0.903])
    >>> radius = np.hypot(*dmap.embedding_.T)
    >>> bool(radius.std() / radius.mean() < 1e-6)
    True
    """

    def __init__(self, n_components=2, epsilon=None, t=1, alpha=0.0, n_eigenvalues=None):
        self.n_components = n_components
        self.epsilon = epsilon
        self.t = t
        self.alpha = alpha
        self.n_eigenvalues = n_eigenvalues

    def _check_params(self, n_points: int) -> int:
        if not isinstance(self.n_components, (int, np.integer)) or self.n_components < 1:
            raise ParameterError(f"n_components must be an integer >= 1, got {self.n_components}")
        if n_points < self.n_components + 1:
            raise ParameterError(
                f"need at least n_components + 1 = {self.n_components + 1} points, got {n_points}"
            )
        if self.epsilon is not None and not (math.isfinite(self.epsilon) and self.epsilon > 0):
            raise ParameterError(f"epsilon must be a positive number, got {self.epsilon}")
        if not (math.isfinite(self.t) and self.t >= 0):
            raise ParameterError(f"t must be a finite number >= 0, got {self.t}")
        if not (0.0 <= self.alpha <= 1.0):
            raise ParameterError(f"alpha must be in [0, 1], got {self.alpha}")
        k = self.n_eigenvalues
        if k is None:
            k = max(self.n_components + 1, 20)
        elif int(k) < self.n_components + 1:
            raise ParameterError(f"n_eigenvalues must be >= n_components + 1, got {k}")
        return min(int(k), n_points)

    def fit(self, X) -> DiffusionMap:
        """Compute the diffusion map of the rows of X.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Data points (flatten images first, or use classifier features).

        Returns
        -------
        DiffusionMap
            self, with the fitted attributes set.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ParameterError(f"X must have shape (n_samples, n_features), got {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ParameterError("X contains NaN or infinite values")
        n_eig = self._check_params(len(X))

        sq_dist = squareform(pdist(X, "sqeuclidean"))
        eps = median_heuristic(sq_dist) if self.epsilon is None else float(self.epsilon)
        kernel = np.exp(-sq_dist / eps)
        if self.alpha > 0:
            q = kernel.sum(axis=1)
            kernel = kernel / np.outer(q, q) ** self.alpha
        degree = kernel.sum(axis=1)
        inv_sqrt_degree = 1.0 / np.sqrt(degree)
        symmetric = kernel * np.outer(inv_sqrt_degree, inv_sqrt_degree)

        n = len(X)
        values, vectors = linalg.eigh(symmetric, subset_by_index=[n - n_eig, n - 1])
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
        # psi_i = v_i / v_0 with v_0 = sqrt(d / sum d): psi_0 = 1 and
        # sum_x pi(x) psi_i(x)^2 = 1 for every i.
        v0 = vectors[:, 0] * np.sign(vectors[:, 0].sum())
        psi = vectors / v0[:, None]
        largest = np.abs(psi).argmax(axis=0)
        psi *= np.sign(psi[largest, np.arange(psi.shape[1])])
        values = np.clip(values, 0.0, 1.0)  # rounding only: the kernel is PSD and P stochastic

        self.epsilon_ = eps
        self.eigenvalues_ = values
        self.eigenvectors_ = psi
        self.stationary_distribution_ = degree / degree.sum()
        self.transition_matrix_ = kernel / degree[:, None]
        k = self.n_components
        self.embedding_ = psi[:, 1 : k + 1] * values[1 : k + 1] ** self.t
        return self

    def fit_transform(self, X) -> np.ndarray:
        """Fit and return ``embedding_``, shape (n_samples, n_components)."""
        return self.fit(X).embedding_

    def diffusion_coordinates(self, t=None) -> np.ndarray:
        """Coordinates at another diffusion time, without refitting.

        Parameters
        ----------
        t : float, optional
            Diffusion time (default: the fitted ``t``).

        Returns
        -------
        numpy.ndarray, shape (n_samples, n_components)
        """
        t = self.t if t is None else t
        if not (math.isfinite(t) and t >= 0):
            raise ParameterError(f"t must be a finite number >= 0, got {t}")
        k = self.n_components
        return self.eigenvectors_[:, 1 : k + 1] * self.eigenvalues_[1 : k + 1] ** t
