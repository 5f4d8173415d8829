"""Distribution and feature-set distances against cases with known answers."""

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from diffprob import channel_histograms, joint_histogram
from diffprob.errors import ParameterError
from diffprob.evaluation.divergences import (
    jensen_shannon_divergence,
    joint_histogram_distance,
    total_variation_distance,
    wasserstein1_distance,
)
from diffprob.evaluation.kernel_mmd import kernel_distance
from diffprob.evaluation.sample_distances import frechet_distance, nearest_neighbor_distances


def _images(rng, n=50, size=8):
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# -- PMF distances -----------------------------------------------------------------------------
def test_identical_histograms_have_zero_distance():
    rng = np.random.default_rng(0)
    hist = channel_histograms(_images(rng))
    assert np.all(total_variation_distance(hist, hist) == 0)
    np.testing.assert_allclose(jensen_shannon_divergence(hist, hist), 0, atol=1e-12)
    np.testing.assert_allclose(wasserstein1_distance(hist, hist), 0, atol=1e-12)
    joint = joint_histogram(_images(rng), "R", "G", bins=16)
    assert joint_histogram_distance(joint, joint) == 0


def test_disjoint_colours_are_maximally_far():
    red = np.zeros((4, 4, 4, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((4, 4, 4, 3), np.uint8)
    blue[..., 2] = 255
    a, b = channel_histograms(red), channel_histograms(blue)
    # R and B channels have disjoint support (0 vs 255); G is identical (all 0).
    np.testing.assert_allclose(total_variation_distance(a, b), [1, 0, 1])
    np.testing.assert_allclose(jensen_shannon_divergence(a, b), [1, 0, 1], atol=1e-12)
    np.testing.assert_allclose(wasserstein1_distance(a, b), [255, 0, 255])
    ja = joint_histogram(red, "R", "B", bins=8)
    jb = joint_histogram(blue, "R", "B", bins=8)
    assert joint_histogram_distance(ja, jb) == pytest.approx(1.0)


def test_pmf_distances_match_scipy_on_random_pmfs():
    rng = np.random.default_rng(1)
    p = rng.random((3, 40))
    q = rng.random((3, 40))
    pn, qn = p / p.sum(1, keepdims=True), q / q.sum(1, keepdims=True)
    np.testing.assert_allclose(total_variation_distance(p, q), 0.5 * np.abs(pn - qn).sum(1))
    np.testing.assert_allclose(
        jensen_shannon_divergence(p, q), jensenshannon(pn, qn, base=2, axis=1) ** 2
    )
    grid = np.arange(40)
    expected = [wasserstein_distance(grid, grid, pn[i], qn[i]) for i in range(3)]
    np.testing.assert_allclose(wasserstein1_distance(p, q), expected)
    # W1 on a 1-D grid is the area between the CDFs.
    np.testing.assert_allclose(
        wasserstein1_distance(p, q), np.abs(np.cumsum(pn, 1) - np.cumsum(qn, 1)).sum(1)
    )


def test_wasserstein_of_point_masses_is_their_distance():
    p = np.zeros(256)
    q = np.zeros(256)
    p[10], q[250] = 1, 1
    assert wasserstein1_distance(p, q) == pytest.approx(240)
    grid = np.linspace(0, 1, 256)
    assert wasserstein1_distance(p, q, grid=grid) == pytest.approx(grid[250] - grid[10])
    # TV cannot tell near from far: any two distinct point masses are at distance 1.
    assert total_variation_distance(p, q) == 1.0


def test_joint_distance_sees_what_marginals_miss():
    # Same R and G marginals (half 0, half 255), but R == G versus R != G.
    same = np.zeros((2, 1, 1, 3), np.uint8)
    same[1] = 255
    opposite = same.copy()
    opposite[:, :, :, 1] = 255 - opposite[:, :, :, 1]
    assert np.all(
        total_variation_distance(channel_histograms(same), channel_histograms(opposite))[:2] == 0
    )
    d = joint_histogram_distance(
        joint_histogram(same, "R", "G", bins=2), joint_histogram(opposite, "R", "G", bins=2)
    )
    assert d == pytest.approx(1.0)


def test_js_is_bounded_and_symmetric():
    rng = np.random.default_rng(2)
    p, q = rng.random(20), rng.random(20)
    js = jensen_shannon_divergence(p, q)
    assert 0 < js < 1
    assert js == pytest.approx(jensen_shannon_divergence(q, p))


@pytest.mark.parametrize(
    "p, q",
    [
        ([0.5, 0.5], [1.0]),  # shapes differ
        ([0.5, -0.5], [0.5, 0.5]),  # negative
        ([0.0, 0.0], [0.5, 0.5]),  # no mass
        ([np.nan, 1.0], [0.5, 0.5]),
    ],
)
def test_bad_pmfs_raise(p, q):
    with pytest.raises(ParameterError):
        total_variation_distance(p, q)


def test_wasserstein_grid_shape_checked():
    with pytest.raises(ParameterError):
        wasserstein1_distance([0.5, 0.5], [0.5, 0.5], grid=[0, 1, 2])


# -- feature-set distances ---------------------------------------------------------------------
def test_frechet_identical_sets_is_zero():
    x = np.random.default_rng(3).normal(size=(300, 5))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_of_shifted_gaussians_is_squared_mean_difference():
    rng = np.random.default_rng(4)
    cov = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 0.5]])
    m1, m2 = np.zeros(3), np.array([1.0, -2.0, 0.5])
    a = rng.multivariate_normal(m1, cov, size=20000)
    b = rng.multivariate_normal(m2, cov, size=20000)
    assert frechet_distance(a, b) == pytest.approx(np.sum((m1 - m2) ** 2), rel=0.03)


def test_frechet_closed_form_for_diagonal_covariances():
    # N(0, diag(s1^2)) vs N(0, diag(s2^2)): FD = sum (s1 - s2)^2. Use exact whitened
    # samples so that the sample moments equal the population ones.
    rng = np.random.default_rng(5)
    z = rng.normal(size=(4000, 2))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    s1, s2 = np.array([1.0, 2.0]), np.array([3.0, 0.5])
    assert frechet_distance(z * s1, z * s2) == pytest.approx(np.sum((s1 - s2) ** 2), rel=1e-9)


def test_frechet_is_biased_upward_at_small_n():
    rng = np.random.default_rng(6)
    small = [frechet_distance(rng.normal(size=(50, 8)), rng.normal(size=(50, 8))) for _ in range(5)]
    large = [
        frechet_distance(rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))) for _ in range(5)
    ]
    assert np.mean(small) > 5 * np.mean(large) > 0


def test_frechet_handles_singular_covariance():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(100, 3))
    a[:, 2] = 0.0  # a constant feature: singular covariance
    b = rng.normal(size=(100, 3))
    b[:, 2] = 0.0
    fd = frechet_distance(a, b)
    assert np.isfinite(fd) and fd >= 0


def test_kernel_distance_is_unbiased_near_zero_for_same_distribution():
    rng = np.random.default_rng(8)
    values = [
        kernel_distance(rng.normal(size=(100, 4)), rng.normal(size=(100, 4)), n_subsets=5, rng=i)
        for i in range(20)
    ]
    # Unbiased: the mean over repeats is ~0 (within its standard error), not positive.
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))


def test_kernel_distance_grows_with_shift_and_reports_std():
    rng = np.random.default_rng(9)
    a = rng.normal(size=(300, 6))
    near = kernel_distance(a, rng.normal(size=(300, 6)) + 0.2, subset_size=100, rng=0)
    far, std = kernel_distance(
        a, rng.normal(size=(300, 6)) + 1.0, subset_size=100, rng=0, return_std=True
    )
    assert far > near > 0
    assert std > 0


def test_kernel_distance_matches_direct_formula():
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 0.5
    k = lambda a, b: (a @ b.T / 3 + 1) ** 3  # noqa: E731
    m = 6
    expected = (
        (k(x, x).sum() - np.trace(k(x, x))) / (m * (m - 1))
        + (k(y, y).sum() - np.trace(k(y, y))) / (m * (m - 1))
        - 2 * k(x, y).mean()
    )
    # subset_size = m: every subset is the whole set, in some order.
    assert kernel_distance(x, y, subset_size=6, n_subsets=3, rng=0) == pytest.approx(expected)


def test_class_balanced_sets_bias_plain_kid_and_strata_remove_it():
    # Two sets drawn 10 per class from the same 4 separated classes (as evaluate draws):
    # same-class pairs are rarer within a set than between sets, so the plain estimate
    # falls below 0; the stratified one stays unbiased.
    rng = np.random.default_rng(11)
    centres = 3.0 * rng.normal(size=(4, 8))
    labels = np.repeat(np.arange(4), 10)
    plain, stratified = [], []
    for i in range(150):
        x = centres[labels] + rng.normal(size=(40, 8))
        y = centres[labels] + rng.normal(size=(40, 8))
        plain.append(kernel_distance(x, y, n_subsets=1, rng=i))
        stratified.append(kernel_distance(x, y, n_subsets=1, rng=i, strata=(labels, labels)))
    se = lambda v: np.std(v) / np.sqrt(len(v))  # noqa: E731
    assert np.mean(plain) < -10 * se(plain)
    assert abs(np.mean(stratified)) < 3 * se(stratified)


def test_one_stratum_is_the_plain_estimate_and_proportions_may_differ():
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 3)) + 0.5
    one = np.zeros(12, dtype=int)
    plain = kernel_distance(x, y, subset_size=12, n_subsets=2, rng=0)
    assert kernel_distance(
        x, y, subset_size=12, n_subsets=2, rng=0, strata=(one, one)
    ) == pytest.approx(plain)
    # Each set is weighted by its own proportions: a 2:1 mixture against a 1:2 mixture
    # of the same two strata differs, the same mixture does not.
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 4.0, 4.0]])
    la, lb = np.repeat([0, 1], [40, 20]), np.repeat([0, 1], [20, 40])
    same = kernel_distance(
        centres[la] + rng.normal(size=(60, 3)),
        centres[la] + rng.normal(size=(60, 3)),
        rng=0,
        strata=(la, la),
    )
    other = kernel_distance(
        centres[la] + rng.normal(size=(60, 3)),
        centres[lb] + rng.normal(size=(60, 3)),
        rng=0,
        strata=(la, lb),
    )
    assert other > 10 * abs(same)


def test_kernel_distance_checks_strata():
    x = np.zeros((6, 2))
    with pytest.raises(ParameterError, match="pair"):
        kernel_distance(x, x, strata=np.zeros(6))
    with pytest.raises(ParameterError, match="one entry per sample"):
        kernel_distance(x, x, strata=(np.zeros(5), np.zeros(6)))
    with pytest.raises(ParameterError, match="at least 2"):
        kernel_distance(x, x, strata=(np.array([0, 0, 0, 0, 0, 1]), np.zeros(6)))


def test_feature_distances_check_shapes():
    with pytest.raises(ParameterError):
        frechet_distance(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ParameterError):
        kernel_distance(np.zeros((1, 3)), np.zeros((10, 3)))
    with pytest.raises(ParameterError):
        frechet_distance(np.zeros(10), np.zeros(10))


# -- memorisation ------------------------------------------------------------------------------
def test_nearest_neighbours_match_brute_force():
    rng = np.random.default_rng(11)
    train = _images(rng, n=40, size=4)
    queries = _images(rng, n=25, size=4)
    queries[3] = train[17]  # an exact copy
    d, idx = nearest_neighbor_distances(queries, train, chunk_size=7)
    q = queries.reshape(25, -1) / 255.0
    t = train.reshape(40, -1) / 255.0
    full = np.sqrt(((q[:, None, :] - t[None, :, :]) ** 2).mean(-1))
    np.testing.assert_array_equal(idx, full.argmin(1))
    np.testing.assert_allclose(d, full.min(1), atol=1e-9)
    assert idx[3] == 17 and d[3] == 0


def test_nearest_neighbours_rejects_mismatched_sizes():
    with pytest.raises(ParameterError):
        nearest_neighbor_distances(np.zeros((2, 4)), np.zeros((3, 5)))


def test_frechet_with_fewer_samples_than_features_matches_eigen_formula():
    # tr((S_a S_b)^1/2) = sum sqrt(eig(S_a^1/2 S_b S_a^1/2)), computed independently.
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(20, 32)), rng.normal(size=(20, 32)) + 0.1
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(ca)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.clip(np.linalg.eigvalsh(root_a @ cb @ root_a), 0, None)
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca + cb) - 2 * np.sqrt(eig).sum()
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
