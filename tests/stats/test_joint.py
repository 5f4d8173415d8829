"""joint_histogram: exact counts, marginals, conditionals, correlation, MI, chi-square."""

import cv2
import numpy as np
import pytest
from scipy import stats

from diffprob.errors import ParameterError
from diffprob.stats.example_image import make_sample_image
from diffprob.stats.joint import joint_histogram

PHOTO = make_sample_image(96, 128, seed=2)


@pytest.mark.parametrize(
    "x, y, bins", [("R", "G", 256), ("R", "B", 64), ("B", "B", 16), ("g", "r", 1)]
)
def test_counts_equal_histogram2d(x, y, bins):
    j = joint_histogram(PHOTO, x, y, bins=bins)
    cx, cy = "RGB".index(x.upper()), "RGB".index(y.upper())
    ref, xe, ye = np.histogram2d(
        PHOTO[..., cx].ravel(), PHOTO[..., cy].ravel(), bins=bins, range=[[0, 256], [0, 256]]
    )
    assert j.counts.dtype == np.int64 and np.array_equal(j.counts, ref)
    assert np.allclose(j.x_edges, xe) and np.allclose(j.y_edges, ye)
    two_d = cv2.calcHist([PHOTO], [cx, cy], None, [bins, bins], [0, 256, 0, 256])
    assert np.array_equal(j.counts, two_d.astype(np.int64))


def test_marginals_equal_channel_histograms():
    from diffprob.stats.histograms import channel_histograms

    j = joint_histogram(PHOTO, "R", "B", bins=32)
    h = channel_histograms(PHOTO, bins=32)
    assert np.allclose(j.marginal_x, h.pmf[0]) and np.allclose(j.marginal_y, h.pmf[2])
    assert j.pmf.sum() == pytest.approx(1.0)


def test_conditionals_sum_to_one_and_match_counts():
    j = joint_histogram(PHOTO, "R", "G", bins=64)
    matrix = j.conditional_matrix("x")
    has_mass = j.marginal_x > 0
    assert np.allclose(matrix[has_mass].sum(axis=1), 1.0)
    assert np.all(np.isnan(matrix[~has_mass]))
    given_y = j.conditional_matrix("G")
    assert np.allclose(given_y[j.marginal_y > 0].sum(axis=1), 1.0)
    # P(G | R = v) = p(v, g) / p(v)
    v = int(np.median(PHOTO[..., 0]))
    row = v * 64 // 256
    assert np.allclose(j.conditional("R", v), j.pmf[row] / j.marginal_x[row])
    assert np.allclose(j.conditional("x", v), matrix[row])
    # Bayes: P(R | G) p(G) = P(G | R) p(R)
    joint_from_x = matrix[has_mass] * j.marginal_x[has_mass, None]
    assert np.allclose(joint_from_x, j.pmf[has_mass])


def test_conditional_errors():
    image = np.zeros((4, 4, 3), np.uint8)
    j = joint_histogram(image, "R", "G")
    with pytest.raises(ParameterError, match="undefined"):
        j.conditional("R", 200)
    with pytest.raises(ParameterError, match=r"\[0, 256\)"):
        j.conditional("R", 256)
    with pytest.raises(ParameterError, match="given"):
        j.conditional("B", 0)


def test_mutual_information_of_a_channel_with_itself_is_its_entropy():
    j = joint_histogram(PHOTO, "G", "G", bins=256)
    _, counts = np.unique(PHOTO[..., 1], return_counts=True)
    entropy = stats.entropy(counts, base=2)
    assert j.mutual_information_bits == pytest.approx(entropy, rel=1e-9)
    assert j.entropy_x_bits == pytest.approx(entropy) and j.correlation == pytest.approx(1.0)


def test_independent_channels_have_near_zero_mi_and_correlation():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    j = joint_histogram(image, "R", "G", bins=16)
    # Plug-in MI bias ~ (bins-1)^2 / (2 N ln 2) bits = 0.0006 here.
    assert 0 <= j.mutual_information_bits < 0.003
    assert abs(j.correlation) < 5 / np.sqrt(image.shape[0] * image.shape[1])
    test = j.chi2_independence()
    assert test.pvalue > 1e-4 and test.dof == 15 * 15 and test.cramers_v < 0.01


def test_correlation_equals_pearson_and_anticorrelation():
    j = joint_histogram(PHOTO, "R", "B", bins=8)  # exact even with coarse bins
    r = np.corrcoef(PHOTO[..., 0].ravel(), PHOTO[..., 2].ravel())[0, 1]
    assert j.correlation == pytest.approx(r)
    inverted = PHOTO.copy()
    inverted[..., 1] = 255 - inverted[..., 0]
    assert joint_histogram(inverted, "R", "G").correlation == pytest.approx(-1.0)
    assert np.isnan(joint_histogram(np.zeros((3, 3, 3), np.uint8)).correlation)


def test_chi2_matches_scipy_after_dropping_empty_rows_and_columns():
    j = joint_histogram(PHOTO, "R", "G", bins=32)
    table = j.counts[j.counts.sum(1) > 0][:, j.counts.sum(0) > 0]
    ref = stats.chi2_contingency(table, correction=False)
    got = j.chi2_independence()
    assert got.statistic == pytest.approx(ref.statistic) and got.dof == ref.dof
    assert got.shape == table.shape
    assert got.pvalue < 1e-10  # R and G of a landscape are strongly dependent
    constant = joint_histogram(np.zeros((3, 3, 3), np.uint8)).chi2_independence()
    assert constant.dof == 0 and constant.pvalue == 1.0


def test_hsv_joint_uses_each_channel_range():
    j = joint_histogram(PHOTO, "H", "S", bins=30, space="hsv")
    hsv = cv2.cvtColor(PHOTO, cv2.COLOR_RGB2HSV)
    ref, _, _ = np.histogram2d(
        hsv[..., 0].ravel(), hsv[..., 1].ravel(), bins=30, range=[[0, 180], [0, 256]]
    )
    assert np.array_equal(j.counts, ref) and j.levels == (180, 256)


def test_pooled_batch():
    rng = np.random.default_rng(1)
    batch = rng.integers(0, 256, (30, 16, 16, 3), dtype=np.uint8)
    pooled = joint_histogram(batch, "R", "G", bins=32)
    summed = sum(joint_histogram(im, "R", "G", bins=32).counts for im in batch)
    assert np.array_equal(pooled.counts, summed)


def test_unknown_channel_lists_valid_ones():
    with pytest.raises(ParameterError, match="R, G, B"):
        joint_histogram(PHOTO, "Q", "G")
    with pytest.raises(ParameterError, match="H, S, V"):
        joint_histogram(PHOTO, "R", "G", space="hsv")
    with pytest.raises(ParameterError, match="bins"):
        joint_histogram(PHOTO, bins=300)
