"""The sprite autoencoder: the KL against its closed form, shapes, the scale factor, seeds."""

import math

import numpy as np
import pytest
import torch

from diffprob.diffusion.models.unet import count_parameters
from diffprob.errors import ParameterError
from diffprob.stable_diffusion.autoencoder import (
    LOGVAR_RANGE,
    DiagonalGaussian,
    SpriteVAE,
    VAEConfig,
    decode_latents,
    encode_images,
    gaussian_kl,
    latent_scale_factor,
    vae_loss,
)
from diffprob.stable_diffusion.fit import FitConfig
from diffprob.stable_diffusion.latent_scaling import LatentScaling
from diffprob.stable_diffusion.vae_training import VAETask, train_vae

TINY = VAEConfig(channels=4)


def tiny_vae(seed=0):
    torch.manual_seed(seed)
    return SpriteVAE(TINY)


# --- the KL ---------------------------------------------------------------------------


def test_kl_matches_closed_form_by_hand():
    # mu = 1, sigma^2 = e: 0.5 (1 + e - 1 - 1) = (e - 1) / 2
    kl = gaussian_kl(torch.tensor([1.0]), torch.tensor([1.0]))
    assert float(kl) == pytest.approx((math.e - 1) / 2, rel=1e-6)
    # mu = 0, sigma = 1/2: 0.5 (1/4 - 1 + log 4)
    kl = gaussian_kl(torch.tensor([0.0]), torch.tensor([math.log(0.25)]))
    assert float(kl) == pytest.approx(0.5 * (0.25 - 1 + math.log(4)), rel=1e-6)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(3, 4, 8, 8, generator=g, dtype=torch.float64) * 2
    logvar = torch.randn(3, 4, 8, 8, generator=g, dtype=torch.float64) * 3
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(q, p)
    torch.testing.assert_close(DiagonalGaussian(mean, logvar).kl(), expected)


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(2, 4, 8, 8)
    assert torch.equal(DiagonalGaussian(zeros, zeros).kl(), zeros)
    kl = gaussian_kl(torch.tensor([0.0, 0.1, 0.0]), torch.tensor([0.0, 0.0, -0.1]))
    assert kl[0] == 0 and (kl[1:] > 0).all()


def test_logvar_is_clamped_as_in_latent_diffusion():
    q = DiagonalGaussian(torch.zeros(2), torch.tensor([-100.0, 100.0]))
    assert q.logvar.tolist() == list(LOGVAR_RANGE)
    assert torch.isfinite(q.std).all() and (q.std > 0).all()


def test_mismatched_shapes_are_refused():
    with pytest.raises(ParameterError, match="same shape"):
        DiagonalGaussian(torch.zeros(2, 3), torch.zeros(3, 2))


# --- sampling -------------------------------------------------------------------------


def test_reparameterised_samples_have_the_posterior_moments():
    mean = torch.tensor([1.5, -2.0, 0.0])
    logvar = torch.log(torch.tensor([0.25, 4.0, 1.0]))
    q = DiagonalGaussian(mean.expand(40_000, 3), logvar.expand(40_000, 3))
    z = q.sample(torch.Generator().manual_seed(0)).double()
    # standard errors: sigma / sqrt(n) <= 0.01 for the mean; ~ sigma^2 sqrt(2/n) for the var
    torch.testing.assert_close(z.mean(0), mean.double(), atol=0.04, rtol=0)
    torch.testing.assert_close(z.var(0), logvar.exp().double(), rtol=0.04, atol=0)


def test_sample_is_differentiable_in_mean_and_logvar():
    mean = torch.zeros(5, requires_grad=True)
    logvar = torch.zeros(5, requires_grad=True)
    DiagonalGaussian(mean, logvar).sample(0).sum().backward()
    assert torch.equal(mean.grad, torch.ones(5)) and logvar.grad.abs().sum() > 0


def test_sampling_is_reproducible_with_a_generator():
    q = DiagonalGaussian(torch.zeros(4, 4), torch.zeros(4, 4))
    a = q.sample(torch.Generator().manual_seed(3))
    b = q.sample(torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.equal(q.sample(3), a)
    assert not torch.equal(q.sample(4), a)
    assert torch.equal(q.mode(), q.mean)


# --- the network ----------------------------------------------------------------------


def test_shapes_and_determinism():
    vae = tiny_vae()
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    posterior = vae.encode(x)
    assert posterior.mean.shape == posterior.logvar.shape == (3, 4, 8, 8)
    assert vae.decode(posterior.mode()).shape == x.shape
    a, qa = vae(x, generator=torch.Generator().manual_seed(1))
    b, qb = vae(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and torch.equal(qa.mean, qb.mean)
    c, _ = vae(x, generator=2)
    assert not torch.equal(a, c)
    d, _ = vae(x, sample_posterior=False)
    assert torch.equal(d, vae.decode(posterior.mean))


def test_wrong_input_shapes_are_one_line_errors():
    vae = tiny_vae()
    with pytest.raises(ParameterError, match=r"images must have shape \(B, 3, 16, 16\)"):
        vae.encode(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ParameterError, match=r"latents must have shape \(B, 4, 8, 8\)"):
        vae.decode(torch.zeros(1, 3, 8, 8))


def test_default_model_is_small():
    n = count_parameters(SpriteVAE())
    assert 100_000 < n < 500_000


def test_encode_and_decode_uint8_batches_agree_with_the_model():
    from diffprob.diffusion.model_range import to_model_range
    from diffprob.sprites.generator import generate_sprites

    vae = tiny_vae().eval()
    images, _ = generate_sprites(5, seed=0)
    latents, posterior = encode_images(vae, images, sample=False, batch_size=2)
    with torch.no_grad():
        expected = vae.encode(torch.from_numpy(to_model_range(images)))
    torch.testing.assert_close(posterior.mean, expected.mean)
    assert torch.equal(latents, posterior.mean)
    out = decode_latents(vae, latents, batch_size=3)
    assert out.shape == images.shape and out.dtype == np.uint8


# --- the loss and the scale factor ----------------------------------------------------


def test_vae_loss_sums_per_sample_and_averages_over_the_batch():
    x = torch.zeros(2, 3, 4, 4)
    rec = x.clone()
    rec[0] += 0.5  # sample 0: 48 values off by 0.5; sample 1 exact
    q = DiagonalGaussian(torch.zeros(2, 1, 2, 2), torch.zeros(2, 1, 2, 2))
    q.mean[1] = 2.0  # KL 0.5 * 4 = 2 per dimension, 4 dimensions, sample 1 only
    loss, parts = vae_loss(x, rec, q, kl_weight=0.5)
    assert parts == {"recon": 12.0, "kl": 4.0}  # (24 + 0) / 2, (0 + 8) / 2
    assert float(loss) == pytest.approx(12.0 + 0.5 * 4.0)
    _, parts = vae_loss(x, rec, q, kl_weight=0.5, kind="mse")
    assert parts["recon"] == pytest.approx(48 * 0.25 / 2)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_vae_loss_refuses_bad_weights(bad):
    q = DiagonalGaussian(torch.zeros(1, 1), torch.zeros(1, 1))
    with pytest.raises(ParameterError, match="kl_weight"):
        vae_loss(torch.zeros(1, 1), torch.zeros(1, 1), q, bad)
    with pytest.raises(ParameterError, match="kind"):
        vae_loss(torch.zeros(1, 1), torch.zeros(1, 1), q, 0.1, kind="l3")


def test_scale_factor_gives_unit_std():
    g = torch.Generator().manual_seed(0)
    latents = 5.4 * torch.randn(64, 4, 8, 8, generator=g) + 0.3
    s = latent_scale_factor(latents)
    assert float((latents * s).std()) == pytest.approx(1.0, rel=1e-5)
    assert latent_scale_factor(latents.numpy()) == pytest.approx(s)
    for bad in (torch.zeros(10), torch.ones(1), torch.tensor([0.0, float("nan")])):
        with pytest.raises(ParameterError):
            latent_scale_factor(bad)


# --- the configuration ----------------------------------------------------------------


def test_config_round_trip_and_refusals():
    cfg = VAEConfig(channels=40, num_res_blocks=2)
    assert VAEConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ParameterError, match="unknown VAE configuration keys"):
        VAEConfig.from_dict({**cfg.to_dict(), "depth": 3})
    bad = [
        {"image_size": 20},
        {"channels": 0},
        {"channels": 100_000},
        {"latent_channels": 1.5},
        {"num_res_blocks": True},
        {"in_channels": 5},
    ]
    for kwargs in bad:
        with pytest.raises(ParameterError):
            VAEConfig(**kwargs)


# --- the training task ----------------------------------------------------------------


def test_task_batches_are_generator_sprites_in_model_range():
    task = VAETask(TINY)
    a = task.batch(np.random.default_rng(5), 6)
    b = task.batch(np.random.default_rng(5), 6)
    assert a.shape == (6, 3, 16, 16) and a.dtype == torch.float32
    assert torch.equal(a, b) and a.min() >= -1 and a.max() == 1  # white background
    assert task.model_config() == TINY.to_dict()
    with pytest.raises(ParameterError):
        VAETask(TINY, kl_weight=-1)
    with pytest.raises(ParameterError):
        VAETask(TINY, recon_loss="l3")


def test_train_vae_stores_the_scale_factor(tmp_path):
    from diffprob.stable_diffusion.parts import load_part

    result = train_vae(
        FitConfig(steps=3, batch_size=4, log_every=1),
        TINY,
        kl_weight=1e-2,
        scale_n=100,
        out=tmp_path / "run",
        progress=False,
    )
    scale = result.metadata["latent_scale_factor"]
    assert scale > 0 and result.metadata["latent_std"] == pytest.approx(1 / scale)
    assert [row["step"] for row in result.history] == [1, 2, 3]
    assert {"recon", "kl"} <= set(result.history[0])
    config, state, metadata = load_part(tmp_path / "run" / "model.pt", "vae")
    assert VAEConfig.from_dict(config) == TINY
    assert metadata["latent_scale_factor"] == pytest.approx(scale)
    # the per-channel standardisation the diffusion uses, measured on the same latents
    scaling = LatentScaling.from_dict(metadata["latent_scaling"])
    assert scaling.channels == TINY.latent_channels and not scaling.is_global
    assert min(scaling.scale) <= scale <= max(scaling.scale)  # the pooled std lies between
    vae = SpriteVAE(VAEConfig.from_dict(config))
    vae.load_state_dict(state)
