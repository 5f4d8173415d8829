"""Latent scaling: per-channel standardisation against numpy, the global factor, round trips."""

import numpy as np
import pytest
import torch

from diffprob.errors import ParameterError
from diffprob.stable_diffusion.autoencoder import latent_scale_factor
from diffprob.stable_diffusion.latent_scaling import LatentScaling


@pytest.fixture
def latents():
    # four channels of different centre and spread, as a trained VAE's are
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 4, 8, 8))
    z = z * np.array([1.4, 0.8, 1.0, 0.5])[None, :, None, None]
    z = z + np.array([-0.3, 0.0, 0.2, 1.0])[None, :, None, None]
    return torch.from_numpy(z)


def test_per_channel_scaling_matches_numpy_and_standardises(latents):
    scaling = LatentScaling.from_latents(latents)
    z = latents.numpy()
    np.testing.assert_allclose(scaling.shift, z.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(scaling.scale, 1 / z.std(axis=(0, 2, 3), ddof=1), rtol=1e-12)
    scaled = scaling.apply(latents).numpy()
    np.testing.assert_allclose(scaled.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(scaled.std(axis=(0, 2, 3), ddof=1), 1, rtol=1e-12)
    assert torch.allclose(scaling.invert(scaling.apply(latents)), latents, atol=1e-12)
    assert not scaling.is_global


def test_one_global_factor_leaves_channels_unequal(latents):
    factor = latent_scale_factor(latents)
    scaling = LatentScaling.global_factor(factor, 4)
    assert scaling.is_global and scaling.describe() == f"times {factor:.4g}"
    assert torch.allclose(scaling.apply(latents), latents * factor)
    stds = scaling.apply(latents).numpy().std(axis=(0, 2, 3))
    assert stds.max() / stds.min() == pytest.approx(1.4 / 0.5, rel=0.05)  # ratio unchanged


def test_float32_latents_keep_their_dtype(latents):
    scaling = LatentScaling.from_latents(latents)
    assert scaling.apply(latents.float()).dtype == torch.float32


def test_round_trip_and_coercion():
    scaling = LatentScaling((0.1, -0.2), (2.0, 0.5))
    assert LatentScaling.from_dict(scaling.to_dict()) == scaling
    assert LatentScaling.coerce(scaling.to_dict(), 2) == scaling
    assert LatentScaling.coerce(3, 2) == LatentScaling((0.0, 0.0), (3.0, 3.0))
    assert "per channel (mean +0.100/-0.200, std 0.500/2.000)" in scaling.describe()


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: LatentScaling((0.0,), (1.0, 1.0)), "one value per channel, got 1 and 2"),
        (lambda: LatentScaling((0.0,), (0.0,)), "every scale must be > 0"),
        (lambda: LatentScaling((float("nan"),), (1.0,)), "finite numbers"),
        (lambda: LatentScaling((), ()), "non-empty"),
        (lambda: LatentScaling("ab", (1.0, 1.0)), "sequence of numbers"),
        (lambda: LatentScaling.coerce(True, 4), "a LatentScaling or a number"),
        (lambda: LatentScaling.coerce(1.0, 0), "channels must be an integer >= 1"),
        (lambda: LatentScaling.coerce(LatentScaling((0.0,), (1.0,)), 4), "is for 1 channel"),
        (lambda: LatentScaling.from_dict({"scale": [1.0]}), "a latent scaling is"),
        (lambda: LatentScaling.from_latents(torch.zeros(3, 8)), r"shape \(N, C, h, w\)"),
        (lambda: LatentScaling.from_latents(torch.zeros(5, 2, 2, 2)), "std must be finite and > 0"),
        (lambda: LatentScaling((0.0,), (1.0,)).apply(torch.zeros(1, 2, 2, 2)), r"\(N, 1, h, w\)"),
    ],
)
def test_bad_scalings_are_precise_errors(build, message):
    with pytest.raises(ParameterError, match=message):
        build()
