"""Train a context U-Net to predict the noise (or velocity) of the forward process (Ho et al.).

One training step (algorithm 1 of the DDPM paper, with the course's context):

1. take a batch of images x0 in [-1, 1] and their one-hot class vectors c;
2. replace c by the zero (null) vector with probability ``context_dropout``, so the
   same network also learns the unconditional model needed by classifier-free
   guidance (Ho & Salimans 2022);
3. draw t uniformly from 1..T and eps ~ N(0, I); form
   x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps
   (the course wrote ``(1 - alpha_bar_t) * eps`` here, a bug);
4. minimise || eps - eps_theta(x_t, t / T, c) ||^2 with AdamW; for a schedule with
   ``prediction_type="v_prediction"`` the target is the velocity
   v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x0 instead
   (:meth:`NoiseSchedule.training_target`).

Reproducibility and resuming. Nothing random is carried from step to step: the data
order of epoch e is a permutation drawn from a generator seeded by (seed, e), and
the timesteps, noise and context-dropout mask of step k from a generator seeded by
(seed, k) (:mod:`~diffprob.diffusion.training.data`). A run stopped after step k and
resumed from its checkpoint therefore draws exactly what the uninterrupted run draws,
and on the CPU it ends with the same weights bit for bit.

Data parallelism. Under ``torchrun`` every process draws the same *global* batch
of ``batch_size`` examples (indices, t, noise) and keeps its strided slice
``[rank::world_size]``; DDP averages the gradients, so N processes take the same
optimizer steps as one process with the same ``batch_size`` (up to floating-point
summation order). ``batch_size`` is therefore the global batch and must be a
multiple of the number of processes.

:func:`train` checks its inputs and sets up the processes; ``_train_loop`` reads top
to bottom: build the state, then per step draw a batch, take an optimizer step, and
report, log, checkpoint, preview and stop as their settings ask.

Time budget. A run given ``minutes`` instead of steps plans its steps from the speed
of its first ones: the loop probes them and stops early only if the budget runs out
first (:mod:`~diffprob.diffusion.training.budget_loop`).

Divergence. A run whose loss or weights stop being finite stops with a
:class:`TrainingDivergedError`, keeping its last finite checkpoint
(:mod:`~diffprob.diffusion.training.divergence`).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

import diffprob.diffusion.training.budget_loop as budget_loop
import diffprob.diffusion.training.distributed as distributed
import diffprob.diffusion.training.report as report
from diffprob.diffusion.checkpoint import Checkpoint
from diffprob.diffusion.device import resolve_device
from diffprob.diffusion.models.unet import ContextUnet, UNetConfig, build_unet, get_config
from diffprob.diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffprob.diffusion.training.config import TrainConfig, learning_rate
from diffprob.diffusion.training.data import epoch_permutation, step_draws, training_tensors
from diffprob.diffusion.training.divergence import MAX_NONFINITE_STEPS, count_nonfinite
from diffprob.diffusion.training.ema import EMA
from diffprob.diffusion.training.lock import RunLock
from diffprob.diffusion.training.precision import autocast, autocast_settings, cuda_math_modes
from diffprob.diffusion.training.recipe import RECIPE_SCHEDULE
from diffprob.diffusion.training.resume import initial_weights, restore_state, resume_checkpoint
from diffprob.diffusion.training.run_folder import RunFolder
from diffprob.diffusion.training.state import TrainJob, TrainState, run_description
from diffprob.diffusion.training.stop import StopFlag
from diffprob.errors import ParameterError

__all__ = ["TrainResult", "train", "MAX_NONFINITE_STEPS"]


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model, ema_model : ContextUnet
        The trained raw weights (train mode) and their EMA (eval mode).
    schedule : NoiseSchedule
    checkpoint : Checkpoint
        The final training state (what ``last.pt`` holds).
    history : list of dict
        One row per `log_every` steps: step, epoch, loss, lr, images_per_s, elapsed_s.
    images_per_second : float
        Mean training throughput of this call.
    out_dir : Path or None
    """

    model: ContextUnet
    ema_model: ContextUnet
    schedule: NoiseSchedule
    checkpoint: Checkpoint
    history: list = field(default_factory=list)
    images_per_second: float = float("nan")
    out_dir: Path | None = None


def train(
    data,
    model_config: UNetConfig | str = "sprite",
    config: TrainConfig | None = None,
    *,
    schedule: NoiseSchedule | ScheduleConfig | dict | None = None,
    out_dir: str | os.PathLike | None = None,
    resume: bool | str | os.PathLike = False,
    init_from: str | os.PathLike | Checkpoint | None = None,
    device: str | torch.device = "auto",
    progress: bool = True,
    callback=None,
    run_args: dict | None = None,
) -> TrainResult:
    """Train a :class:`ContextUnet` to predict noise, with EMA, checkpoints and resuming.

    Parameters
    ----------
    data : SpriteData or similar
        Any object with ``images`` (uint8 (N, H, W, C)), ``labels`` (int (N,) or
        (N, n_cfeat) weights), and optionally ``class_names`` and ``source``
        (see :func:`diffprob.sprites.dataset.load_sprite_data`).
    model_config : UNetConfig or str
        The architecture or the name of a configuration in
        :data:`diffprob.diffusion.models.unet.CONFIGS`.
    config : TrainConfig, optional
        Hyper-parameters (default ``TrainConfig()``).
    schedule : NoiseSchedule, ScheduleConfig or dict, optional
        The forward process (default: the recipe's, the course's linear schedule with
        T = 500 rescaled to zero terminal SNR, and v-prediction; see
        :mod:`~diffprob.diffusion.training.recipe`).
    out_dir : path, optional
        Run folder for ``last.pt`` (full state, written every `checkpoint_every` steps,
        at the end and on Ctrl-C), ``model.pt`` (EMA weights only, at the end),
        ``loss.csv``, ``loss.png``, ``previews/`` and ``config.json``
        (:mod:`~diffprob.diffusion.training.run_folder`). None: no files.
    resume : bool or path, optional
        Continue from ``out_dir/last.pt`` (True) or from the given checkpoint. The
        model, schedule and training settings must match (CheckpointError naming
        the difference otherwise); only the settings in ``RESUMABLE_CHANGES`` may change.
    init_from : path or Checkpoint, optional
        Start a new run (step 0, fresh optimizer and learning-rate schedule) from the
        weights of this checkpoint (its EMA weights if it has them): fine-tuning. The
        model config must match; the schedule and training settings may differ, e.g.
        to switch an eps-prediction model to v-prediction with a zero-terminal-SNR
        schedule (Lin et al. 2024 fine-tune this way). Not combined with `resume`.
        ``metadata["init_from"]`` records the parent (path, step, schedule and training
        settings, training seconds, and its own ``init_from``, nested).
    device : {"auto", "cpu", "cuda", "mps"} or torch.device, optional
    progress : bool, optional
        Show a tqdm bar (loss, images/s) on stderr; if False print a line every
        `log_every` steps when writing a run folder.
    callback : callable, optional
        Called as ``callback(row)`` after every step with a dict (step, epoch, loss, lr).
    run_args : dict, optional
        The options of the command that started the run, written to
        ``out_dir/train_args.json`` (atomically) once every check has passed, before
        the first step, so that a run killed at any point can be resumed with them.

    Returns
    -------
    TrainResult

    A `config` with ``minutes`` trains for that much time: the first steps measure the
    speed and set the step count (recorded as ``metadata["time_budget"]`` in every
    checkpoint and in config.json); a resumed run keeps that plan and stops within the
    budget left (see :mod:`~diffprob.diffusion.training.budget`).

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C (or SIGTERM), after saving ``last.pt`` at the last completed step.
    TrainingDivergedError
        The loss was not finite for :data:`MAX_NONFINITE_STEPS` steps in a row, or the
        weights stopped being finite; ``last.pt`` keeps the last finite checkpoint.
    RunFolderBusyError
        Another process is training into `out_dir` (it is locked for the whole run,
        see :mod:`~diffprob.diffusion.training.lock`).
    CheckpointError
        `resume` names a checkpoint of another run, a malformed one (the first bad
        entry is named), or one with more steps than this run asks for.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> data = SimpleNamespace(images=rng.integers(0, 256, (16, 16, 16, 3), dtype=np.uint8),
    ...                        labels=rng.integers(0, 5, 16))
    >>> result = train(data, "tiny", TrainConfig(steps=3, batch_size=8, warmup_steps=0),
    ...                schedule=NoiseSchedule(50), device="cpu", progress=False)
    >>> result.checkpoint.step, len(result.history)
    (3, 1)
    """
    config = TrainConfig() if config is None else config
    if isinstance(model_config, str):
        model_config = get_config(model_config)
    if schedule is None:
        schedule = NoiseSchedule(**RECIPE_SCHEDULE)
    elif not isinstance(schedule, NoiseSchedule):
        schedule = NoiseSchedule.from_config(schedule)
    if config.t_max is not None and config.t_max > schedule.num_timesteps:
        raise ParameterError(
            f"t_max must be at most T = {schedule.num_timesteps}, got {config.t_max}"
        )
    device = resolve_device(device)
    autocast_dtype, use_scaler = autocast_settings(config, device)
    images, contexts = training_tensors(data, model_config)
    source = str(getattr(data, "source", "") or "")
    steps_per_epoch = config.steps_per_epoch(len(images))
    total_steps = config.total_steps(steps_per_epoch)  # None for a time budget
    v_prediction = schedule.config.prediction_type == "v_prediction"
    run = RunFolder(
        None if out_dir is None else Path(out_dir),
        target_name="velocity prediction" if v_prediction else "noise prediction",
    )

    if resume and init_from is not None:
        raise ParameterError(
            "resume and init_from exclude each other: resume continues a run, "
            "init_from starts a new one from trained weights"
        )
    init_state, init_info, resume_ckpt = None, None, None
    if init_from is not None:
        init_state, init_info = initial_weights(init_from, model_config)
    # Only rank 0 writes the folder, so only it holds the folder's lock.
    with RunLock(run.path if distributed.is_main_process() else None):
        if resume:
            resume_ckpt = resume_checkpoint(
                resume,
                run,
                model_config,
                schedule,
                config,
                source,
                len(images),
                total_steps,
            )
            init_info = resume_ckpt.metadata.get("init_from")  # a resumed fine-tune stays one
        budget = budget_loop.run_budget(config, resume_ckpt) if config.minutes is not None else None
        if budget is not None:
            total_steps = budget.total_steps
        dist_info = distributed.setup(device.type)
        try:
            device = distributed.process_device(device, config.batch_size, dist_info)
            job = TrainJob(
                images=images.to(device),
                contexts=contexts.to(device),
                class_names=tuple(getattr(data, "class_names", None) or ()),
                source=source,
                model_config=model_config,
                config=config,
                schedule=schedule,
                schedule_dev=NoiseSchedule.from_config(schedule.config).to(device),
                device=device,
                autocast_dtype=autocast_dtype,
                use_scaler=use_scaler,
                # NHWC convolutions: faster with cuDNN; on the CPU (oneDNN, one thread)
                # measured ~8% faster at the course's width (n_feat=64) but ~10% slower at 32.
                channels_last=device.type == "cuda" or model_config.n_feat >= 48,
                total_steps=total_steps,
                warmup_steps=config.warmup_steps
                if budget is None or budget.warmup_steps is None
                else budget.warmup_steps,
                steps_per_epoch=steps_per_epoch,
                dist=dist_info,
                run=run if dist_info.is_main else RunFolder(None),
                init_info=init_info,
                run_args=run_args,
                budget=budget,
            )
            with cuda_math_modes(device, tf32=config.mixed_precision != "off"):
                return _train_loop(
                    job, init_state, resume_ckpt, progress and dist_info.is_main, callback
                )
        finally:
            distributed.cleanup(dist_info)


# -- the loop -------------------------------------------------------------------------------
def _train_loop(job: TrainJob, init_state, resume_ckpt, progress: bool, callback) -> TrainResult:
    """Build the state, take the steps, save the end (or, on Ctrl-C, the last step)."""
    config = job.config
    state = _initial_state(job, init_state, resume_ckpt)
    start_step = state.step
    job.run.start(run_description(job), start_step, job.run_args)
    bar = report.progress_bar(job.total_steps, start_step, progress)
    state.start(job.device)
    if job.budget and job.budget.planned:
        _say(job, *budget_loop.plan_lines(job, state, resumed=True))
    stop = StopFlag()
    try:
        with stop:
            while job.total_steps is None or state.step < job.total_steps:
                if job.budget and _out_of_time(job, state, progress):
                    break
                epoch = state.step // job.steps_per_epoch
                lr = learning_rate(state.step, job.total_steps, config, job.warmup_steps)
                loss = _optimisation_step(job, state, *_draw_batch(job, state), lr)
                state.window_loss += loss.detach()
                count_nonfinite(state, loss)
                report.after_step(job, state, bar, callback, progress, epoch, lr, loss)
                if state.step % config.log_every == 0 or state.step == job.total_steps:
                    report.log_window(job, state, epoch, lr, progress)
                if config.checkpoint_every and state.step % config.checkpoint_every == 0:
                    report.save(job, state)
                if config.preview_every and state.step % config.preview_every == 0:
                    report.preview(job, state)
                if distributed.any_rank(stop.requested, job.device, job.dist):
                    raise KeyboardInterrupt
                if job.budget:
                    job = _follow_budget(job, state, bar)
    except KeyboardInterrupt:
        bar.close()
        report.save_on_interrupt(job, state)
        raise
    finally:
        bar.close()
    wall = time.perf_counter() - state.t_start
    if job.dist.enabled:
        distributed.check_replicas_agree(state.model, job.device)

    final = report.save(job, state, final=True)
    report.preview(job, state)
    done = state.step - start_step
    return TrainResult(
        model=state.model,
        ema_model=state.ema.model,
        schedule=job.schedule,
        checkpoint=final,
        history=state.history,
        images_per_second=done * config.batch_size / wall if done and wall > 0 else float("nan"),
        out_dir=job.run.path,
    )


def _initial_state(
    job: TrainJob, init_state: dict | None, resume_ckpt: Checkpoint | None
) -> TrainState:
    """The model (seeded, or fine-tuned from `init_state`), EMA, AdamW, scaler; or resumed."""
    config = job.config
    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG alone
        torch.manual_seed(config.seed)
        model = build_unet(job.model_config)
    if init_state is not None:
        model.load_state_dict(init_state)
    model.to(job.device)
    if job.channels_last:
        model.to(memory_format=torch.channels_last)
    ema = EMA(model, config.ema_decay, config.ema_warmup)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=learning_rate(0, job.total_steps, config, job.warmup_steps),
        weight_decay=config.weight_decay,
        foreach=True,
    )
    scaler = torch.amp.GradScaler("cuda", enabled=job.use_scaler)
    state = TrainState(model, model, ema, optimizer, scaler)
    if resume_ckpt is not None:
        restore_state(state, resume_ckpt, job)
    state.ddp_model = distributed.wrap(model, job.device, job.dist)  # after loading weights
    return state


def _draw_batch(job: TrainJob, state: TrainState):
    """This process's part of the global batch of the current step: (x0, context, t, noise)."""
    config, batch = job.config, job.config.batch_size
    epoch, position = divmod(state.step, job.steps_per_epoch)
    if state.order[0] != epoch:
        state.order = (epoch, epoch_permutation(len(job.images), config.seed, epoch))
    index = distributed.shard(state.order[1][position * batch : (position + 1) * batch], job.dist)
    index = index.to(job.device)
    # The global batch's random draws, identical on every rank; keep our slice.
    t, noise, keep = step_draws(
        state.generator,
        config.seed,
        state.step,
        batch,
        job.images.shape[1:],
        config.t_max or job.schedule.num_timesteps,
        config.context_dropout,
    )
    t, noise, keep = (distributed.shard(v, job.dist).to(job.device) for v in (t, noise, keep))
    return job.images[index], job.contexts[index] * keep[:, None], t, noise


def _optimisation_step(job: TrainJob, state: TrainState, x0, context, t, noise, lr: float):
    """Noise x0 to x_t, regress on the target, take one AdamW step and update the EMA."""
    x_t = job.schedule_dev.q_sample(x0, t, noise)
    if job.channels_last:
        x_t = x_t.contiguous(memory_format=torch.channels_last)
    optimizer, scaler = state.optimizer, state.scaler
    for group in optimizer.param_groups:
        group["lr"] = lr
    with autocast(job.device, job.autocast_dtype):
        prediction = state.ddp_model(x_t, t.float() / job.schedule.num_timesteps, context)
    target = job.schedule_dev.training_target(x0, t, noise)
    loss = F.mse_loss(prediction.float(), target)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if job.config.grad_clip:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), job.config.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    state.step += 1
    state.ema.update(state.model, state.step)
    return loss


# -- a time budget (budget_loop decides, the loop says) -------------------------------------
def _follow_budget(job: TrainJob, state: TrainState, bar) -> TrainJob:
    """Probe a budget not yet planned, or plan it again at the end of a log window from
    the recent speed; follow the plan (the bar's total, config.json; the first plan said)."""
    before = job.budget
    if not before.planned:
        job = budget_loop.probe(job, state)
    elif state.step % job.config.log_every == 0:
        job = budget_loop.replan(job, state)
    if job.budget != before:
        bar.total = job.total_steps
        bar.refresh()
        job.run.describe(run_description(job))
        if not before.planned:
            _say(job, *budget_loop.plan_lines(job, state))
    return job


def _out_of_time(job: TrainJob, state: TrainState, progress: bool) -> bool:
    """The hard stop of a time budget: True (on every rank) when the next step would end
    after the budget; then log the last partial window and say where the run stopped."""
    if not budget_loop.out_of_time(job, state):
        return False
    last = state.step - 1
    lr = learning_rate(last, job.total_steps, job.config, job.warmup_steps)
    if state.step > state.window_start:
        report.log_window(job, state, last // job.steps_per_epoch, lr, progress)
    _say(job, budget_loop.hard_stop_line(job, state, lr))
    return True


def _say(job: TrainJob, *lines: str) -> None:
    """Diagnostic lines on stderr, from rank 0 only, without breaking the progress bar."""
    if job.dist.is_main:
        from tqdm.auto import tqdm

        for line in lines:
            tqdm.write(line, file=sys.stderr)
