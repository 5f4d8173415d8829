"""The image tower of the sprite CLIP: a small CNN from a sprite to one vector.

CLIP pairs its text transformer with a ViT or ResNet; at 16x16 pixels a few
convolutions do the same job::

    x (3, 16, 16) -> conv 3x3 (w, 16, 16) -> conv 3x3 stride 2 (2w, 8, 8)
                  -> conv 3x3 stride 2 (4w, 4, 4) -> flatten -> linear -> (embed_dim,)

each convolution followed by GroupNorm and GELU. The last layer flattens rather
than averages the 4x4 grid, so the vector keeps where on the sprite a colour is
(hair above, tunic below), which the captions name.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from diffprob.errors import ParameterError
from diffprob.util.validation import check_int_fields, config_from_dict

__all__ = ["ImageEncoderConfig", "ImageEncoder", "FIELD_LIMITS"]

#: Bounds (inclusive) of the integer fields of :class:`ImageEncoderConfig`.
FIELD_LIMITS = {"image_size": (16, 16), "width": (4, 256), "embed_dim": (1, 1024)}


@dataclass(frozen=True)
class ImageEncoderConfig:
    """Architecture of an :class:`ImageEncoder` (saved with the model).

    Parameters
    ----------
    embed_dim : int
        Length of the output vector (the text tower's ``embed_dim``).
    width : int
        Channels w of the first convolution; then 2w and 4w.
    image_size : int
        Side of the square RGB input (16, the sprites').

    Examples
    --------
    >>> cfg = ImageEncoderConfig(embed_dim=64)
    >>> ImageEncoderConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    embed_dim: int = 64
    width: int = 32
    image_size: int = 16

    def __post_init__(self):
        check_int_fields(self, FIELD_LIMITS, "diffprob.stable_diffusion.image_encoder.FIELD_LIMITS")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ImageEncoderConfig:
        """Rebuild a configuration from :meth:`to_dict` output; unknown keys are refused."""
        return config_from_dict(cls, data, "image encoder")


def _conv(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
        nn.GroupNorm(math.gcd(8, c_out), c_out),
        nn.GELU(),
    )


class ImageEncoder(nn.Module):
    """Small CNN: sprites ``(B, 3, 16, 16)`` in [-1, 1] -> ``(B, embed_dim)`` (not normalised).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> enc = ImageEncoder(ImageEncoderConfig(embed_dim=8, width=4))
    >>> tuple(enc(torch.zeros(2, 3, 16, 16)).shape)
    (2, 8)
    """

    def __init__(self, config: ImageEncoderConfig):
        super().__init__()
        if not isinstance(config, ImageEncoderConfig):
            raise ParameterError(
                f"config must be an ImageEncoderConfig, got {type(config).__name__}"
            )
        self.config = config
        w = config.width
        side = config.image_size // 4
        self.features = nn.Sequential(_conv(3, w, 1), _conv(w, 2 * w, 2), _conv(2 * w, 4 * w, 2))
        self.projection = nn.Linear(4 * w * side * side, config.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.config.image_size
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != (3, s, s):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ParameterError(f"images must be a tensor of shape (B, 3, {s}, {s}), got {shape}")
        return self.projection(self.features(x).flatten(1))
