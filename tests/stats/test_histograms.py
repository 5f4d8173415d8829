"""channel_histograms: exact counts vs OpenCV/numpy, statistics vs scipy, pooling, spaces."""

import cv2
import numpy as np
import pytest
from scipy import stats

from diffprob.errors import ParameterError
from diffprob.stats.example_image import make_sample_image
from diffprob.stats.histograms import channel_histograms, entropy_bits

RNG = np.random.default_rng(0)
PHOTO = make_sample_image(96, 128, seed=1)


def calc(image, channel, bins, upper):
    return cv2.calcHist([image], [channel], None, [bins], [0, upper]).reshape(-1).astype(np.int64)


@pytest.mark.parametrize("bins", [256, 64, 100, 7, 1])
def test_rgb_counts_equal_calchist(bins):
    h = channel_histograms(PHOTO, bins=bins)
    assert h.counts.dtype == np.int64 and h.counts.shape == (3, bins)
    for c in range(3):
        assert np.array_equal(h.counts[c], calc(PHOTO, c, bins, 256))


@pytest.mark.parametrize("bins", [256, 32])
def test_counts_equal_numpy_histogram(bins):
    h = channel_histograms(PHOTO, bins=bins)
    for c in range(3):
        ref, edges = np.histogram(PHOTO[..., c], bins=bins, range=(0, 256))
        assert np.array_equal(h.counts[c], ref)
        assert np.allclose(h.bin_edges[c], edges)


def test_pmf_cdf_and_statistics_vs_scipy():
    h = channel_histograms(PHOTO)
    assert np.allclose(h.pmf.sum(axis=1), 1.0)
    assert np.allclose(h.cdf, np.cumsum(h.pmf, axis=1)) and np.all(h.cdf[:, -1] == 1.0)
    for c, name in enumerate("RGB"):
        values = PHOTO[..., c].ravel().astype(float)
        assert h.channels[c] == name
        assert h.mean[c] == pytest.approx(values.mean())
        assert h.var[c] == pytest.approx(values.var())
        assert h.std[c] == pytest.approx(values.std())
        assert h.skewness[c] == pytest.approx(stats.skew(values))
        _, counts = np.unique(values, return_counts=True)
        assert h.entropy_bits[c] == pytest.approx(stats.entropy(counts, base=2))
    s = h.stats()
    assert set(s) == {"R", "G", "B"} and s["G"]["mean"] == pytest.approx(h.mean[1])


def test_constant_image_statistics():
    h = channel_histograms(np.full((4, 4, 3), 7, np.uint8))
    assert np.all(h.mean == 7) and np.all(h.var == 0) and np.all(np.isnan(h.skewness))
    assert np.all(h.entropy_bits == 0)


def test_uniform_codes_have_log2_entropy():
    image = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    h = channel_histograms(image, bins=256)
    assert np.allclose(h.entropy_bits, 8.0)
    assert np.allclose(channel_histograms(image, bins=16).entropy_bits, 4.0)


def test_pooling_list_and_batch_equal_summed_counts():
    a = RNG.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    b = RNG.integers(0, 50, (7, 5, 3), dtype=np.uint8)  # different size
    pooled = channel_histograms([a, b])
    assert np.array_equal(
        pooled.counts, channel_histograms(a).counts + channel_histograms(b).counts
    )
    assert pooled.n_images == 2 and pooled.n_pixels == a.shape[0] * a.shape[1] + 35
    batch = RNG.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)
    from_batch = channel_histograms(batch, bins=32)
    from_list = channel_histograms(list(batch), bins=32)
    assert np.array_equal(from_batch.counts, from_list.counts) and from_batch.n_images == 20
    assert from_batch.n_pixels == 20 * 256


def test_hsv_hue_range_and_counts_equal_calchist_on_converted():
    h = channel_histograms(PHOTO, bins=180, space="hsv")
    hsv = cv2.cvtColor(PHOTO, cv2.COLOR_RGB2HSV)
    assert h.channels == ("H", "S", "V") and h.levels == (180, 256, 256)
    assert np.allclose(h.bin_edges[0], np.arange(181)) and h.bin_edges[1, -1] == 256
    assert np.array_equal(h.counts[0], calc(hsv, 0, 180, 180))
    assert np.array_equal(h.counts[1], calc(hsv, 1, 180, 256))
    # 256 bins over 180 hue codes: each code still in exactly one bin.
    h256 = channel_histograms(PHOTO, space="hsv")
    assert h256.counts[0].sum() == PHOTO.shape[0] * PHOTO.shape[1]
    assert np.array_equal(
        np.sort(h256.counts[0][h256.counts[0] > 0]), np.sort(h.counts[0][h.counts[0] > 0])
    )


def test_pure_colours_in_hsv_lab_gray():
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    hsv = channel_histograms(red, space="hsv")
    assert hsv.mean.tolist() == [0.0, 255.0, 255.0]
    lab = channel_histograms(red, space="lab")
    assert lab.channels == ("L", "a", "b")
    assert lab.mean[1] > 128 + 60  # red has large positive a*
    gray = channel_histograms(red, space="gray")
    assert gray.channels == ("gray",) and gray.counts.shape == (1, 256)
    assert gray.mean[0] == 76  # round(0.299 * 255)


def test_float_input_is_rounded_to_8_bits():
    h = channel_histograms(np.full((2, 2, 3), 0.5))
    assert h.counts[0, 128] == 4


def test_large_image_exact_beyond_float32():
    """OpenCV counts in float32; counts above 2**24 must still be exact."""
    image = np.zeros((4200, 4096, 3), np.uint8)  # 17.2M pixels, all in one bin
    image[0, 0] = 1
    h = channel_histograms(image)
    assert h.counts[0, 0] == 4200 * 4096 - 1 and h.counts[0, 1] == 1


@pytest.mark.parametrize("bins", [0, 257, -3, 2.5, True])
def test_bad_bins(bins):
    with pytest.raises(ParameterError, match="bins"):
        channel_histograms(PHOTO, bins=bins)


def test_bad_space_and_inputs():
    with pytest.raises(ParameterError, match="rgb, hsv, lab, gray"):
        channel_histograms(PHOTO, space="xyz")
    with pytest.raises(ParameterError):
        channel_histograms(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ParameterError):
        channel_histograms([])
    with pytest.raises(ParameterError):
        channel_histograms(np.zeros((0, 4, 3), np.uint8))


def test_result_is_read_only():
    h = channel_histograms(PHOTO)
    with pytest.raises(ValueError):
        h.counts[0, 0] = 1
    with pytest.raises(AttributeError):
        h.space = "hsv"


def test_entropy_bits_helper():
    assert entropy_bits([0.25] * 4) == pytest.approx(2.0)
    assert entropy_bits([1.0, 0.0]) == 0.0


def _masked(image, transparent):
    return np.ma.MaskedArray(image, mask=np.repeat(transparent[..., None], 3, axis=-1))


def test_masked_pixels_are_left_out_of_every_count():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    transparent = rng.random((20, 30)) < 0.54
    for space in ("rgb", "hsv"):
        h = channel_histograms(_masked(image, transparent), space=space)
        opaque = channel_histograms(image[~transparent][:, None, :], space=space)
        assert h.n_pixels == (~transparent).sum()
        np.testing.assert_array_equal(h.counts, opaque.counts)
        np.testing.assert_array_equal(h.counts.sum(axis=1), (~transparent).sum())
    # pooled with an unmasked image: the counts add
    pooled = channel_histograms([_masked(image, transparent), image])
    assert pooled.n_pixels == (~transparent).sum() + image.shape[0] * image.shape[1]


def test_masked_joint_histogram_counts_only_opaque_pixels():
    from diffprob.stats.joint import joint_histogram

    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    transparent = np.zeros((16, 16), bool)
    transparent[:, :5] = True
    j = joint_histogram(_masked(image, transparent), "R", "B", bins=32)
    kept = image[:, 5:].reshape(-1, 3)
    expected, _, _ = np.histogram2d(kept[:, 0], kept[:, 2], bins=32, range=[[0, 256], [0, 256]])
    np.testing.assert_array_equal(j.counts, expected)


def test_everything_masked_is_an_error():
    image = _masked(np.zeros((2, 2, 3), np.uint8), np.ones((2, 2), bool))
    with pytest.raises(ParameterError, match="masked"):
        channel_histograms(image)


def test_hsv_default_bins_leave_no_empty_hue_bin():
    # every hue code 0..179 present: at the default no hue bin may be empty (no comb)
    hue = np.arange(180, dtype=np.uint8).reshape(1, 180, 1)
    hsv = np.concatenate([hue, np.full((1, 180, 2), 255, np.uint8)], axis=2)
    import cv2

    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    h = channel_histograms(rgb, space="hsv")
    assert h.channel_bins == (180, 256, 256) and h.bins == 256
    hue_counts = h.counts[0, :180]
    assert (hue_counts > 0).sum() == len(np.unique(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 0]))
    # the padding past hue's last bin holds nothing, has zero width, and the CDF is 1 there
    assert not h.counts[0, 180:].any() and (h.cdf[0, 179:] == 1).all()
    np.testing.assert_array_equal(h.bin_edges[0, :181], np.arange(181))
    assert (h.bin_edges[0, 181:] == 180).all()
    # fewer bins than codes: unchanged, every channel splits its range evenly
    h64 = channel_histograms(rgb, bins=64, space="hsv")
    assert h64.channel_bins == (64, 64, 64)
    np.testing.assert_array_equal(h64.bin_edges[0], np.linspace(0, 180, 65))


def test_channel_bins_never_exceed_codes_against_numpy():
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    import cv2

    hue = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[..., 0].ravel()
    for bins in (179, 180, 200, 256):
        h = channel_histograms(image, bins=bins, space="hsv")
        b = min(bins, 180)
        expected, _ = np.histogram(hue, bins=np.linspace(0, 180, b + 1))
        np.testing.assert_array_equal(h.counts[0, :b], expected)
