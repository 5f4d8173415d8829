"""The autoencoder's measurements: known answers on a VAE whose latents are known."""

import numpy as np
import pytest
import torch
from torch import nn

from diffprob.errors import ParameterError
from diffprob.evaluation.divergences import total_variation_distance
from diffprob.sprites.generator import generate_sprites
from diffprob.stable_diffusion.autoencoder import SpriteVAE, VAEConfig
from diffprob.stable_diffusion.latent_scaling import LatentScaling
from diffprob.stable_diffusion.latent_statistics import (
    colour_tv,
    latent_statistics,
    psnr,
    reconstruction_report,
)
from diffprob.stats.histograms import channel_histograms

CONFIG = VAEConfig(channels=4)


class _Constant(nn.Module):
    """Encoder output: posterior N(mean, exp(logvar)) at every position, whatever the image."""

    def __init__(self, mean, logvar):
        super().__init__()
        self.register_buffer("out", torch.tensor(list(mean) + list(logvar)).view(1, 8, 1, 1))

    def forward(self, x):
        return self.out.expand(len(x), 8, 8, 8)


def known_vae(mean, logvar):
    torch.manual_seed(0)
    vae = SpriteVAE(CONFIG).eval()
    vae.encoder = _Constant(mean, logvar)
    return vae


def test_latents_of_a_known_posterior():
    # channel c: N(mean_c, var_c); scaled by 2 -> N(2 mean_c, 4 var_c)
    mean, var = [0.0, 0.5, 0.0, -0.25], [0.25, 0.25, 1.0, 0.04]
    vae = known_vae(mean, np.log(var).tolist())
    images, _ = generate_sprites(200, seed=0)  # 200 x 64 = 12800 draws per channel
    stats = latent_statistics(vae, images, 2.0, seed=0)
    np.testing.assert_allclose(stats.channel_mean, 2 * np.array(mean), atol=0.05)
    np.testing.assert_allclose(stats.channel_std, 2 * np.sqrt(var), rtol=0.03)
    # the KL of the unscaled posterior, at every position, closed form
    expected = 0.5 * (np.square(mean) + np.array(var) - 1 - np.log(var))
    np.testing.assert_allclose(stats.kl_per_channel, expected, rtol=1e-5)
    assert stats.kl_per_dim.shape == (4, 8, 8)
    np.testing.assert_allclose(stats.kl_per_dim[:, 3, 5], expected, rtol=1e-5)
    assert stats.kl_total == pytest.approx(64 * expected.sum(), rel=1e-5)
    # channel 2 scaled is N(0, 4), channel 0 scaled is N(0, 1): its histogram is the normal's
    assert stats.tv_to_normal[0] < 0.03 < 0.2 < stats.tv_to_normal[2]
    widths = np.diff(stats.bin_edges)
    assert stats.density[0] @ widths == pytest.approx(1.0, abs=1e-3)  # almost no tails
    np.testing.assert_allclose(stats.density[0], stats.normal_density, atol=0.03)
    assert stats.n_images == 200 and stats.summary()["z1"]["mean"] == pytest.approx(1.0, abs=0.05)


def test_per_channel_scaling_standardises_a_known_posterior():
    # channel c: z ~ N(m_c, v_c); (z - m_c) / sqrt(v_c) ~ N(0, 1) in every channel
    mean, var = [0.0, 0.5, 0.0, -0.25], [0.25, 0.25, 1.0, 0.04]
    vae = known_vae(mean, np.log(var).tolist())
    images, _ = generate_sprites(200, seed=0)
    scaling = LatentScaling(tuple(mean), tuple(1 / np.sqrt(var)))
    stats = latent_statistics(vae, images, scaling, seed=0)
    np.testing.assert_allclose(stats.channel_mean, 0, atol=0.03)
    np.testing.assert_allclose(stats.channel_std, 1, rtol=0.03)
    assert (stats.tv_to_normal < 0.03).all() and stats.scaling == scaling


def test_posterior_means_and_seeds():
    vae = known_vae([0.3, 0.3, 0.3, 0.3], [0.0] * 4)
    images, _ = generate_sprites(4, seed=0)
    means = latent_statistics(vae, images, 1.0, sample=False)
    np.testing.assert_allclose(means.channel_mean, 0.3, rtol=1e-6)
    np.testing.assert_allclose(means.channel_std, 0.0, atol=1e-6)
    a = latent_statistics(vae, images, 1.0, seed=1)
    b = latent_statistics(vae, images, 1.0, seed=1)
    c = latent_statistics(vae, images, 1.0, seed=2)
    assert np.array_equal(a.channel_std, b.channel_std)
    assert not np.array_equal(a.channel_std, c.channel_std)


def test_bad_arguments():
    vae = known_vae([0.0] * 4, [0.0] * 4)
    images, _ = generate_sprites(2, seed=0)
    for scaling in (0.0, float("nan"), LatentScaling((0.0,), (1.0,))):
        with pytest.raises(ParameterError):
            latent_statistics(vae, images, scaling)
    with pytest.raises(ParameterError):
        latent_statistics(vae, images, 1.0, bins=0)
    with pytest.raises(ParameterError):
        latent_statistics(vae, images.astype(np.float32), 1.0)


def test_psnr_known_values():
    a = np.zeros((3, 4, 4, 3), np.uint8)
    b = a.copy()
    b[1] = 255  # MSE 255^2: 0 dB
    b[2, 0, 0, 0] = 16  # MSE 256 / 48
    got = psnr(b, a)
    assert got[0] == np.inf and got[1] == pytest.approx(0.0)
    assert got[2] == pytest.approx(10 * np.log10(255**2 * 48 / 256))
    with pytest.raises(ParameterError, match="shape"):
        psnr(a[:2], a)


def test_reconstruction_report_of_an_untrained_model():
    torch.manual_seed(0)
    vae = SpriteVAE(CONFIG).eval()
    images, _ = generate_sprites(6, seed=2)
    report = reconstruction_report(vae, images, batch_size=4)
    assert report.reconstructions.shape == images.shape
    assert report.reconstructions.dtype == np.uint8
    np.testing.assert_allclose(report.psnr, report.psnr_per_image.mean())
    same = report.reconstructions == images
    assert report.exact_values == pytest.approx(same.mean())
    assert report.exact_images == 0.0


def test_exact_reconstructions_keep_the_mean_psnr_finite(monkeypatch):
    from diffprob.stable_diffusion import latent_statistics as module

    images, _ = generate_sprites(3, seed=2)
    monkeypatch.setattr(module, "decode_latents", lambda vae, z, batch_size: images.copy())
    report = reconstruction_report(SpriteVAE(CONFIG).eval(), images)
    assert np.isinf(report.psnr_per_image).all()
    assert report.psnr == pytest.approx(10 * np.log10(255**2 * 768))
    assert report.exact_values == report.exact_images == 1.0


def test_colour_tv_is_the_evaluations_tv():
    a, _ = generate_sprites(50, seed=0)
    b, _ = generate_sprites(50, seed=1)
    assert colour_tv(a, a) == 0.0
    p = channel_histograms(a, bins=32).pmf
    q = channel_histograms(b, bins=32).pmf
    expected = np.mean([total_variation_distance(p[c], q[c]) for c in range(3)])
    assert colour_tv(a, b) == pytest.approx(expected)
    assert 0 < colour_tv(a, b) < 0.2
