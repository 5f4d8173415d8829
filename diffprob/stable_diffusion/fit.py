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
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from diffprob.diffusion.device import resolve_device
from diffprob.diffusion.training.budget import REPLAN_FRACTION, TimeBudget, clock
from diffprob.diffusion.training.config import MAX_MINUTES, learning_rate
from diffprob.diffusion.training.ema import EMA
from diffprob.diffusion.training.lock import RunLock
from diffprob.diffusion.training.run_folder import INFERENCE_CHECKPOINT, LAST_CHECKPOINT, LOSS_LOG
from diffprob.diffusion.training.stop import StopFlag
from diffprob.errors import CheckpointError, ParameterError, TrainingDivergedError
from diffprob.stable_diffusion.parts import save_part
from diffprob.util.atomic_save import torch_save_atomic
from diffprob.util.jsonable import to_jsonable
from diffprob.util.safe_load import load_weights_only

__all__ = ["FitConfig", "FitTask", "FitResult", "fit", "DEFAULT_FIT_STEPS"]

#: The length of a run that gives neither steps nor minutes.
DEFAULT_FIT_STEPS = 2000
# Settings a resumed run may change (they do not change what a step computes).
_RESUMABLE = ("steps", "minutes", "checkpoint_every", "log_every")
# Stop when the loss is not finite for this many steps in a row.
_MAX_NONFINITE = 3
_STATE_FORMAT = "diffprob-fit-state"


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
                    _log(run, window, folder)
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


def _log(run: _Run, window: list[dict], folder: Path | None) -> None:
    """Average the window's logs into one history row (and a loss.csv line)."""
    row = {"step": run.step}
    for key in window[-1]:
        values = [w[key] for w in window if key in w]
        row[key] = float(np.mean(values)) if key != "lr" else values[-1]
    run.history.append(row)
    if folder is not None:
        _write_log(folder, run.history)


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
