"""The state of a training run and the checkpoint that saves it.

:class:`TrainJob` is what a run is given and never changes (data on the device,
settings, where files go); :class:`TrainState` is what its steps change (weights,
their average, optimizer, step count, the loss of the current log window).
:func:`training_checkpoint` turns the two into a :class:`Checkpoint` from which the
run resumes exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

import diffprob.diffusion.training.distributed as distributed
from diffprob.diffusion.checkpoint import Checkpoint
from diffprob.diffusion.models.unet import UNetConfig
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.diffusion.training.budget import TimeBudget
from diffprob.diffusion.training.config import TrainConfig
from diffprob.diffusion.training.ema import EMA
from diffprob.diffusion.training.run_folder import RunFolder

__all__ = ["TrainJob", "TrainState", "training_checkpoint", "run_description"]


@dataclass
class TrainJob:
    """What a run is given and never changes: data, settings, device, where files go.

    (A run with a time budget gets a new job once, when its plan is made.)
    """

    images: torch.Tensor  # (N, C, H, W) in [-1, 1], on the device
    contexts: torch.Tensor  # (N, n_cfeat)
    class_names: tuple
    source: str
    model_config: UNetConfig
    config: TrainConfig
    schedule: NoiseSchedule  # as saved in checkpoints
    schedule_dev: NoiseSchedule  # its tables on the device
    device: torch.device
    autocast_dtype: torch.dtype | None
    use_scaler: bool
    channels_last: bool
    total_steps: int | None  # None: a time budget's plan is not made yet
    warmup_steps: int  # the learning-rate warm-up (a time budget may shorten the config's)
    steps_per_epoch: int
    dist: distributed.DistInfo
    run: RunFolder  # RunFolder(None) on ranks other than 0
    init_info: dict | None  # metadata["init_from"] of a fine-tune
    run_args: dict | None = None  # train_args.json, written when the run starts
    budget: TimeBudget | None = None  # the time budget and its plan (TrainConfig.minutes)


@dataclass
class TrainState:
    """What the steps change: weights, their average, optimizer, step count, loss window."""

    model: torch.nn.Module
    ddp_model: torch.nn.Module  # the model itself in a single process
    ema: EMA
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    step: int = 0
    elapsed_before: float = 0.0  # training seconds of the run before this call
    generator: torch.Generator = field(default_factory=torch.Generator)
    order: tuple = (-1, None)  # (epoch, its data permutation)
    history: list = field(default_factory=list)
    t_start: float = 0.0
    window_loss: torch.Tensor | None = None  # loss summed since window_start
    window_start: int = 0
    window_time: float = 0.0
    nonfinite: torch.Tensor | None = None  # [current, longest] run of non-finite losses
    saved_step: int | None = None  # step of the last checkpoint in the run folder
    rate_mark: tuple | None = None  # (step, time) where the time budget's rate is timed from

    def start(self, device: torch.device) -> None:
        """Start this call's clock, loss window and count of non-finite losses; train mode."""
        self.t_start = time.perf_counter()
        self.window_loss = torch.zeros((), device=device)
        self.nonfinite = torch.zeros((2,), dtype=torch.int64, device=device)
        self.new_window()
        self.model.train()

    def train_seconds(self) -> float:
        """Training time of the whole run so far, over all its resumptions."""
        return self.elapsed_before + (time.perf_counter() - self.t_start)

    def images_per_second(self, batch: int) -> float:
        """Throughput of the current log window."""
        return (self.step - self.window_start) * batch / (time.perf_counter() - self.window_time)

    def new_window(self) -> None:
        """Start a log window at the current step."""
        self.window_loss.zero_()
        self.window_start, self.window_time = self.step, time.perf_counter()


def training_checkpoint(job: TrainJob, state: TrainState) -> Checkpoint:
    """The whole training state at the current step (what ``last.pt`` holds)."""
    config, step = job.config, state.step
    return Checkpoint.from_model(
        state.model,
        job.schedule,
        ema_model=state.ema.model,
        class_names=job.class_names,
        optimizer_state=state.optimizer.state_dict(),
        lr_scheduler_state={
            "kind": config.lr_decay,
            "step": step,
            "lr": state.optimizer.param_groups[0]["lr"],
        },
        grad_scaler_state=state.scaler.state_dict() if job.use_scaler else None,
        step=step,
        epoch=step // job.steps_per_epoch,
        data_source=job.source,
        train_config=config.to_dict(),
        rng_state={
            # Every draw is re-seeded from (seed, epoch) or (seed, step): the step
            # count is the whole random state. The generator is kept for reference.
            "scheme": "SeedSequence([seed, stream, index])",
            "seed": config.seed,
            "step_generator": state.generator.get_state(),
        },
        metadata={
            **({"init_from": job.init_info} if job.init_info else {}),
            "n_train": len(job.images),
            "steps_per_epoch": job.steps_per_epoch,
            "total_steps": job.total_steps,
            **({"time_budget": job.budget.to_dict()} if job.budget else {}),
            "train_seconds": state.train_seconds(),
            "device": str(job.device),
            "world_size": job.dist.world_size,
            "torch_version": str(torch.__version__),
            "mixed_precision": str(job.autocast_dtype).replace("torch.", "")
            if job.autocast_dtype
            else "off",
        },
    )


def run_description(job: TrainJob) -> dict:
    """config.json: what the run trains, on what, where."""
    return {
        "model_config": job.model_config.to_dict(),
        "schedule_config": job.schedule.config.to_dict(),
        "train_config": job.config.to_dict(),
        "data_source": job.source,
        "n_train": len(job.images),
        "class_names": list(job.class_names),
        "world_size": job.dist.world_size,
        "device": str(job.device),
        **({"time_budget": job.budget.to_dict()} if job.budget else {}),
        **({"init_from": job.init_info} if job.init_info else {}),
    }
