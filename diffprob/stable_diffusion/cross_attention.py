"""Cross-attention: how the latent U-Net reads the caption, one image position at a time.

Every position of a feature map asks a question (its query) and the caption's tokens
answer (their keys and values), as in Rombach et al. (2022), sec. 3.3:

.. math:: \\text{Attention}(Q, K, V) = \\text{softmax}\\Big(\\frac{Q K^\\top}{\\sqrt{d}}\\Big) V,
          \\qquad Q = W_Q\\, \\varphi(z),\\; K = W_K\\, \\tau(y),\\; V = W_V\\, \\tau(y)

with :math:`\\varphi(z)` the U-Net's features and :math:`\\tau(y)` the text encoder's
token features. Each row of the softmax is a conditional distribution over the caption's
tokens: P(token | image position).

Padding and the null caption are all-zero rows of the context (the convention of
:mod:`diffprob.stable_diffusion`): :func:`context_padding_mask` turns them into a key
padding mask, so a padded token gets probability 0. A caption with no tokens at all
(classifier-free guidance's null context, ``torch.zeros_like(context)``) gives an
all-masked row, whose attention output is defined as exactly 0 -- the text then adds
nothing, and the U-Net is its unconditional self.

:class:`SpatialTransformer` wraps the attention for feature maps, like the
``SpatialTransformer`` of CompVis' latent diffusion and diffusers' ``Transformer2DModel``:
GroupNorm, 1x1 projection to tokens, :class:`TransformerBlock` (self-attention over the
positions, cross-attention to the text, feed-forward, each pre-normed and residual),
projection back, residual.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from diffprob.diffusion.models.unet import _norm
from diffprob.errors import ParameterError

__all__ = [
    "CrossAttention",
    "SpatialTransformer",
    "TransformerBlock",
    "context_padding_mask",
]


def context_padding_mask(context: torch.Tensor) -> torch.Tensor:
    """Which context rows are real tokens: ``context.abs().sum(-1) > 0``, (B, L) bool.

    Padding and the null caption are all-zero rows, so they read False.

    Examples
    --------
    >>> context = torch.tensor([[[1.0, -1.0], [0.0, 0.0]]])
    >>> context_padding_mask(context).tolist()
    [[True, False]]
    """
    return context.abs().sum(-1) > 0


def _check_heads(dim: int, heads: int) -> None:
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1 or dim % heads:
        raise ParameterError(f"heads must be an integer >= 1 that divides {dim}, got {heads!r}")


class CrossAttention(nn.Module):
    """Multi-head attention of queries `x` over a context (or over `x` itself).

    Parameters
    ----------
    query_dim : int
        Width of the queries (the image features).
    context_dim : int, optional
        Width of the context tokens (the text features). None: self-attention, keys and
        values come from `x` and nothing is masked.
    heads : int, optional
        Number of heads; must divide `query_dim`.

    Notes
    -----
    The padding mask comes from the context itself (:func:`context_padding_mask`) unless
    one is given. A query row whose keys are all masked would be a softmax over nothing
    (0/0); it is computed against unmasked keys and then multiplied by 0, so its output,
    after the output projection too, is exactly 0 and never NaN.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> attention = CrossAttention(8, context_dim=6, heads=2)
    >>> x, text = torch.randn(2, 5, 8), torch.randn(2, 3, 6)
    >>> text[1] = 0  # the second caption is the null caption
    >>> out = attention(x, text)
    >>> tuple(out.shape), bool(out[1].eq(0).all()), bool(out[0].eq(0).all())
    ((2, 5, 8), True, False)
    """

    def __init__(self, query_dim: int, context_dim: int | None = None, heads: int = 4):
        super().__init__()
        _check_heads(query_dim, heads)
        self.heads = heads
        self.is_cross = context_dim is not None
        kv_dim = query_dim if context_dim is None else context_dim
        self.to_q = nn.Linear(query_dim, query_dim, bias=False)
        self.to_k = nn.Linear(kv_dim, query_dim, bias=False)
        self.to_v = nn.Linear(kv_dim, query_dim, bias=False)
        self.to_out = nn.Linear(query_dim, query_dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape  # (B, N, C) -> (B, heads, N, C / heads)
        return x.reshape(b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend from `x` (B, N, query_dim) to `context` (B, L, context_dim).

        `mask` (B, L) bool, True = a real token, defaults to
        :func:`context_padding_mask` of the context. Returns (B, N, query_dim).
        """
        if not self.is_cross:
            context, mask = x, None
        elif context is None:
            raise ParameterError("cross-attention needs a context (B, L, context_dim)")
        elif mask is None:
            mask = context_padding_mask(context)
        q, k, v = (
            self._split(self.to_q(x)),
            self._split(self.to_k(context)),
            self._split(self.to_v(context)),
        )
        if mask is None:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            has_key = mask.any(-1)  # (B,): does the caption have any token at all?
            # An all-masked row attends to every key instead (no 0/0) and is zeroed below.
            safe = mask | ~has_key[:, None]
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=safe[:, None, None, :])
        b, _, n, _ = out.shape
        out = self.to_out(out.transpose(1, 2).reshape(b, n, -1))
        if mask is not None:
            out = out * has_key[:, None, None].to(out.dtype)
        return out


class TransformerBlock(nn.Module):
    """Self-attention (optional), cross-attention, feed-forward; each pre-normed and residual.

    ``x <- x + SelfAttn(LN(x))``, ``x <- x + CrossAttn(LN(x), context)``,
    ``x <- x + FF(LN(x))`` with FF = Linear -> GELU -> Linear (width ``ff_mult * dim``):
    the basic transformer block of latent diffusion, at sprite scale.
    """

    def __init__(
        self,
        dim: int,
        context_dim: int,
        heads: int = 4,
        *,
        self_attention: bool = True,
        ff_mult: int = 2,
    ):
        super().__init__()
        self.norm_self = nn.LayerNorm(dim) if self_attention else None
        self.self_attention = CrossAttention(dim, None, heads) if self_attention else None
        self.norm_cross = nn.LayerNorm(dim)
        self.cross_attention = CrossAttention(dim, context_dim, heads)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, ff_mult * dim), nn.GELU(), nn.Linear(ff_mult * dim, dim)
        )

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`x` (B, N, dim) tokens of the image, `context` (B, L, context_dim) or None (no text)."""
        if self.self_attention is not None:
            x = x + self.self_attention(self.norm_self(x))
        if context is not None:  # None adds exactly what an all-zero context adds: 0
            x = x + self.cross_attention(self.norm_cross(x), context, mask)
        return x + self.ff(self.norm_ff(x))


class SpatialTransformer(nn.Module):
    """A :class:`TransformerBlock` applied to a feature map (B, C, H, W), residual.

    GroupNorm, 1x1 convolution in, the H * W positions as tokens through the block,
    1x1 convolution out (zero-initialised, so the block starts as the identity), plus
    the input.

    Parameters
    ----------
    channels : int
        Channels of the feature map.
    context_dim : int
        Width of the context tokens.
    heads : int, optional
        Attention heads (must divide `channels`).
    self_attention : bool, optional
        Let the positions attend to each other before reading the text.
    ff_mult : int, optional
        Width of the feed-forward layer, in multiples of `channels`.

    Examples
    --------
    >>> block = SpatialTransformer(8, context_dim=4, heads=2)
    >>> x = torch.randn(2, 8, 4, 4)
    >>> torch.equal(block(x, torch.randn(2, 3, 4)), x)  # zero-initialised output
    True
    """

    def __init__(
        self,
        channels: int,
        context_dim: int,
        heads: int = 4,
        *,
        self_attention: bool = True,
        ff_mult: int = 2,
    ):
        super().__init__()
        self.norm = _norm(channels)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.block = TransformerBlock(
            channels, context_dim, heads, self_attention=self_attention, ff_mult=ff_mult
        )
        self.proj_out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`x` (B, C, H, W), `context` (B, L, context_dim) or None; returns (B, C, H, W)."""
        b, c, h, w = x.shape
        tokens = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)  # (B, H * W, C)
        tokens = self.block(tokens, context, mask)
        return x + self.proj_out(tokens.transpose(1, 2).reshape(b, c, h, w))
