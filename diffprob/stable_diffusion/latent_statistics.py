"""The autoencoder measured with the statistics half: its latents, its KL, its reconstructions.

* :func:`latent_statistics` -- the scaled latents against N(0, 1), the prior the diffusion
  starts from: per-channel mean and standard deviation, per-channel density histograms
  beside the normal density (:func:`~diffprob.stats.distributions.gaussian_pdf`), the
  total variation between each histogram and the N(0, 1) bin probabilities
  (:func:`~diffprob.evaluation.divergences.total_variation_distance`), and the KL of the
  posterior per latent dimension -- which positions and channels carry information;
* :func:`reconstruction_report` -- PSNR, the fraction of exactly reproduced values, and the
  reconstructions as uint8 sprites for the evaluation's colour metrics;
* :func:`colour_tv` -- the evaluation's colour TV (``diffprob evaluate``'s ``tv`` row)
  between two sets of sprites.

Notes
-----
Diffusion starts from :math:`z_T \\sim \\mathcal{N}(0, I)` and its schedule assumes data
of about unit variance. Stable Diffusion multiplies the latents by one global factor
(:func:`~diffprob.stable_diffusion.autoencoder.latent_scale_factor`), so after scaling the
latents' overall standard deviation is 1 by construction -- but a channel with a larger
spread than the others stays larger, and a channel's mean is not moved at all: only the
KL weight keeps the channels alike. A per-channel
:class:`~diffprob.stable_diffusion.latent_scaling.LatentScaling` centres and scales each
channel; on held-out sprites these are the numbers that check either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffprob.errors import ParameterError
from diffprob.evaluation.divergences import total_variation_distance
from diffprob.stable_diffusion.autoencoder import SpriteVAE, decode_latents, encode_images
from diffprob.stable_diffusion.latent_scaling import LatentScaling
from diffprob.stats.distributions import gaussian_cdf, gaussian_pdf
from diffprob.stats.histograms import channel_histograms
from diffprob.util.validation import check_image_batch

__all__ = [
    "LatentStatistics",
    "latent_statistics",
    "ReconstructionReport",
    "reconstruction_report",
    "colour_tv",
    "psnr",
]

#: Bins of the colour PMFs of :func:`colour_tv`: ``diffprob evaluate``'s default ``pmf_bins``.
COLOUR_BINS = 32


@dataclass(frozen=True)
class LatentStatistics:
    """The scaled latents of a set of sprites against N(0, 1).

    Attributes
    ----------
    scaling : LatentScaling
        How the latents were scaled.
    channel_mean, channel_std : ndarray, shape (C,)
        Per-channel mean and standard deviation of the scaled latents (N(0, 1): 0 and 1).
    kl_per_dim : ndarray, shape (C, h, w)
        :math:`\\mathrm{KL}(q(z_i \\mid x) \\,\\|\\, \\mathcal{N}(0, 1))` of each latent
        dimension, in nats, averaged over the images (of the unscaled posterior: the
        quantity the training penalised).
    kl_per_channel : ndarray, shape (C,)
        ``kl_per_dim`` averaged over positions.
    kl_total : float
        ``kl_per_dim`` summed: the KL per image (nats).
    bin_edges : ndarray, shape (bins + 1,)
        Edges of the histograms, over ``[-limit, limit]``.
    density : ndarray, shape (C, bins)
        Density histogram of each channel's scaled latents (integrates to the mass
        inside the edges).
    normal_density : ndarray, shape (bins,)
        The N(0, 1) density at the bin centres, to plot beside ``density``.
    tv_to_normal : ndarray, shape (C,)
        Total variation between each channel's bin probabilities and N(0, 1)'s, with
        the two tails beyond the edges as two more bins, so both sum to 1.
    n_images : int
    """

    scaling: LatentScaling
    channel_mean: np.ndarray
    channel_std: np.ndarray
    kl_per_dim: np.ndarray
    kl_per_channel: np.ndarray
    kl_total: float
    bin_edges: np.ndarray
    density: np.ndarray
    normal_density: np.ndarray
    tv_to_normal: np.ndarray
    n_images: int

    def summary(self) -> dict:
        """Per-channel numbers as plain floats: ``{"z0": {mean, std, kl, tv}, ...}``."""
        return {
            f"z{c}": {
                "mean": float(self.channel_mean[c]),
                "std": float(self.channel_std[c]),
                "kl": float(self.kl_per_channel[c]),
                "tv_to_normal": float(self.tv_to_normal[c]),
            }
            for c in range(len(self.channel_mean))
        }


def _normal_bin_probabilities(edges: np.ndarray) -> np.ndarray:
    """P(bin) under N(0, 1) for the bins between `edges`, with the two tails appended."""
    cdf = gaussian_cdf(edges, 0.0, 1.0)
    return np.concatenate([np.diff(cdf), [cdf[0], 1.0 - cdf[-1]]])


def latent_statistics(
    vae: SpriteVAE,
    images,
    scaling,
    *,
    sample: bool = True,
    seed: int = 0,
    bins: int = 32,
    limit: float = 4.0,
    batch_size: int = 500,
) -> LatentStatistics:
    """Encode `images` and compare the scaled latents with N(0, 1).

    Parameters
    ----------
    vae : SpriteVAE
    images : ndarray of uint8, shape (N, s, s, 3)
        Sprites the autoencoder was not trained on.
    scaling : LatentScaling or float
        The model's latent scaling; a number is one global factor (``1 / std`` of its
        training latents, as Stable Diffusion's).
    sample : bool, optional
        Use posterior samples z ~ q(z | x) (as the scale factor was computed), or the
        posterior means.
    seed : int, optional
        Seeds the posterior samples.
    bins, limit : optional
        The histograms have `bins` equal bins over ``[-limit, limit]``.

    Returns
    -------
    LatentStatistics

    Examples
    --------
    >>> from diffprob.stable_diffusion.autoencoder import VAEConfig
    >>> from diffprob.sprites.generator import generate_sprites
    >>> import torch; _ = torch.manual_seed(0)
    >>> vae = SpriteVAE(VAEConfig(channels=8)).eval()
    >>> stats = latent_statistics(vae, generate_sprites(20, seed=1)[0], 1.0, bins=8)
    >>> stats.kl_per_dim.shape, stats.density.shape, stats.tv_to_normal.shape
    ((4, 8, 8), (4, 8), (4,))
    """
    scaling = LatentScaling.coerce(scaling, vae.config.latent_channels)
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ParameterError(f"bins must be an integer >= 1, got {bins!r}")
    if not (np.isfinite(limit) and limit > 0):
        raise ParameterError(f"limit must be finite and > 0, got {limit}")
    latents, posterior = encode_images(
        vae, images, generator=seed, sample=sample, batch_size=batch_size
    )
    z = scaling.apply(latents.double()).numpy()  # (N, C, h, w)
    per_channel = z.transpose(1, 0, 2, 3).reshape(z.shape[1], -1)  # (C, N h w)
    kl_per_dim = posterior.kl().double().mean(0).numpy()

    edges = np.linspace(-limit, limit, bins + 1)
    widths = np.diff(edges)
    normal_p = _normal_bin_probabilities(edges)
    density = np.empty((len(per_channel), bins))
    tv = np.empty(len(per_channel))
    for c, values in enumerate(per_channel):
        counts, _ = np.histogram(values, bins=edges)
        tails = [(values < edges[0]).sum(), (values > edges[-1]).sum()]
        p = np.concatenate([counts, tails]) / values.size
        density[c] = p[:bins] / widths
        tv[c] = total_variation_distance(p, normal_p)
    centres = 0.5 * (edges[:-1] + edges[1:])
    return LatentStatistics(
        scaling=scaling,
        channel_mean=per_channel.mean(axis=1),
        channel_std=per_channel.std(axis=1),
        kl_per_dim=kl_per_dim,
        kl_per_channel=kl_per_dim.reshape(len(kl_per_dim), -1).mean(axis=1),
        kl_total=float(kl_per_dim.sum()),
        bin_edges=edges,
        density=density,
        normal_density=gaussian_pdf(centres, 0.0, 1.0),
        tv_to_normal=tv,
        n_images=len(z),
    )


def psnr(images, reference) -> np.ndarray:
    """Per-image peak signal-to-noise ratio of uint8 images, in dB (inf where identical).

    .. math:: \\mathrm{PSNR} = 10 \\log_{10} \\frac{255^2}{\\mathrm{MSE}}

    with the MSE over all pixels and channels of an image, in 8-bit codes.

    Examples
    --------
    >>> a = np.zeros((2, 2, 2, 3), np.uint8); b = a.copy(); b[1, 0, 0, 0] = 255
    >>> psnr(b, a).round(2).tolist()                   # MSE = 255^2 / 12
    [inf, 10.79]
    """
    a = check_image_batch(images, "images", error=ParameterError).astype(np.float64)
    b = check_image_batch(reference, "reference", error=ParameterError).astype(np.float64)
    if a.shape != b.shape:
        raise ParameterError(f"images and reference differ in shape: {a.shape} vs {b.shape}")
    mse = ((a - b) ** 2).reshape(len(a), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(255.0**2 / mse)


@dataclass(frozen=True)
class ReconstructionReport:
    """How well the autoencoder reproduces a set of sprites.

    Attributes
    ----------
    psnr : float
        Mean over images of the per-image PSNR (dB), an exact reconstruction counted at
        the PSNR of a one-level error in one value (the largest finite PSNR), so the
        mean stays finite.
    psnr_per_image : ndarray, shape (N,)
        Per-image PSNR (inf where the reconstruction is exact).
    exact_values : float
        Fraction of the uint8 values (pixels x channels) reproduced exactly.
    exact_images : float
        Fraction of the images reproduced exactly.
    reconstructions : ndarray of uint8, shape (N, s, s, 3)
        Decoded posterior means, for colour metrics against the originals or real sprites.
    """

    psnr: float
    psnr_per_image: np.ndarray
    exact_values: float
    exact_images: float
    reconstructions: np.ndarray


def reconstruction_report(vae: SpriteVAE, images, *, batch_size: int = 500) -> ReconstructionReport:
    """Encode `images` (posterior means), decode, and compare with the originals.

    Examples
    --------
    >>> from diffprob.stable_diffusion.autoencoder import VAEConfig
    >>> from diffprob.sprites.generator import generate_sprites
    >>> import torch; _ = torch.manual_seed(0)
    >>> report = reconstruction_report(SpriteVAE(VAEConfig(channels=8)).eval(),
    ...                                generate_sprites(3, seed=1)[0])
    >>> report.reconstructions.shape, report.reconstructions.dtype
    ((3, 16, 16, 3), dtype('uint8'))
    """
    images = check_image_batch(images, "images", size=vae.config.image_size, error=ParameterError)
    latents, _ = encode_images(vae, images, sample=False, batch_size=batch_size)
    recon = decode_latents(vae, latents, batch_size=batch_size)
    per_image = psnr(recon, images)
    ceiling = 10.0 * np.log10(255.0**2 * images[0].size)
    same = recon == images
    return ReconstructionReport(
        psnr=float(np.mean(np.minimum(per_image, ceiling))),
        psnr_per_image=per_image,
        exact_values=float(same.mean()),
        exact_images=float(same.reshape(len(same), -1).all(axis=1).mean()),
        reconstructions=recon,
    )


def colour_tv(images, reference, *, bins: int = COLOUR_BINS) -> float:
    """The evaluation's colour TV: per-channel PMFs of the pooled pixels, TV, mean over R, G, B.

    The ``tv`` row of ``diffprob evaluate`` at its default ``pmf_bins=32``:
    :func:`~diffprob.stats.histograms.channel_histograms` of each set, then
    :func:`~diffprob.evaluation.divergences.total_variation_distance` per channel.

    Examples
    --------
    >>> a = np.zeros((1, 2, 2, 3), np.uint8); b = a.copy(); b[0, 0, 0] = 255
    >>> colour_tv(a, b)                    # a quarter of the pixels moved, every channel
    0.25
    """
    p = channel_histograms(check_image_batch(images, "images", error=ParameterError), bins=bins)
    q = channel_histograms(
        check_image_batch(reference, "reference", error=ParameterError), bins=bins
    )
    return float(np.mean(total_variation_distance(p.counts, q.counts)))
