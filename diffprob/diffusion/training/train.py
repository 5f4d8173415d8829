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
(seed, k). A run stopped after step k and resumed from its checkpoint therefore
draws exactly what the uninterrupted run draws, and on the CPU it ends with the same
weights bit for bit.

Data parallelism. Under ``torchrun`` every process draws the same *global* batch
of ``batch_size`` examples (indices, t, noise) and keeps its strided slice
``[rank::world_size]``; DDP averages the gradients, so N processes take the same
optimizer steps as one process with the same ``batch_size`` (up to floating-point
summation order). ``batch_size`` is therefore the global batch and must be a
multiple of the number of processes.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import signal
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import diffprob.diffusion.training.distributed as distributed
from diffprob.diffusion.checkpoint import Checkpoint, _describe_mismatch
from diffprob.diffusion.models.unet import ContextUnet, UNetConfig, build_unet, get_config
from diffprob.diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffprob.diffusion.training.ema import EMA
from diffprob.errors import CheckpointError, DataError, ParameterError

__all__ = ["TrainConfig", "TrainResult", "train", "resolve_device", "learning_rate"]

LR_DECAYS = ("cosine", "linear", "constant")
PRECISIONS = ("auto", "bf16", "fp16", "off")
# Settings that may change between a run and its resumption (they do not change what
# a step computes). Changing `steps`/`epochs` does change the learning-rate decay.
RESUMABLE_CHANGES = ("steps", "epochs", "checkpoint_every", "preview_every", "log_every")
LAST_CHECKPOINT = "last.pt"
INFERENCE_CHECKPOINT = "model.pt"


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run (saved in every checkpoint).

    Parameters
    ----------
    steps : int, optional
        Number of optimizer steps. Give `steps` or `epochs`, not both; neither means
        5000 steps.
    epochs : int, optional
        Number of passes over the data (each epoch drops the last incomplete batch).
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
        al. 2022; see :class:`diffprob.diffusion.models.experts.NoiseLevelExperts`). None: all of 1..T.
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
        if self.lr_decay not in LR_DECAYS:
            raise ParameterError(f"lr_decay must be one of {LR_DECAYS}, got {self.lr_decay!r}")
        if self.mixed_precision not in PRECISIONS:
            raise ParameterError(
                f"mixed_precision must be one of {PRECISIONS}, got {self.mixed_precision!r}"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def total_steps(self, steps_per_epoch: int) -> int:
        """Optimizer steps of the whole run."""
        if self.steps is not None:
            return self.steps
        if self.epochs is not None:
            return self.epochs * steps_per_epoch
        return 5000


def learning_rate(step: int, total_steps: int, config: TrainConfig) -> float:
    """Learning rate for optimizer step `step` (0-based) of `total_steps`.

    Linear warm-up ``lr * (step + 1) / warmup_steps``, then a cosine or linear decay
    from ``lr`` to ``min_lr_ratio * lr`` at the last step.

    Examples
    --------
    >>> cfg = TrainConfig(lr=1.0, warmup_steps=10, lr_decay="linear", min_lr_ratio=0.0)
    >>> [round(learning_rate(s, 110, cfg), 3) for s in (0, 9, 10, 60, 109)]
    [0.1, 1.0, 1.0, 0.495, 0.0]
    """
    peak = config.lr
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    decay_steps = total_steps - config.warmup_steps - 1
    progress = 1.0 if decay_steps <= 0 else min(1.0, (step - config.warmup_steps) / decay_steps)
    floor = config.min_lr_ratio * peak
    if config.lr_decay == "cosine":
        return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    if config.lr_decay == "linear":
        return floor + (peak - floor) * (1 - progress)
    return peak


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then the CPU; others are checked.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(name, torch.device):
        return name
    mps = getattr(torch.backends, "mps", None)
    mps_ok = mps is not None and mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_ok else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ParameterError("device 'cuda' requested but no CUDA GPU is available")
        return torch.device(name)
    if name == "mps":
        if not mps_ok:
            raise ParameterError("device 'mps' requested but Apple MPS is not available")
        return torch.device("mps")
    raise ParameterError(f"unknown device {name!r}; use auto, cpu, cuda or mps")


# -- random streams -----------------------------------------------------------------------
_STREAM_PERMUTATION = 1
_STREAM_STEP = 2


def _stream_seed(seed: int, stream: int, index: int) -> int:
    """An independent 63-bit seed for (seed, stream, index) (numpy's SeedSequence)."""
    state = np.random.SeedSequence([seed, stream, index]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The data order of `epoch`: a permutation of range(n) fixed by (seed, epoch)."""
    generator = torch.Generator().manual_seed(_stream_seed(seed, _STREAM_PERMUTATION, epoch))
    return torch.randperm(n, generator=generator)


# -- data ---------------------------------------------------------------------------------
def _training_tensors(data, config: UNetConfig):
    """(images float (N,C,H,W) in [-1, 1], contexts float (N, n_cfeat)) from a data set."""
    images = np.asarray(getattr(data, "images", None))
    labels = np.asarray(getattr(data, "labels", None))
    size, channels = config.image_size, config.in_channels
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (size, size, channels):
        raise DataError(
            f"expected uint8 images of shape (N, {size}, {size}, {channels}), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.ndim == 1:
        if len(labels) and (labels.min() < 0 or labels.max() >= config.n_cfeat):
            raise DataError(
                f"labels must be in [0, {config.n_cfeat}) for a model with "
                f"n_cfeat={config.n_cfeat}, got range [{labels.min()}, {labels.max()}]"
            )
        contexts = torch.nn.functional.one_hot(
            torch.as_tensor(labels, dtype=torch.long), config.n_cfeat
        ).float()
    elif labels.ndim == 2 and labels.shape[1] == config.n_cfeat:
        contexts = torch.as_tensor(labels, dtype=torch.float32)
    else:
        raise DataError(f"labels of shape {labels.shape} do not fit n_cfeat={config.n_cfeat}")
    if len(labels) != len(images):
        raise DataError(f"{len(images)} images but {len(labels)} labels")
    # Same mapping as diffprob.sprites.dataset.to_model_range: 0 -> -1, 255 -> 1.
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    return x.contiguous(), contexts


# -- results and files --------------------------------------------------------------------
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


class _RunFolder:
    """The files of a run: checkpoints, loss.csv/png, previews/, config.json."""

    COLUMNS = ("step", "epoch", "loss", "lr", "images_per_s", "elapsed_s")

    def __init__(self, path: Path | None):
        self.path = path
        self.target_name = "noise prediction"

    def __bool__(self):
        return self.path is not None

    @property
    def last(self) -> Path:
        return self.path / LAST_CHECKPOINT

    def start(self, config_json: dict, resume_step: int) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "config.json").write_text(json.dumps(config_json, indent=2) + "\n")
        csv_path = self.path / "loss.csv"
        rows = []
        if resume_step and csv_path.is_file():  # drop rows written after the checkpoint
            with csv_path.open(newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= resume_step]
        with csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, self.COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def log(self, row: dict) -> None:
        with (self.path / "loss.csv").open("a", newline="") as handle:
            csv.DictWriter(handle, self.COLUMNS).writerow(row)

    def loss_history(self) -> list[dict]:
        """The rows of loss.csv as ``{"step": int, "loss": float}``."""
        with (self.path / "loss.csv").open(newline="") as handle:
            return [
                {"step": int(r["step"]), "loss": float(r["loss"])} for r in csv.DictReader(handle)
            ]

    def plot_loss(self) -> None:
        from matplotlib.figure import Figure  # no pyplot: no global state, any backend

        rows = self.loss_history()
        if not rows:
            return
        steps = [r["step"] for r in rows]
        losses = [r["loss"] for r in rows]
        fig = Figure(figsize=(6, 3.5), layout="constrained")
        ax = fig.add_subplot()
        ax.plot(steps, losses, lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("MSE loss (mean over each log window)")
        ax.set_title(f"training loss ({self.target_name})")
        ax.grid(alpha=0.3, which="both")
        fig.savefig(self.path / "loss.png", dpi=100)

    def preview(self, ema_model, schedule, class_names, step: int, seed: int) -> None:
        try:
            images = _preview_images(ema_model, schedule, seed)
        except Exception as exc:  # a preview must never kill a training run
            print(f"warning: no preview at step {step}: {exc}", file=sys.stderr)
            return
        if images is None:
            return
        from diffprob.sprites.grid import make_grid

        per_class = 8
        grid = make_grid(images, ncols=per_class, scale=4)
        folder = self.path / "previews"
        folder.mkdir(exist_ok=True)
        import matplotlib.image

        matplotlib.image.imsave(folder / f"step_{step:07d}.png", grid)


def _preview_images(ema_model, schedule, seed: int, per_class: int = 8):
    """A few DDIM samples per class as uint8 NHWC, or None if sampling is unavailable."""
    try:
        from diffprob.diffusion.sampling import per_class_context, sample
    except ImportError:  # the sampling module is optional for training
        return None
    context = per_class_context(ema_model.config.n_cfeat, per_class)
    result = sample(
        ema_model,
        schedule,
        len(context),
        sampler="ddim",
        steps=25,
        context=context,
        generator=torch.Generator().manual_seed(seed),
        progress=False,
    )
    x = result.images.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


# -- the loop -----------------------------------------------------------------------------
class _StopFlag:
    """Turns SIGINT/SIGTERM into a request to stop after the current step.

    Stopping between steps means the checkpoint written on Ctrl-C is a consistent
    state (never half an optimizer update). A second Ctrl-C interrupts at once.
    """

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        if hasattr(signal, "SIGINT") and _in_main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _cpu_has_fast_bf16() -> bool:
    """False where /proc/cpuinfo lists neither AMX-BF16 nor AVX512-BF16; True if unknown."""
    # torch has no public query for these instructions, and only Linux says; elsewhere
    # assume the user knows their machine rather than warn on a guess.
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    return "amx_bf16" in cpuinfo or "avx512_bf16" in cpuinfo


@contextlib.contextmanager
def _cuda_math_modes(device: torch.device, tf32: bool):
    """cuDNN autotuning, and TF32 unless full float32 was asked for, restored on exit.

    TF32 keeps 10 mantissa bits (relative error ~1e-3), about the size of the t = 1
    noise next to the image, so ``mixed_precision="off"`` turns it off too.
    """
    if device.type != "cuda":
        yield
        return
    backends = torch.backends
    saved = (backends.cudnn.benchmark, backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32)
    backends.cudnn.benchmark = True
    backends.cuda.matmul.allow_tf32 = backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        backends.cudnn.benchmark, backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32 = saved


def _autocast_settings(config: TrainConfig, device: torch.device):
    """(autocast dtype or None, use a GradScaler)."""
    mode = config.mixed_precision
    if device.type == "cpu" and mode == "bf16":
        # Opt-in only: about 2x faster where the CPU has AMX or AVX512-BF16 (measured
        # on a Sapphire Rapids core), much slower where it has neither; and "auto" must
        # keep CPU runs bit-exact across resumes.
        if not _cpu_has_fast_bf16():
            warnings.warn(
                "bf16 autocast on a CPU without AMX or AVX512-BF16 is much slower than "
                "float32 (13x measured on an AVX2 core); consider mixed_precision='off'",
                RuntimeWarning,
                stacklevel=3,
            )
        return torch.bfloat16, False
    if device.type != "cuda":
        if mode in ("bf16", "fp16"):
            raise ParameterError(f"mixed precision {mode!r} is not supported on {device.type}")
        return None, False
    if mode == "off":
        return None, False
    if mode == "bf16" or (mode == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16, False
    return torch.float16, True


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
) -> TrainResult:
    """Train a :class:`ContextUnet` to predict noise, with EMA, checkpoints and resuming.

    Parameters
    ----------
    data : SpriteData or similar
        Any object with ``images`` (uint8 (N, H, W, C)), ``labels`` (int (N,) or
        (N, n_cfeat) weights), and optionally ``class_names`` and ``source``
        (see :func:`diffprob.sprites.dataset.load_sprite_data`).
    model_config : UNetConfig or str
        The architecture or the name of a configuration in :data:`diffprob.diffusion.models.unet.CONFIGS`.
    config : TrainConfig, optional
        Hyper-parameters (default ``TrainConfig()``).
    schedule : NoiseSchedule, ScheduleConfig or dict, optional
        The forward process (default: the course's linear schedule, T = 500).
    out_dir : path, optional
        Run folder for ``last.pt`` (full state, written every `checkpoint_every` steps,
        at the end and on Ctrl-C), ``model.pt`` (EMA weights only, at the end),
        ``loss.csv``, ``loss.png``, ``previews/`` and ``config.json``. None: no files.
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

    Returns
    -------
    TrainResult

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C (or SIGTERM), after saving ``last.pt`` at the last completed step.

    Examples
    --------
    >>> from types import SimpleNamespace
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
        schedule = NoiseSchedule()
    elif not isinstance(schedule, NoiseSchedule):
        schedule = NoiseSchedule.from_config(schedule)
    if config.t_max is not None and config.t_max > schedule.num_timesteps:
        raise ParameterError(
            f"t_max must be at most T = {schedule.num_timesteps}, got {config.t_max}"
        )
    device = resolve_device(device)
    autocast_dtype, use_scaler = _autocast_settings(config, device)
    images, contexts = _training_tensors(data, model_config)
    class_names = tuple(getattr(data, "class_names", None) or ())
    source = str(getattr(data, "source", "") or "")
    n = len(images)
    steps_per_epoch = n // config.batch_size
    if steps_per_epoch < 1:
        raise DataError(f"batch size {config.batch_size} is larger than the data set ({n} images)")
    total_steps = config.total_steps(steps_per_epoch)
    run = _RunFolder(None if out_dir is None else Path(out_dir))

    if resume and init_from is not None:
        raise ParameterError(
            "resume and init_from exclude each other: resume continues a run, "
            "init_from starts a new one from trained weights"
        )
    init_state, init_info = None, None
    if init_from is not None:
        init_ckpt = init_from if isinstance(init_from, Checkpoint) else Checkpoint.load(init_from)
        # The name is a label, not architecture: the same network under another name fits.
        problem = _describe_mismatch(
            "model config",
            {k: v for k, v in init_ckpt.unet_config.to_dict().items() if k != "name"},
            {k: v for k, v in model_config.to_dict().items() if k != "name"},
        )
        if problem:
            raise CheckpointError(f"cannot start from this checkpoint: {problem}")
        init_state = init_ckpt.ema_state or init_ckpt.model_state
        if init_state is None:
            raise CheckpointError("cannot start from this checkpoint: it holds no weights")
        init_info = {
            "path": "" if isinstance(init_from, Checkpoint) else str(init_from),
            "step": int(init_ckpt.step),
            "schedule_config": dict(init_ckpt.schedule_config),
            "weights": "ema" if init_ckpt.ema_state else "raw",
            # Enough of the parent's history that a chain of fine-tunes can be told (and
            # its compute summed) from the last file alone, after the parents are gone.
            "train_config": dict(init_ckpt.train_config),
            "train_seconds": float(init_ckpt.metadata.get("train_seconds", 0.0)),
            **(
                {"init_from": init_ckpt.metadata["init_from"]}
                if "init_from" in init_ckpt.metadata
                else {}
            ),
        }

    resume_ckpt = None
    if resume:
        if resume is True:
            if not run:
                raise ParameterError("resume=True needs out_dir (the run folder to resume)")
            resume_path = run.last
            if not resume_path.is_file():
                raise CheckpointError(f"nothing to resume: {str(resume_path)!r} does not exist")
        else:
            resume_path = Path(resume)
        resume_ckpt = Checkpoint.load(resume_path)
        resume_ckpt.check_compatible(
            model_config,
            schedule.config,
            config.to_dict(),
            ignore_train_keys=RESUMABLE_CHANGES,
        )
        init_info = resume_ckpt.metadata.get("init_from")  # a resumed fine-tune stays one
        saved_n = resume_ckpt.metadata.get("n_train")
        if resume_ckpt.data_source != source or (saved_n is not None and saved_n != n):
            raise CheckpointError(
                "cannot resume from this checkpoint: data mismatch: trained on "
                f"{resume_ckpt.data_source!r} ({saved_n} images), now {source!r} ({n} images)"
            )

    dist_info = distributed.setup(device.type)
    try:
        if dist_info.enabled:
            if config.batch_size % dist_info.world_size:
                raise ParameterError(
                    f"batch size {config.batch_size} must be a multiple of the number of "
                    f"processes ({dist_info.world_size})"
                )
            if device.type == "cuda":
                device = torch.device("cuda", dist_info.local_rank)
        with _cuda_math_modes(device, tf32=config.mixed_precision != "off"):
            return _train_loop(
                images=images,
                contexts=contexts,
                class_names=class_names,
                source=source,
                model_config=model_config,
                config=config,
                schedule=schedule,
                device=device,
                autocast_dtype=autocast_dtype,
                use_scaler=use_scaler,
                run=run if dist_info.is_main else _RunFolder(None),
                resume_ckpt=resume_ckpt,
                init_state=init_state,
                init_info=init_info,
                total_steps=total_steps,
                steps_per_epoch=steps_per_epoch,
                dist_info=dist_info,
                progress=progress and dist_info.is_main,
                callback=callback,
            )
    finally:
        distributed.cleanup(dist_info)


def _train_loop(
    *,
    images,
    contexts,
    class_names,
    source,
    model_config,
    config,
    schedule,
    device,
    autocast_dtype,
    use_scaler,
    run,
    resume_ckpt,
    init_state,
    init_info,
    total_steps,
    steps_per_epoch,
    dist_info,
    progress,
    callback,
):
    from tqdm.auto import tqdm

    T = schedule.num_timesteps
    batch = config.batch_size
    # NHWC convolutions: faster with cuDNN; on the CPU (oneDNN, one thread) measured
    # ~8% faster at the course's width (n_feat=64) but ~10% slower at n_feat=32.
    channels_last = device.type == "cuda" or model_config.n_feat >= 48

    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG alone
        torch.manual_seed(config.seed)
        model = build_unet(model_config)
    if init_state is not None:
        model.load_state_dict(init_state)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    ema = EMA(model, config.ema_decay, config.ema_warmup)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=learning_rate(0, total_steps, config),
        weight_decay=config.weight_decay,
        foreach=True,
    )
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    start_step = 0
    elapsed_before = 0.0
    if resume_ckpt is not None:
        model.load_state_dict(resume_ckpt.model_state)
        ema.load_state_dict(resume_ckpt.ema_state)
        optimizer.load_state_dict(resume_ckpt.optimizer_state)
        if use_scaler and resume_ckpt.grad_scaler_state:
            scaler.load_state_dict(resume_ckpt.grad_scaler_state)
        start_step = int(resume_ckpt.step)
        elapsed_before = float(resume_ckpt.metadata.get("train_seconds", 0.0))

    ddp_model = model
    if dist_info.enabled:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        ddp_model = DistributedDataParallel(model, device_ids=ids)

    images = images.to(device)
    contexts = contexts.to(device)
    schedule_dev = NoiseSchedule.from_config(schedule.config).to(device)
    step_generator = torch.Generator()
    autocast = (
        torch.autocast(device.type, dtype=autocast_dtype)
        if autocast_dtype is not None
        else contextlib.nullcontext()
    )

    def checkpoint(step: int) -> Checkpoint:
        return Checkpoint.from_model(
            model,
            schedule,
            ema_model=ema.model,
            class_names=class_names,
            optimizer_state=optimizer.state_dict(),
            lr_scheduler_state={
                "kind": config.lr_decay,
                "step": step,
                "lr": optimizer.param_groups[0]["lr"],
            },
            grad_scaler_state=scaler.state_dict() if use_scaler else None,
            step=step,
            epoch=step // steps_per_epoch,
            data_source=source,
            train_config=config.to_dict(),
            rng_state={
                # Every draw is re-seeded from (seed, epoch) or (seed, step): the step
                # count is the whole random state. The generator is kept for reference.
                "scheme": "SeedSequence([seed, stream, index])",
                "seed": config.seed,
                "step_generator": step_generator.get_state(),
            },
            metadata={
                **({"init_from": init_info} if init_info else {}),
                "n_train": len(images),
                "steps_per_epoch": steps_per_epoch,
                "total_steps": total_steps,
                "train_seconds": elapsed_before + (time.perf_counter() - t_start),
                "device": str(device),
                "world_size": dist_info.world_size,
                "torch_version": str(torch.__version__),
                "mixed_precision": str(autocast_dtype).replace("torch.", "")
                if autocast_dtype
                else "off",
            },
        )

    def save(step: int, final: bool = False) -> Checkpoint:
        ckpt = checkpoint(step)
        if run:
            ckpt.save(run.last)
            run.plot_loss()
            if final:  # the loss curve travels with the small file (loss.csv may not)
                ckpt.metadata["loss_history"] = run.loss_history()
                ckpt.export_for_inference(run.path / INFERENCE_CHECKPOINT)
        return ckpt

    if schedule.config.prediction_type == "v_prediction":
        run.target_name = "velocity prediction"
    if run:
        run.start(
            {
                "model_config": model_config.to_dict(),
                "schedule_config": schedule.config.to_dict(),
                "train_config": config.to_dict(),
                "data_source": source,
                "n_train": len(images),
                "class_names": list(class_names),
                "world_size": dist_info.world_size,
                "device": str(device),
                **({"init_from": init_info} if init_info else {}),
            },
            start_step,
        )

    bar = tqdm(
        total=total_steps,
        initial=start_step,
        disable=not progress,
        file=sys.stderr,
        desc="train",
        dynamic_ncols=True,
    )
    history = []
    t_start = time.perf_counter()
    window_loss = torch.zeros((), device=device)
    window_start, window_time = start_step, time.perf_counter()
    perm, perm_epoch = None, -1
    step = start_step
    model.train()
    stop = _StopFlag()
    try:
        with stop:
            while step < total_steps:
                epoch, position = divmod(step, steps_per_epoch)
                if epoch != perm_epoch:
                    perm, perm_epoch = epoch_permutation(len(images), config.seed, epoch), epoch
                index = distributed.shard(
                    perm[position * batch : (position + 1) * batch], dist_info
                )
                index = index.to(device)

                # The global batch's random draws, identical on every rank; keep our slice.
                step_generator.manual_seed(_stream_seed(config.seed, _STREAM_STEP, step))
                t = torch.randint(1, (config.t_max or T) + 1, (batch,), generator=step_generator)
                noise = torch.randn((batch, *images.shape[1:]), generator=step_generator)
                keep = torch.rand(batch, generator=step_generator) >= config.context_dropout
                t, noise, keep = (
                    distributed.shard(v, dist_info).to(device) for v in (t, noise, keep)
                )

                x0 = images[index]
                context = contexts[index] * keep[:, None]
                x_t = schedule_dev.q_sample(x0, t, noise)
                if channels_last:
                    x_t = x_t.contiguous(memory_format=torch.channels_last)

                lr = learning_rate(step, total_steps, config)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with autocast:
                    prediction = ddp_model(x_t, t.float() / T, context)
                target = schedule_dev.training_target(x0, t, noise)
                loss = F.mse_loss(prediction.float(), target)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.grad_clip:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                step += 1
                ema.update(model, step)

                window_loss += loss.detach()
                if callback is not None or progress and step % 10 == 0:
                    loss_value = float(loss.detach())
                    if callback is not None:
                        callback({"step": step, "epoch": epoch, "loss": loss_value, "lr": lr})
                    if progress and step % 10 == 0:
                        rate = (step - window_start) * batch / (time.perf_counter() - window_time)
                        bar.set_postfix(loss=f"{loss_value:.4f}", img_s=f"{rate:.0f}")
                bar.update(1)

                if step % config.log_every == 0 or step == total_steps:
                    if dist_info.enabled:
                        torch.distributed.all_reduce(window_loss)
                        window_loss /= dist_info.world_size
                    now = time.perf_counter()
                    row = {
                        "step": step,
                        "epoch": epoch,
                        "loss": float(window_loss) / (step - window_start),
                        "lr": lr,
                        "images_per_s": (step - window_start) * batch / (now - window_time),
                        "elapsed_s": elapsed_before + now - t_start,
                    }
                    history.append(row)
                    if run:
                        run.log(row)
                        if not progress:
                            print(
                                f"step {step}/{total_steps} epoch {epoch} loss {row['loss']:.4f} "
                                f"lr {lr:.2e} {row['images_per_s']:.0f} img/s "
                                f"{row['elapsed_s']:.0f}s",
                                file=sys.stderr,
                                flush=True,
                            )
                    window_loss.zero_()
                    window_start, window_time = step, time.perf_counter()

                if run and config.checkpoint_every and step % config.checkpoint_every == 0:
                    save(step)
                if run and config.preview_every and step % config.preview_every == 0:
                    run.preview(ema.model, schedule_dev, class_names, step, config.seed)

                stop_now = stop.requested
                if dist_info.enabled:  # every rank must leave the loop at the same step
                    flag = torch.tensor([float(stop_now)], device=device)
                    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
                    stop_now = bool(flag.item())
                if stop_now:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        bar.close()
        if dist_info.is_main:
            save(step)
            if run:
                print(
                    f"interrupted: saved step {step} to {run.last}; continue with --resume",
                    file=sys.stderr,
                )
        raise
    bar.close()
    wall = time.perf_counter() - t_start
    if dist_info.enabled:
        _check_replicas_agree(model, device)

    final = save(step, final=True)
    if run:
        run.preview(ema.model, schedule_dev, class_names, step, config.seed)
    done = step - start_step
    return TrainResult(
        model=model,
        ema_model=ema.model,
        schedule=schedule,
        checkpoint=final,
        history=history,
        images_per_second=done * batch / wall if done and wall > 0 else float("nan"),
        out_dir=run.path,
    )


def _check_replicas_agree(model, device) -> None:
    """DDP keeps replicas identical; verify it (a cheap checksum of all weights)."""
    with torch.no_grad():
        flat = torch.cat([p.detach().double().reshape(-1) for p in model.parameters()])
        summary = torch.stack([flat.sum(), flat.square().sum(), (flat * 1.618).sin().sum()])
        gathered = [torch.empty_like(summary) for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather(gathered, summary.to(device))
    if any(not torch.equal(g, gathered[0]) for g in gathered):
        raise RuntimeError(f"DDP replicas ended with different weights: {gathered}")
