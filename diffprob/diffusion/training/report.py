"""What the training loop reports and writes as it goes.

* :func:`progress_bar` -- the tqdm bar on stderr;
* :func:`after_step` -- after every step: the per-step callback and the progress bar;
* :func:`log_window` -- every ``log_every`` steps: a history row, a loss.csv row and,
  without a bar, a line on stderr;
* :func:`save` -- a checkpoint of the current step (every ``checkpoint_every`` steps and
  at the end), :func:`save_on_interrupt` on Ctrl-C;
* :func:`preview` -- a grid of samples from the EMA weights.

Log rows and checkpoints first check that the run has not diverged
(:mod:`~diffprob.diffusion.training.divergence`): no checkpoint holds non-finite weights.
"""

from __future__ import annotations

import sys

import diffprob.diffusion.training.distributed as distributed
from diffprob.diffusion.checkpoint import Checkpoint
from diffprob.diffusion.training.budget import clock
from diffprob.diffusion.training.divergence import check_finite
from diffprob.diffusion.training.state import TrainJob, TrainState, training_checkpoint

__all__ = ["progress_bar", "after_step", "log_window", "save", "save_on_interrupt", "preview"]


def progress_bar(total: int | None, initial: int, progress: bool):
    """The run's tqdm bar on stderr (`total` None: a time budget's plan is not made yet)."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        disable=not progress,
        file=sys.stderr,
        desc="train",
        dynamic_ncols=True,
    )


def after_step(
    job: TrainJob, state: TrainState, bar, callback, progress: bool, epoch, lr, loss
) -> None:
    """The per-step callback and the progress bar (the loss is read only when one needs it)."""
    show = progress and state.step % 10 == 0
    if callback is not None or show:
        loss_value = float(loss.detach())
        if callback is not None:
            callback({"step": state.step, "epoch": epoch, "loss": loss_value, "lr": lr})
        if show:
            rate = state.images_per_second(job.config.batch_size)
            left = (
                {"left": clock(job.budget.seconds_left(state.train_seconds()))}
                if job.budget
                else {}
            )
            bar.set_postfix(loss=f"{loss_value:.4f}", img_s=f"{rate:.0f}", **left)
    bar.update(1)


def log_window(job: TrainJob, state: TrainState, epoch: int, lr: float, progress: bool) -> None:
    """Close the log window: a history row, a loss.csv row and (without a bar) a line."""
    check_finite(job, state)
    distributed.mean_(state.window_loss, job.dist)
    step = state.step
    row = {
        "step": step,
        "epoch": epoch,
        "loss": float(state.window_loss) / (step - state.window_start),
        "lr": lr,
        "images_per_s": state.images_per_second(job.config.batch_size),
        "elapsed_s": state.train_seconds(),
    }
    state.history.append(row)
    job.run.log(row)
    if job.run and not progress:
        left = f", {clock(job.budget.seconds_left(row['elapsed_s']))} left" if job.budget else ""
        total = "?" if job.total_steps is None else job.total_steps  # a budget's probe
        print(
            f"step {step}/{total} epoch {epoch} loss {row['loss']:.4f} "
            f"lr {lr:.2e} {row['images_per_s']:.0f} img/s {row['elapsed_s']:.0f}s{left}",
            file=sys.stderr,
            flush=True,
        )
    state.new_window()


def save(job: TrainJob, state: TrainState, final: bool = False) -> Checkpoint:
    """The checkpoint of the current step, written to the run folder (if this rank has one).

    Raises TrainingDivergedError instead of saving non-finite weights.
    """
    check_finite(job, state)
    ckpt = training_checkpoint(job, state)
    job.run.save(ckpt, final=final)
    state.saved_step = state.step
    return ckpt


def save_on_interrupt(job: TrainJob, state: TrainState) -> None:
    """Ctrl-C: save the last completed step (rank 0 only) and say how to continue."""
    if not job.dist.is_main:
        return
    check_finite(job, state, all_ranks=False)
    job.run.save(training_checkpoint(job, state))
    if job.run:
        print(
            f"interrupted: saved step {state.step} to {job.run.last}; continue with --resume",
            file=sys.stderr,
        )


def preview(job: TrainJob, state: TrainState) -> None:
    """A grid of samples from the EMA weights at the current step, in the run folder."""
    job.run.preview(state.ema.model, job.schedule_dev, state.step, job.config.seed, job.class_names)
