"""Diffusion maps against cases with a known spectrum."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from diffprob.errors import ParameterError
from diffprob.evaluation.diffusion_map import DiffusionMap, median_heuristic
from diffprob.plot.evaluation import plot_diffusion_embedding, plot_eigenvalue_spectrum


def _circle(n=120):
    angle = 2 * np.pi * np.arange(n) / n
    return angle, np.c_[np.cos(angle), np.sin(angle)]


def test_circle_spectrum_is_the_dft_of_the_kernel():
    # Equally spaced points on a circle: K is circulant, so P = K / rowsum is too and
    # its eigenvalues are the (real) DFT of one row, divided by the row sum.
    n, eps = 120, 0.05
    angle, x = _circle(n)
    row = np.exp(-np.sum((x - x[0]) ** 2, axis=1) / eps)
    expected = np.sort(np.real(np.fft.fft(row)) / row.sum())[::-1]
    dmap = DiffusionMap(n_components=4, epsilon=eps, n_eigenvalues=9).fit(x)
    np.testing.assert_allclose(dmap.eigenvalues_, expected[:9], atol=1e-10)
    # cos and sin of each frequency share an eigenvalue.
    assert dmap.eigenvalues_[1] == pytest.approx(dmap.eigenvalues_[2], abs=1e-10)
    assert dmap.eigenvalues_[3] == pytest.approx(dmap.eigenvalues_[4], abs=1e-10)


def test_circle_embeds_as_a_circle_in_the_same_order():
    angle, x = _circle()
    emb = DiffusionMap(n_components=2, epsilon=0.05).fit_transform(x)
    radius = np.hypot(emb[:, 0], emb[:, 1])
    np.testing.assert_allclose(radius, radius.mean(), rtol=1e-6)
    # The embedded angle is the true angle up to a rotation and a reflection.
    theta = np.unwrap(np.arctan2(emb[:, 1], emb[:, 0]))
    steps = np.diff(theta)
    assert np.all(steps > 0) or np.all(steps < 0)
    np.testing.assert_allclose(np.abs(steps), 2 * np.pi / len(angle), rtol=1e-6)


def test_markov_matrix_and_eigenpairs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    for alpha in (0.0, 0.5, 1.0):
        dmap = DiffusionMap(n_components=3, alpha=alpha).fit(x)
        p = dmap.transition_matrix_
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
        assert np.all(p >= 0)
        values = dmap.eigenvalues_
        assert values[0] == pytest.approx(1.0)
        assert np.all(values <= 1.0) and np.all(np.diff(values) <= 1e-12)
        # Right eigenvectors of P: P psi = lambda psi; psi_0 is constant.
        psi = dmap.eigenvectors_
        np.testing.assert_allclose(p @ psi, psi * values, atol=1e-9)
        np.testing.assert_allclose(psi[:, 0], 1.0)
        # Normalised in L2(pi) and pi is stationary: pi P = pi.
        pi = dmap.stationary_distribution_
        np.testing.assert_allclose((pi[:, None] * psi**2).sum(0), 1.0)
        np.testing.assert_allclose(pi @ p, pi, atol=1e-12)


def test_embedding_distance_equals_diffusion_distance():
    # With all n - 1 nontrivial coordinates, |Psi_t(x) - Psi_t(y)|^2 equals the
    # diffusion distance sum_z (P^t(x, z) - P^t(y, z))^2 / pi(z) exactly.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(25, 2))
    t = 3
    dmap = DiffusionMap(n_components=24, t=t, n_eigenvalues=25).fit(x)
    pt = np.linalg.matrix_power(dmap.transition_matrix_, t)
    pi = dmap.stationary_distribution_
    for i, j in [(0, 1), (3, 17), (5, 24)]:
        diffusion = np.sum((pt[i] - pt[j]) ** 2 / pi)
        embedded = np.sum((dmap.embedding_[i] - dmap.embedding_[j]) ** 2)
        assert embedded == pytest.approx(diffusion, rel=1e-6)


def test_first_coordinate_separates_two_clusters():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(40, 5)) * 0.3
    b = rng.normal(size=(40, 5)) * 0.3 + 3.0
    emb = DiffusionMap(n_components=2).fit_transform(np.r_[a, b])
    first = emb[:, 0]
    assert (np.all(first[:40] > 0) and np.all(first[40:] < 0)) or (
        np.all(first[:40] < 0) and np.all(first[40:] > 0)
    )


def test_complete_graph_has_one_unit_eigenvalue_and_zeros():
    # All points identical: K = all ones, P = J / n, eigenvalues 1, 0, 0, ...
    x = np.zeros((10, 2))
    dmap = DiffusionMap(n_components=2).fit(x)
    np.testing.assert_allclose(dmap.transition_matrix_, 0.1)
    np.testing.assert_allclose(dmap.eigenvalues_, [1] + [0] * 9, atol=1e-12)
    assert dmap.epsilon_ == 1.0  # median heuristic fallback: no nonzero distance


def test_diffusion_time_scales_coordinates():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 2))
    d1 = DiffusionMap(n_components=2, t=1).fit(x)
    d4 = DiffusionMap(n_components=2, t=4).fit(x)
    lam = d1.eigenvalues_[1:3]
    np.testing.assert_allclose(d4.embedding_, d1.embedding_ * lam**3, rtol=1e-8)
    np.testing.assert_allclose(d1.diffusion_coordinates(4), d4.embedding_)
    np.testing.assert_allclose(d1.diffusion_coordinates(0), d1.eigenvectors_[:, 1:3])


def test_default_bandwidth_is_the_median_squared_distance():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 4))
    dmap = DiffusionMap().fit(x)
    assert dmap.epsilon_ == pytest.approx(np.median(pdist(x, "sqeuclidean")))
    assert median_heuristic(np.zeros((3, 3))) == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [{"n_components": 0}, {"epsilon": -1.0}, {"t": -1}, {"alpha": 2.0}, {"n_eigenvalues": 2}],
)
def test_bad_parameters(kwargs):
    with pytest.raises(ParameterError):
        DiffusionMap(**kwargs).fit(np.random.default_rng(0).normal(size=(10, 2)))


def test_bad_data():
    with pytest.raises(ParameterError):
        DiffusionMap().fit(np.zeros(5))
    with pytest.raises(ParameterError):
        DiffusionMap(n_components=5).fit(np.zeros((4, 2)))
    with pytest.raises(ParameterError):
        DiffusionMap().fit(np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]))


def test_plots():
    angle, x = _circle(40)
    dmap = DiffusionMap(n_components=2, epsilon=0.1).fit(x)
    fig = plot_eigenvalue_spectrum(dmap, t=[1, 8], n_show=10)
    line = fig.axes[0].lines[1]
    np.testing.assert_allclose(line.get_ydata(), dmap.eigenvalues_[:10] ** 8)
    groups = ["real"] * 20 + ["model"] * 20
    fig = plot_diffusion_embedding(dmap, groups)
    offsets = [c.get_offsets() for c in fig.axes[0].collections]
    np.testing.assert_allclose(offsets[0], dmap.embedding_[:20])
    with pytest.raises(ParameterError):
        plot_diffusion_embedding(dmap, groups[:5])
