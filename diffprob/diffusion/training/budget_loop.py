"""A time budget in the training loop: the budget a run starts with, the probe, the hard stop.

:mod:`~diffprob.diffusion.training.budget` plans steps from a measured speed; this module
measures it and keeps to it, on every process alike:

1. :func:`run_budget` -- a new run's budget (to be probed), or a resumed run's plan;
2. :func:`probe` -- times the first steps, then plans the run (rank 0's plan on every
   rank) and returns the job that follows the plan; :func:`plan_lines` says it;
3. :func:`replan` -- every :data:`~diffprob.diffusion.training.budget.REPLAN_FRACTION` of
   the budget, the plan is made again from the speed since the last plan, so that a
   machine that slows down (or speeds up) still ends the decay with the budget;
4. :func:`out_of_time` -- the hard stop, when the next step would end after the budget
   (the machine got slower than the last plan measured); :func:`hard_stop_line` says it.

The loop (:mod:`~diffprob.diffusion.training.train`) does the talking and the logging.
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch

import diffprob.diffusion.training.distributed as distributed
from diffprob.diffusion.checkpoint import Checkpoint
from diffprob.diffusion.training.budget import REPLAN_FRACTION, TimeBudget, clock
from diffprob.diffusion.training.config import TrainConfig
from diffprob.diffusion.training.state import TrainJob, TrainState

__all__ = ["run_budget", "probe", "replan", "plan_lines", "out_of_time", "hard_stop_line"]


def run_budget(config: TrainConfig, resume_ckpt: Checkpoint | None) -> TimeBudget:
    """The budget of a new run (to be probed), or of a resumed one: its saved plan when
    made for the same budget, planned again from the saved rate for another one."""
    budget = TimeBudget(config.minutes)
    saved = resume_ckpt.metadata.get("time_budget") if resume_ckpt is not None else None
    if not saved:
        return budget
    saved = TimeBudget.from_dict(saved)  # checked by resume_checkpoint
    if saved.minutes == config.minutes and saved.planned:
        return saved
    budget = replace(budget, warmup_steps=saved.warmup_steps)
    if saved.steps_per_second is None:  # stopped during its probe: probe again
        return budget
    used = float(resume_ckpt.metadata.get("train_seconds", 0.0))
    rate = saved.steps_per_second
    return budget.plan(resume_ckpt.step, budget.seconds - used, rate, 0, config.warmup_steps)


def probe(job: TrainJob, state: TrainState) -> TrainJob:
    """Time the first steps of a budgeted run; once the probe has measured enough, plan
    the run (rank 0's plan on every rank) and return the job that follows the plan
    (until then, `job` itself)."""
    _synchronize(job.device)
    now = time.perf_counter()
    if state.rate_mark is None:  # after this call's first step, which is not timed
        state.rate_mark = (state.step, now)
        return job
    steps, seconds = state.step - state.rate_mark[0], now - state.rate_mark[1]
    if not distributed.any_rank(job.budget.probe_done(steps, seconds), job.device, job.dist):
        return job
    return _plan(job, state, steps, seconds, probe_steps=steps)


def replan(job: TrainJob, state: TrainState) -> TrainJob:
    """Plan a planned run again from the speed since its last plan, once
    :data:`~diffprob.diffusion.training.budget.REPLAN_FRACTION` of the budget has passed
    since (rank 0's clock decides; call it at a step all ranks reach together)."""
    _synchronize(job.device)
    now = time.perf_counter()
    if state.rate_mark is None:  # a resumed run's first call: time from here
        state.rate_mark = (state.step, now)
        return job
    steps, seconds = state.step - state.rate_mark[0], now - state.rate_mark[1]
    (due,) = distributed.from_main(
        [float(steps > 0 and seconds >= REPLAN_FRACTION * job.budget.seconds)],
        job.device,
        job.dist,
    )
    if not due:
        return job
    return _plan(job, state, steps, seconds, probe_steps=job.budget.probe_steps)


def _plan(job: TrainJob, state: TrainState, steps: int, seconds: float, probe_steps: int):
    """The job following a plan made from `steps` timed in `seconds` (rank 0's plan)."""
    state.rate_mark = (state.step, time.perf_counter())
    budget = job.budget.plan(
        state.step,
        job.budget.seconds - state.train_seconds(),
        steps / max(seconds, 1e-9),
        probe_steps,
        job.config.warmup_steps,
    )
    total, warmup, rate, probed = distributed.from_main(
        [budget.total_steps, budget.warmup_steps, budget.steps_per_second, budget.probe_steps],
        job.device,
        job.dist,
    )
    budget = replace(
        budget,
        total_steps=int(total),
        warmup_steps=int(warmup),
        steps_per_second=rate,
        probe_steps=int(probed),
    )
    return replace(job, budget=budget, total_steps=budget.total_steps, warmup_steps=int(warmup))


def plan_lines(job: TrainJob, state: TrainState, resumed: bool = False) -> list[str]:
    """The plan in a line (and the shortened warm-up in another); on resuming, the time left."""
    lines = job.budget.describe(job.config.warmup_steps)
    if resumed:
        left = job.budget.seconds_left(state.train_seconds())
        lines = [f"{lines[0]}; resuming at step {state.step} with {clock(left)} left"]
    return lines


def out_of_time(job: TrainJob, state: TrainState) -> bool:
    """The hard stop of a time budget: True (on every rank) when the next step would end
    after the budget."""
    late = job.budget.out_of_time(state.train_seconds())
    return distributed.any_rank(late, job.device, job.dist)


def hard_stop_line(job: TrainJob, state: TrainState, lr: float) -> str:
    """Where a run that ran out of time stopped, and the learning rate it stopped at."""
    floor = job.config.min_lr_ratio * job.config.lr
    decay = (
        ""
        if job.config.lr_decay == "constant" or lr <= floor
        else f"; the learning rate stopped at {lr:.2e}, not decayed to {floor:.2e}"
    )
    return (
        f"time budget of {job.budget.minutes:g} min reached after step {state.step} of "
        f"{job.total_steps} planned (slower than its last plan measured){decay}; saving the model"
    )


def _synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that the clock measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
