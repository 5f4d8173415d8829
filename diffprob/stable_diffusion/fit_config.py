"""The settings of one training run of a Stable Diffusion part, and each part's defaults.

Plain data without torch, so that the command line reads its defaults from here when it
builds its parsers (``diffprob --help`` stays fast).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from diffprob.diffusion.training.config import MAX_MINUTES
from diffprob.errors import ParameterError

__all__ = [
    "FitConfig",
    "DEFAULT_FIT_STEPS",
    "VAE_FIT",
    "CLIP_FIT",
    "TXT2IMG_FIT",
    "DEFAULT_KL_WEIGHT",
    "DEFAULT_RECONSTRUCTION_LOSS",
]

#: The length of a run that gives neither steps nor minutes.
DEFAULT_FIT_STEPS = 2000


@dataclass(frozen=True)
class FitConfig:
    """The settings of one training run of a part (saved with it).

    Parameters
    ----------
    steps : int, optional
        Optimizer steps. Give `steps` or `minutes`; neither means :data:`DEFAULT_FIT_STEPS`.
    minutes : float, optional
        Train for this much wall-clock time instead (at most a week).
    batch_size : int
        Examples per step.
    lr : float
        Peak learning rate of AdamW.
    warmup_steps : int
        Linear warm-up of the learning rate (shortened to fit a short time budget).
    lr_decay : {"cosine", "linear", "constant"}
        Decay to ``min_lr_ratio * lr`` at the last step.
    min_lr_ratio : float
        Final learning rate as a fraction of `lr`.
    weight_decay : float
        AdamW's decoupled weight decay.
    grad_clip : float or None
        Clip the gradient norm (None: no clipping).
    ema_decay : float or None
        Keep an EMA of the weights with this decay (with warm-up); None: no EMA.
    seed : int
        Seeds the initial weights and every batch.
    checkpoint_every : int
        Write ``last.pt`` every this many steps (0: at the end and on Ctrl-C only).
    log_every : int
        Average the loss over this many steps for ``loss.csv`` and the history.
    """

    steps: int | None = None
    minutes: float | None = None
    batch_size: int = 128
    lr: float = 1e-3
    warmup_steps: int = 100
    lr_decay: str = "cosine"
    min_lr_ratio: float = 0.02
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    ema_decay: float | None = None
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 50

    def __post_init__(self):
        def integer(name, low, value=None):
            value = getattr(self, name) if value is None else value
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ParameterError(f"{name} must be an integer >= {low}, got {value!r}")

        def number(name, low, high, *, open_low=False, open_high=False):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = ok and math.isfinite(value)
            ok = ok and (value > low if open_low else value >= low)
            ok = ok and (value < high if open_high else value <= high)
            if not ok:
                interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
                raise ParameterError(f"{name} must be in {interval}, got {value!r}")

        if self.steps is not None and self.minutes is not None:
            raise ParameterError("give steps or minutes, not both")
        if self.steps is not None:
            integer("steps", 1)
        if self.minutes is not None:
            number("minutes", 0, MAX_MINUTES, open_low=True)
        for name in ("batch_size", "log_every"):
            integer(name, 1)
        for name in ("warmup_steps", "checkpoint_every", "seed"):
            integer(name, 0)
        number("lr", 0, 10.0, open_low=True)
        number("min_lr_ratio", 0.0, 1.0)
        number("weight_decay", 0.0, math.inf)
        if self.grad_clip is not None:
            number("grad_clip", 0.0, math.inf, open_low=True)
        if self.ema_decay is not None:
            number("ema_decay", 0.0, 1.0, open_high=True)
        if self.lr_decay not in ("cosine", "linear", "constant"):
            raise ParameterError(
                f"lr_decay must be 'cosine', 'linear' or 'constant', got {self.lr_decay!r}"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FitConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or not set(data) <= known:
            extra = sorted(set(data) - known) if isinstance(data, dict) else data
            raise ParameterError(f"unknown FitConfig settings: {extra}")
        return cls(**data)


#: The training settings of ``diffprob train-vae`` (each can be changed by an option).
VAE_FIT = FitConfig(steps=3000, batch_size=64, lr=2e-3, warmup_steps=100)
#: The training settings of ``diffprob train-clip``.
CLIP_FIT = FitConfig(steps=800, batch_size=128, lr=1e-3, warmup_steps=50)
#: The training settings of ``diffprob train-txt2img``.
TXT2IMG_FIT = FitConfig(steps=6000, batch_size=64, lr=1e-3, warmup_steps=200, ema_decay=0.999)

#: Weight of the summed KL against the summed L1 error. Measured on 2-minute CPU runs
#: (batch 32, ~200 steps, 2000 held-out sprites): 1e-3 left the scaled latents'
#: per-channel std at 1.37/0.79/0.92/0.79 (KL 807 nats per sprite); 1e-2 at
#: 1.31/0.84/0.93/0.84 (KL 565) with no loss of reconstruction; 1e-1 at
#: 1.15/0.95/0.95/0.94 but three channels nearly collapsed onto the prior (KL 125) and
#: 4 dB less PSNR.
DEFAULT_KL_WEIGHT = 1e-2
#: The reconstruction term: L1, as latent-diffusion (a median fit keeps flat colours).
DEFAULT_RECONSTRUCTION_LOSS = "l1"
