"""A DDPM-style U-Net: time and context condition every residual block.

The course's :class:`~diffprob.diffusion.models.unet.ContextUnet` tells the network the timestep and
the class only in its decoder, and only at two places. This network follows Ho et
al. (2020) and Dhariwal & Nichol (2021) instead, at sprite scale:

* every residual block receives one embedding ``e = SiLU(time_mlp(t) + context_mlp(c))``
  and uses it to scale and shift its normalised features (FiLM / "AdaGN"), so the
  encoder also knows how noisy its input is and which class it should become;
* every block is residual (pre-activation GroupNorm -> SiLU -> conv);
* self-attention at the lowest resolution (s/4, 16 tokens for a 16x16 sprite) lets
  distant regions agree, e.g. both arms wear the same outfit colour.

Shape, for an image of side ``s`` and width ``F``::

    x (C, s) -> conv (F, s) -> res (F, s) ------------------------------------------+
             -> down (F, s/2) -> res (2F, s/2) ------------------------+           |
             -> down (2F, s/4) -> res + attn (2F, s/4) -------+        |           |
             -> middle: res, attn, res (2F, s/4)              |        |           |
             -> concat -> res + attn (2F, s/4) -> up (2F, s/2) -> concat -> res (2F)
             -> up (2F, s) -> concat -> res (F, s) -> norm, SiLU, conv -> eps (C, s)

Context works exactly as in :class:`~diffprob.diffusion.models.unet.ContextUnet`: a one-hot class, a
mixture of classes, or all zeros for the unconditional (null) context.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from diffprob.diffusion.models.unet import (
    UNetConfig,
    _norm,
    check_model_inputs,
    require_architecture,
    time_features,
)

__all__ = ["DDPMUnet"]


class EmbeddedResBlock(nn.Module):
    """Pre-activation residual block whose second norm is modulated by the embedding."""

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int):
        super().__init__()
        self.norm1 = _norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.to_scale_shift = nn.Linear(emb_dim, 2 * out_channels)
        self.norm2 = _norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        # Zero-initialised last conv: each block starts as the identity, which lets a
        # deep stack train from step one (Goyal et al. 2017; Dhariwal & Nichol 2021).
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        if in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.to_scale_shift(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return self.shortcut(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, residual."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.heads = heads if channels % heads == 0 else 1
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w)
        q, k, v = (qkv[:, i].transpose(-1, -2) for i in range(3))  # (b, heads, hw, d)
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class DDPMUnet(nn.Module):
    """Noise-prediction U-Net with the embedding in every block and low-resolution attention.

    Same call as :class:`~diffprob.diffusion.models.unet.ContextUnet`: ``model(x, t / T, context)``.

    Parameters
    ----------
    config : UNetConfig
        ``architecture == "ddpm"``; ``n_feat`` is the width F of the first level.

    Examples
    --------
    >>> from diffprob.diffusion.models.unet import get_config
    >>> _ = torch.manual_seed(0)
    >>> model = DDPMUnet(get_config("tiny", architecture="ddpm"))
    >>> eps = model(torch.randn(2, 3, 16, 16), torch.tensor([0.1, 0.9]), torch.eye(5)[:2])
    >>> tuple(eps.shape)
    (2, 3, 16, 16)
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        require_architecture(config, "ddpm")
        self.config = config
        c, f, k = config.in_channels, config.n_feat, config.n_cfeat
        emb = 4 * f
        self.time_features, time_in = time_features(config)
        self.time_mlp = nn.Sequential(nn.Linear(time_in, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.context_mlp = nn.Sequential(nn.Linear(k, emb), nn.SiLU(), nn.Linear(emb, emb))

        self.conv_in = nn.Conv2d(c, f, 3, 1, 1)
        self.enc1 = EmbeddedResBlock(f, f, emb)
        self.down1 = nn.Conv2d(f, f, 3, 2, 1)
        self.enc2 = EmbeddedResBlock(f, 2 * f, emb)
        self.down2 = nn.Conv2d(2 * f, 2 * f, 3, 2, 1)
        self.enc3 = EmbeddedResBlock(2 * f, 2 * f, emb)
        self.enc3_attn = SelfAttention(2 * f)

        self.mid1 = EmbeddedResBlock(2 * f, 2 * f, emb)
        self.mid_attn = SelfAttention(2 * f)
        self.mid2 = EmbeddedResBlock(2 * f, 2 * f, emb)

        self.dec3 = EmbeddedResBlock(4 * f, 2 * f, emb)
        self.dec3_attn = SelfAttention(2 * f)
        self.up2 = nn.ConvTranspose2d(2 * f, 2 * f, 2, 2)
        self.dec2 = EmbeddedResBlock(4 * f, 2 * f, emb)
        self.up1 = nn.ConvTranspose2d(2 * f, 2 * f, 2, 2)
        self.dec1 = EmbeddedResBlock(3 * f, f, emb)
        self.out = nn.Sequential(_norm(f), nn.SiLU(), nn.Conv2d(f, c, 3, 1, 1))

    def embedding(self, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """The vector ``SiLU(time_mlp(t) + context_mlp(c))`` that every block receives.

        `t` is (B,) in [0, 1], `context` (B, n_cfeat); a block's scale and shift are
        ``block.to_scale_shift(embedding).chunk(2, dim=1)``.
        """
        features = self.time_features(t.reshape(-1, 1)).to(context.dtype)
        return F.silu(self.time_mlp(features) + self.context_mlp(context))

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Predict the noise in `x` (see :meth:`diffprob.diffusion.models.unet.ContextUnet.forward`)."""
        t, context = check_model_inputs(self.config, x, t, context)
        emb = self.embedding(t, context)

        h1 = self.enc1(self.conv_in(x), emb)
        h2 = self.enc2(self.down1(h1), emb)
        h3 = self.enc3_attn(self.enc3(self.down2(h2), emb))
        h = self.mid2(self.mid_attn(self.mid1(h3, emb)), emb)
        h = self.dec3_attn(self.dec3(torch.cat((h, h3), 1), emb))
        h = self.dec2(torch.cat((self.up2(h), h2), 1), emb)
        h = self.dec1(torch.cat((self.up1(h), h1), 1), emb)
        return self.out(h)
