"""The text tower: a small transformer that turns caption tokens into features.

Stable Diffusion conditions its U-Net on the token features of CLIP's text
transformer; CLIP itself pools the same features at the end-of-text token into one
vector that is compared with the image's. :class:`TextEncoder` returns both::

    ids (B, L) -> token embedding + learned position embedding   (B, L, width)
               -> layers x pre-norm TransformerEncoderLayer      (keys at padding masked)
               -> final LayerNorm, padding rows set to 0  ->  tokens (B, L, width)
               -> the <eos> row through a linear projection ->  pooled (B, embed_dim)

Two differences from CLIP's text tower, both for sprite-sized captions: attention
is bidirectional (CLIP uses a causal mask, which only matters if the same network
is also used to generate text), and the positions after ``<eos>`` are excluded as
keys by ``src_key_padding_mask`` rather than by causality. A padded position
therefore never changes a real token's features, and its own row of ``tokens`` is
exactly zero: the text U-Net reads an all-zero row as padding (and an all-zero
context as the null caption of classifier-free guidance).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from diffprob.errors import ParameterError
from diffprob.util.validation import check_int_fields, config_from_dict

__all__ = ["TextEncoderConfig", "TextEncoder", "FIELD_LIMITS"]

#: Bounds (inclusive) of the integer fields of :class:`TextEncoderConfig`, checked
#: before any layer is built, so a checkpoint asking for a huge model is one line.
FIELD_LIMITS = {
    "vocab_size": (3, 10_000),
    "max_length": (2, 256),
    "width": (4, 1024),
    "layers": (1, 12),
    "heads": (1, 16),
    "embed_dim": (1, 1024),
    "mlp_ratio": (1, 8),
}


@dataclass(frozen=True)
class TextEncoderConfig:
    """Architecture of a :class:`TextEncoder` (saved with the model).

    Parameters
    ----------
    vocab_size : int
        Number of token ids (the tokenizer's ``vocab_size``; ids 0, 1, 2 are
        ``<pad>``, ``<bos>``, ``<eos>``).
    max_length : int
        Longest token sequence, ``<bos>`` and ``<eos>`` included (the tokenizer's
        ``max_length``); the number of learned position embeddings.
    width : int
        Feature width D of every token (a multiple of ``heads``); the text U-Net's
        context width.
    layers : int
        Number of transformer encoder layers.
    heads : int
        Attention heads per layer.
    embed_dim : int
        Length of the pooled vector, the space shared with the image tower.
    mlp_ratio : int
        Hidden width of each layer's MLP, as a multiple of ``width``.

    Examples
    --------
    >>> cfg = TextEncoderConfig(vocab_size=60, max_length=12)
    >>> TextEncoderConfig.from_dict(cfg.to_dict()) == cfg
    True
    >>> TextEncoderConfig(vocab_size=60, max_length=12, width=66, heads=4)
    Traceback (most recent call last):
    ...
    diffprob.errors.ParameterError: width (66) must be a multiple of heads (4)
    """

    vocab_size: int
    max_length: int
    width: int = 64
    layers: int = 2
    heads: int = 4
    embed_dim: int = 64
    mlp_ratio: int = 4

    def __post_init__(self):
        check_int_fields(self, FIELD_LIMITS, "diffprob.stable_diffusion.text_encoder.FIELD_LIMITS")
        if self.width % self.heads:
            raise ParameterError(f"width ({self.width}) must be a multiple of heads ({self.heads})")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TextEncoderConfig:
        """Rebuild a configuration from :meth:`to_dict` output; unknown keys are refused."""
        return config_from_dict(cls, data, "text encoder")


class TextEncoder(nn.Module):
    """Transformer over caption tokens: per-token features and a pooled vector.

    Parameters
    ----------
    config : TextEncoderConfig

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> enc = TextEncoder(TextEncoderConfig(vocab_size=20, max_length=6, width=16, embed_dim=8))
    >>> ids = torch.tensor([[1, 5, 7, 2, 0, 0]])
    >>> tokens, pooled = enc(ids, ids != 0)
    >>> tuple(tokens.shape), tuple(pooled.shape), tokens[0, 4:].abs().sum().item()
    ((1, 6, 16), (1, 8), 0.0)
    """

    def __init__(self, config: TextEncoderConfig):
        super().__init__()
        if not isinstance(config, TextEncoderConfig):
            raise ParameterError(f"config must be a TextEncoderConfig, got {type(config).__name__}")
        self.config = config
        d = config.width
        self.token_embedding = nn.Embedding(config.vocab_size, d)
        self.position_embedding = nn.Parameter(torch.zeros(config.max_length, d))
        layer = nn.TransformerEncoderLayer(
            d,
            config.heads,
            dim_feedforward=config.mlp_ratio * d,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        # enable_nested_tensor=False: the same (dense) code path in training and
        # evaluation, so padded rows and numerics do not depend on the mode.
        self.transformer = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(d)
        self.projection = nn.Linear(d, config.embed_dim, bias=False)
        # CLIP's initialisation: small normal embeddings.
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding, std=0.01)
        nn.init.normal_(self.projection.weight, std=d**-0.5)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode token ids.

        Parameters
        ----------
        ids : torch.LongTensor of shape (B, L)
            ``<bos> words <eos>`` then padding, ``L <= config.max_length``.
        mask : torch.BoolTensor of shape (B, L)
            True at real tokens (``<bos>`` and ``<eos>`` included), False at padding;
            real tokens come first in every row.

        Returns
        -------
        tokens : torch.Tensor of shape (B, L, width)
            Features of every token after the final LayerNorm; rows at padding are 0.
        pooled : torch.Tensor of shape (B, embed_dim)
            The last real token's (``<eos>``'s) features, projected (not normalised).
        """
        self._check(ids, mask)
        length = ids.shape[1]
        x = self.token_embedding(ids) + self.position_embedding[:length]
        x = self.transformer(x, src_key_padding_mask=~mask)
        keep = mask.unsqueeze(-1).to(x.dtype)
        tokens = self.final_norm(x) * keep
        last = mask.sum(dim=1) - 1
        pooled = self.projection(tokens[torch.arange(len(ids), device=ids.device), last])
        return tokens, pooled

    def _check(self, ids, mask) -> None:
        if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long or ids.ndim != 2:
            raise ParameterError("ids must be a LongTensor of shape (B, L)")
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise ParameterError("mask must be a BoolTensor (True = real token)")
        if mask.shape != ids.shape:
            raise ParameterError(f"mask shape {tuple(mask.shape)} != ids shape {tuple(ids.shape)}")
        if ids.shape[1] > self.config.max_length:
            raise ParameterError(
                f"token sequences of length {ids.shape[1]} exceed max_length "
                f"{self.config.max_length}"
            )
        if not bool(mask[:, 0].all()):
            raise ParameterError("every sequence needs at least one real token (<bos>) first")
        if bool((mask[:, 1:] & ~mask[:, :-1]).any()):
            raise ParameterError("mask must be True at the start of each row and False after")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.config.vocab_size):
            raise ParameterError(f"token ids must be in [0, {self.config.vocab_size - 1}]")
