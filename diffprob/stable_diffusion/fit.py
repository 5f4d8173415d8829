"""One training loop for the three parts of Stable Diffusion in miniature.

The autoencoder, the CLIP pair and the text-to-sprite U-Net differ only in their network,
their data and their loss; a :class:`FitTask` supplies those, and :func:`fit` does the
rest the way ``diffprob train`` does for the pixel model:

1. AdamW with a linear warm-up and a cosine decay (the pixel model's
   :func:`~diffprob.diffusion.training.config.learning_rate`), gradient clipping and,
   if asked, an EMA of the weights;
2. a length in steps or a wall-clock budget in minutes, planned from a throughput probe
   and planned again as the speed changes
   (:class:`~diffprob.diffusion.training.budget.TimeBudget`);
3. fresh data every step: batch k is drawn from ``numpy.random.default_rng([seed, k])``
   and the loss's noise from a torch generator seeded from (seed, k), so a resumed run
   sees exactly the batches it would have seen, without saving any random state;
4. a run folder held by a lock: ``last.pt`` (resumable, written every
   ``checkpoint_every`` steps, on Ctrl-C and at the end), ``loss.csv`` and, at the end,
   ``model.pt``, the part file (:mod:`~diffprob.stable_diffusion.parts`) that the
   pipeline loads.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from diffprob.diffusion.device import resolve_device
from diffprob.diffusion.training.budget import REPLAN_FRACTION, TimeBudget, clock
from diffprob.diffusion.training.config import learning_rate
from diffprob.diffusion.training.ema import EMA
from diffprob.diffusion.training.lock import RunLock
from diffprob.diffusion.training.run_folder import (
    INFERENCE_CHECKPOINT,
    LAST_CHECKPOINT,
    LOSS_LOG,
    write_run_args,
)
from diffprob.diffusion.training.stop import StopFlag
from diffprob.errors import CheckpointError, ParameterError, TrainingDivergedError
from diffprob.stable_diffusion.fit_config import DEFAULT_FIT_STEPS, FitConfig
from diffprob.stable_diffusion.parts import save_part
from diffprob.util.atomic_save import torch_save_atomic
from diffprob.util.jsonable import to_jsonable
from diffprob.util.safe_load import load_weights_only

__all__ = ["FitConfig", "FitTask", "FitResult", "fit", "DEFAULT_FIT_STEPS"]

# Settings a resumed run may change (they do not change what a step computes).
_RESUMABLE = ("steps", "minutes", "checkpoint_every", "log_every")
# Stop when the loss is not finite for this many steps in a row.
_MAX_NONFINITE = 3
_STATE_FORMAT = "diffprob-fit-state"


class FitTask:
    """What :func:`fit` trains: a part's network, its data and its loss (subclass it)."""

    #: "vae", "clip" or "txt2img": the name of the part file written at the end.
    part: str = ""

    def build_model(self) -> nn.Module:
        """A fresh network (its initial weights drawn from torch's seeded global RNG)."""
        raise NotImplementedError

    def model_config(self) -> dict:
        """JSON values that rebuild the network (saved in the part file)."""
        raise NotImplementedError

    def batch(self, rng: np.random.Generator, batch_size: int):
        """One batch of fresh training data on the CPU (tensors, or tuples/dicts of them)."""
        raise NotImplementedError

    def loss(self, model: nn.Module, batch, generator: torch.Generator):
        """``(loss, logs)``: the scalar to minimise and a dict of floats to log."""
        raise NotImplementedError

    def finish(self, model: nn.Module) -> dict:
        """Extra metadata measured on the final model (JSON values), e.g. a scale factor."""
        return {}


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : torch.nn.Module
        The final network in eval mode (the EMA weights if the run kept an EMA).
    steps : int
        Optimizer steps done (over all resumptions).
    seconds : float
        Training seconds (over all resumptions).
    history : list of dict
        One row per log window: step, loss, learning rate and the task's logs.
    metadata : dict
        What was saved with the part: the settings and ``task.finish(model)``.
    interrupted : bool
        Whether Ctrl-C stopped the run early (``last.pt`` then resumes it).
    """

    model: nn.Module
    steps: int
    seconds: float
    history: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    interrupted: bool = False


@dataclass
class _Run:
    """The mutable state of a run, as ``last.pt`` saves it."""

    model: nn.Module
    ema: EMA | None
    optimizer: torch.optim.Optimizer
    step: int = 0
    seconds: float = 0.0
    budget: TimeBudget | None = None
    history: list = field(default_factory=list)
    nonfinite: int = 0


def fit(
    task: FitTask,
    config: FitConfig,
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    device="cpu",
    progress: bool = True,
    run_args: dict | None = None,
    on_start=None,
) -> FitResult:
    """Train `task`'s network with `config`; write the run folder `out` if given.

    Parameters
    ----------
    task : FitTask
        The part to train.
    config : FitConfig
        Length, optimiser and logging settings.
    out : path, optional
        Run folder: ``last.pt``, ``loss.csv`` and, at the end, ``model.pt``.
    resume : bool
        Continue from ``out/last.pt`` (same part, network and settings, except the
        length and the logging intervals).
    device : str or torch.device
        "cpu", "cuda", "mps" or "auto".
    progress : bool
        Show a tqdm progress bar (with the time left, for a time budget) on stderr.
    run_args : dict, optional
        The command-line options the run was started with: written to
        ``out/train_args.json`` once training starts (every check passed), so that
        ``--resume`` can take them from there.
    on_start : callable, optional
        Called with no arguments once every check has passed and training starts (the
        command line prints its description then, so that a refusal stays one line).

    Raises
    ------
    TrainingDivergedError
        The loss was not finite for several steps in a row; ``last.pt`` keeps the last
        finite state.
    """
    from tqdm.auto import tqdm

    if not isinstance(config, FitConfig):
        raise ParameterError("config must be a FitConfig")
    if resume and out is None:
        raise ParameterError("resume needs the run folder out")
    folder = None if out is None else Path(out)
    device = resolve_device(device)
    with RunLock(folder), StopFlag() as stop:
        torch.manual_seed(config.seed)
        model = task.build_model().to(device).train()
        ema = EMA(model, config.ema_decay) if config.ema_decay is not None else None
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        run = _Run(model, ema, optimizer)
        if config.minutes is not None:
            run.budget = TimeBudget(minutes=config.minutes)
        if resume:
            _restore(run, folder / LAST_CHECKPOINT, task, config)
        elif folder is not None:
            _start_log(folder)
        if folder is not None and run_args is not None:
            write_run_args(folder, run_args)
        if on_start is not None:
            on_start()
        bar = tqdm(
            total=_total(run, config),
            initial=run.step,
            disable=not progress,
            unit="step",
            desc=f"training {task.part}",
        )
        interrupted = False
        window: list[dict] = []
        timing = {"steps": 0, "seconds": 0.0}
        try:
            while True:
                total = _total(run, config)
                if total is not None and run.step >= total:
                    break
                if run.budget is not None and run.budget.out_of_time(run.seconds):
                    break
                if stop.requested:
                    interrupted = True
                    break
                started = time.perf_counter()
                logs = _step(task, run, config, device, total)
                took = time.perf_counter() - started
                run.seconds += took
                window.append(logs)
                _plan_budget(run, config, timing, took, bar)
                if len(window) == config.log_every:
                    _log(run, window, folder, say=not progress, total=_total(run, config))
                    window = []
                if progress:
                    bar.update(1)
                    postfix = {"loss": f"{logs['loss']:.4g}"}
                    if run.budget is not None:
                        postfix["left"] = clock(run.budget.seconds_left(run.seconds))
                    bar.set_postfix(postfix, refresh=False)
                if folder is not None and config.checkpoint_every:
                    if run.step % config.checkpoint_every == 0:
                        _save_state(run, folder, task, config)
        finally:
            bar.close()
        if window:
            _log(run, window, folder)
        final = (run.ema.model if run.ema is not None else run.model).eval()
        if folder is not None:
            _save_state(run, folder, task, config)
        if interrupted:
            return FitResult(final, run.step, run.seconds, run.history, {}, interrupted=True)
        metadata = {
            "fit_config": config.to_dict(),
            "steps": run.step,
            "train_seconds": round(run.seconds, 1),
            "device": str(device),
            "torch": str(torch.__version__),
            "final_loss": run.history[-1]["loss"] if run.history else None,
            **to_jsonable(task.finish(final)),
        }
        if folder is not None:
            save_part(
                folder / INFERENCE_CHECKPOINT,
                task.part,
                task.model_config(),
                final.state_dict(),
                {**metadata, "loss_history": run.history},
            )
        return FitResult(final, run.step, run.seconds, run.history, metadata)


def _total(run: _Run, config: FitConfig) -> int | None:
    """The planned length: steps, a time budget's plan (None until probed), or the default."""
    if run.budget is not None:
        return run.budget.total_steps
    return config.steps if config.steps is not None else DEFAULT_FIT_STEPS


def _step(task: FitTask, run: _Run, config: FitConfig, device, total) -> dict:
    """One optimizer step on batch `run.step`; returns the logged values."""
    k = run.step
    warmup = run.budget.warmup_steps if run.budget is not None else None
    lr = learning_rate(k, total, config, warmup)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    rng = np.random.default_rng([config.seed, k])
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    batch = _to(task.batch(rng, config.batch_size), device)
    loss, logs = task.loss(run.model, batch, generator)
    if not torch.isfinite(loss):
        run.nonfinite += 1
        if run.nonfinite >= _MAX_NONFINITE:
            raise TrainingDivergedError(
                f"training diverged at step {k}: the loss was not finite for "
                f"{run.nonfinite} steps in a row (lr {config.lr:g}; try a lower learning rate)"
            )
        run.optimizer.zero_grad(set_to_none=True)
        return {"loss": float("nan"), "lr": lr}
    run.nonfinite = 0
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip:
        nn.utils.clip_grad_norm_(run.model.parameters(), config.grad_clip)
    run.optimizer.step()
    run.step += 1
    if run.ema is not None:
        run.ema.update(run.model, run.step)
    return {
        "loss": float(loss.detach()),
        "lr": lr,
        **{k: float(torch.as_tensor(v).detach()) for k, v in logs.items()},
    }


def _plan_budget(run: _Run, config: FitConfig, timing: dict, took: float, bar) -> None:
    """Time the steps (all but a run's first) and plan the budget: once the probe has
    measured enough, then again each time REPLAN_FRACTION of the budget has passed."""
    budget = run.budget
    if budget is None:
        return
    if run.step > 1 or budget.planned:  # the first step (allocation, warm caches) is not timed
        timing["steps"] += 1
        timing["seconds"] += took
    steps, seconds = timing["steps"], timing["seconds"]
    if budget.planned:
        due = seconds >= REPLAN_FRACTION * budget.seconds
    else:
        due = budget.probe_done(steps, seconds)
    if not due:
        return
    run.budget = budget.plan(
        step=run.step,
        seconds_left=budget.seconds_left(run.seconds),
        steps_per_second=steps / seconds,
        probe_steps=budget.probe_steps if budget.planned else steps,
        warmup_steps=config.warmup_steps,
    )
    timing.update(steps=0, seconds=0.0)
    bar.total = run.budget.total_steps
    bar.refresh()


def _log(run: _Run, window: list[dict], folder: Path | None, say=False, total=None) -> None:
    """Average the window's logs into one history row (and a loss.csv line); with `say`,
    print it as a line on stderr (the progress bar's stand-in)."""
    row = {"step": run.step}
    for key in window[-1]:
        values = [w[key] for w in window if key in w]
        row[key] = float(np.mean(values)) if key != "lr" else values[-1]
    run.history.append(row)
    if folder is not None:
        _write_log(folder, run.history)
    if say:
        values = " ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "step")
        left = ""
        if run.budget is not None:
            left = f", {clock(run.budget.seconds_left(run.seconds))} left"
        print(f"step {run.step}/{total or '?'} {values}{left}", file=sys.stderr, flush=True)


def _start_log(folder: Path) -> None:
    (folder / LOSS_LOG).unlink(missing_ok=True)


def _write_log(folder: Path, history: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in history for k in row))
    tmp = folder / f".{LOSS_LOG}.tmp"
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, folder / LOSS_LOG)


def _save_state(run: _Run, folder: Path, task: FitTask, config: FitConfig) -> None:
    torch_save_atomic(
        {
            "format": _STATE_FORMAT,
            "part": task.part,
            "model_config": to_jsonable(task.model_config()),
            "fit_config": config.to_dict(),
            "model": run.model.state_dict(),
            "ema": None if run.ema is None else run.ema.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "step": run.step,
            "seconds": run.seconds,
            "budget": None if run.budget is None else run.budget.to_dict(),
            "history": run.history,
        },
        folder / LAST_CHECKPOINT,
    )


def _restore(run: _Run, path: Path, task: FitTask, config: FitConfig) -> None:
    """Load ``last.pt`` into `run`, after checking that it is this run's."""
    if not path.is_file():
        raise CheckpointError(f"nothing to resume: {str(path)!r} does not exist")
    state = load_weights_only(path, "diffprob training state")
    if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a diffprob training state")
    if state.get("part") != task.part:
        raise CheckpointError(f"{str(path)!r} trains a {state.get('part')!r}, not a {task.part!r}")
    if state.get("model_config") != to_jsonable(task.model_config()):
        raise CheckpointError(f"{str(path)!r} was trained with another network configuration")
    saved = state.get("fit_config")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{str(path)!r} has no training settings")
    changed = [
        k
        for k, v in config.to_dict().items()
        if k not in _RESUMABLE and saved.get(k, v) != v and k in saved
    ]
    if changed:
        raise CheckpointError(
            f"cannot resume {str(path)!r} with other settings: {', '.join(changed)} "
            f"(only {', '.join(_RESUMABLE)} may change)"
        )
    try:
        run.model.load_state_dict(state["model"])
        if run.ema is not None:
            run.ema.load_state_dict(state["ema"])
        run.optimizer.load_state_dict(state["optimizer"])
        run.step = int(state["step"])
        run.seconds = float(state["seconds"])
        run.history = list(state["history"])
        if config.minutes is not None:
            saved_budget = state["budget"]
            if saved_budget is not None and saved_budget["minutes"] == config.minutes:
                run.budget = TimeBudget.from_dict(saved_budget)
            else:
                run.budget = TimeBudget(minutes=config.minutes)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{str(path)!r} is not a consistent training state ({type(exc).__name__})"
        ) from None
    if config.steps is not None and config.steps < run.step:
        raise ParameterError(
            f"{str(path)!r} is at step {run.step}, past the {config.steps} steps asked for"
        )


def _to(batch, device):
    """Move a batch (tensor, or tuple/list/dict of them) to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(v, device) for v in batch)
    return batch
