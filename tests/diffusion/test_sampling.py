"""Tests of the reverse process (diffprob.diffusion.sampling, .samplers, .guidance,
.inpainting): the maths against models whose exact noise prediction is known in closed
form, the sampler settings, guidance, context parsing and inpainting."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from diffprob.diffusion.guidance import (
    guided_eps,
    parse_context,
    per_class_context,
    resolve_context,
)
from diffprob.diffusion.inpainting import inpaint, repaint_schedule
from diffprob.diffusion.models.unet import ContextUnet
from diffprob.diffusion.samplers import (
    DDIMSampler,
    DDPMSampler,
    DPMSolverSampler,
    SamplerConfig,
    ddim_timesteps,
    make_sampler,
)
from diffprob.diffusion.samplers.config import DEFAULT_DDIM_STEPS, DEFAULT_GUIDANCE
from diffprob.diffusion.sampling import sample
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.errors import ParameterError

NAMES = ("hero", "creature", "food", "spell", "item")


class PointModel:
    """The exact eps-predictor when the data is one fixed image x0*.

    Then x_t = sqrt(ab_t) x0* + sqrt(1 - ab_t) eps, so eps = (x_t - sqrt(ab_t) x0*) / sqrt(1 - ab_t).
    """

    def __init__(self, schedule, x0):
        self.schedule, self.x0 = schedule, x0

    def __call__(self, x, t_norm, context=None):
        t = torch.round(t_norm * self.schedule.num_timesteps).long()
        ab = self.schedule.alpha_bar[t].view(-1, 1, 1, 1)
        return (x - ab.sqrt() * self.x0) / (1 - ab).sqrt()


class GaussianModel:
    """The exact eps-predictor when every pixel of the data is i.i.d. N(mu, s^2).

    x_t and eps are jointly Gaussian, so E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) mu)
    / (ab s^2 + 1 - ab).
    """

    def __init__(self, schedule, mu, s):
        self.schedule, self.mu, self.s = schedule, mu, s

    def __call__(self, x, t_norm, context=None):
        t = torch.round(t_norm * self.schedule.num_timesteps).long()
        ab = self.schedule.alpha_bar[t].view(-1, 1, 1, 1).double()
        eps = (1 - ab).sqrt() * (x - ab.sqrt() * self.mu) / (ab * self.s**2 + 1 - ab)
        return eps.float()


class VelocityModel:
    """The exact v-predictor for data whose pixels are i.i.d. N(mu, s^2) (s = 0: one image).

    v = sqrt(ab) E[eps | x_t] - sqrt(1 - ab) E[x0 | x_t], with the Gaussian posterior
    E[x0 | x_t] = mu + sqrt(ab) s^2 (x_t - sqrt(ab) mu) / (ab s^2 + 1 - ab), written so
    that it stays finite at ab = 0 (zero terminal SNR), where it is the prior mean mu.
    """

    def __init__(self, schedule, mu, s=0.0):
        self.schedule, self.mu, self.s = schedule, mu, s

    def __call__(self, x, t_norm, context=None):
        t = torch.round(t_norm * self.schedule.num_timesteps).long()
        ab = self.schedule.alpha_bar[t].view(-1, 1, 1, 1).double()
        a, b, mu = ab.sqrt(), (1 - ab).sqrt(), self.mu
        var_t = ab * self.s**2 + 1 - ab
        x0 = mu + a * self.s**2 * (x - a * mu) / var_t
        eps = b * (x - a * mu) / var_t
        return (a * eps - b * x0).float()


class Recorder:
    """Wraps a model and records the batch size of every call."""

    def __init__(self, model):
        self.model, self.batches = model, []

    def __call__(self, x, t_norm, context=None):
        self.batches.append(x.shape[0])
        return self.model(x, t_norm, context)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return ContextUnet("tiny").eval()


# -- time-step sequences -----------------------------------------------------------------
@pytest.mark.parametrize("T,S", [(500, 25), (500, 1), (500, 500), (10, 3), (7, 7), (100, 33)])
def test_ddim_timesteps_even_subsequence_ending_at_T(T, S):
    ts = ddim_timesteps(T, S)
    assert len(ts) == S and ts[0] == T and ts[-1] >= 1
    gaps = [a - b for a, b in zip(ts[:-1], ts[1:], strict=True)]
    assert all(g >= 1 for g in gaps)
    assert max(gaps + [ts[-1]]) - min(gaps + [ts[-1]]) <= 1  # evenly spaced
    if S == T:
        assert ts == list(range(T, 0, -1))


@pytest.mark.parametrize("T,S", [(500, 25), (500, 1), (500, 500), (10, 3), (7, 7), (100, 33)])
def test_quadratic_timesteps_are_distinct_start_at_T_and_crowd_small_t(T, S):
    ts = ddim_timesteps(T, S, spacing="quadratic")
    assert len(ts) == S and ts[0] == T and ts[-1] >= 1
    assert all(a > b for a, b in zip(ts[:-1], ts[1:], strict=True))
    if S == T:
        assert ts == list(range(T, 0, -1))
    if S > 1:  # the largest gap is the first one (near T), the smallest near t = 0
        gaps = [a - b for a, b in zip(ts[:-1], ts[1:], strict=True)] + [ts[-1]]
        assert gaps[0] == max(gaps) and gaps[-1] == min(gaps)
    assert ddim_timesteps(500, 25, "quadratic")[-3:] == [7, 3, 1]  # round(500 (i/25)^2), max(., i)
    with pytest.raises(ParameterError, match="spacing"):
        ddim_timesteps(10, 3, spacing="log")


@pytest.mark.parametrize("steps", [0, 11, -1])
def test_ddim_steps_out_of_range(steps):
    with pytest.raises(ParameterError, match="steps"):
        DDIMSampler(NoiseSchedule(10), steps)


@pytest.mark.parametrize("eta", [-0.1, 1.5, float("nan")])
def test_eta_out_of_range(eta):
    with pytest.raises(ParameterError, match="eta"):
        DDIMSampler(NoiseSchedule(10), 5, eta=eta)


def test_ddpm_refuses_a_step_count_other_than_T():
    assert make_sampler(NoiseSchedule(10), sampler="ddpm", steps=10).timesteps == list(
        range(10, 0, -1)
    )
    with pytest.raises(ParameterError, match="DDPM"):
        make_sampler(NoiseSchedule(10), sampler="ddpm", steps=5)
    with pytest.raises(ParameterError, match="sampler"):
        make_sampler(NoiseSchedule(10), sampler="euler")


def test_make_sampler_options_of_the_few_step_samplers():
    dpm = make_sampler(NoiseSchedule(100), sampler="dpmpp-2m", steps=4, spacing="quadratic")
    assert isinstance(dpm, DPMSolverSampler) and dpm.timesteps == [100, 56, 25, 6]
    assert make_sampler(
        NoiseSchedule(100), sampler="ddim", steps=4, spacing="quadratic"
    ).timesteps == [
        100,
        56,
        25,
        6,
    ]
    with pytest.raises(ParameterError, match="deterministic"):
        make_sampler(NoiseSchedule(10), sampler="dpmpp-2m", eta=0.5)
    with pytest.raises(ParameterError, match="spacing"):
        make_sampler(NoiseSchedule(10), sampler="ddpm", spacing="quadratic")
    with pytest.raises(ParameterError, match="spacing"):
        make_sampler(NoiseSchedule(10), sampler="ddim", spacing="cubic")


# -- the sampler settings ------------------------------------------------------------------
def test_sampler_config_defaults_are_todays_defaults():
    # DPM-Solver++(2M) with quadratic spacing, 25 steps; DDIM keeps uniform spacing
    config = SamplerConfig()
    assert config.timestep_spacing == "quadratic"
    assert SamplerConfig(sampler="ddim").timestep_spacing == "uniform"
    assert SamplerConfig(sampler="ddpm").timestep_spacing == "uniform"
    assert SamplerConfig.from_options(config, sampler="ddpm").timestep_spacing == "uniform"
    assert config.to_dict() == dict(
        sampler="dpmpp-2m",
        steps=None,
        spacing=None,
        eta=0.0,
        guidance=DEFAULT_GUIDANCE,
        clip_x0=True,
        variance="beta",
    )
    assert len(make_sampler(NoiseSchedule(100), config).timesteps) == DEFAULT_DDIM_STEPS
    assert SamplerConfig.from_options(None) == config
    # numbers are normalised, so the dict is JSON-ready and equal configs compare equal
    assert SamplerConfig(sampler="ddim", guidance=2, eta=1, steps=np.int64(5)) == SamplerConfig(
        sampler="ddim", guidance=2.0, eta=1.0, steps=5
    )


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(sampler="euler"), "unknown sampler 'euler'; choose one of"),
        (dict(steps=0), "steps must be an integer >= 1"),
        (dict(steps=2.5), "steps must be an integer >= 1"),
        (dict(steps=True), "steps must be an integer >= 1"),
        (dict(spacing="cubic"), "spacing must be one of"),
        (dict(variance="huge"), "variance must be 'beta' or 'posterior'"),
        (dict(eta=1.5), "eta must be in [0, 1]"),
        (dict(eta=float("nan")), "eta must be in [0, 1]"),
        (dict(guidance=-1), "guidance must be a finite number >= 0"),
        (dict(guidance=float("inf")), "guidance must be a finite number >= 0"),
        (dict(guidance="strong"), "guidance must be a finite number >= 0"),
        (dict(sampler="ddpm", spacing="quadratic"), "spacing is for 'ddim'"),
        (dict(sampler="dpmpp-2m", eta=0.5), "DPM-Solver++(2M) is deterministic"),
    ],
)
def test_sampler_config_validates_each_setting_once(kwargs, message):
    with pytest.raises(ParameterError, match=re.escape(message)):
        SamplerConfig(**kwargs)
    with pytest.raises(ParameterError, match=re.escape(message)):  # a change is checked too
        SamplerConfig.from_options(SamplerConfig(), **kwargs)


def test_sampler_config_inpainting_rule():
    SamplerConfig(sampler="ddim").check_inpainting()
    with pytest.raises(ParameterError, match="--inpaint needs a one-step sampler"):
        SamplerConfig(sampler="dpmpp-2m").check_inpainting("--inpaint")


def test_sampler_config_round_trips_and_rejects_unknown_keys():
    config = SamplerConfig(sampler="ddpm", variance="posterior", clip_x0=False, guidance=1.5)
    assert SamplerConfig.from_dict(config.to_dict()) == config
    assert SamplerConfig.from_dict({"steps": 7}) == SamplerConfig(steps=7)
    with pytest.raises(ParameterError, match="'stesp'"):
        SamplerConfig.from_dict({"stesp": 7})


def test_loose_options_fold_into_the_config():
    base = SamplerConfig(sampler="ddim", steps=10, eta=0.5)
    merged = SamplerConfig.from_options(base, eta=0.0, guidance=2)
    assert merged == SamplerConfig(sampler="ddim", steps=10, eta=0.0, guidance=2.0)
    assert SamplerConfig.from_options(base) is base
    with pytest.raises(TypeError, match="'stesp'"):
        SamplerConfig.from_options(base, stesp=3)
    with pytest.raises(TypeError, match="'stesp'"):
        sample(lambda x, t, c: x, NoiseSchedule(10), 1, image_shape=(1, 2, 2), stesp=3)
    with pytest.raises(TypeError, match="SamplerConfig"):
        SamplerConfig.from_options({"steps": 3})


@pytest.mark.parametrize(
    "options",
    [
        dict(sampler="ddpm", variance="posterior"),
        dict(sampler="ddim", steps=5, eta=0.5, spacing="quadratic", guidance=1.5),
        dict(sampler="dpmpp-2m", steps=4, clip_x0=False),
    ],
)
def test_loose_keywords_and_config_give_byte_identical_samples(tiny, options):
    schedule = NoiseSchedule(20)
    common = dict(context="hero", class_names=NAMES, generator=3, progress=False)
    loose = sample(tiny, schedule, 2, trajectory_every=2, **common, **options)
    config = SamplerConfig(**options)
    packed = sample(tiny, schedule, 2, config=config, trajectory_every=2, **common)
    assert torch.equal(loose.images, packed.images) and loose.info == packed.info
    assert all(torch.equal(a, b) for a, b in zip(loose.trajectory, packed.trajectory, strict=True))
    if options["sampler"] != "dpmpp-2m":
        image, mask = torch.zeros(3, 16, 16), torch.ones(16, 16)
        a = inpaint(tiny, schedule, image, mask, n=2, resample=2, **common, **options)
        b = inpaint(tiny, schedule, image, mask, n=2, resample=2, config=config, **common)
        assert torch.equal(a.images, b.images) and a.info == b.info


def test_inpaint_starts_from_ddpm_and_keywords_override_its_config(tiny):
    common = dict(generator=0, progress=False)
    image, mask = torch.zeros(3, 16, 16), torch.ones(16, 16)
    assert inpaint(tiny, NoiseSchedule(10), image, mask, **common).info["sampler"] == "ddpm"
    res = inpaint(
        tiny,
        NoiseSchedule(10),
        image,
        mask,
        config=SamplerConfig(sampler="ddim", steps=4),
        eta=1.0,
        **common,
    )
    assert (res.info["sampler"], res.info["steps"], res.info["eta"]) == ("ddim", 4, 1.0)


# -- the maths against exact models ------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(sampler="ddpm"),
        dict(sampler="ddpm", variance="posterior", clip_x0=False),
        dict(sampler="ddim", steps=1),
        dict(sampler="ddim", steps=7, eta=0.0),
        dict(sampler="ddim", steps=7, eta=1.0, clip_x0=False),
        dict(sampler="ddim", steps=40, eta=0.5),
    ],
)
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_exact_model_of_a_single_image_recovers_it(kwargs, kind):
    schedule = NoiseSchedule(40, kind)
    x0 = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 1.8 - 0.9
    out = sample(
        PointModel(schedule, x0),
        schedule,
        4,
        image_shape=(3, 8, 8),
        generator=3,
        progress=False,
        **kwargs,
    ).images
    # float32 round-off is amplified by 1 / sqrt(alpha_bar_T), tiny for the cosine schedule
    tol = 2e-4 if kind == "linear" else 1e-3
    torch.testing.assert_close(out, x0.expand(4, -1, -1, -1), atol=tol, rtol=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(sampler="ddpm"),
        dict(sampler="ddpm", variance="posterior", clip_x0=False),
        dict(sampler="ddim", steps=1),
        dict(sampler="ddim", steps=7, eta=0.0),
        dict(sampler="ddim", steps=7, eta=1.0, clip_x0=False),
        dict(sampler="dpmpp-2m", steps=1),
        dict(sampler="dpmpp-2m", steps=7, spacing="quadratic", clip_x0=False),
    ],
)
@pytest.mark.parametrize("zero_snr", [False, True])
def test_exact_velocity_model_of_a_single_image_recovers_it(kwargs, zero_snr):
    schedule = NoiseSchedule(40, zero_terminal_snr=zero_snr, prediction_type="v_prediction")
    x0 = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 1.8 - 0.9
    out = sample(
        VelocityModel(schedule, x0),
        schedule,
        4,
        image_shape=(3, 8, 8),
        generator=3,
        progress=False,
        **kwargs,
    ).images
    torch.testing.assert_close(out, x0.expand(4, -1, -1, -1), atol=2e-5, rtol=0)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_zero_terminal_snr_sampling_of_gaussian_data_has_its_moments(sampler):
    # Through the whole zero-SNR chain, including the step from t = T where x_T holds no
    # signal: the exact v-model must give back N(mu, s^2). (The posterior variance,
    # DDIM's eta = 1, gives a std 2.4% low here, as it does with the plain schedule.)
    mu, s = 0.3, 0.2
    schedule = NoiseSchedule(500, zero_terminal_snr=True, prediction_type="v_prediction")
    extra = dict(variance="beta") if sampler == "ddpm" else dict(steps=500, eta=0.0)
    out = sample(
        VelocityModel(schedule, mu, s),
        schedule,
        2000,
        sampler=sampler,
        image_shape=(1, 4, 4),
        generator=0,
        progress=False,
        clip_x0=False,
        **extra,
    ).images
    assert abs(float(out.mean()) - mu) < 0.005
    assert abs(float(out.std()) / s - 1) < 0.02


@pytest.mark.parametrize("zero_snr", [False, True])
def test_dpm_solver_is_second_order_where_ddim_is_first_order(zero_snr):
    # For Gaussian data the probability-flow ODE keeps y_t / sqrt(v_t) constant
    # (y_t = x_t - sqrt(ab_t) mu, v_t = ab_t s^2 + 1 - ab_t), so its exact end point is
    # x0 = mu + s y_T / sqrt(v_T). Doubling the steps should halve DDIM's error (first
    # order) and cut DPM-Solver++(2M)'s by about four (second order).
    mu, s = 0.3, 0.2
    schedule = NoiseSchedule(
        500,
        zero_terminal_snr=zero_snr,
        prediction_type="v_prediction" if zero_snr else "epsilon",
    )
    model = VelocityModel(schedule, mu, s) if zero_snr else GaussianModel(schedule, mu, s)
    x_T = torch.randn(256, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    ab = schedule.alpha_bar.double()
    v_T = ab[500] * s**2 + 1 - ab[500]
    exact = (mu + s * (x_T.double() - ab[500].sqrt() * mu) / v_T.sqrt()).clamp(-1, 1)

    def error(sampler, steps):
        out = sample(
            model,
            schedule,
            256,
            sampler=sampler,
            steps=steps,
            x_T=x_T,
            image_shape=(1, 4, 4),
            progress=False,
            clip_x0=False,
        ).images
        return float((out.double() - exact).abs().max())

    ddim = {n: error("ddim", n) for n in (20, 40)}
    dpm = {n: error("dpmpp-2m", n) for n in (20, 40)}
    assert 1.5 < ddim[20] / ddim[40] < 2.5
    assert dpm[20] / dpm[40] > 3.5
    assert dpm[40] < ddim[40] / 3


def test_dpm_solver_starts_afresh_and_its_first_step_is_the_ddim_step(tiny):
    schedule = NoiseSchedule(50)
    kwargs = dict(steps=5, generator=0, context="1", progress=False)
    first = sample(tiny, schedule, 2, sampler="dpmpp-2m", **kwargs).images
    again = sample(tiny, schedule, 2, sampler="dpmpp-2m", **kwargs).images
    assert torch.equal(first, again)  # no history leaks from one call into the next
    assert not torch.allclose(first, sample(tiny, schedule, 2, sampler="ddim", **kwargs).images)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    out = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    dpm, ddim = DPMSolverSampler(schedule, 5), DDIMSampler(schedule, 5)
    torch.testing.assert_close(dpm.step(out, 50, x), ddim.step(out, 50, x))
    # the second step extrapolates from two predictions, so it differs from DDIM's
    x2 = dpm.step(out, 40, x)
    assert not torch.allclose(x2, ddim.step(out, 40, x))


def test_inpaint_refuses_the_multistep_solver(tiny):
    with pytest.raises(ParameterError, match="one-step sampler"):
        inpaint(
            tiny,
            NoiseSchedule(10),
            torch.zeros(3, 16, 16),
            torch.ones(16, 16),
            sampler="dpmpp-2m",
            progress=False,
        )


def test_wrong_update_would_not_recover_the_image():
    # Control for the test above: the course's noising bug ((1 - ab) instead of
    # sqrt(1 - ab)) in the model's eps gives a visibly wrong image.
    schedule = NoiseSchedule(40)
    x0 = torch.full((1, 1, 4, 4), 0.5)

    def wrong(x, t_norm, context=None):
        ab = schedule.alpha_bar[torch.round(t_norm * 40).long()].view(-1, 1, 1, 1)
        return (x - ab.sqrt() * x0) / (1 - ab)

    out = sample(wrong, schedule, 1, image_shape=(1, 4, 4), generator=0, progress=False)
    assert (out.images - 0.5).abs().max() > 0.05


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_ddpm_with_the_exact_model_of_gaussian_data_samples_that_distribution(kind):
    # Data: every pixel i.i.d. N(0.3, 0.2^2). Ancestral sampling from the exact eps must
    # reproduce its mean and standard deviation -- a wrong sigma_t or coefficient would not.
    mu, s = 0.3, 0.2
    schedule = NoiseSchedule(500, kind)
    out = sample(
        GaussianModel(schedule, mu, s),
        schedule,
        2000,
        sampler="ddpm",
        image_shape=(1, 4, 4),
        generator=0,
        progress=False,
        clip_x0=False,
    ).images
    assert abs(float(out.mean()) - mu) < 0.005
    assert abs(float(out.std()) / s - 1) < 0.02


@pytest.mark.parametrize("steps", [1, 5, 50])
def test_ddim_eta0_on_gaussian_data_is_the_exact_linear_map(steps):
    # For Gaussian data, eq. 12 with eta = 0 maps y_t = x_t - sqrt(ab_t) mu linearly:
    # y_s = k y_t with k = (sqrt(ab_s ab_t) s^2 + sqrt((1 - ab_s)(1 - ab_t))) / v_t,
    # v_t = ab_t s^2 + 1 - ab_t. Composing the k's gives the output for each x_T exactly.
    mu, s = 0.3, 0.2
    schedule = NoiseSchedule(500)
    x_T = torch.randn(64, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    out = sample(
        GaussianModel(schedule, mu, s),
        schedule,
        64,
        sampler="ddim",
        steps=steps,
        x_T=x_T,
        image_shape=(1, 4, 4),
        progress=False,
        clip_x0=False,
    ).images
    ab = schedule.alpha_bar.double()
    ts = ddim_timesteps(500, steps) + [0]
    gain = 1.0
    for t, u in zip(ts[:-1], ts[1:], strict=True):
        v_t = ab[t] * s**2 + 1 - ab[t]
        gain *= float(((ab[u] * ab[t]).sqrt() * s**2 + ((1 - ab[u]) * (1 - ab[t])).sqrt()) / v_t)
    expected = mu + gain * (x_T - float(ab[500].sqrt()) * mu)
    torch.testing.assert_close(out, expected.clamp(-1, 1), atol=1e-4, rtol=0)  # images are clamped


def test_ddim_with_all_steps_and_eta_1_is_ddpm_with_posterior_variance(tiny):
    schedule = NoiseSchedule(10)
    common = dict(context="hero", class_names=NAMES, guidance=1.0, progress=False)
    ddpm = sample(tiny, schedule, 3, sampler="ddpm", variance="posterior", generator=5, **common)
    ddim = sample(tiny, schedule, 3, sampler="ddim", steps=10, eta=1.0, generator=5, **common)
    torch.testing.assert_close(ddim.images, ddpm.images, atol=1e-5, rtol=0)


def test_ddim_sigma_is_eq16_and_last_steps_add_no_noise():
    schedule = NoiseSchedule(30)
    ddim = DDIMSampler(schedule, 30, eta=1.0)
    for t in (2, 10, 30):
        assert ddim.sigma(t) ** 2 == pytest.approx(float(schedule.posterior_variance[t]), rel=1e-3)
    x, eps = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    last = ddim.timesteps[-1]
    assert ddim.sigma(last) == 0
    a = ddim.step(eps, last, x, torch.Generator().manual_seed(0))
    b = ddim.step(eps, last, x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    ddpm = DDPMSampler(schedule, variance="beta")
    a = ddpm.step(eps, 1, x, torch.Generator().manual_seed(0))
    b = ddpm.step(eps, 1, x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)  # algorithm 2: z = 0 at t = 1
    a = ddpm.step(eps, 2, x, torch.Generator().manual_seed(0))
    b = ddpm.step(eps, 2, x, torch.Generator().manual_seed(1))
    assert not torch.equal(a, b)


def test_ddpm_step_is_algorithm_2_verbatim():
    schedule = NoiseSchedule(50)
    x, eps, t = torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4), 17
    out = DDPMSampler(schedule, clip_x0=False).step(eps, t, x, torch.Generator().manual_seed(2))
    z = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    a, b, ab = (float(v[t]) for v in (schedule.alphas, schedule.betas, schedule.alpha_bar))
    expected = (x - b / math.sqrt(1 - ab) * eps) / math.sqrt(a) + math.sqrt(b) * z
    torch.testing.assert_close(out, expected)


# -- determinism ---------------------------------------------------------------------------
def test_ddim_eta0_is_deterministic_given_the_initial_noise(tiny):
    schedule = NoiseSchedule(50)
    x_T = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    a = sample(tiny, schedule, 2, steps=10, x_T=x_T, generator=1, progress=False)
    b = sample(tiny, schedule, 2, steps=10, x_T=x_T, generator=2, progress=False)
    assert torch.equal(a.images, b.images)


@pytest.mark.parametrize("kwargs", [dict(sampler="ddpm"), dict(sampler="ddim", steps=5, eta=0.5)])
def test_same_seed_same_samples_other_seed_other_samples(tiny, kwargs):
    schedule = NoiseSchedule(20)

    def run(seed):
        return sample(tiny, schedule, 2, generator=seed, progress=False, **kwargs).images

    assert torch.equal(run(7), run(7))
    assert torch.equal(
        run(7),
        sample(
            tiny, schedule, 2, generator=torch.Generator().manual_seed(7), progress=False, **kwargs
        ).images,
    )
    assert not torch.allclose(run(7), run(8))


# -- guidance ------------------------------------------------------------------------------
def test_guidance_zero_is_the_conditional_prediction_in_one_pass(tiny):
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    t = torch.full((4,), 0.3)
    c = per_class_context(2, 2)[:, :2]
    c = torch.nn.functional.pad(c, (0, 3))
    rec = Recorder(tiny)
    with torch.no_grad():
        out = guided_eps(rec, x, t, c, 0.0)
        assert torch.equal(out, tiny(x, t, c))
    assert rec.batches == [4]


def test_guidance_batches_cond_and_uncond_and_mixes_them(tiny):
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    t = torch.full((3,), 0.7)
    c = parse_context("food", NAMES).expand(3, -1)
    rec = Recorder(tiny)
    with torch.no_grad():
        out = guided_eps(rec, x, t, c, 2.5)
        expected = 3.5 * tiny(x, t, c) - 2.5 * tiny(x, t, torch.zeros_like(c))
    assert rec.batches == [6]
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)


def test_sampling_with_guidance_calls_the_model_once_per_step_with_2n(tiny):
    rec = Recorder(tiny)
    sample(
        rec,
        NoiseSchedule(50),
        3,
        steps=5,
        context="spell",
        class_names=NAMES,
        guidance=2.0,
        image_shape=(3, 16, 16),
        progress=False,
        generator=0,
    )
    assert rec.batches == [6] * 5
    rec.batches.clear()
    sample(
        rec,
        NoiseSchedule(50),
        3,
        steps=5,
        context=None,
        guidance=2.0,
        image_shape=(3, 16, 16),
        progress=False,
        generator=0,
    )
    assert rec.batches == [3] * 5  # null context: cond == uncond, one pass


def test_negative_guidance_refused(tiny):
    with pytest.raises(ParameterError, match="guidance"):
        sample(tiny, NoiseSchedule(10), 1, guidance=-1, progress=False)


# -- context -------------------------------------------------------------------------------
def test_parse_context_forms():
    assert parse_context("Hero", NAMES).tolist() == [1, 0, 0, 0, 0]
    assert parse_context("2", NAMES).tolist() == [0, 0, 1, 0, 0]
    assert parse_context("3", None, 5).tolist() == [0, 0, 0, 1, 0]
    mix = parse_context("0.6*food + 0.4*spell", NAMES)
    torch.testing.assert_close(mix, torch.tensor([0, 0, 0.6, 0.4, 0]))
    torch.testing.assert_close(parse_context("food+spell", NAMES), torch.tensor([0, 0, 1.0, 1, 0]))
    torch.testing.assert_close(
        parse_context("0.5*food+0.25*2", NAMES), torch.tensor([0, 0, 0.75, 0, 0])
    )
    torch.testing.assert_close(parse_context("1e-1*item", NAMES), torch.tensor([0, 0, 0, 0, 0.1]))
    for empty in (None, "", "none"):
        assert parse_context(empty, NAMES).tolist() == [0] * 5


@pytest.mark.parametrize(
    "spec,match",
    [
        ("dragon", "hero, creature, food, spell, item"),
        ("0.5*dragon+0.5*hero", "dragon"),
        ("-0.5*hero", ">= 0"),
        ("0.5*hero+-0.2*food", ">= 0"),
        ("7", "out of range"),
        ("0.5*", "cannot parse"),
        ("hero++food", "cannot parse"),
    ],
)
def test_parse_context_errors(spec, match):
    with pytest.raises(ParameterError, match=match):
        parse_context(spec, NAMES)


def test_per_class_context_and_resolve():
    ctx = per_class_context(5, 3)
    assert ctx.shape == (15, 5)
    assert ctx.argmax(1).tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3 + [4] * 3
    assert resolve_context(None, 4, n_cfeat=5) is None
    assert resolve_context("food", 4, n_cfeat=5, class_names=NAMES).shape == (4, 5)
    assert resolve_context(2, 3, n_cfeat=5).argmax(1).tolist() == [2, 2, 2]
    with pytest.raises(ParameterError, match="shape"):
        resolve_context(torch.zeros(3, 5), 4, n_cfeat=5)
    with pytest.raises(ParameterError, match="entries"):
        resolve_context(torch.zeros(4, 3), 4, n_cfeat=5)
    with pytest.raises(ParameterError, match=">= 0"):
        resolve_context(-torch.ones(4, 5), 4, n_cfeat=5)


def test_per_sample_context_reaches_the_model(tiny):
    seen = []

    def model(x, t, c):
        seen.append(c.clone())
        return torch.zeros_like(x)

    ctx = per_class_context(5, 1)
    sample(
        model,
        NoiseSchedule(10),
        5,
        steps=2,
        context=ctx,
        guidance=0.0,
        image_shape=(3, 4, 4),
        progress=False,
        generator=0,
    )
    assert all(torch.equal(c, ctx) for c in seen) and len(seen) == 2


# -- trajectory ----------------------------------------------------------------------------
def test_trajectory_capture(tiny):
    res = sample(
        tiny,
        NoiseSchedule(50),
        2,
        sampler="ddim",
        steps=5,
        trajectory_every=2,
        generator=0,
        progress=False,
    )
    assert res.timesteps == [50, 40, 30, 20, 10]
    assert res.trajectory_timesteps == [50, 30, 10, 0]
    assert len(res.trajectory) == 4
    assert torch.equal(res.trajectory[-1].clamp(-1, 1), res.images)
    assert res.info["sampler"] == "ddim" and res.info["steps"] == 5


# -- inpainting ----------------------------------------------------------------------------
def test_repaint_schedule_shape():
    for L, r, j in [(10, 1, 1), (10, 3, 1), (10, 3, 4), (5, 2, 5), (1, 4, 1)]:
        order = repaint_schedule(L, r, j)
        assert order[0] == L and order[-1] == 0
        assert all(abs(a - b) == 1 for a, b in zip(order[:-1], order[1:], strict=True))
        assert min(order) == 0 and order.count(0) == 1
    order = repaint_schedule(10, 3, 1)
    down = sum(b < a for a, b in zip(order[:-1], order[1:], strict=True))
    assert down == 10 + 2 * 9  # each step from levels 10..2 is redone twice
    assert order.count(5) == 3 + 2  # reached 3 times from above, twice by a jump from 4


@pytest.mark.parametrize(
    "kwargs", [dict(), dict(resample=3, jump_length=2), dict(sampler="ddim", steps=5)]
)
def test_inpaint_keeps_the_known_region_exactly(tiny, kwargs):
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(3, 16, 16, generator=gen) * 2 - 1
    mask = torch.zeros(16, 16)
    mask[4:12, 2:9] = 1
    res = inpaint(tiny, NoiseSchedule(20), image, mask, n=3, generator=1, progress=False, **kwargs)
    assert res.images.shape == (3, 3, 16, 16)
    keep = mask == 0
    assert torch.equal(res.images[:, :, keep], image[:, keep].expand(3, -1, -1))
    assert not torch.allclose(res.images[:, :, ~keep], image[:, ~keep].expand(3, -1, -1))


def test_inpaint_with_the_exact_model_fills_in_the_true_image():
    schedule = NoiseSchedule(30)
    x0 = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(4)) * 2 - 1
    mask = torch.zeros(8, 8)
    mask[2:6, 2:6] = 1
    corrupted = x0[0].clone()
    corrupted[:, 2:6, 2:6] = 0
    out = inpaint(
        PointModel(schedule, x0),
        schedule,
        corrupted,
        mask,
        n=2,
        resample=2,
        generator=0,
        progress=False,
    ).images
    torch.testing.assert_close(out, x0.expand(2, -1, -1, -1), atol=2e-4, rtol=0)


def test_inpaint_resampling_calls_the_model_more(tiny):
    rec = Recorder(tiny)
    res = inpaint(
        rec,
        NoiseSchedule(10),
        torch.zeros(3, 16, 16),
        torch.ones(16, 16),
        resample=3,
        generator=0,
        progress=False,
    )
    # levels 9..1 are each re-entered twice more: 10 + 2 * 9 reverse steps
    assert len(rec.batches) == res.info["model_calls"] == 10 + 2 * 9


def test_inpaint_bad_mask(tiny):
    with pytest.raises(ParameterError, match="mask"):
        inpaint(tiny, NoiseSchedule(10), torch.zeros(3, 16, 16), torch.ones(8, 8), progress=False)
    with pytest.raises(ParameterError, match="mask"):
        inpaint(
            tiny, NoiseSchedule(10), torch.zeros(3, 16, 16), 2 * torch.ones(16, 16), progress=False
        )


# -- animation -----------------------------------------------------------------------------
def test_denoising_gif_frames_are_crisp_and_end_on_the_samples(tiny, tmp_path):
    from PIL import Image

    from diffprob.diffusion.model_range import from_model_range
    from diffprob.plot.animation import denoising_frames, save_denoising_gif
    from diffprob.sprites.grid import make_grid

    res = sample(
        tiny, NoiseSchedule(20), 4, steps=4, trajectory_every=1, generator=0, progress=False
    )
    frames = denoising_frames(res, scale=3, label=False)
    assert len(frames) == 5
    # nearest-neighbour upscaling: every 3x3 block of a tile is one colour
    tile = frames[0][1:49, 1:49]
    blocks = tile.reshape(16, 3, 16, 3, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()
    assert np.array_equal(frames[-1], make_grid(from_model_range(res.images), 2, scale=3))
    path = save_denoising_gif(res, tmp_path / "d.gif", scale=3, frame_ms=50, hold_ms=900)
    gif = Image.open(path)
    assert gif.n_frames == 5
    assert gif.size == (frames[0].shape[1], frames[0].shape[0] + 12)  # + the "t = ..." strip
    gif.seek(4)
    assert gif.info["duration"] == 900
    with pytest.raises(Exception, match="gif"):
        save_denoising_gif(res, tmp_path / "d.png")
    with pytest.raises(ParameterError, match="trajectory_every"):
        denoising_frames(sample(tiny, NoiseSchedule(20), 1, steps=2, progress=False))
