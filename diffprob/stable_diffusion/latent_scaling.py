"""How latents are brought to about N(0, 1) before diffusion, and back before decoding.

Diffusion starts from :math:`z_T \\sim \\mathcal{N}(0, I)` and its noise schedule assumes
data of about unit variance, so the autoencoder's latents are standardised first:

* **one global factor** (Stable Diffusion 1.x/2.x): ``z * f`` with ``f = 1 / std`` of all
  latent values (:func:`~diffprob.stable_diffusion.autoencoder.latent_scale_factor`;
  0.18215 for its VAE). The overall standard deviation becomes 1, but a channel that
  spreads more than the others stays wider, and no channel is centred;
* **per channel** (as later latent models do -- a shift and a scale in SD3 and FLUX,
  per-channel ``latents_mean`` / ``latents_std`` in diffusers' autoencoder configurations):
  ``(z - mean_c) / std_c``, so every channel has mean 0 and standard deviation 1 on the
  data it was measured on.

Both are a :class:`LatentScaling`: ``scaled = (z - shift) * scale`` per channel, and
``z = scaled / scale + shift`` to decode. The global factor is the case shift 0 and the
same scale for every channel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from diffprob.errors import ParameterError

__all__ = ["LatentScaling"]


def _floats(name: str, values) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a sequence of numbers, got {values!r}") from None
    if not out or not all(math.isfinite(v) for v in out):
        raise ParameterError(
            f"{name} must be a non-empty sequence of finite numbers, got {values!r}"
        )
    return out


@dataclass(frozen=True)
class LatentScaling:
    """``scaled = (z - shift) * scale``, per latent channel.

    Parameters
    ----------
    shift : tuple of float, one per channel
        Subtracted first (the channels' means, or 0).
    scale : tuple of float, one per channel, each > 0
        Then multiplied (``1 / std`` of each channel, or one global factor).

    Examples
    --------
    >>> z = torch.tensor([[[[0.0, 1.0, 2.0]], [[10.0, 20.0, 30.0]]]])     # (1, 2, 1, 3)
    >>> per_channel = LatentScaling.from_latents(z)        # means 1, 20; stds 1, 10
    >>> per_channel.apply(z).flatten().tolist()
    [-1.0, 0.0, 1.0, -1.0, 0.0, 1.0]
    >>> torch.allclose(per_channel.invert(per_channel.apply(z)), z)
    True
    >>> LatentScaling.global_factor(0.5, channels=2).apply(z).flatten().tolist()
    [0.0, 0.5, 1.0, 5.0, 10.0, 15.0]
    """

    shift: tuple[float, ...]
    scale: tuple[float, ...]

    def __post_init__(self):
        shift, scale = _floats("shift", self.shift), _floats("scale", self.scale)
        if len(shift) != len(scale):
            raise ParameterError(
                f"shift and scale need one value per channel, got {len(shift)} and {len(scale)}"
            )
        if not all(s > 0 for s in scale):
            raise ParameterError(f"every scale must be > 0, got {scale}")
        object.__setattr__(self, "shift", shift)
        object.__setattr__(self, "scale", scale)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def global_factor(cls, factor: float, channels: int) -> LatentScaling:
        """Stable Diffusion's one factor for every channel, no shift."""
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ParameterError(f"channels must be an integer >= 1, got {channels!r}")
        return cls((0.0,) * channels, (float(factor),) * channels)

    @classmethod
    def from_latents(cls, latents) -> LatentScaling:
        """Each channel's mean and ``1 / std`` (n - 1) over a batch ``(N, C, h, w)``."""
        t = torch.as_tensor(np.asarray(latents) if not torch.is_tensor(latents) else latents)
        if t.ndim != 4:
            raise ParameterError(f"latents must have shape (N, C, h, w), got {tuple(t.shape)}")
        per_channel = t.detach().double().transpose(0, 1).flatten(1)  # (C, N h w)
        if per_channel.shape[1] < 2:
            raise ParameterError("need at least 2 latent values per channel")
        std = per_channel.std(dim=1)
        if not bool(torch.isfinite(std).all() and (std > 0).all()):
            raise ParameterError(f"every channel's std must be finite and > 0, got {std.tolist()}")
        return cls(tuple(per_channel.mean(dim=1).tolist()), tuple((1.0 / std).tolist()))

    @classmethod
    def coerce(cls, value, channels: int) -> LatentScaling:
        """A LatentScaling as is; a number as a global factor; a dict from :meth:`to_dict`."""
        if isinstance(value, cls):
            scaling = value
        elif isinstance(value, dict):
            scaling = cls.from_dict(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            scaling = cls.global_factor(value, channels)
        else:
            raise ParameterError(
                f"latent scaling must be a LatentScaling or a number > 0, got {value!r}"
            )
        if scaling.channels != channels:
            raise ParameterError(
                f"the latent scaling is for {scaling.channels} channel(s), the latents have "
                f"{channels}"
            )
        return scaling

    @classmethod
    def stored_in(cls, data: dict, channels: int) -> LatentScaling:
        """The scaling a part's metadata or a pipeline file holds: its ``"latent_scaling"``,
        or, in a file written before per-channel scaling, its ``"latent_scale_factor"``."""
        stored = data.get("latent_scaling", data.get("latent_scale_factor"))
        if stored is None:
            raise ParameterError("holds no latent scaling")
        return cls.coerce(stored, channels)

    # -- use ----------------------------------------------------------------------------
    @property
    def channels(self) -> int:
        return len(self.scale)

    @property
    def is_global(self) -> bool:
        """One factor for every channel and no shift (Stable Diffusion's kind)."""
        return all(s == 0 for s in self.shift) and len(set(self.scale)) == 1

    def describe(self) -> str:
        """In words: ``"times 1.092"`` or ``"standardised per channel (mean ..., std ...)"``."""
        if self.is_global:
            return f"times {self.scale[0]:.4g}"
        means = "/".join(f"{m:+.3f}" for m in self.shift)
        stds = "/".join(f"{1 / s:.3f}" for s in self.scale)
        return f"standardised per channel (mean {means}, std {stds})"

    def _vectors(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if z.ndim != 4 or z.shape[1] != self.channels:
            raise ParameterError(
                f"latents must have shape (N, {self.channels}, h, w), got {tuple(z.shape)}"
            )
        shape = (1, self.channels, 1, 1)
        shift = torch.tensor(self.shift, dtype=z.dtype, device=z.device).view(shape)
        scale = torch.tensor(self.scale, dtype=z.dtype, device=z.device).view(shape)
        return shift, scale

    def apply(self, z: torch.Tensor) -> torch.Tensor:
        """Autoencoder latents to the diffusion's: ``(z - shift) * scale``."""
        shift, scale = self._vectors(z)
        return (z - shift) * scale

    def invert(self, scaled: torch.Tensor) -> torch.Tensor:
        """The diffusion's latents back to the autoencoder's: ``scaled / scale + shift``."""
        shift, scale = self._vectors(scaled)
        return scaled / scale + shift

    def to_dict(self) -> dict:
        return {"shift": list(self.shift), "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, data) -> LatentScaling:
        if not isinstance(data, dict) or set(data) != {"shift", "scale"}:
            raise ParameterError(
                f"a latent scaling is {{'shift': [...], 'scale': [...]}}, got {data!r}"
            )
        return cls(data["shift"], data["scale"])
