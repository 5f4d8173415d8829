"""Training the text U-Net on VAE latents with the shared loop (:func:`~diffprob.stable_diffusion.fit.fit`).

:class:`LatentDiffusionTask` is latent diffusion (Rombach et al. 2022, eq. 2) as a
:class:`~diffprob.stable_diffusion.fit.FitTask`. Each step:

1. fresh generator sprites, each with one caption in a random phrasing
   (:func:`~diffprob.sprites.captions.captions_for`);
2. the frozen autoencoder's posterior sample ``z ~ q(z | x)``, times the latent scale
   factor, so the diffusion runs on latents of about unit variance;
3. the frozen text encoder's token features ``tau(y)`` (padding rows are zero), with the
   caption dropped -- the whole context zeroed, the null caption -- for 10 % of the
   sprites, so that the same network also learns the unconditional model that
   classifier-free guidance needs;
4. the diffusion objective of the project's
   :class:`~diffprob.diffusion.schedule.NoiseSchedule`: ``z_t =`` :meth:`q_sample`,
   target ``=`` :meth:`training_target` (the noise, or the velocity for a v-prediction
   schedule), loss = MSE of ``model(z_t, t / T, tau(y))`` against it, t uniform in 1..T.

The text encoder is CLIP's, trained beforehand and frozen, as in Stable Diffusion
(latent diffusion's own text-to-image model trained its encoder jointly instead).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from diffprob.diffusion.model_range import to_model_range
from diffprob.diffusion.rng import randn
from diffprob.diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffprob.errors import ParameterError
from diffprob.sprites.attributes import generate_sprites_with_attributes
from diffprob.sprites.captions import captions_for
from diffprob.stable_diffusion.autoencoder import SpriteVAE
from diffprob.stable_diffusion.fit import FitConfig, FitResult, FitTask, fit
from diffprob.stable_diffusion.latent_scaling import LatentScaling
from diffprob.stable_diffusion.text_encoder import TextEncoder
from diffprob.stable_diffusion.text_unet import TextUNet, TextUNetConfig, get_config
from diffprob.stable_diffusion.tokenizer import CaptionTokenizer

__all__ = [
    "DEFAULT_CAPTION_DROPOUT",
    "DEFAULT_CLASS_SHARE",
    "DEFAULT_PREDICTION_TYPE",
    "LatentDiffusionTask",
    "latent_schedule",
    "train_txt2img",
]

#: Share of training captions replaced by the null caption (Ho & Salimans 2022 use 10-20 %).
DEFAULT_CAPTION_DROPOUT = 0.1
#: Share of training captions that are the bare class prompt ("a hero"), which is how
#: the evaluation prompts the model per class.
DEFAULT_CLASS_SHARE = 0.1
#: What the U-Net predicts by default: the velocity, on a zero-terminal-SNR schedule,
#: as the shipped pixel model (data/checkpoints/sprites16.md).
DEFAULT_PREDICTION_TYPE = "v_prediction"


def latent_schedule(prediction_type: str = DEFAULT_PREDICTION_TYPE, **overrides) -> NoiseSchedule:
    """The schedule of the latent model: the pixel model's, T = 500, linear betas.

    ``"v_prediction"`` also rescales it to zero terminal SNR (Lin et al. 2024), as the
    shipped pixel model; ``"epsilon"`` keeps the course's schedule. `overrides` replace
    fields of :class:`~diffprob.diffusion.schedule.ScheduleConfig`.

    Examples
    --------
    >>> latent_schedule().config.zero_terminal_snr, latent_schedule("epsilon").num_timesteps
    (True, 500)
    """
    settings = {
        "num_timesteps": 500,
        "kind": "linear",
        "prediction_type": prediction_type,
        "zero_terminal_snr": prediction_type == "v_prediction",
        **overrides,
    }
    return NoiseSchedule.from_config(settings)


def _as_schedule(schedule) -> NoiseSchedule:
    if schedule is None:
        return latent_schedule()
    if isinstance(schedule, NoiseSchedule):
        return schedule
    if isinstance(schedule, (dict, ScheduleConfig)):
        return NoiseSchedule.from_config(schedule)
    if isinstance(schedule, str):
        return latent_schedule(schedule)
    raise ParameterError(
        f"schedule must be a NoiseSchedule, a schedule config or a prediction type, got {schedule!r}"
    )


def _frozen(module: nn.Module) -> nn.Module:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


class LatentDiffusionTask(FitTask):
    """The text-to-sprite U-Net as a :class:`~diffprob.stable_diffusion.fit.FitTask`.

    Parameters
    ----------
    vae : SpriteVAE
        The trained autoencoder (frozen here: eval mode, ``requires_grad`` off).
    text_encoder : TextEncoder
        The trained text tower (frozen likewise); its ``width`` is the U-Net's context width.
    tokenizer : CaptionTokenizer
        The text encoder's tokenizer.
    latent_scaling : LatentScaling or float
        How the VAE's latents are standardised before diffusion (stored with the VAE:
        :func:`load_vae_part`); a number is one global factor, as Stable Diffusion's.
    unet_config : TextUNetConfig, optional
        The network; default the ``"small"`` configuration with ``context_dim`` set to
        the text encoder's width.
    schedule : NoiseSchedule, dict, ScheduleConfig or str, optional
        The diffusion; a string is a prediction type for :func:`latent_schedule`
        (default: :data:`DEFAULT_PREDICTION_TYPE`).
    caption_dropout : float, optional
        Probability that a sprite's caption is replaced by the null caption.
    class_share : float, optional
        Probability that a caption is the bare class prompt.

    Examples
    --------
    >>> from diffprob.stable_diffusion.autoencoder import VAEConfig
    >>> from diffprob.stable_diffusion.text_encoder import TextEncoderConfig
    >>> tok = CaptionTokenizer.default()
    >>> text = TextEncoder(TextEncoderConfig(tok.vocab_size, tok.max_length, width=16, heads=2))
    >>> task = LatentDiffusionTask(SpriteVAE(VAEConfig(channels=8)), text, tok,
    ...                            latent_scaling=1.0)
    >>> batch = task.batch(np.random.default_rng(0), 4)
    >>> tuple(batch["images"].shape), len(batch["captions"])
    ((4, 3, 16, 16), 4)
    >>> loss, logs = task.loss(task.build_model(), batch, torch.Generator().manual_seed(0))
    >>> bool(torch.isfinite(loss)), sorted(logs)
    (True, ['dropped'])
    """

    part = "txt2img"

    def __init__(
        self,
        vae: SpriteVAE,
        text_encoder: TextEncoder,
        tokenizer: CaptionTokenizer,
        *,
        latent_scaling: LatentScaling | float,
        unet_config: TextUNetConfig | None = None,
        schedule=None,
        caption_dropout: float = DEFAULT_CAPTION_DROPOUT,
        class_share: float = DEFAULT_CLASS_SHARE,
    ):
        if not isinstance(vae, SpriteVAE):
            raise ParameterError(f"vae must be a SpriteVAE, got {type(vae).__name__}")
        if not isinstance(text_encoder, TextEncoder):
            raise ParameterError(
                f"text_encoder must be a TextEncoder, got {type(text_encoder).__name__}"
            )
        if not isinstance(tokenizer, CaptionTokenizer):
            raise ParameterError(
                f"tokenizer must be a CaptionTokenizer, got {type(tokenizer).__name__}"
            )
        for name, value in (("caption_dropout", caption_dropout), ("class_share", class_share)):
            if not (
                isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
            ):
                raise ParameterError(f"{name} must be in [0, 1], got {value!r}")
        width = text_encoder.config.width
        if unet_config is None:
            unet_config = get_config("small", context_dim=width)
        if not isinstance(unet_config, TextUNetConfig):
            raise ParameterError("unet_config must be a TextUNetConfig")
        latent = vae.config.latent_shape
        mismatch = {
            "context_dim": (unet_config.context_dim, width),
            "in_channels": (unet_config.in_channels, latent[0]),
            "image_size": (unet_config.image_size, latent[1]),
        }
        for key, (have, want) in mismatch.items():
            if have != want:
                raise ParameterError(
                    f"unet_config.{key} is {have} but the VAE and text encoder need {want}"
                )
        self.vae = _frozen(vae)
        self.text_encoder = _frozen(text_encoder)
        self.tokenizer = tokenizer
        self.latent_scaling = LatentScaling.coerce(latent_scaling, vae.config.latent_channels)
        self.unet_config = unet_config
        self.schedule = _as_schedule(schedule)
        self.caption_dropout = float(caption_dropout)
        self.class_share = float(class_share)

    @classmethod
    def from_part_files(cls, vae: str | os.PathLike, clip: str | os.PathLike, **kwargs):
        """The task on a trained autoencoder and CLIP pair, read from their part files.

        `vae` is a ``"vae"`` part (its metadata holds the latent scaling), `clip` a
        ``"clip"`` part (its text tower and tokenizer are used); `kwargs` go to the
        constructor (a ``latent_scaling`` there overrides the stored one).
        """
        vae_model, scaling = load_vae_part(vae)
        text_encoder, tokenizer = load_text_part(clip)
        kwargs.setdefault("latent_scaling", scaling)
        return cls(vae_model, text_encoder, tokenizer, **kwargs)

    # -- FitTask ------------------------------------------------------------------------
    def build_model(self) -> TextUNet:
        return TextUNet(self.unet_config)

    def model_config(self) -> dict:
        """``{"unet": ..., "schedule": ...}``: the U-Net and the diffusion it was trained for."""
        return {"unet": self.unet_config.to_dict(), "schedule": self.schedule.config.to_dict()}

    def batch(self, rng: np.random.Generator, batch_size: int) -> dict:
        """Fresh sprites (B, 3, 16, 16) in [-1, 1], one caption each, and its tokens."""
        size = self.vae.config.image_size
        images, _, attrs = generate_sprites_with_attributes(batch_size, size=size, seed=rng)
        captions = captions_for(attrs, seed=rng, class_share=self.class_share)
        ids, mask = self.tokenizer.encode(captions)
        return {
            "images": torch.from_numpy(to_model_range(images)),
            "ids": ids,
            "mask": mask,
            "captions": captions,
        }

    def loss(self, model: nn.Module, batch: dict, generator: torch.Generator):
        """MSE between ``model(z_t, t / T, tau(y))`` and the schedule's training target."""
        x = batch["images"]
        device = x.device
        self.vae.to(device)
        self.text_encoder.to(device)
        n = len(x)
        with torch.no_grad():
            z0 = self.latent_scaling.apply(self.vae.encode(x).sample(generator))
            tokens, _ = self.text_encoder(batch["ids"], batch["mask"])
            drop = torch.rand(n, generator=generator, device=generator.device).to(device)
            drop = drop < self.caption_dropout
            tokens = tokens * (~drop).to(tokens.dtype)[:, None, None]
        T = self.schedule.num_timesteps
        t = torch.randint(1, T + 1, (n,), generator=generator, device=generator.device).to(device)
        noise = randn(z0.shape, generator, device)
        z_t = self.schedule.q_sample(z0, t, noise)
        target = self.schedule.training_target(z0, t, noise)
        prediction = model(z_t, t.to(z_t.dtype) / T, tokens)
        loss = F.mse_loss(prediction.float(), target.float())
        return loss, {"dropped": float(drop.float().mean())}

    def finish(self, model: nn.Module) -> dict:
        """The settings the U-Net is only right with: latent scaling, schedule, dropout."""
        return {
            "latent_scaling": self.latent_scaling.to_dict(),
            "prediction_type": self.schedule.config.prediction_type,
            "caption_dropout": self.caption_dropout,
            "class_share": self.class_share,
        }

    # -- after training -----------------------------------------------------------------
    def pipeline(self, unet: TextUNet, guidance: float | None = None):
        """The whole text-to-sprite pipeline around a trained U-Net (save it with ``.save``)."""
        from diffprob.stable_diffusion.pipeline import DEFAULT_GUIDANCE, Txt2ImgPipeline

        return Txt2ImgPipeline(
            vae=self.vae,
            text_encoder=self.text_encoder,
            tokenizer=self.tokenizer,
            unet=unet.eval(),
            schedule=self.schedule,
            latent_scaling=self.latent_scaling,
            guidance=DEFAULT_GUIDANCE if guidance is None else guidance,
        )


def load_vae_part(path: str | os.PathLike) -> tuple[SpriteVAE, LatentScaling]:
    """The trained autoencoder (eval mode) and its latent scaling from a ``"vae"`` part:
    the per-channel one it stores, or (in a part without) its global scale factor."""
    from diffprob.errors import CheckpointError
    from diffprob.stable_diffusion.autoencoder import VAEConfig
    from diffprob.stable_diffusion.parts import load_part

    config, state, metadata = load_part(path, "vae")
    try:
        vae = SpriteVAE(VAEConfig.from_dict(config))
        vae.load_state_dict(state)
    except (ParameterError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{str(path)!r}: the weights do not fit the VAE ({exc})") from None
    try:
        scaling = LatentScaling.stored_in(metadata, vae.config.latent_channels)
    except ParameterError as exc:
        raise CheckpointError(f"{str(path)!r}: {exc}") from None
    return vae.eval(), scaling


def load_text_part(path: str | os.PathLike) -> tuple[TextEncoder, CaptionTokenizer]:
    """The trained text tower (eval mode) and its tokenizer from a ``"clip"`` part."""
    from diffprob.stable_diffusion.clip_training import clip_from_part
    from diffprob.stable_diffusion.parts import load_part

    model, tokenizer = clip_from_part(*load_part(path, "clip")[:2])
    return model.text_encoder.eval(), tokenizer


def train_txt2img(
    vae: str | os.PathLike,
    clip: str | os.PathLike,
    config: FitConfig | None = None,
    *,
    unet_config: TextUNetConfig | None = None,
    schedule=None,
    caption_dropout: float = DEFAULT_CAPTION_DROPOUT,
    class_share: float = DEFAULT_CLASS_SHARE,
    guidance: float | None = None,
    out=None,
    resume: bool = False,
    device="cpu",
    progress: bool = True,
) -> tuple[FitResult, object]:
    """Train the text U-Net on a trained VAE and CLIP; return the fit and the pipeline.

    With `out`, the run folder also receives ``txt2img.pt``, the whole pipeline in one
    file (:meth:`~diffprob.stable_diffusion.pipeline.Txt2ImgPipeline.save`), which
    ``diffprob txt2img --ckpt`` samples.

    Parameters
    ----------
    vae, clip : path
        Part files of the trained autoencoder and CLIP pair.
    config : FitConfig, optional
        Length, batch size, optimiser (default ``FitConfig()``).
    unet_config, schedule, caption_dropout, class_share : optional
        As for :class:`LatentDiffusionTask`.
    guidance : float, optional
        The pipeline's default guidance weight.
    out, resume, device, progress : optional
        As for :func:`~diffprob.stable_diffusion.fit.fit`.
    """
    task = LatentDiffusionTask.from_part_files(
        vae,
        clip,
        unet_config=unet_config,
        schedule=schedule,
        caption_dropout=caption_dropout,
        class_share=class_share,
    )
    result = fit(
        task,
        FitConfig() if config is None else config,
        out=out,
        resume=resume,
        device=device,
        progress=progress,
    )
    pipeline = task.pipeline(result.model.to("cpu"), guidance)
    pipeline.vae.to("cpu")
    pipeline.text_encoder.to("cpu")
    if out is not None and not result.interrupted:
        pipeline.metadata = {"fit": result.metadata}
        pipeline.save(Path(out) / "txt2img.pt")
    return result, pipeline
