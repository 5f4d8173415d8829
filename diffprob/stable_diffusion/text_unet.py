"""The latent U-Net that reads a caption through cross-attention (Rombach et al. 2022, sec. 3.3).

It predicts the noise (or the velocity) of a noisy VAE latent z_t, given t / T and the
text encoder's token features, and is called exactly like the pixel models of
:mod:`diffprob.diffusion.models`: ``model(z_t, t / T, context)``. So the project's
:func:`~diffprob.diffusion.sampling.sample`, its samplers and its classifier-free guidance
(:func:`~diffprob.diffusion.guidance.guided_eps`, whose null context is
``torch.zeros_like(context)``) run on it unchanged.

Shape, for a latent of side ``s`` (8 for a 16x16 sprite), width ``W`` and deep width
``D``; every ``xattn`` is a :class:`~diffprob.stable_diffusion.cross_attention.SpatialTransformer`
(self-attention over the positions, cross-attention to the text, feed-forward)::

    z (4, s) -> conv (W, s) -> res + xattn (W, s) ---------------------------------+
             -> down (W, s/2) -> res + xattn (D, s/2) ----------------+             |
             -> middle: res, xattn, res (D, s/2)                      |             |
             -> concat -> res + xattn (D, s/2) -> up (D, s) -> concat -> res + xattn (W, s)
             -> norm, SiLU, conv -> eps or v (4, s)

Time conditions every residual block (FiLM, as in
:class:`~diffprob.diffusion.models.ddpm_unet.DDPMUnet`, whose block this reuses); the
text enters only through cross-attention, at both resolutions and in the middle. The
context's all-zero rows are padding; an all-zero (or None) context is the null caption,
for which every cross-attention adds exactly 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from diffprob.diffusion.models.ddpm_unet import EmbeddedResBlock
from diffprob.diffusion.models.unet import SinusoidalEmbedding, _norm
from diffprob.errors import ParameterError
from diffprob.stable_diffusion.cross_attention import SpatialTransformer, context_padding_mask
from diffprob.util.validation import check_int_fields, config_from_dict

__all__ = ["CONFIGS", "FIELD_LIMITS", "TextUNet", "TextUNetConfig", "get_config"]

#: Upper bounds of the integer fields, checked before any layer is built (a damaged
#: file asking for width 10**6 is one line, not an allocation).
FIELD_LIMITS = {
    "in_channels": 16,
    "image_size": 64,
    "width": 512,
    "deep_width": 512,
    "context_dim": 1024,
    "heads": 64,
    "ff_mult": 8,
}


@dataclass(frozen=True)
class TextUNetConfig:
    """Architecture of a :class:`TextUNet` (saved with the pipeline).

    Parameters
    ----------
    name : str
        Label of the configuration.
    in_channels : int
        Latent channels (4 for the sprite VAE).
    image_size : int
        Side of the square latent (8 for 16x16 sprites); even, since the U-Net halves it once.
    width : int
        Channels W at full resolution.
    deep_width : int
        Channels D at half resolution and in the middle.
    context_dim : int
        Width of the text encoder's token features.
    heads : int
        Attention heads; must divide `width` and `deep_width`.
    self_attention : bool
        Self-attention over the positions in every transformer block.
    ff_mult : int
        Width of the transformer blocks' feed-forward layers, in multiples of the channels.

    Examples
    --------
    >>> config = TextUNetConfig(width=16, deep_width=32, context_dim=8, heads=2)
    >>> TextUNetConfig.from_dict(config.to_dict()) == config
    True
    >>> TextUNetConfig(heads=5)
    Traceback (most recent call last):
    ...
    diffprob.errors.ParameterError: heads must divide width 48 and deep_width 96, got 5
    """

    name: str = "custom"
    in_channels: int = 4
    image_size: int = 8
    width: int = 48
    deep_width: int = 96
    context_dim: int = 64
    heads: int = 4
    self_attention: bool = True
    ff_mult: int = 2

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise ParameterError(f"name must be a string, got {self.name!r}")
        check_int_fields(self, FIELD_LIMITS, "diffprob.stable_diffusion.text_unet.FIELD_LIMITS")
        if self.image_size % 2:
            raise ParameterError(f"image_size must be even, got {self.image_size}")
        if self.width % self.heads or self.deep_width % self.heads:
            raise ParameterError(
                f"heads must divide width {self.width} and deep_width {self.deep_width}, "
                f"got {self.heads}"
            )
        if not isinstance(self.self_attention, bool):
            raise ParameterError(
                f"self_attention must be True or False, got {self.self_attention!r}"
            )

    def to_dict(self) -> dict:
        """The configuration as a plain (JSON-ready) dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TextUNetConfig:
        """Rebuild a configuration from :meth:`to_dict` output; unknown keys are refused."""
        return config_from_dict(cls, data, "text U-Net")


CONFIGS: dict[str, TextUNetConfig] = {
    # Unit tests: a few thousand parameters.
    "tiny": TextUNetConfig("tiny", width=8, deep_width=16, context_dim=16, heads=2),
    # The default: 1.47M parameters; 16 sprites with guidance (batch 32), DPM-Solver++ 25
    # steps: 2.5 s of one loaded CPU core for the whole pipeline (context_dim follows the
    # text encoder).
    "small": TextUNetConfig("small"),
    # Half the parameters and about 30 % less sampling time, if "small" is too slow.
    "fast": TextUNetConfig("fast", width=32, deep_width=64),
}


def get_config(name: str, **overrides) -> TextUNetConfig:
    """The named configuration of :data:`CONFIGS`, with fields replaced by `overrides`.

    Examples
    --------
    >>> get_config("tiny", context_dim=32).context_dim
    32
    """
    if name not in CONFIGS:
        raise ParameterError(f"unknown text U-Net config {name!r}; choose one of {sorted(CONFIGS)}")
    try:
        return replace(CONFIGS[name], **overrides)
    except TypeError as exc:
        raise ParameterError(f"bad text U-Net configuration override: {exc}") from None


class TextUNet(nn.Module):
    """Noise- (or velocity-) prediction U-Net on latents, reading text by cross-attention.

    Parameters
    ----------
    config : TextUNetConfig or str
        The architecture, or the name of one of :data:`CONFIGS`.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = TextUNet("tiny")
    >>> z, text = torch.randn(2, 4, 8, 8), torch.randn(2, 5, 16)
    >>> tuple(model(z, torch.tensor([0.1, 0.9]), text).shape)
    (2, 4, 8, 8)
    >>> torch.equal(model(z, 0.5, None), model(z, 0.5, torch.zeros_like(text)))
    True
    """

    def __init__(self, config: TextUNetConfig | str = "small"):
        super().__init__()
        if isinstance(config, str):
            config = get_config(config)
        self.config = config
        c, w, d = config.in_channels, config.width, config.deep_width
        emb = 2 * w  # time is the only thing the blocks are told; text comes by attention

        def xattn(channels: int) -> SpatialTransformer:
            return SpatialTransformer(
                channels,
                config.context_dim,
                config.heads,
                self_attention=config.self_attention,
                ff_mult=config.ff_mult,
            )

        self.time_features = SinusoidalEmbedding(w)
        self.time_mlp = nn.Sequential(
            nn.Linear(2 * max(w // 2, 1), emb), nn.SiLU(), nn.Linear(emb, emb)
        )
        self.conv_in = nn.Conv2d(c, w, 3, 1, 1)
        self.enc1, self.enc1_attn = EmbeddedResBlock(w, w, emb), xattn(w)
        self.down = nn.Conv2d(w, w, 3, 2, 1)
        self.enc2, self.enc2_attn = EmbeddedResBlock(w, d, emb), xattn(d)
        self.mid1, self.mid_attn = EmbeddedResBlock(d, d, emb), xattn(d)
        self.mid2 = EmbeddedResBlock(d, d, emb)
        self.dec2, self.dec2_attn = EmbeddedResBlock(2 * d, d, emb), xattn(d)
        self.up = nn.ConvTranspose2d(d, d, 2, 2)
        self.dec1, self.dec1_attn = EmbeddedResBlock(d + w, w, emb), xattn(w)
        self.out = nn.Sequential(_norm(w), nn.SiLU(), nn.Conv2d(w, c, 3, 1, 1))

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Predict the noise (or velocity) in the latent `x`.

        Parameters
        ----------
        x : torch.Tensor
            (B, in_channels, s, s) noisy latents, s = ``config.image_size``.
        t : torch.Tensor
            (B,) timesteps divided by T, in [0, 1] (a scalar is broadcast).
        context : torch.Tensor, optional
            (B, L, context_dim) token features; all-zero rows are padding, an all-zero
            caption (or None) is the null caption.

        Returns
        -------
        torch.Tensor
            Same shape as `x`.
        """
        t, context = self._check_inputs(x, t, context)
        mask = None if context is None else context_padding_mask(context)
        emb = F.silu(self.time_mlp(self.time_features(t).to(x.dtype)))

        h1 = self.enc1_attn(self.enc1(self.conv_in(x), emb), context, mask)
        h2 = self.enc2_attn(self.enc2(self.down(h1), emb), context, mask)
        h = self.mid2(self.mid_attn(self.mid1(h2, emb), context, mask), emb)
        h = self.dec2_attn(self.dec2(torch.cat((h, h2), 1), emb), context, mask)
        h = self.dec1_attn(self.dec1(torch.cat((self.up(h), h1), 1), emb), context, mask)
        return self.out(h)

    def _check_inputs(self, x, t, context):
        config = self.config
        side = config.image_size
        if x.ndim != 4 or x.shape[1] != config.in_channels or tuple(x.shape[2:]) != (side, side):
            raise ParameterError(
                f"expected latents of shape (B, {config.in_channels}, {side}, {side}), "
                f"got {tuple(x.shape)}"
            )
        batch = x.shape[0]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1)
        if t.numel() == 1:
            t = t.expand(batch)
        if t.shape != (batch,):
            raise ParameterError(f"t must have shape ({batch},), got {tuple(t.shape)}")
        if context is not None:
            if (
                context.ndim != 3
                or context.shape[0] != batch
                or context.shape[2] != config.context_dim
            ):
                raise ParameterError(
                    f"context must have shape ({batch}, L, {config.context_dim}), "
                    f"got {tuple(context.shape)}"
                )
            context = context.to(x.dtype)
        return t, context
