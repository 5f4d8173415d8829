"""add_gaussian_noise: moments, skimage equivalence, clipping, determinism, errors."""

import math

import numpy as np
import pytest
from scipy import stats
from skimage.util import random_noise

from diffprob.errors import ParameterError
from diffprob.stats.noise import _BLOCK, add_gaussian_noise, image_as_float

GRAY = np.full((128, 128, 3), 128, np.uint8)  # mid-gray: clipping negligible at var 0.01


@pytest.mark.parametrize("mean, var", [(0.0, 0.01), (0.05, 0.002), (-0.1, 0.03)])
def test_noise_moments_within_sampling_error(mean, var):
    result = add_gaussian_noise(GRAY, mean, var, clip=False, rng=1)
    n = result.noise.size
    noise = result.noise.astype(np.float64)
    # Mean: standard error sqrt(var/n); variance: sqrt(2 var^2/(n-1)). 5 sigma bounds.
    assert abs(noise.mean() - mean) < 5 * math.sqrt(var / n)
    assert abs(noise.var(ddof=1) - var) < 5 * var * math.sqrt(2 / (n - 1))
    assert np.allclose(result.image, GRAY / 255 + noise, atol=1e-6)


def test_equal_in_distribution_to_skimage():
    ours = add_gaussian_noise(GRAY, 0.0, 0.01, rng=2).image.ravel()
    ref = random_noise(GRAY, mode="gaussian", mean=0.0, var=0.01, rng=3).ravel()
    sample = np.random.default_rng(4).choice(ours.size, 20000, replace=False)
    result = stats.ks_2samp(ours[sample], ref[sample])
    assert result.pvalue > 1e-3
    # And against the exact normal: the noise is N(0, 0.1^2).
    noise = add_gaussian_noise(GRAY, 0.0, 0.01, rng=5).noise.ravel()[:20000]
    assert stats.kstest(noise, "norm", args=(0.0, 0.1)).pvalue > 1e-3


def test_clipping_matches_skimage_and_gaussian_tails():
    dark = np.full((200, 200), 13, np.uint8)  # x = 13/255 ~ 0.051; half a sigma from 0
    ours = add_gaussian_noise(dark, 0.0, 0.01, rng=6).image
    ref = random_noise(dark, mode="gaussian", var=0.01, rng=7)
    expected = stats.norm.cdf(-13 / 255, scale=0.1)
    n = dark.size
    tol = 5 * math.sqrt(expected * (1 - expected) / n)
    assert abs(np.mean(ours == 0) - expected) < tol
    assert abs(np.mean(ref == 0) - expected) < tol
    assert ours.min() == 0 and ours.max() <= 1
    unclipped = add_gaussian_noise(dark, 0.0, 0.01, clip=False, rng=6).image
    assert unclipped.min() < 0


def test_float_image_not_rescaled_and_signed_clips_to_minus_one():
    image = np.full((10, 10), 0.25)
    out = add_gaussian_noise(image, 0.0, 0.0, rng=0).image
    assert np.array_equal(out, image)
    signed = np.full((50, 50), -0.9)
    out = add_gaussian_noise(signed, 0.0, 0.04, rng=0).image
    assert out.min() == -1.0 and (out < 0).any()
    ref = random_noise(signed, var=0.04, rng=0)
    assert ref.min() == -1.0


def test_dtype_scaling_matches_skimage():
    from skimage import img_as_float

    for array in (
        np.array([0, 1, 255], np.uint8),
        np.array([0, 1000, 65535], np.uint16),
        np.array([-128, 0, 127], np.int8),
        np.array([True, False]),
    ):
        assert np.allclose(image_as_float(array), img_as_float(array))


def test_seed_reproducible_and_generator_accepted():
    a = add_gaussian_noise(GRAY, rng=11)
    b = add_gaussian_noise(GRAY, rng=np.random.default_rng(11))
    c = add_gaussian_noise(GRAY, rng=12)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.noise, b.noise)
    assert not np.array_equal(a.noise, c.noise)


def test_large_image_blocks_are_independent_and_reproducible():
    shape = (_BLOCK // 3 + 1000, 3)  # just over one block: the threaded path
    image = np.zeros(shape, np.uint8) + 128
    a = add_gaussian_noise(image, 0.0, 0.01, rng=3)
    b = add_gaussian_noise(image, 0.0, 0.01, rng=3)
    assert np.array_equal(a.noise, b.noise)
    first, second = a.noise.ravel()[:1000], a.noise.ravel()[_BLOCK : _BLOCK + 1000]
    assert not np.array_equal(first, second)
    assert (
        abs(np.corrcoef(a.noise.ravel()[:2000], a.noise.ravel()[_BLOCK : _BLOCK + 2000])[0, 1])
        < 0.1
    )


def test_shapes_and_dtypes():
    result = add_gaussian_noise(np.zeros((3, 4), np.uint8), rng=0)
    assert result.image.shape == (3, 4) and result.image.dtype == np.float64
    assert result.noise.shape == (3, 4) and result.noise.dtype == np.float32


@pytest.mark.parametrize(
    "kwargs",
    [
        {"var": -0.01},
        {"var": math.nan},
        {"var": math.inf},
        {"mean": math.nan},
        {"mean": -math.inf},
        {"mean": "a"},
    ],
)
def test_bad_parameters_raise_value_error(kwargs):
    with pytest.raises(ParameterError):
        add_gaussian_noise(GRAY, **kwargs)
    with pytest.raises(ValueError):
        add_gaussian_noise(GRAY, **kwargs)


def test_non_numeric_image_rejected():
    with pytest.raises(ParameterError):
        add_gaussian_noise(np.array(["a", "b"]))
