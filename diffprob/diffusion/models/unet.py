"""The context U-Net of the DeepLearning.AI sprite course, with its bugs fixed.

The network predicts the noise eps added to an image x_t, given the normalised
timestep t / T and a context vector (one-hot class, a mixture of classes, or all
zeros for the unconditional "null" context used by classifier-free guidance).

Shape, for an image of side ``s`` and width ``n_feat = F``::

    x (C, s, s) -> init_conv (F, s, s) ------------------------------------+
                -> down1 (F, s/2) --------------------------------+        |
                -> down2 (2F, s/4) ---------------------+         |        |
                -> avgpool + GELU -> vector (2F, 1, 1)  |         |        |
                -> up0 (2F, s/4)                        |         |        |
                   scale by context emb, shift by time emb, concat skip -> up1 (F, s/2)
                   scale by context emb, shift by time emb, concat skip -> up2 (F, s)
                   concat init features -> out (C, s, s)

Differences from the course code (``bench/course_reference.py`` keeps it as it was):

* the 1x1 shortcut convolution of a residual block whose channel count changes is
  created (and trained) in ``__init__``; the course built a fresh random one inside
  ``forward`` on every call, so it was untrained, missing from the state_dict and
  made the output non-deterministic;
* the pooled size and the first up-sampling kernel are derived from ``image_size``
  (the course hard-coded a 4x4 pool, right only for 16x16 images);
* GroupNorm replaces BatchNorm, so a sample's prediction never depends on the other
  images in its batch (the guided and unguided passes are batched together), and
  group counts are chosen to divide any width;
* an optional sinusoidal time embedding (Ho et al. 2020) besides the course's MLP
  on the scalar t.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from diffprob.errors import ParameterError
from diffprob.util.validation import check_choice, check_int_fields, config_from_dict

__all__ = [
    "UNetConfig",
    "CONFIGS",
    "get_config",
    "ContextUnet",
    "build_unet",
    "count_parameters",
]

TIME_EMBEDDINGS = ("mlp", "sinusoidal")
ARCHITECTURES = ("course", "ddpm")
IMAGE_SIZES = (16, 32)
#: Upper bounds of the integer fields, checked before any layer is built, so that a
#: checkpoint or option asking for e.g. ``n_feat=200000`` (1.4 TB of weights) is one
#: line, not an allocation. n_feat 512 is ~100M parameters (0.4 GB), 8x the course's.
FIELD_LIMITS = {"in_channels": 4, "n_feat": 512, "n_cfeat": 1000}


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of a :class:`ContextUnet` (saved in checkpoints).

    Parameters
    ----------
    name : str
        Label of the configuration (``"tiny"``, ``"small"``, ``"course"`` or your own).
    image_size : {16, 32}
        Side of the square images.
    in_channels : int
        Image channels (3 for RGB).
    n_feat : int
        Width F of the first level; the bottleneck has 2F channels.
    n_cfeat : int
        Length of the context vector (the number of classes).
    time_embedding : {"mlp", "sinusoidal"}
        ``"mlp"``: the course's two-layer MLP on the scalar t / T. ``"sinusoidal"``:
        sine/cosine features of t at geometric frequencies, then the same MLP.
    architecture : {"course", "ddpm"}
        ``"course"``: :class:`ContextUnet`, the course's network. ``"ddpm"``:
        :class:`diffprob.diffusion.models.ddpm_unet.DDPMUnet`, time and context in every residual
        block and self-attention at the lowest resolution.

    Examples
    --------
    >>> cfg = UNetConfig("mine", image_size=32, n_feat=16, n_cfeat=5)
    >>> UNetConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    name: str = "custom"
    image_size: int = 16
    in_channels: int = 3
    n_feat: int = 64
    n_cfeat: int = 5
    time_embedding: str = "mlp"
    architecture: str = "course"

    def __post_init__(self):
        if self.image_size not in IMAGE_SIZES:
            raise ParameterError(f"image_size must be one of {IMAGE_SIZES}, got {self.image_size}")
        check_int_fields(self, FIELD_LIMITS, "diffprob.diffusion.models.unet.FIELD_LIMITS")
        check_choice("time_embedding", self.time_embedding, TIME_EMBEDDINGS)
        check_choice("architecture", self.architecture, ARCHITECTURES)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> UNetConfig:
        """Rebuild a configuration from :meth:`to_dict` output; unknown keys are refused."""
        return config_from_dict(cls, data, "model")


CONFIGS: dict[str, UNetConfig] = {
    # Unit tests: a few thousand parameters, milliseconds per step.
    "tiny": UNetConfig("tiny", image_size=16, n_feat=8, n_cfeat=5),
    # The shipped sprite model: trains to recognisable sprites on one CPU core in an hour.
    "small": UNetConfig("small", image_size=16, n_feat=32, n_cfeat=5, time_embedding="sinusoidal"),
    # The DDPM-style U-Net at sprite scale: embedding in every block, attention at s/4.
    "sprite": UNetConfig(
        "sprite",
        image_size=16,
        n_feat=32,
        n_cfeat=5,
        time_embedding="sinusoidal",
        architecture="ddpm",
    ),
    # The course's width: n_feat=64, 5 classes, ~1.5M parameters.
    "course": UNetConfig("course", image_size=16, n_feat=64, n_cfeat=5),
}


def get_config(name: str, **overrides) -> UNetConfig:
    """Return the named configuration, with fields replaced by `overrides`.

    Examples
    --------
    >>> get_config("course").n_feat
    64
    >>> get_config("tiny", image_size=32).image_size
    32
    """
    if name not in CONFIGS:
        raise ParameterError(f"unknown model config {name!r}; choose one of {sorted(CONFIGS)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        return replace(CONFIGS[name], **overrides)
    except TypeError as exc:
        raise ParameterError(f"bad model configuration override: {exc}") from None


def _groups(channels: int, target: int = 8) -> int:
    """Largest divisor of `channels` that is <= `target` (GroupNorm needs one)."""
    return max(g for g in range(1, min(target, channels) + 1) if channels % g == 0)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(_groups(channels), channels)


class ResidualConvBlock(nn.Module):
    """Two 3x3 conv + norm + GELU layers, optionally with a residual connection.

    With ``residual=True`` the output is (shortcut(x) + conv2(conv1(x))) / sqrt(2),
    where the shortcut is the identity or, when the channel count changes, a 1x1
    convolution registered here (the course created it inside ``forward``).
    """

    def __init__(self, in_channels: int, out_channels: int, residual: bool = False):
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, 1, 1), _norm(out_channels), nn.GELU()
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, 3, 1, 1), _norm(out_channels), nn.GELU()
        )
        if residual and in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(self.conv1(x))
        if not self.residual:
            return h
        # 1/sqrt(2) keeps the variance of a sum of two unit-variance branches at 1.
        return (self.shortcut(x) + h) * (1 / math.sqrt(2))


class UnetDown(nn.Sequential):
    """Two residual-conv blocks, then 2x2 max pooling (halves the side)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            ResidualConvBlock(in_channels, out_channels),
            ResidualConvBlock(out_channels, out_channels),
            nn.MaxPool2d(2),
        )


class UnetUp(nn.Module):
    """Concatenate the skip features, 2x transposed conv, two residual-conv blocks."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.model = nn.Sequential(
            nn.ConvTranspose2d(in_channels, out_channels, 2, 2),
            ResidualConvBlock(out_channels, out_channels),
            ResidualConvBlock(out_channels, out_channels),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.model(torch.cat((x, skip), 1))


class EmbedFC(nn.Sequential):
    """Linear -> GELU -> Linear: the course's embedding of t or of the context."""

    def __init__(self, input_dim: int, emb_dim: int):
        super().__init__(nn.Linear(input_dim, emb_dim), nn.GELU(), nn.Linear(emb_dim, emb_dim))


class SinusoidalEmbedding(nn.Module):
    """Sine/cosine features of t in [0, 1] (Vaswani et al.; Ho et al. 2020, appendix B).

    t is scaled by 1000 so that the frequencies 1000^(-k/half) span the same range as
    for integer timesteps 0..1000, whatever T the schedule uses.
    """

    def __init__(self, dim: int):
        super().__init__()
        half = max(dim // 2, 1)
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half) / half)
        # A buffer (not a parameter): moves with .to() but is not trained.
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = 1000.0 * t.reshape(-1, 1) * self.freqs
        return torch.cat((angles.sin(), angles.cos()), dim=1)


def time_features(config: UNetConfig) -> tuple[nn.Module, int]:
    """The features of t / T fed to the time MLPs, and their length.

    ``"sinusoidal"``: :class:`SinusoidalEmbedding` of width ``n_feat``; ``"mlp"``: the
    scalar t / T itself, as in the course.
    """
    if config.time_embedding == "sinusoidal":
        return SinusoidalEmbedding(config.n_feat), 2 * max(config.n_feat // 2, 1)
    return nn.Identity(), 1


def require_architecture(config: UNetConfig, architecture: str) -> None:
    """Refuse to build one network from another's configuration."""
    if config.architecture != architecture:
        raise ParameterError(
            f"config {config.name!r} is a {config.architecture!r} network; "
            "build it with build_unet(config)"
        )


class ContextUnet(nn.Module):
    """Noise-prediction U-Net conditioned on time and a context vector.

    Parameters
    ----------
    config : UNetConfig or str
        The architecture, or the name of one of :data:`CONFIGS`.

    Notes
    -----
    The embeddings modulate the decoder as in the course: at each up level
    ``h <- context_emb * h + time_emb`` (the context scales, the time shifts), so an
    all-zero context still produces a non-zero learnt null embedding.

    Examples
    --------
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = ContextUnet("tiny")
    >>> x = torch.randn(2, 3, 16, 16)
    >>> eps = model(x, torch.tensor([0.1, 0.9]), torch.eye(5)[:2])
    >>> tuple(eps.shape)
    (2, 3, 16, 16)
    """

    def __init__(self, config: UNetConfig | str = "small"):
        super().__init__()
        if isinstance(config, str):
            config = get_config(config)
        require_architecture(config, "course")
        self.config = config
        c, f, k = config.in_channels, config.n_feat, config.n_cfeat
        bottom = config.image_size // 4  # side after two 2x poolings

        self.init_conv = ResidualConvBlock(c, f, residual=True)
        self.down1 = UnetDown(f, f)
        self.down2 = UnetDown(f, 2 * f)
        self.to_vec = nn.Sequential(nn.AvgPool2d(bottom), nn.GELU())

        self.time_features, time_in = time_features(config)
        self.timeembed1 = EmbedFC(time_in, 2 * f)
        self.timeembed2 = EmbedFC(time_in, f)
        self.contextembed1 = EmbedFC(k, 2 * f)
        self.contextembed2 = EmbedFC(k, f)

        self.up0 = nn.Sequential(
            nn.ConvTranspose2d(2 * f, 2 * f, bottom, bottom), _norm(2 * f), nn.ReLU()
        )
        self.up1 = UnetUp(4 * f, f)
        self.up2 = UnetUp(2 * f, f)
        self.out = nn.Sequential(
            nn.Conv2d(2 * f, f, 3, 1, 1), _norm(f), nn.ReLU(), nn.Conv2d(f, c, 3, 1, 1)
        )

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Predict the noise in `x`.

        Parameters
        ----------
        x : torch.Tensor
            (B, C, H, W) noisy images, H = W = ``config.image_size``.
        t : torch.Tensor
            (B,) timesteps divided by T, in [0, 1] (a scalar tensor is broadcast).
        context : torch.Tensor, optional
            (B, n_cfeat) context weights; None means the null (all-zero) context.

        Returns
        -------
        torch.Tensor
            Predicted noise, same shape as `x`.
        """
        t, context = check_model_inputs(self.config, x, t, context)
        x = self.init_conv(x)
        down1 = self.down1(x)
        down2 = self.down2(down1)
        hidden = self.to_vec(down2)

        t_features = self.time_features(t.reshape(-1, 1)).to(x.dtype)
        cemb1 = self.contextembed1(context)[:, :, None, None]
        temb1 = self.timeembed1(t_features)[:, :, None, None]
        cemb2 = self.contextembed2(context)[:, :, None, None]
        temb2 = self.timeembed2(t_features)[:, :, None, None]

        up1 = self.up0(hidden)
        up2 = self.up1(cemb1 * up1 + temb1, down2)
        up3 = self.up2(cemb2 * up2 + temb2, down1)
        return self.out(torch.cat((up3, x), 1))


def check_model_inputs(config: UNetConfig, x: torch.Tensor, t, context):
    """Validate a U-Net call; return t as (B,) and the context as (B, n_cfeat), x's dtype."""
    if x.ndim != 4 or x.shape[1] != config.in_channels or x.shape[2:] != (config.image_size,) * 2:
        raise ParameterError(
            f"expected images of shape (B, {config.in_channels}, {config.image_size}, "
            f"{config.image_size}), got {tuple(x.shape)}"
        )
    batch = x.shape[0]
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(batch)
    if context is None:
        context = x.new_zeros(batch, config.n_cfeat)
    elif context.shape != (batch, config.n_cfeat):
        raise ParameterError(
            f"context must have shape ({batch}, {config.n_cfeat}), got {tuple(context.shape)}"
        )
    return t, context.to(x.dtype)


def build_unet(config: UNetConfig | str) -> nn.Module:
    """The network a configuration describes: :class:`ContextUnet` or ``DDPMUnet``.

    Examples
    --------
    >>> type(build_unet("tiny")).__name__
    'ContextUnet'
    >>> type(build_unet(get_config("tiny", architecture="ddpm"))).__name__
    'DDPMUnet'
    """
    if isinstance(config, str):
        config = get_config(config)
    if config.architecture == "ddpm":
        from diffprob.diffusion.models.ddpm_unet import DDPMUnet

        return DDPMUnet(config)
    return ContextUnet(config)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters.

    Examples
    --------
    >>> 1_400_000 < count_parameters(ContextUnet("course")) < 1_700_000
    True
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
