"""Divergence: a run whose loss or weights stop being finite stops, keeping its last finite state.

A run whose loss is not finite for :data:`MAX_NONFINITE_STEPS` steps in a row, or whose
weights are no longer finite, stops with a :class:`TrainingDivergedError`. The loop counts
the non-finite losses on the device at every step (:func:`count_nonfinite`, no wait for
the GPU) and checks them at every log row and before every checkpoint
(:func:`check_finite`), so a checkpoint never holds non-finite weights: ``last.pt``
keeps the last finite state and ``model.pt`` is not written. (One non-finite loss can be
harmless: with fp16 the gradient scaler skips that step.)
"""

from __future__ import annotations

import torch

import diffprob.diffusion.training.distributed as distributed
from diffprob.diffusion.training.state import TrainJob, TrainState
from diffprob.errors import TrainingDivergedError

__all__ = ["MAX_NONFINITE_STEPS", "count_nonfinite", "check_finite"]

# Consecutive steps with a non-finite loss after which a run counts as diverged.
MAX_NONFINITE_STEPS = 3


def count_nonfinite(state: TrainState, loss: torch.Tensor) -> None:
    """Count the current run of steps with a non-finite loss, and its longest, on the
    device (no wait for the GPU): ``state.nonfinite = [current, longest]``."""
    current = (state.nonfinite[0] + 1) * (~torch.isfinite(loss.detach()))
    state.nonfinite[0] = current
    state.nonfinite[1] = torch.maximum(state.nonfinite[1], current)


def check_finite(job: TrainJob, state: TrainState, all_ranks: bool = True) -> None:
    """Raise TrainingDivergedError when the loss was not finite for MAX_NONFINITE_STEPS
    steps in a row, or the weights or their average are not finite (on any process;
    ``all_ranks=False``: on this one, for a call that only rank 0 makes)."""
    longest = int(state.nonfinite[1])
    with torch.no_grad():
        weights = [p for m in (state.model, state.ema.model) for p in m.parameters()]
        finite = bool(torch.stack([torch.isfinite(p).all() for p in weights]).all())
    diverged = longest >= MAX_NONFINITE_STEPS or not finite
    if all_ranks:
        diverged = distributed.any_rank(diverged, job.device, job.dist)
    if not diverged:
        return
    what = (
        f"the loss was not finite for {longest} steps in a row"
        if longest >= MAX_NONFINITE_STEPS
        else "the weights are no longer finite"
    )
    kept = (
        f"{str(job.run.last)!r} keeps step {state.saved_step}, the last finite state"
        if job.run and state.saved_step is not None
        else "no checkpoint of this run was written"
    )
    raise TrainingDivergedError(
        f"training diverged by step {state.step}: {what} (lr {job.config.lr:g}; try a "
        f"lower learning rate); {kept}"
    )
