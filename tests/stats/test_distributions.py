"""Gaussian PDF/CDF and the exact 8-bit stored-noise distribution."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from diffprob.errors import ParameterError
from diffprob.stats.distributions import (
    gaussian_cdf,
    gaussian_pdf,
    quantized_noise_cdf,
    quantized_noise_pmf,
)
from diffprob.stats.io import to_uint8
from diffprob.stats.noise import add_gaussian_noise


def test_gaussian_closed_forms():
    x = np.linspace(-1, 1, 11)
    mean, var = 0.1, 0.04
    expected = np.exp(-((x - mean) ** 2) / (2 * var)) / math.sqrt(2 * math.pi * var)
    assert np.allclose(gaussian_pdf(x, mean, var), expected)
    assert np.allclose(
        gaussian_cdf(x, mean, var),
        0.5 * (1 + np.vectorize(math.erf)((x - mean) / math.sqrt(2 * var))),
    )
    total, _ = integrate.quad(gaussian_pdf, -3, 3, args=(mean, var))
    assert total == pytest.approx(1.0)


def test_gaussian_parameter_errors():
    for mean, var in [(0, -1), (0, 0), (math.nan, 1), (0, math.inf)]:
        with pytest.raises(ParameterError):
            gaussian_pdf(0.0, mean, var)


def test_pmf_mid_gray_matches_rounded_gaussian():
    q = quantized_noise_pmf(128, 0.0, 0.01)
    sigma = 25.5
    k = np.arange(-100, 101)
    expected = stats.norm.cdf(k + 0.5, scale=sigma) - stats.norm.cdf(k - 0.5, scale=sigma)
    assert np.allclose(q.pmf[k + 255], expected, atol=1e-12)
    assert q.pmf.sum() == pytest.approx(1.0)
    assert q.cdf[-1] == 1.0 and np.all(np.diff(q.cdf) >= -1e-15)
    assert np.all(q.pmf[: 255 - 128] == 0)  # stored value cannot go below 0
    assert q.clipped_low == pytest.approx(stats.norm.cdf(-128.5, scale=sigma))


def test_clipping_mass_at_the_ends():
    q = quantized_noise_pmf(0, 0.0, 0.01)
    # Stored 0 collects everything below 0.5: half the Gaussian and then some.
    assert q.pmf[255] == pytest.approx(stats.norm.cdf(0.5, scale=25.5))
    assert q.clipped_low == pytest.approx(stats.norm.cdf(-0.5, scale=25.5))
    q255 = quantized_noise_pmf(255, 0.0, 0.01)
    assert q255.pmf[255] == pytest.approx(stats.norm.sf(-0.5, scale=25.5))
    assert q255.clipped_high == pytest.approx(stats.norm.sf(0.5, scale=25.5))


def test_mixture_is_weighted_average():
    image = np.array([[10, 10, 10, 200]], np.uint8)
    mixed = quantized_noise_pmf(image, 0.02, 0.005)
    expected = (
        0.75 * quantized_noise_pmf(10, 0.02, 0.005).pmf
        + 0.25 * quantized_noise_pmf(200, 0.02, 0.005).pmf
    )
    assert np.allclose(mixed.pmf, expected)
    assert np.array_equal(quantized_noise_cdf(image, 0.02, 0.005), mixed.cdf)


def test_zero_variance_is_a_point_mass():
    q = quantized_noise_pmf(100, 10 / 255, 0.0)
    assert q.pmf[255 + 10] == pytest.approx(1.0)
    q = quantized_noise_pmf(250, 10 / 255, 0.0)  # clipped at 255
    assert q.pmf[255 + 5] == pytest.approx(1.0) and q.clipped_high == 1.0


def test_matches_simulated_stored_noise():
    """The model predicts what add_gaussian_noise + 8-bit storage actually produces."""
    rng = np.random.default_rng(0)
    clean = rng.choice(np.array([5, 128, 250], np.uint8), size=(150, 150, 3))
    mean, var = 0.01, 0.01
    stored = to_uint8(add_gaussian_noise(clean, mean, var, rng=1).image)
    steps = stored.astype(int) - clean
    observed = np.bincount(steps.ravel() + 255, minlength=511)
    q = quantized_noise_pmf(clean, mean, var)
    expected = q.pmf * steps.size
    # Chi-square goodness of fit on cells with enough expected counts.
    keep = expected > 20
    chi2 = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    pvalue = stats.chi2.sf(chi2, keep.sum() - 1)
    assert pvalue > 1e-4
    assert observed[~keep].sum() < 5 * max(expected[~keep].sum(), 1)


@pytest.mark.parametrize("clean", [-1, 256, 1.5, [], "x"])
def test_bad_clean_values(clean):
    with pytest.raises((ParameterError, TypeError)):
        quantized_noise_pmf(clean)


def test_bad_noise_parameters():
    with pytest.raises(ParameterError):
        quantized_noise_pmf(10, 0.0, -0.1)
    with pytest.raises(ParameterError):
        quantized_noise_pmf(10, math.nan, 0.1)
