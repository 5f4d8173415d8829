"""The sprite autoencoder: a KL-regularised VAE whose latent space the diffusion runs in.

As in the latent-diffusion autoencoders (Rombach et al. 2022, ``AutoencoderKL``), an
encoder maps an image to a diagonal Gaussian posterior over a small latent,

.. math:: q(z \\mid x) = \\mathcal{N}(\\mu(x), \\mathrm{diag}\\,\\sigma^2(x)),

a decoder maps a latent back to an image, and training minimises the reconstruction
error of a sampled :math:`z` plus a small multiple of :math:`\\mathrm{KL}(q(z \\mid x)
\\,\\|\\, \\mathcal{N}(0, I))`. Shapes, for the default :class:`VAEConfig`::

    x (B, 3, 16, 16) in [-1, 1]
      -> conv 3x3 (C) -> residual blocks (C, 16x16)
      -> stride-2 conv -> residual blocks (2C, 8x8) -> mid block
      -> GroupNorm, SiLU, conv 3x3 -> (mean, logvar), each (B, 4, 8, 8)
    z (B, 4, 8, 8)
      -> conv 3x3 (2C) -> mid block -> residual blocks (2C, 8x8)
      -> nearest x2 + conv 3x3 -> residual blocks (C, 16x16)
      -> GroupNorm, SiLU, conv 3x3 -> x_hat (B, 3, 16, 16)

The KL weight is small, so the latents are not N(0, 1): their spread is set by the
reconstruction. Stable Diffusion therefore divides the latents by their standard
deviation before diffusion (:func:`latent_scale_factor`; 0.18215 for its VAE).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from diffprob.diffusion.model_range import from_model_range, to_model_range
from diffprob.diffusion.rng import as_generator, randn
from diffprob.errors import ParameterError
from diffprob.util.validation import (
    check_choice,
    check_image_batch,
    check_int_fields,
    config_from_dict,
)

__all__ = [
    "VAEConfig",
    "DiagonalGaussian",
    "gaussian_kl",
    "SpriteVAE",
    "vae_loss",
    "latent_scale_factor",
    "encode_images",
    "decode_latents",
    "RECONSTRUCTION_LOSSES",
    "LOGVAR_RANGE",
]

IMAGE_SIZES = (16, 32)
#: Upper bounds of the integer fields, checked before any layer is built (as
#: :data:`diffprob.diffusion.models.unet.FIELD_LIMITS`): ``channels=256`` is ~20M
#: parameters, far above any sprite autoencoder.
FIELD_LIMITS = {"in_channels": 4, "latent_channels": 16, "channels": 256, "num_res_blocks": 4}
#: Reconstruction terms of :func:`vae_loss`: absolute (L1) or squared (L2) error.
RECONSTRUCTION_LOSSES = ("l1", "mse")
#: The posterior's log-variance is clamped to this range, as latent-diffusion's
#: ``DiagonalGaussianDistribution`` does (exp(-30) ~ 1e-13, exp(20) ~ 5e8).
LOGVAR_RANGE = (-30.0, 20.0)


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of a :class:`SpriteVAE` (saved with the model).

    Parameters
    ----------
    image_size : {16, 32}
        Side of the square images; the latent's side is half of it.
    in_channels : int
        Image channels (3 for RGB).
    latent_channels : int
        Channels of the latent (4, as in Stable Diffusion).
    channels : int
        Width C of the full-resolution level; the half-resolution level has 2C.
    num_res_blocks : int
        Residual blocks per level, in the encoder and in the decoder.

    Examples
    --------
    >>> cfg = VAEConfig(channels=16)
    >>> VAEConfig.from_dict(cfg.to_dict()) == cfg
    True
    >>> cfg.latent_shape
    (4, 8, 8)
    """

    image_size: int = 16
    in_channels: int = 3
    latent_channels: int = 4
    channels: int = 32
    num_res_blocks: int = 1

    def __post_init__(self):
        if self.image_size not in IMAGE_SIZES:
            raise ParameterError(f"image_size must be one of {IMAGE_SIZES}, got {self.image_size}")
        check_int_fields(self, FIELD_LIMITS, "diffprob.stable_diffusion.autoencoder.FIELD_LIMITS")

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """``(latent_channels, image_size / 2, image_size / 2)``."""
        side = self.image_size // 2
        return (self.latent_channels, side, side)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> VAEConfig:
        """Rebuild a configuration from :meth:`to_dict` output; unknown keys are refused."""
        return config_from_dict(cls, data, "VAE")


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise :math:`\\mathrm{KL}(\\mathcal{N}(\\mu, \\sigma^2) \\,\\|\\, \\mathcal{N}(0, 1))`.

    .. math:: \\mathrm{KL} = \\tfrac12 \\left(\\mu^2 + \\sigma^2 - 1 - \\log \\sigma^2\\right)

    in nats, with ``logvar`` :math:`= \\log \\sigma^2`. It is zero exactly at
    :math:`\\mu = 0, \\sigma = 1`.

    Examples
    --------
    >>> gaussian_kl(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.0])).tolist()
    [0.0, 0.5]
    """
    return 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar)


class DiagonalGaussian:
    """A Gaussian with diagonal covariance: the encoder's posterior :math:`q(z \\mid x)`.

    Parameters
    ----------
    mean, logvar : torch.Tensor
        Same shape, e.g. ``(B, 4, 8, 8)``. ``logvar`` is clamped to
        :data:`LOGVAR_RANGE` (as latent-diffusion does), so ``std`` never
        overflows or underflows to 0.

    Examples
    --------
    >>> q = DiagonalGaussian(torch.zeros(2, 3), torch.zeros(2, 3))
    >>> float(q.kl().sum()), tuple(q.sample(0).shape), bool((q.mode() == 0).all())
    (0.0, (2, 3), True)
    """

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        if mean.shape != logvar.shape:
            raise ParameterError(
                f"mean and logvar must have the same shape, got {tuple(mean.shape)} "
                f"and {tuple(logvar.shape)}"
            )
        self.mean = mean
        self.logvar = logvar.clamp(*LOGVAR_RANGE)

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    @property
    def var(self) -> torch.Tensor:
        return self.logvar.exp()

    @property
    def shape(self) -> torch.Size:
        return self.mean.shape

    def sample(self, generator=None) -> torch.Tensor:
        """Draw :math:`z = \\mu + \\sigma \\varepsilon`, :math:`\\varepsilon \\sim \\mathcal{N}(0, I)`.

        The reparameterisation: gradients flow to ``mean`` and ``logvar``. `generator`
        is a ``torch.Generator``, an int seed or None (fresh entropy); the noise is
        drawn on its device (:func:`diffprob.diffusion.rng.randn`), so a seed gives the
        same draw on every device.
        """
        eps = randn(self.mean.shape, as_generator(generator), self.mean.device, self.mean.dtype)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        """The most likely latent, :math:`\\mu` (what a deterministic encoding uses)."""
        return self.mean

    def kl(self) -> torch.Tensor:
        """Elementwise KL to N(0, 1) (:func:`gaussian_kl`), the shape of ``mean``."""
        return gaussian_kl(self.mean, self.logvar)

    def __getitem__(self, index) -> DiagonalGaussian:
        return DiagonalGaussian(self.mean[index], self.logvar[index])

    def __len__(self) -> int:
        return len(self.mean)


def _group_norm(channels: int) -> nn.GroupNorm:
    groups = max(g for g in range(1, min(8, channels) + 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class ResnetBlock(nn.Module):
    """GroupNorm, SiLU, conv 3x3, twice, plus a shortcut (1x1 conv if the width changes)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.norm1 = _group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.shortcut(x) + h


def _blocks(in_channels: int, out_channels: int, n: int) -> nn.Sequential:
    return nn.Sequential(
        *[ResnetBlock(in_channels if i == 0 else out_channels, out_channels) for i in range(n)]
    )


class Encoder(nn.Module):
    """Image (B, 3, s, s) -> posterior parameters (B, 2 * latent_channels, s/2, s/2)."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        c, n = config.channels, config.num_res_blocks
        self.conv_in = nn.Conv2d(config.in_channels, c, 3, padding=1)
        self.level0 = _blocks(c, c, n)
        self.down = nn.Conv2d(c, c, 3, stride=2, padding=1)
        self.level1 = _blocks(c, 2 * c, n)
        self.mid = ResnetBlock(2 * c, 2 * c)
        self.norm_out = _group_norm(2 * c)
        self.conv_out = nn.Conv2d(2 * c, 2 * config.latent_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.level0(self.conv_in(x))
        h = self.mid(self.level1(self.down(h)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """Latent (B, latent_channels, s/2, s/2) -> image (B, 3, s, s), unbounded like LDM's."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        c, n = config.channels, config.num_res_blocks
        self.conv_in = nn.Conv2d(config.latent_channels, 2 * c, 3, padding=1)
        self.mid = ResnetBlock(2 * c, 2 * c)
        self.level1 = _blocks(2 * c, 2 * c, n)
        self.up = nn.Conv2d(2 * c, c, 3, padding=1)
        self.level0 = _blocks(c, c, n)
        self.norm_out = _group_norm(c)
        self.conv_out = nn.Conv2d(c, config.in_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.level1(self.mid(self.conv_in(z)))
        h = self.up(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.level0(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class SpriteVAE(nn.Module):
    """The sprite autoencoder: :meth:`encode` to a :class:`DiagonalGaussian`, :meth:`decode`.

    Parameters
    ----------
    config : VAEConfig, optional
        The architecture (default ``VAEConfig()``: 4x8x8 latents, ~300k parameters).

    Examples
    --------
    >>> vae = SpriteVAE(VAEConfig(channels=8))
    >>> x = torch.zeros(2, 3, 16, 16)
    >>> x_hat, posterior = vae(x, generator=0)
    >>> tuple(x_hat.shape), tuple(posterior.mean.shape)
    ((2, 3, 16, 16), (2, 4, 8, 8))
    """

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = VAEConfig() if config is None else config
        if not isinstance(self.config, VAEConfig):
            raise ParameterError(f"config must be a VAEConfig, got {type(config).__name__}")
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)

    def _check(self, x: torch.Tensor, shape: tuple, what: str) -> None:
        if x.ndim != 4 or tuple(x.shape[1:]) != shape:
            raise ParameterError(
                f"{what} must have shape (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}"
            )

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """The posterior q(z | x) of images `x` (B, 3, s, s) in [-1, 1]."""
        s = self.config.image_size
        self._check(x, (self.config.in_channels, s, s), "images")
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, s, s), roughly in [-1, 1] (not clamped), from latents `z`."""
        self._check(z, self.config.latent_shape, "latents")
        return self.decoder(z)

    def forward(
        self, x: torch.Tensor, generator=None, *, sample_posterior: bool = True
    ) -> tuple[torch.Tensor, DiagonalGaussian]:
        """Encode, draw z from the posterior (or take its mean), decode.

        Returns
        -------
        reconstruction : torch.Tensor
            (B, 3, s, s).
        posterior : DiagonalGaussian
            q(z | x), for the KL term.
        """
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.decode(z), posterior


def vae_loss(
    x: torch.Tensor,
    reconstruction: torch.Tensor,
    posterior: DiagonalGaussian,
    kl_weight: float,
    *,
    kind: str = "l1",
) -> tuple[torch.Tensor, dict]:
    """The negative ELBO as latent-diffusion weighs it: summed per sample, averaged over the batch.

    .. math:: L = \\frac1B \\sum_b \\Big[\\sum_{\\text{pixels}} \\ell(x_b - \\hat x_b)
              + \\beta \\sum_{\\text{latents}} \\mathrm{KL}(q(z \\mid x_b) \\,\\|\\, \\mathcal{N}(0, 1))\\Big]

    with :math:`\\ell = |\\cdot|` (``kind="l1"``, LDM's choice) or :math:`(\\cdot)^2`
    (``"mse"``) and :math:`\\beta` = `kl_weight`.

    Returns
    -------
    loss : torch.Tensor
        The scalar to minimise.
    parts : dict
        ``{"recon": ..., "kl": ...}`` as floats (per sample, batch means, KL in nats).

    Examples
    --------
    >>> x = torch.zeros(2, 3, 4, 4)
    >>> q = DiagonalGaussian(torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2))
    >>> loss, parts = vae_loss(x, x + 0.5, q, kl_weight=0.1)
    >>> parts, round(float(loss), 4)         # 48 * 0.5 + 0.1 * 4 * 0.5
    ({'recon': 24.0, 'kl': 2.0}, 24.2)
    """
    check_choice("kind", kind, RECONSTRUCTION_LOSSES)
    kl_weight = float(kl_weight)
    if not (math.isfinite(kl_weight) and kl_weight >= 0):
        raise ParameterError(f"kl_weight must be a finite number >= 0, got {kl_weight}")
    if x.shape != reconstruction.shape:
        raise ParameterError(
            f"x and reconstruction must have the same shape, got {tuple(x.shape)} "
            f"and {tuple(reconstruction.shape)}"
        )
    error = reconstruction - x
    per_pixel = error.abs() if kind == "l1" else error.square()
    recon = per_pixel.flatten(1).sum(1).mean()
    kl = posterior.kl().flatten(1).sum(1).mean()
    loss = recon + kl_weight * kl
    return loss, {"recon": float(recon.detach()), "kl": float(kl.detach())}


def latent_scale_factor(latents) -> float:
    """``1 / std(latents)``: the factor that gives the latents unit variance.

    Stable Diffusion's ``scale_factor = 0.18215`` is this number, computed by
    latent-diffusion's ``scale_by_std`` from the standard deviation of all elements
    of a batch of encoded (sampled) training latents; latents are multiplied by it
    before diffusion and divided by it before decoding. One global number: it cannot
    equalise channels of different spread, and it does not centre the latents.

    Examples
    --------
    >>> round(latent_scale_factor(torch.tensor([-2.0, 2.0])), 4)   # std (n - 1) = 2.8284
    0.3536
    """
    t = torch.as_tensor(np.asarray(latents) if not torch.is_tensor(latents) else latents)
    t = t.detach().double().flatten()
    if t.numel() < 2:
        raise ParameterError(f"need at least 2 latent values, got {t.numel()}")
    std = float(t.std())
    if not math.isfinite(std) or std <= 0:
        raise ParameterError(f"the latents' standard deviation must be finite and > 0, got {std}")
    return 1.0 / std


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


@torch.no_grad()
def encode_images(
    vae: SpriteVAE, images, *, generator=None, sample: bool = True, batch_size: int = 500
) -> tuple[torch.Tensor, DiagonalGaussian]:
    """Encode uint8 sprites ``(N, s, s, 3)`` in batches; latents and posteriors on the CPU.

    Parameters
    ----------
    vae : SpriteVAE
    images : ndarray of uint8, shape (N, s, s, 3)
        Converted with :func:`~diffprob.diffusion.model_range.to_model_range`.
    generator : torch.Generator, int or None
        For the posterior samples (ignored when ``sample=False``).
    sample : bool
        Draw z ~ q(z | x) (as ``scale_by_std`` does), or take the posterior mean.

    Returns
    -------
    latents : torch.Tensor, (N, latent_channels, s/2, s/2), unscaled
    posterior : DiagonalGaussian over the same shape
    """
    s = vae.config.image_size
    images = check_image_batch(images, "images", size=s, error=ParameterError)
    gen = as_generator(generator) if sample else None
    device = _device(vae)
    latents, means, logvars = [], [], []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(to_model_range(images[start : start + batch_size])).to(device)
        posterior = vae.encode(x)
        z = posterior.sample(gen) if sample else posterior.mode()
        latents.append(z.cpu())
        means.append(posterior.mean.cpu())
        logvars.append(posterior.logvar.cpu())
    return torch.cat(latents), DiagonalGaussian(torch.cat(means), torch.cat(logvars))


@torch.no_grad()
def decode_latents(vae: SpriteVAE, latents: torch.Tensor, *, batch_size: int = 500) -> np.ndarray:
    """Decode unscaled latents in batches to uint8 sprites ``(N, s, s, 3)``."""
    device = _device(vae)
    out = [
        from_model_range(vae.decode(latents[start : start + batch_size].to(device)))
        for start in range(0, len(latents), batch_size)
    ]
    return np.concatenate(out)
