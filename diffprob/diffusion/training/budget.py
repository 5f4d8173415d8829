"""Training for a wall-clock budget (``TrainConfig.minutes``): how many steps fit.

A run given minutes instead of steps times its first optimizer steps, the probe: the
steps after one untimed warm-up step, until :data:`PROBE_STEPS` are timed or
:data:`PROBE_FRACTION` of the budget has passed, whichever comes first. They are
training steps like any other. From the measured rate r (steps per second) and the
budget's seconds left, :meth:`TimeBudget.plan` sets

1. the run's steps, ``total = step + floor(seconds_left * r * SAFETY)``;
2. the learning-rate warm-up, at most :data:`MAX_WARMUP_FRACTION` of them (shortened
   when the configured one is longer).

The learning-rate decay then ends at `total`. Every :data:`REPLAN_FRACTION` of the budget
the run is planned again, from the speed measured since the last plan, so that a machine
that gets busier (or quieter) still finishes the decay when the budget ends. The EMA needs no plan: its warm-up
``min(d, (1 + k) / (10 + k))`` averages over at most about k / 9 of the k steps taken.
If the machine slows down, the run stops when its next step would overrun the budget
(:meth:`TimeBudget.out_of_time`), with the learning rate not fully decayed.

The plan is saved in every checkpoint (``metadata["time_budget"]``). A resumed run
keeps it and stops within the budget left, `minutes` less the training seconds the
checkpoint records; given another budget, it plans again from the saved rate. Only a
run without a saved rate (stopped during its probe, or started with steps) probes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

__all__ = [
    "TimeBudget",
    "clock",
    "PROBE_STEPS",
    "PROBE_FRACTION",
    "SAFETY",
    "MAX_WARMUP_FRACTION",
    "REPLAN_FRACTION",
]

# The probe times at most this many steps, or this fraction of the budget.
PROBE_STEPS = 20
PROBE_FRACTION = 0.03
# Plan this fraction of the steps the measured rate fits: room for logging and checkpoints.
SAFETY = 0.97
# The learning-rate warm-up takes at most this fraction of the planned steps.
MAX_WARMUP_FRACTION = 0.2
# Plan again from the recent speed each time this fraction of the budget has passed.
REPLAN_FRACTION = 0.1


@dataclass(frozen=True)
class TimeBudget:
    """A run's time budget and, once the probe has measured the speed, its plan.

    Attributes
    ----------
    minutes : float
        The budget of the whole run (over all its resumptions).
    total_steps : int or None
        Planned optimizer steps of the whole run; None until planned.
    warmup_steps : int or None
        The learning-rate warm-up the plan uses (``TrainConfig.warmup_steps`` or less).
    steps_per_second : float or None
        The rate the plan was made from.
    probe_steps : int
        The steps the probe timed.

    Examples
    --------
    >>> budget = TimeBudget(minutes=1.0)
    >>> budget.probe_done(steps=20, seconds=0.5), budget.probe_done(steps=3, seconds=1.0)
    (True, False)
    >>> plan = budget.plan(step=21, seconds_left=59.0, steps_per_second=10.0,
    ...                    probe_steps=20, warmup_steps=200)
    >>> plan.total_steps, plan.warmup_steps  # 21 + floor(59 * 10 * 0.97); 20 % of 593
    (593, 118)
    """

    minutes: float
    total_steps: int | None = None
    warmup_steps: int | None = None
    steps_per_second: float | None = None
    probe_steps: int = 0

    @property
    def seconds(self) -> float:
        return 60.0 * self.minutes

    @property
    def planned(self) -> bool:
        return self.total_steps is not None

    def probe_done(self, steps: int, seconds: float) -> bool:
        """Whether a probe that timed `steps` steps in `seconds` has measured enough."""
        return steps >= PROBE_STEPS or (steps >= 1 and seconds >= PROBE_FRACTION * self.seconds)

    def plan(
        self,
        step: int,
        seconds_left: float,
        steps_per_second: float,
        probe_steps: int,
        warmup_steps: int,
    ) -> TimeBudget:
        """The plan for a run at `step` with `seconds_left`, running at `steps_per_second`.

        `warmup_steps` is the configured warm-up; a run already past the warm-up of an
        earlier plan (``self.warmup_steps``) keeps that one.
        """
        # 1) the steps that fit in the time left, less a margin
        total = step + math.floor(max(seconds_left, 0.0) * steps_per_second * SAFETY)
        # 2) the warm-up: at most a fifth of the run; never a second one
        warmup = min(warmup_steps, math.floor(MAX_WARMUP_FRACTION * total))
        if self.warmup_steps is not None and self.warmup_steps <= step:
            warmup = self.warmup_steps
        return replace(
            self,
            total_steps=total,
            warmup_steps=warmup,
            steps_per_second=float(steps_per_second),
            probe_steps=int(probe_steps),
        )

    def out_of_time(self, train_seconds: float) -> bool:
        """Whether the next step would end after the budget (False until planned)."""
        if not self.planned or not self.steps_per_second:
            return False
        return train_seconds + 1.0 / self.steps_per_second > self.seconds

    def seconds_left(self, train_seconds: float) -> float:
        return max(0.0, self.seconds - train_seconds)

    def describe(self, warmup_steps: int) -> list[str]:
        """What the plan is, in a line (two when it shortened the configured warm-up)."""
        measured = f"{self.probe_steps} timed steps" if self.probe_steps else "the saved rate"
        lines = [
            f"time budget {self.minutes:g} min: {self.total_steps} steps planned at "
            f"{self.steps_per_second:.3g} steps/s (from {measured})"
        ]
        if self.warmup_steps < warmup_steps:
            lines.append(
                f"time budget too short for a {warmup_steps}-step warm-up: shortened to "
                f"{self.warmup_steps} steps (at most {MAX_WARMUP_FRACTION:.0%} of the run)"
            )
        return lines

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data) -> TimeBudget:
        """Rebuild a budget from :meth:`to_dict` output (a checkpoint's), checked.

        Raises ValueError naming the first bad entry.
        """
        if not isinstance(data, dict) or set(data) != {f.name for f in fields(cls)}:
            raise ValueError(f"expected the keys {[f.name for f in fields(cls)]}")

        def number(name, integer, optional=True, positive=False):
            value = data[name]
            if value is None and optional:
                return
            kinds = (int,) if integer else (int, float)
            ok = isinstance(value, kinds) and not isinstance(value, bool)
            ok = ok and math.isfinite(value) and (value > 0 if positive else value >= 0)
            if not ok:
                raise ValueError(f"{name} is {value!r}")

        number("minutes", False, optional=False, positive=True)
        number("total_steps", True)
        number("warmup_steps", True)
        number("steps_per_second", False, positive=True)
        number("probe_steps", True, optional=False)
        return cls(**data)


def clock(seconds: float) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour on.

    Examples
    --------
    >>> clock(65.4), clock(3725)
    ('1:05', '1:02:05')
    """
    minutes, secs = divmod(int(round(max(seconds, 0.0))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
