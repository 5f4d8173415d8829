"""The settings of a training run (:class:`TrainConfig`) and its learning-rate schedule.

Plain data and arithmetic, without torch, so that the command line can read the
defaults from here when it builds its parser.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from diffprob.errors import DataError, ParameterError
from diffprob.util.validation import check_choice

__all__ = ["TrainConfig", "learning_rate", "RESUMABLE_CHANGES", "DEFAULT_STEPS", "MAX_MINUTES"]

LR_DECAYS = ("cosine", "linear", "constant")
PRECISIONS = ("auto", "bf16", "fp16", "off")
# Settings that may change between a run and its resumption (they do not change what
# a step computes). Changing `steps`/`epochs`/`minutes` does change the learning-rate decay.
RESUMABLE_CHANGES = (
    "steps",
    "epochs",
    "minutes",
    "checkpoint_every",
    "preview_every",
    "log_every",
)
# The length of a run that gives none of `steps`, `epochs` and `minutes`.
DEFAULT_STEPS = 5000
# The longest time budget accepted (`minutes`): a week.
MAX_MINUTES = 7 * 24 * 60


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run (saved in every checkpoint).

    Parameters
    ----------
    steps : int, optional
        Number of optimizer steps. Give at most one of `steps`, `epochs` and `minutes`;
        none means 5000 steps.
    epochs : int, optional
        Number of passes over the data (each epoch drops the last incomplete batch).
    minutes : float, optional
        Train for this much wall-clock time (at most a week): a throughput probe
        over the first steps sets the number of steps, and the warm-up and decay
        fit them (:mod:`~diffprob.diffusion.training.budget`).
    batch_size : int
        Global batch size (over all processes under torchrun).
    lr : float
        Peak learning rate of AdamW.
    weight_decay : float
        AdamW's decoupled weight decay.
    warmup_steps : int
        Linear warm-up of the learning rate from 0 over this many steps.
    lr_decay : {"cosine", "linear", "constant"}
        Decay from the peak to ``min_lr_ratio * lr`` at the last step.
    min_lr_ratio : float
        Final learning rate as a fraction of `lr`.
    ema_decay : float
        Decay of the EMA weights, in [0, 1).
    ema_warmup : bool
        Ramp the EMA decay up as min(ema_decay, (1 + k) / (10 + k)).
    context_dropout : float
        Probability of training a sample with the null context, in [0, 1].
    t_max : int or None
        Draw t uniformly from 1..t_max instead of 1..T: a low-noise expert, which
        spends all its capacity on the last steps of sampling (eDiff-I, Balaji et
        al. 2022; see :class:`diffprob.diffusion.models.experts.NoiseLevelExperts`).
        None: all of 1..T.
    grad_clip : float or None
        Clip the gradient norm to this value (None or 0: no clipping).
    mixed_precision : {"auto", "bf16", "fp16", "off"}
        Autocast on CUDA ("auto": bf16 where supported, else fp16 with a gradient
        scaler). On the CPU only an explicit "bf16" autocasts ("auto" means fp32
        there, so that CPU runs stay bit-exact across resumes). On CUDA the
        mixed modes also allow TF32 matrix products; "off" is float32 throughout.
    seed : int
        Seeds the initial weights, the data order and every random draw.
    checkpoint_every : int
        Write ``last.pt`` every this many steps (0: only at the end and on Ctrl-C).
    preview_every : int
        Write a sample grid every this many steps (0: only at the end).
    log_every : int
        Average the loss over this many steps for ``loss.csv`` (and the log line).

    Examples
    --------
    >>> cfg = TrainConfig(steps=100, batch_size=32)
    >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    steps: int | None = None
    epochs: int | None = None
    minutes: float | None = None
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 200
    lr_decay: str = "cosine"
    min_lr_ratio: float = 0.02
    ema_decay: float = 0.999
    ema_warmup: bool = True
    context_dropout: float = 0.1
    t_max: int | None = None
    grad_clip: float | None = 1.0
    mixed_precision: str = "auto"
    seed: int = 0
    checkpoint_every: int = 500
    preview_every: int = 0
    log_every: int = 50

    def __post_init__(self):
        def integer(name, low):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ParameterError(f"{name} must be an integer >= {low}, got {value!r}")

        def number(name, low, high, high_open=False):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and math.isfinite(value) and value >= low
            ok = ok and (value < high if high_open else value <= high)
            if not ok:
                bracket = ")" if high_open else "]"
                raise ParameterError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}")

        if self.steps is not None and self.epochs is not None:
            raise ParameterError("give steps or epochs, not both")
        if self.steps is not None:
            integer("steps", 1)
        if self.epochs is not None:
            integer("epochs", 1)
        if self.minutes is not None:
            if self.steps is not None or self.epochs is not None:
                raise ParameterError("give minutes or steps/epochs, not both")
            value = self.minutes
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (ok and math.isfinite(value) and 0 < value <= MAX_MINUTES):
                raise ParameterError(
                    f"minutes must be a number > 0 and at most {MAX_MINUTES} (a week), "
                    f"got {value!r}"
                )
        for name in ("batch_size", "log_every"):
            integer(name, 1)
        for name in ("warmup_steps", "checkpoint_every", "preview_every", "seed"):
            integer(name, 0)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ParameterError(f"lr must be a finite number > 0, got {self.lr!r}")
        number("weight_decay", 0.0, math.inf)
        number("min_lr_ratio", 0.0, 1.0)
        number("ema_decay", 0.0, 1.0, high_open=True)
        number("context_dropout", 0.0, 1.0)
        if self.grad_clip is not None:
            number("grad_clip", 0.0, math.inf)
        if self.t_max is not None:
            integer("t_max", 1)
        check_choice("lr_decay", self.lr_decay, LR_DECAYS)
        check_choice("mixed_precision", self.mixed_precision, PRECISIONS)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Rebuild a configuration from :meth:`to_dict` output; unknown keys are refused.

        Examples
        --------
        >>> TrainConfig.from_dict({"steps": 10, "momentum": 0.9})
        Traceback (most recent call last):
        ...
        diffprob.errors.ParameterError: unknown training configuration keys: ['momentum']
        """
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ParameterError(f"unknown training configuration keys: {sorted(unknown)}")
        return cls(**data)

    def steps_per_epoch(self, n_images: int) -> int:
        """Full batches in one pass over `n_images` (a last partial batch is dropped).

        Raises DataError when not even one batch fits.
        """
        if n_images < self.batch_size:
            raise DataError(
                f"batch size {self.batch_size} is larger than the data set ({n_images} images)"
            )
        return n_images // self.batch_size

    def total_steps(self, steps_per_epoch: int) -> int | None:
        """Optimizer steps of the whole run (None for a time budget: planned when it runs)."""
        if self.minutes is not None:
            return None
        if self.steps is not None:
            return self.steps
        if self.epochs is not None:
            return self.epochs * steps_per_epoch
        return DEFAULT_STEPS


def learning_rate(
    step: int, total_steps: int | None, config: TrainConfig, warmup_steps: int | None = None
) -> float:
    """Learning rate for optimizer step `step` (0-based) of `total_steps`.

    Linear warm-up ``lr * (step + 1) / warmup_steps``, then a cosine or linear decay
    from ``lr`` to ``min_lr_ratio * lr`` at the last step. `warmup_steps` replaces
    ``config.warmup_steps`` (a time budget shortens it to fit); `total_steps` None
    (a time budget not yet planned): no decay yet.

    Examples
    --------
    >>> cfg = TrainConfig(lr=1.0, warmup_steps=10, lr_decay="linear", min_lr_ratio=0.0)
    >>> [round(learning_rate(s, 110, cfg), 3) for s in (0, 9, 10, 60, 109)]
    [0.1, 1.0, 1.0, 0.495, 0.0]
    """
    peak = config.lr
    warmup = config.warmup_steps if warmup_steps is None else warmup_steps
    # 1) linear warm-up: step 0 already takes a small step, step warmup - 1 the peak
    if step < warmup:
        return peak * (step + 1) / warmup
    # 2) no decay (or not yet: the length of the run is still being measured)
    if config.lr_decay == "constant" or total_steps is None:
        return peak
    # 3) progress through the decay, 0 -> 1 from the first step after warm-up to the last
    decay_steps = total_steps - warmup - 1
    progress = 1.0 if decay_steps <= 0 else min(1.0, (step - warmup) / decay_steps)
    # 4) from the peak down to the floor, along half a cosine or a straight line
    floor = config.min_lr_ratio * peak
    if config.lr_decay == "cosine":
        return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return floor + (peak - floor) * (1 - progress)
