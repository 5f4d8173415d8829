"""Training the sprite autoencoder with the shared loop (:func:`~diffprob.stable_diffusion.fit.fit`).

:class:`VAETask` supplies what :func:`~diffprob.stable_diffusion.fit.fit` needs: a
fresh :class:`~diffprob.stable_diffusion.autoencoder.SpriteVAE`, fresh generator sprites
every step (so the autoencoder never sees the same sprite twice and cannot overfit),
the loss :func:`~diffprob.stable_diffusion.autoencoder.vae_loss`, and, at the end, the
latent scaling measured on sprites it was not trained on: Stable Diffusion's one global
factor, and the per-channel standardisation
(:class:`~diffprob.stable_diffusion.latent_scaling.LatentScaling`) the diffusion uses.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from diffprob.diffusion.model_range import to_model_range
from diffprob.errors import ParameterError
from diffprob.sprites.generator import generate_sprites
from diffprob.stable_diffusion.autoencoder import (
    RECONSTRUCTION_LOSSES,
    SpriteVAE,
    VAEConfig,
    encode_images,
    latent_scale_factor,
    vae_loss,
)
from diffprob.stable_diffusion.fit import FitConfig, FitResult, FitTask, fit
from diffprob.stable_diffusion.fit_config import (
    DEFAULT_KL_WEIGHT,
    DEFAULT_RECONSTRUCTION_LOSS,
    VAE_FIT,
)
from diffprob.stable_diffusion.latent_scaling import LatentScaling
from diffprob.util.validation import check_choice

__all__ = [
    "VAETask",
    "train_vae",
    "VAE_FIT",
    "DEFAULT_KL_WEIGHT",
    "DEFAULT_RECONSTRUCTION_LOSS",
    "SCALE_SEED",
    "SCALE_N",
]

#: Seed of the held-out sprites the scale factor is measured on (training batches use
#: ``default_rng([fit seed, step])``, a different stream).
SCALE_SEED = 2**31 - 18
#: How many held-out sprites the scale factor is measured on.
SCALE_N = 4000


class VAETask(FitTask):
    """The autoencoder as a :class:`~diffprob.stable_diffusion.fit.FitTask`.

    Parameters
    ----------
    vae_config : VAEConfig, optional
        The network (default ``VAEConfig()``).
    kl_weight : float, optional
        :math:`\\beta` of :func:`~diffprob.stable_diffusion.autoencoder.vae_loss`.
    recon_loss : {"l1", "mse"}, optional
        Its reconstruction term.
    scale_n : int, optional
        Held-out sprites encoded by :meth:`finish` for the scale factor.

    Examples
    --------
    >>> task = VAETask(VAEConfig(channels=8))
    >>> batch = task.batch(np.random.default_rng(0), 4)
    >>> tuple(batch.shape), float(batch.max())
    ((4, 3, 16, 16), 1.0)
    """

    part = "vae"

    def __init__(
        self,
        vae_config: VAEConfig | None = None,
        *,
        kl_weight: float = DEFAULT_KL_WEIGHT,
        recon_loss: str = DEFAULT_RECONSTRUCTION_LOSS,
        scale_n: int = SCALE_N,
    ):
        self.vae_config = VAEConfig() if vae_config is None else vae_config
        if not isinstance(self.vae_config, VAEConfig):
            raise ParameterError(f"vae_config must be a VAEConfig, got {type(vae_config).__name__}")
        kl_weight = float(kl_weight)
        if not (math.isfinite(kl_weight) and kl_weight >= 0):
            raise ParameterError(f"kl_weight must be a finite number >= 0, got {kl_weight}")
        check_choice("recon_loss", recon_loss, RECONSTRUCTION_LOSSES)
        if isinstance(scale_n, bool) or not isinstance(scale_n, int) or scale_n < 2:
            raise ParameterError(f"scale_n must be an integer >= 2, got {scale_n!r}")
        self.kl_weight = kl_weight
        self.recon_loss = recon_loss
        self.scale_n = scale_n

    def build_model(self) -> SpriteVAE:
        return SpriteVAE(self.vae_config)

    def model_config(self) -> dict:
        return self.vae_config.to_dict()

    def batch(self, rng: np.random.Generator, batch_size: int) -> torch.Tensor:
        """Fresh generator sprites, (B, 3, s, s) in [-1, 1]."""
        images, _ = generate_sprites(batch_size, size=self.vae_config.image_size, seed=rng)
        return torch.from_numpy(to_model_range(images))

    def loss(self, model: nn.Module, batch: torch.Tensor, generator: torch.Generator):
        reconstruction, posterior = model(batch, generator=generator)
        return vae_loss(batch, reconstruction, posterior, self.kl_weight, kind=self.recon_loss)

    def finish(self, model: nn.Module) -> dict:
        """Encode :data:`SCALE_N` held-out sprites (sampled z, as ``scale_by_std``).

        Returns ``{"latent_scale_factor": 1 / std, "latent_std": std, "latent_scaling":
        {"shift": [...], "scale": [...]}, "kl_weight": ..., "recon_loss": ...}``: Stable
        Diffusion's global factor (for comparison) and the per-channel standardisation
        the latent diffusion uses.
        """
        images, _ = generate_sprites(self.scale_n, size=self.vae_config.image_size, seed=SCALE_SEED)
        latents, _ = encode_images(model, images, generator=SCALE_SEED)
        scale = latent_scale_factor(latents)
        return {
            "latent_scale_factor": scale,
            "latent_std": 1.0 / scale,
            "latent_scaling": LatentScaling.from_latents(latents).to_dict(),
            "kl_weight": self.kl_weight,
            "recon_loss": self.recon_loss,
        }


def train_vae(
    config: FitConfig | None = None,
    vae_config: VAEConfig | None = None,
    *,
    kl_weight: float = DEFAULT_KL_WEIGHT,
    recon_loss: str = DEFAULT_RECONSTRUCTION_LOSS,
    scale_n: int = SCALE_N,
    out=None,
    resume: bool = False,
    device="cpu",
    progress: bool = True,
) -> FitResult:
    """Train a sprite autoencoder: :func:`~diffprob.stable_diffusion.fit.fit` of a :class:`VAETask`.

    The result's ``metadata["latent_scaling"]`` standardises the latents per channel
    before diffusion, ``metadata["latent_scale_factor"]`` is Stable Diffusion's global
    factor for comparison (``out/model.pt`` stores both).

    Parameters
    ----------
    config : FitConfig, optional
        Length, batch size, optimiser (default ``FitConfig()``).
    vae_config : VAEConfig, optional
        The network (default ``VAEConfig()``).
    kl_weight, recon_loss, scale_n : optional
        As for :class:`VAETask`.
    out, resume, device, progress : optional
        As for :func:`~diffprob.stable_diffusion.fit.fit`.

    Examples
    --------
    >>> result = train_vae(FitConfig(steps=2, batch_size=4), VAEConfig(channels=4),
    ...                    scale_n=64, progress=False)
    >>> result.steps, result.metadata["latent_scale_factor"] > 0
    (2, True)
    """
    task = VAETask(vae_config, kl_weight=kl_weight, recon_loss=recon_loss, scale_n=scale_n)
    return fit(
        task,
        FitConfig() if config is None else config,
        out=out,
        resume=resume,
        device=device,
        progress=progress,
    )
