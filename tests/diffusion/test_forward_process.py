"""Tests of diffprob.diffusion.forward_process and the model-half figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from diffprob.diffusion.forward_process import PixelMixture, forward_steps
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.errors import ParameterError


@pytest.fixture(scope="module")
def sprite_x0():
    from diffprob.diffusion.model_range import to_model_range
    from diffprob.sprites.generator import generate_sprites

    images, _ = generate_sprites(1, size=32, seed=3)
    return to_model_range(images)[0]  # (3, 32, 32) in [-1, 1]


def test_mixture_matches_a_monte_carlo_of_its_definition():
    x0 = np.array([-1.0, -1.0, 0.2, 0.9])
    ab = 0.6
    m = PixelMixture(x0, ab)
    assert m.weights.tolist() == [0.5, 0.25, 0.25]
    grid = np.linspace(-3, 3, 7)
    expected_pdf = np.mean(
        [stats.norm.pdf(grid, math.sqrt(ab) * v, math.sqrt(1 - ab)) for v in x0], 0
    )
    expected_cdf = np.mean(
        [stats.norm.cdf(grid, math.sqrt(ab) * v, math.sqrt(1 - ab)) for v in x0], 0
    )
    np.testing.assert_allclose(m.pdf(grid), expected_pdf, rtol=1e-12)
    np.testing.assert_allclose(m.cdf(grid), expected_cdf, rtol=1e-12)
    assert m.mean == pytest.approx(math.sqrt(ab) * x0.mean())
    assert m.var == pytest.approx(ab * x0.var() + 1 - ab)
    # the density integrates to 1
    fine = np.linspace(-8, 8, 20001)
    assert np.trapezoid(m.pdf(fine), fine) == pytest.approx(1, abs=1e-6)


def test_mixture_at_t0_is_the_image_histogram():
    m = PixelMixture(np.array([0.0, 0.5, 0.5, 1.0]), 1.0)
    assert m.is_discrete and np.isnan(m.pdf(0.3))
    np.testing.assert_allclose(m.cdf([-0.1, 0.0, 0.7, 1.0]), [0, 0.25, 0.75, 1.0])


def test_mixture_at_zero_snr_is_the_standard_normal_whatever_the_image():
    m = PixelMixture(np.array([-1.0, 0.3, 0.9]), 0.0)
    grid = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(m.cdf(grid), stats.norm.cdf(grid), rtol=1e-12)
    np.testing.assert_allclose(m.pdf(grid), stats.norm.pdf(grid), rtol=1e-12)
    assert (m.mean, m.var) == (0.0, 1.0)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ParameterError, match="alpha_bar"):
            PixelMixture(np.zeros(3), bad)


def test_mixture_bins_many_distinct_values():
    x0 = np.random.default_rng(0).uniform(-1, 1, 50_000)
    m = PixelMixture(x0, 0.5)
    assert m.values.size <= 4096
    assert m.cdf(0.0) == pytest.approx(0.5, abs=0.01)


def test_forward_histogram_matches_theory(sprite_x0):
    schedule = NoiseSchedule(500)
    steps = forward_steps(sprite_x0, schedule, [0, 20, 100, 300, 500], generator=0)
    assert steps[0].x_t == pytest.approx(sprite_x0)
    assert math.isnan(steps[0].ks_pvalue)
    for s in steps[1:]:
        assert s.ks_pvalue > 0.01, s.to_dict()
        n = s.x_t.size
        # measured moments within a few standard errors of theory
        assert abs(s.mean - s.mean_theory) < 5 * math.sqrt(s.var_theory / n)
        assert abs(s.var / s.var_theory - 1) < 0.1
    assert steps[-1].var_theory == pytest.approx(1, abs=0.01)  # nearly N(0, 1) at T


def test_ks_rejects_the_course_noising_bug(sprite_x0):
    # The course noised with (1 - ab) * eps instead of sqrt(1 - ab) * eps: the histogram
    # of such an x_t is too narrow for the theory, and the KS test must say so.
    schedule = NoiseSchedule(500)
    t = 100
    ab = float(schedule.alpha_bar[t])
    eps = torch.randn(sprite_x0.shape, generator=torch.Generator().manual_seed(0)).numpy()
    wrong = math.sqrt(ab) * sprite_x0 + (1 - ab) * eps
    right = math.sqrt(ab) * sprite_x0 + math.sqrt(1 - ab) * eps
    m = PixelMixture(sprite_x0, ab)
    assert stats.kstest(wrong.ravel(), m.cdf).pvalue < 1e-6
    assert stats.kstest(right.ravel(), m.cdf).pvalue > 0.01


def test_forward_steps_are_seeded_and_validated(sprite_x0):
    schedule = NoiseSchedule(100, "cosine")
    a = forward_steps(sprite_x0, schedule, [10, 50], generator=4)
    b = forward_steps(sprite_x0, schedule, [10, 50], generator=4)
    c = forward_steps(sprite_x0, schedule, [10, 50], generator=5)
    assert all(np.array_equal(x.x_t, y.x_t) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1].x_t, c[1].x_t)
    with pytest.raises(ParameterError, match="timestep"):
        forward_steps(sprite_x0, schedule, [101])
    with pytest.raises(ParameterError, match="timestep"):
        forward_steps(sprite_x0, schedule, [-1])
    with pytest.raises(ParameterError):
        forward_steps(np.full(4, np.nan), schedule, [1])


def test_ks_subsample_of_a_large_image():
    x0 = np.random.default_rng(1).uniform(-1, 1, (3, 128, 128)).round(2)
    (s,) = forward_steps(x0, NoiseSchedule(500), [200], generator=0, ks_max=5000)
    assert s.ks_pvalue > 0.01 and s.x_t.shape == x0.shape


def test_figures(sprite_x0):
    from diffprob.plot.diffusion import plot_forward_process, plot_sample_grid, plot_snr

    steps = forward_steps(sprite_x0, NoiseSchedule(100), [0, 50, 100], generator=0)
    fig = plot_forward_process(steps)
    assert len(fig.axes) == 6
    # the theory curve is drawn under every t > 0 and matches the mixture pdf
    line = fig.axes[4].get_lines()[0]
    x, y = line.get_data()
    np.testing.assert_allclose(y, steps[1].mixture.pdf(x))
    fig = plot_snr([NoiseSchedule(500), NoiseSchedule(500, "cosine")], labels=["lin", "cos"])
    snr_line = fig.axes[1].get_lines()[0]  # the linear schedule
    ab = NoiseSchedule(500).alpha_bar.double().numpy()
    np.testing.assert_allclose(snr_line.get_ydata(), np.log10(ab[1:] / (1 - ab[1:])), rtol=1e-6)
    fig = plot_sample_grid(torch.zeros(10, 3, 16, 16), ncols=5, row_labels=["a", "b"])
    with pytest.raises(ParameterError, match="row labels"):
        plot_sample_grid(torch.zeros(10, 3, 16, 16), ncols=5, row_labels=["a"])
