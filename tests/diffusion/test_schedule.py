"""Tests of diffprob.diffusion.schedule: the zero-terminal-SNR rescaling and the v-parameterisation."""

from __future__ import annotations

import pytest
import torch

from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.errors import ParameterError

V = {"zero_terminal_snr": True, "prediction_type": "v_prediction"}


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_zero_terminal_snr_is_an_affine_rescaling_of_sqrt_alpha_bar(kind):
    # Lin et al. (2024), algorithm 1: sqrt(ab) -> (sqrt(ab) - sqrt(ab_T)) * sqrt(ab_1)
    # / (sqrt(ab_1) - sqrt(ab_T)) for t = 1..T, so ab_T = 0 and ab_1 is kept.
    plain = NoiseSchedule(500, kind)
    zero = NoiseSchedule(500, kind, **V)
    a = plain.alpha_bar.double().sqrt()[1:]
    expected = (a - a[-1]) * a[0] / (a[0] - a[-1])
    torch.testing.assert_close(zero.alpha_bar.double().sqrt()[1:], expected, atol=2e-7, rtol=0)
    assert float(zero.alpha_bar[500]) == 0.0 and float(zero.snr(500)) == 0.0
    assert float(zero.alpha_bar[0]) == 1.0 and float(zero.betas[500]) == 1.0
    assert float(zero.alpha_bar[1]) == pytest.approx(float(plain.alpha_bar[1]), abs=1e-7)
    # Still a valid diffusion: betas in (0, 1], alpha_bar strictly decreasing.
    assert (zero.betas[1:] > 0).all() and (zero.betas <= 1).all()
    assert (zero.alpha_bar[1:] < zero.alpha_bar[:-1]).all()
    # The rescaling only ever lowers the SNR of t >= 2 (more noise everywhere).
    assert (zero.alpha_bar[2:] <= plain.alpha_bar[2:]).all()


def test_at_t_equal_T_the_forward_process_keeps_no_signal():
    zero = NoiseSchedule(100, **V)
    x0 = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(zero.q_sample(x0, 100, noise), noise)


@pytest.mark.parametrize(
    "prediction_type, zero_snr",
    [("epsilon", False), ("v_prediction", False), ("v_prediction", True)],
)
def test_split_prediction_inverts_the_training_target(prediction_type, zero_snr):
    s = NoiseSchedule(200, zero_terminal_snr=zero_snr, prediction_type=prediction_type)
    g = torch.Generator().manual_seed(2)
    x0 = torch.rand(6, 3, 4, 4, generator=g) * 2 - 1
    noise = torch.randn(6, 3, 4, 4, generator=g)
    t = torch.tensor([1, 2, 50, 100, 199, 200])
    x_t = s.q_sample(x0, t, noise)
    target = s.training_target(x0, t, noise)
    x0_hat, eps_hat = s.split_prediction(target, x_t, t)
    # At t = T of the plain schedule x0 is recovered through 1 / sqrt(ab_T) ~ 2.7.
    torch.testing.assert_close(x0_hat, x0, atol=5e-5, rtol=0)
    torch.testing.assert_close(eps_hat, noise, atol=1e-5, rtol=0)


def test_velocity_closed_form():
    s = NoiseSchedule(10, **V)
    x0, noise = torch.full((1, 1), 0.6), torch.full((1, 1), -0.8)
    for t in range(11):
        a, b = float(s.sqrt_alpha_bar[t]), float(s.sqrt_one_minus_alpha_bar[t])
        assert float(s.velocity(x0, t, noise)) == pytest.approx(a * -0.8 - b * 0.6, abs=1e-7)
    # Eps-prediction regresses on the noise itself.
    assert torch.equal(NoiseSchedule(10).training_target(x0, 3, noise), noise)


def test_bad_schedule_options():
    with pytest.raises(ParameterError, match="v_prediction"):
        NoiseSchedule(100, zero_terminal_snr=True)
    with pytest.raises(ParameterError, match="prediction_type"):
        NoiseSchedule(100, prediction_type="sample")
    with pytest.raises(ParameterError, match="num_timesteps >= 2"):
        NoiseSchedule(1, **V)


def test_config_round_trip_and_repr():
    s = NoiseSchedule(50, "cosine", **V)
    again = NoiseSchedule.from_config(s.config.to_dict())
    assert torch.equal(again.alpha_bar, s.alpha_bar) and again.config == s.config
    assert "zero terminal SNR" in repr(s) and "v_prediction" in repr(s)
    # A configuration saved before these options existed still loads, as eps-prediction.
    old = {k: v for k, v in s.config.to_dict().items() if k not in V}
    assert NoiseSchedule.from_config(old).config.prediction_type == "epsilon"


def test_plot_snr_marks_the_zero_terminal_snr_without_warnings():
    import warnings

    from diffprob.plot.diffusion import plot_snr

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero from log10(0)
        fig = plot_snr([NoiseSchedule(100), NoiseSchedule(100, **V)], labels=["plain", "zero"])
    lines = fig.axes[1].get_lines()[:2]  # then the y = 0 guide
    labels = [line.get_label() for line in lines]
    assert labels == ["plain", "zero (SNR = 0 at t = T)"]
    # 100 finite values for t = 1..100 of the plain schedule, 99 for the zero-SNR one.
    assert [len(line.get_xdata()) for line in lines] == [100, 99]
