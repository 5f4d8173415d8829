"""One-file checkpoints of a trained (or training) sprite diffusion model.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts written
with :func:`torch.save`, so that it loads with ``torch.load(weights_only=True)`` --
no pickled classes, nothing executed on load. It holds everything needed to
rebuild the model and its noise schedule, and, for training checkpoints, to resume
training exactly (optimizer state, step, epoch, random-number state).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from diffprob.diffusion.models.unet import ContextUnet, UNetConfig, build_unet
from diffprob.diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffprob.errors import CheckpointError, DiffprobError
from diffprob.util.atomic_save import torch_save_atomic
from diffprob.util.paths import data_path
from diffprob.util.safe_load import load_weights_only

__all__ = [
    "Checkpoint",
    "load_model",
    "default_checkpoint_path",
    "describe_mismatch",
    "FORMAT_VERSION",
]

FORMAT_NAME = "diffprob-checkpoint"
FORMAT_VERSION = 1
DEFAULT_CHECKPOINT = ("checkpoints", "sprites16.pt")  # under the repository's data/


def default_checkpoint_path() -> Path:
    """Path of the shipped sprite model, ``<repo>/data/checkpoints/sprites16.pt``.

    Found relative to the package (the repository root is the package's parent).
    """
    return data_path(*DEFAULT_CHECKPOINT)


def resolve_checkpoint_path(path=None) -> Path:
    """`path` as a Path; None means the shipped checkpoint, which must be installed.

    Raises
    ------
    CheckpointError
        `path` is None and the shipped checkpoint is missing (e.g. a non-editable
        install without ``data/``).
    """
    if path is not None:
        return Path(path)
    shipped = default_checkpoint_path()
    if not shipped.is_file():
        raise CheckpointError(
            f"the shipped checkpoint {'/'.join(('data',) + DEFAULT_CHECKPOINT)!r} is not installed; "
            "train one with 'diffprob train' and pass its path (CLI: --ckpt)"
        )
    return shipped


def describe_mismatch(kind: str, saved: dict, wanted: dict) -> str | None:
    """``"<kind> mismatch: key=<saved> in the checkpoint but <wanted> requested; ..."``.

    One clause per key whose values differ (a key missing on one side counts as None);
    None when the two agree.

    Examples
    --------
    >>> describe_mismatch("model config", {"n_feat": 8, "name": "a"}, {"n_feat": 32, "name": "a"})
    'model config mismatch: n_feat=8 in the checkpoint but 32 requested'
    >>> describe_mismatch("schedule", {"T": 50}, {"T": 50}) is None
    True
    """
    keys = sorted(set(saved) | set(wanted))
    diffs = [
        f"{key}={saved.get(key)!r} in the checkpoint but {wanted.get(key)!r} requested"
        for key in keys
        if saved.get(key) != wanted.get(key)
    ]
    return f"{kind} mismatch: " + "; ".join(diffs) if diffs else None


@dataclass
class Checkpoint:
    """Model, schedule and (optionally) training state in one file.

    Attributes
    ----------
    model_config, schedule_config : dict
        :meth:`UNetConfig.to_dict` and :meth:`ScheduleConfig.to_dict`.
    model_state : dict or None
        state_dict of the raw (trained) weights; None in an EMA-only export.
    ema_state : dict or None
        state_dict of the exponential-moving-average weights (used for sampling).
    optimizer_state, lr_scheduler_state, grad_scaler_state : dict or None
        Training state, dropped by :meth:`export_for_inference`.
    step, epoch : int
        Optimizer steps done, and the epoch the next step belongs to.
    class_names : tuple of str
        Names of the context classes, in one-hot order.
    data_source : str
        Where the training data came from.
    train_config : dict or None
        :meth:`TrainConfig.to_dict` of the run that wrote it.
    rng_state : dict or None
        Random-number state (see :mod:`diffprob.diffusion.training.data`).
    metadata : dict
        Free-form extras (wall time, device, library versions, ...).
    experts : list of dict or None
        Low-noise experts stored with the model (:func:`diffprob.diffusion.models.experts.add_experts`):
        per expert its ``t_max``, ``ema_state``, ``step``, ``train_config`` and
        ``metadata``. :meth:`build_model` then returns a
        :class:`~diffprob.diffusion.models.experts.NoiseLevelExperts`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from diffprob.diffusion.models.unet import ContextUnet
    >>> from diffprob.diffusion.schedule import NoiseSchedule
    >>> model = ContextUnet("tiny")
    >>> ckpt = Checkpoint.from_model(model, NoiseSchedule(50), class_names=list("abcde"))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.pt"
    >>> ckpt.save(path)
    >>> loaded = Checkpoint.load(path)
    >>> loaded.class_names, loaded.image_size, loaded.build_schedule().num_timesteps
    (('a', 'b', 'c', 'd', 'e'), 16, 50)
    """

    model_config: dict
    schedule_config: dict
    model_state: dict | None
    ema_state: dict | None = None
    optimizer_state: dict | None = None
    lr_scheduler_state: dict | None = None
    grad_scaler_state: dict | None = None
    step: int = 0
    epoch: int = 0
    class_names: tuple = ()
    data_source: str = ""
    train_config: dict | None = None
    rng_state: dict | None = None
    metadata: dict = field(default_factory=dict)
    experts: list | None = None

    def __post_init__(self):
        self.class_names = tuple(str(name) for name in self.class_names)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_model(
        cls,
        model: ContextUnet,
        schedule: NoiseSchedule,
        *,
        ema_model: ContextUnet | None = None,
        class_names=(),
        **extra,
    ) -> Checkpoint:
        """Checkpoint of `model` (and its EMA twin) with `schedule`; `extra` sets other fields."""
        return cls(
            model_config=model.config.to_dict(),
            schedule_config=schedule.config.to_dict(),
            model_state=_cpu_state(model),
            ema_state=None if ema_model is None else _cpu_state(ema_model),
            class_names=tuple(class_names),
            **extra,
        )

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in _FREE_FORM:  # state_dicts are left exactly as torch made them
            data[key] = _plain(data[key])
        data["class_names"] = list(self.class_names)
        data["format"] = FORMAT_NAME
        data["format_version"] = FORMAT_VERSION
        return data

    # -- files --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the checkpoint atomically: a temporary file in the same folder, then rename.

        A crash or Ctrl-C while saving leaves the previous file intact.
        """
        torch_save_atomic(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | os.PathLike, map_location="cpu") -> Checkpoint:
        """Read a checkpoint written by :meth:`save` (``weights_only=True``).

        Raises
        ------
        CheckpointError
            The file is missing, not a checkpoint, corrupt, of an unknown format
            version, or describes an invalid model or schedule.
        """
        path = Path(path)
        if path.is_dir():
            raise CheckpointError(f"checkpoint {str(path)!r} is a directory, not a checkpoint file")
        if not path.is_file():
            raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
        data = load_weights_only(path, "diffprob checkpoint", map_location)
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise CheckpointError(f"{str(path)!r} is not a diffprob checkpoint")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise CheckpointError(
                f"{str(path)!r} has checkpoint format version {version!r}; "
                f"this diffprob reads version {FORMAT_VERSION}"
            )
        known = {f.name for f in fields(cls)}
        try:
            ckpt = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise CheckpointError(f"{str(path)!r} is incomplete: {exc}") from None
        if ckpt.model_state is None and ckpt.ema_state is None:
            raise CheckpointError(f"{str(path)!r} holds no model weights")
        for entry in ckpt.experts or ():
            if not (
                isinstance(entry, dict)
                and isinstance(entry.get("t_max"), int)
                and isinstance(entry.get("ema_state"), dict)
            ):
                raise CheckpointError(f"{str(path)!r} has a malformed expert entry")
        try:
            _ = ckpt.unet_config  # validates the model configuration
            ckpt.build_schedule()
        except DiffprobError as exc:
            raise CheckpointError(f"{str(path)!r} has an invalid configuration: {exc}") from None
        n_cfeat = ckpt.unet_config.n_cfeat
        if ckpt.class_names and len(ckpt.class_names) != n_cfeat:
            raise CheckpointError(
                f"{str(path)!r} names {len(ckpt.class_names)} classes but its model has "
                f"n_cfeat = {n_cfeat} context inputs; it was not loaded"
            )
        return ckpt

    # -- inspection ---------------------------------------------------------------------
    @property
    def unet_config(self) -> UNetConfig:
        try:
            return UNetConfig.from_dict(dict(self.model_config))
        except DiffprobError as exc:
            raise CheckpointError(f"invalid model configuration in checkpoint: {exc}") from None

    @property
    def image_size(self) -> int:
        return int(self.model_config["image_size"])

    def check_compatible(
        self,
        model_config: UNetConfig | dict,
        schedule_config=None,
        train_config: dict | None = None,
        ignore_train_keys=(),
    ) -> None:
        """Raise CheckpointError naming every field that differs from the requested run."""
        if isinstance(model_config, UNetConfig):
            model_config = model_config.to_dict()
        # Through UNetConfig: fields added later (architecture) take their defaults.
        problems = [describe_mismatch("model config", self.unet_config.to_dict(), model_config)]
        if schedule_config is not None:
            if hasattr(schedule_config, "to_dict"):
                schedule_config = schedule_config.to_dict()
            # Through ScheduleConfig: fields added later (prediction_type) take defaults.
            try:
                saved_schedule = ScheduleConfig(**self.schedule_config).to_dict()
            except TypeError:
                saved_schedule = dict(self.schedule_config)
            problems.append(describe_mismatch("schedule config", saved_schedule, schedule_config))
        if train_config is not None and self.train_config is not None:
            saved = {k: v for k, v in self.train_config.items() if k not in ignore_train_keys}
            wanted = {k: v for k, v in train_config.items() if k not in ignore_train_keys}
            problems.append(describe_mismatch("training config", saved, wanted))
        problems = [p for p in problems if p]
        if problems:
            raise CheckpointError("cannot resume from this checkpoint: " + "; ".join(problems))

    # -- rebuilding ---------------------------------------------------------------------
    def build_model(self, ema: bool = True, device="cpu", experts: bool = True) -> torch.nn.Module:
        """The network with the EMA (default) or raw weights, in eval mode on `device`.

        With stored :attr:`experts` (and ``experts=True``) a
        :class:`~diffprob.diffusion.models.experts.NoiseLevelExperts` of the base network and its
        experts (always their EMA weights); ``experts=False`` gives the base alone.
        """
        state = self.ema_state if ema else self.model_state
        if state is None:
            which = "EMA" if ema else "raw (non-EMA)"
            raise CheckpointError(f"this checkpoint holds no {which} weights")
        model = self._network(state)
        if experts and self.experts:
            from diffprob.diffusion.models.experts import NoiseLevelExperts

            model = NoiseLevelExperts(
                model,
                [(entry["t_max"], self._network(entry["ema_state"])) for entry in self.experts],
                num_timesteps=self.build_schedule().num_timesteps,
            )
        return model.to(device).eval()

    def _network(self, state: dict) -> torch.nn.Module:
        model = build_unet(self.unet_config)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(f"weights do not fit the saved model config: {first}") from None
        return model

    def build_schedule(self) -> NoiseSchedule:
        """The :class:`NoiseSchedule` the model was trained with."""
        try:
            return NoiseSchedule.from_config(dict(self.schedule_config))
        except DiffprobError as exc:
            raise CheckpointError(f"invalid schedule configuration in checkpoint: {exc}") from None

    def for_inference(self, *, ema_only: bool = True) -> Checkpoint:
        """A copy without optimizer, scaler and RNG state (and, with ``ema_only``, raw weights)."""
        if ema_only and self.ema_state is None:
            raise CheckpointError("this checkpoint holds no EMA weights to export")
        return Checkpoint(
            model_config=self.model_config,
            schedule_config=self.schedule_config,
            model_state=None if ema_only else self.model_state,
            ema_state=self.ema_state,
            step=self.step,
            epoch=self.epoch,
            class_names=self.class_names,
            data_source=self.data_source,
            train_config=self.train_config,
            metadata={**self.metadata, "exported_for_inference": True},
            experts=self.experts,
        )

    def export_for_inference(self, path: str | os.PathLike, *, ema_only: bool = True) -> None:
        """Write a small copy without optimizer, scaler and RNG state.

        With ``ema_only`` (default) the raw weights are dropped too, keeping only the
        EMA weights used for sampling: the file is then about 4 bytes per parameter.
        """
        self.for_inference(ema_only=ema_only).save(path)


_FREE_FORM = (
    "model_config",
    "schedule_config",
    "lr_scheduler_state",
    "train_config",
    "rng_state",
    "metadata",
    "experts",
)


def _plain(value):
    """Builtin types only (str subclasses such as torch.__version__, numpy scalars, tuples
    become str, int/float, lists), so that ``torch.load(weights_only=True)`` accepts them."""
    if isinstance(value, torch.Tensor) or value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if isinstance(value, (int, float)):
        return int(value) if isinstance(value, int) else float(value)
    return value


def _cpu_state(model: torch.nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def load_model(path=None, *, device="cpu", ema: bool = True, experts: bool = True):
    """Load a model for sampling: ``(model, schedule, class_names)``.

    Parameters
    ----------
    path : str or Path, optional
        Checkpoint file; None means the shipped sprite model
        (:func:`default_checkpoint_path`).
    device : str or torch.device, optional
        Where to put the model and the schedule tables.
    ema : bool, optional
        Use the EMA weights (default; they sample better) or the raw ones.
    experts : bool, optional
        Use the low-noise experts stored in the checkpoint, if any (default), or
        the base network alone.

    Returns
    -------
    model : torch.nn.Module
        In eval mode: the U-Net, or a :class:`~diffprob.diffusion.models.experts.NoiseLevelExperts`.
    schedule : NoiseSchedule
    class_names : tuple of str
    """
    ckpt = Checkpoint.load(resolve_checkpoint_path(path))
    model = ckpt.build_model(ema=ema, device=device, experts=experts)
    return model, ckpt.build_schedule().to(device), ckpt.class_names
