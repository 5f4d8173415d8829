"""Starting a run from a checkpoint: resuming an interrupted run, or fine-tuning weights.

Resuming continues the same run (same model, schedule, data and settings, except
:data:`~diffprob.diffusion.training.config.RESUMABLE_CHANGES`) from its last step,
with its optimizer state. Fine-tuning (``init_from``) starts a new run at step 0
from another run's weights; only the architecture has to match.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from diffprob.diffusion.checkpoint import Checkpoint, describe_mismatch
from diffprob.diffusion.models.unet import UNetConfig, build_unet
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.diffusion.training.budget import TimeBudget
from diffprob.diffusion.training.config import RESUMABLE_CHANGES, TrainConfig
from diffprob.diffusion.training.run_folder import RunFolder
from diffprob.diffusion.training.state import TrainJob, TrainState
from diffprob.errors import CheckpointError, ParameterError

__all__ = ["initial_weights", "resume_checkpoint", "restore_state"]


def initial_weights(init_from, model_config: UNetConfig) -> tuple[dict, dict]:
    """(state_dict to start from, the record of it kept as ``metadata["init_from"]``).

    The weights are the checkpoint's EMA weights if it has them, else its raw ones.
    """
    init_ckpt = init_from if isinstance(init_from, Checkpoint) else Checkpoint.load(init_from)
    # The name is a label, not architecture: the same network under another name fits.
    problem = describe_mismatch(
        "model config",
        {k: v for k, v in init_ckpt.unet_config.to_dict().items() if k != "name"},
        {k: v for k, v in model_config.to_dict().items() if k != "name"},
    )
    if problem:
        raise CheckpointError(f"cannot start from this checkpoint: {problem}")
    key = "ema_state" if init_ckpt.ema_state else "model_state"
    init_state = getattr(init_ckpt, key)
    if init_state is None:
        raise CheckpointError("cannot start from this checkpoint: it holds no weights")

    def bad(what: str):
        return CheckpointError(f"cannot start from this checkpoint: {what}")

    _check_state(init_state, build_unet(model_config).state_dict(), key, bad)
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
    return init_state, init_info


def resume_checkpoint(
    resume,
    run: RunFolder,
    model_config: UNetConfig,
    schedule: NoiseSchedule,
    config: TrainConfig,
    source: str,
    n_train: int,
    total_steps: int | None,
) -> Checkpoint:
    """The checkpoint to continue: the run folder's ``last.pt`` (``resume=True``) or a path.

    Everything the run will load from it is checked here, before any file is written.

    Raises
    ------
    CheckpointError
        Nothing to resume; the checkpoint was trained with another model, schedule,
        settings or data (the message names every difference); its training state is
        malformed (the message names the first bad entry); or it already has more
        than `total_steps` steps (None: a time budget, which the run checks itself).
    """
    if resume is True:
        if not run:
            raise ParameterError("resume=True needs out_dir (the run folder to resume)")
        resume_path = run.last
        if not resume_path.is_file():
            raise CheckpointError(f"nothing to resume: {str(resume_path)!r} does not exist")
    else:
        resume_path = Path(resume)
    ckpt = Checkpoint.load(resume_path)
    ckpt.check_compatible(
        model_config,
        schedule.config,
        config.to_dict(),
        ignore_train_keys=RESUMABLE_CHANGES,
    )
    saved_n = ckpt.metadata.get("n_train")
    if ckpt.data_source != source or (saved_n is not None and saved_n != n_train):
        raise CheckpointError(
            "cannot resume from this checkpoint: data mismatch: trained on "
            f"{ckpt.data_source!r} ({saved_n} images), now {source!r} ({n_train} images)"
        )
    check_training_state(ckpt, model_config, str(resume_path))
    if total_steps is not None and ckpt.step > total_steps:
        raise CheckpointError(
            f"cannot resume: the run already has {ckpt.step} steps, more than the "
            f"{total_steps} asked for; ask for more than {ckpt.step} steps "
            "(steps/epochs) to train it further"
        )
    return ckpt


def restore_state(state: TrainState, ckpt: Checkpoint, job: TrainJob) -> None:
    """Load a resumed run's checkpoint into its freshly built state: weights, their
    average, optimizer and gradient scaler, step and training seconds so far."""
    state.model.load_state_dict(ckpt.model_state)
    state.ema.load_state_dict(ckpt.ema_state)
    state.optimizer.load_state_dict(ckpt.optimizer_state)
    if job.use_scaler and ckpt.grad_scaler_state:
        state.scaler.load_state_dict(ckpt.grad_scaler_state)
    state.step = int(ckpt.step)
    state.elapsed_before = float(ckpt.metadata.get("train_seconds", 0.0))
    if job.run and job.run.last.is_file():
        state.saved_step = state.step


def check_training_state(ckpt: Checkpoint, model_config: UNetConfig, name: str) -> None:
    """Raise CheckpointError naming the first entry of `ckpt` a resumed run cannot load.

    Checks the step count, that raw and EMA weights have exactly the network's keys and
    shapes and are finite, the AdamW state (one parameter group over every parameter,
    moments of the parameters' shapes), the run's recorded training time and time budget.
    """

    def bad(what: str):
        return CheckpointError(f"cannot resume from {name!r}: {what}")

    step = ckpt.step
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise bad(f"step is {step!r}, not an integer >= 0")
    network = build_unet(model_config)
    reference = network.state_dict()
    for key in ("model_state", "ema_state"):
        _check_state(getattr(ckpt, key), reference, key, bad)
    params = list(network.named_parameters())
    _check_optimizer(ckpt.optimizer_state, params, bad)
    metadata = ckpt.metadata
    if not isinstance(metadata, dict):
        raise bad(f"metadata is a {type(metadata).__name__}, not a dict")
    seconds = metadata.get("train_seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds >= 0:
        raise bad(f"metadata['train_seconds'] is {seconds!r}, not a number >= 0")
    if not math.isfinite(seconds):
        raise bad(f"metadata['train_seconds'] is {seconds!r}")
    if metadata.get("time_budget") is not None:
        try:
            TimeBudget.from_dict(metadata["time_budget"])
        except ValueError as err:
            raise bad(f"metadata['time_budget'] is malformed: {err}") from None


def _check_state(state, reference: dict, key: str, bad) -> None:
    """`state` has the keys, shapes and float dtypes of `reference`, all finite."""
    if not isinstance(state, dict):
        raise bad(f"{key} is {_kind(state)}, not the network's state_dict")
    for name, wanted in reference.items():
        if name not in state:
            raise bad(f"{key} has no {name!r}")
        value = state[name]
        if not isinstance(value, torch.Tensor):
            raise bad(f"{key}[{name!r}] is {_kind(value)}, not a tensor")
        if value.shape != wanted.shape:
            raise bad(
                f"{key}[{name!r}] has shape {tuple(value.shape)}, "
                f"the network's is {tuple(wanted.shape)}"
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise bad(f"{key}[{name!r}] holds non-finite values")
    extra = sorted(set(state) - set(reference), key=str)
    if extra:
        raise bad(f"{key} has {extra[0]!r}, which the network does not have")


def _check_optimizer(state, params: list, bad) -> None:
    """An AdamW state_dict over `params` (one group), moments of the parameters' shapes."""
    if not isinstance(state, dict):
        raise bad(f"optimizer_state is {_kind(state)}: the checkpoint has no optimizer state")
    groups, per_param = state.get("param_groups"), state.get("state")
    if not isinstance(groups, list) or len(groups) != 1 or not isinstance(groups[0], dict):
        raise bad("optimizer_state['param_groups'] is not one parameter group")
    ids = groups[0].get("params")
    if not isinstance(ids, list) or len(ids) != len(params):
        count = len(ids) if isinstance(ids, list) else _kind(ids)
        raise bad(
            f"optimizer_state['param_groups'][0]['params'] lists {count} parameters, "
            f"the network has {len(params)}"
        )
    if not isinstance(per_param, dict):
        raise bad(f"optimizer_state['state'] is {_kind(per_param)}, not a dict")
    shapes = dict(zip(ids, params, strict=True))
    for index, entry in per_param.items():
        if index not in shapes or not isinstance(entry, dict):
            raise bad(f"optimizer_state['state'] has an entry {index!r} for no parameter")
        name, param = shapes[index]
        for moment in ("exp_avg", "exp_avg_sq"):
            value, where = entry.get(moment), f"optimizer_state['state'][{index}][{moment!r}]"
            if not isinstance(value, torch.Tensor):
                raise bad(f"{where} ({name}) is {_kind(value)}, not a tensor")
            if value.shape != param.shape:
                raise bad(
                    f"{where} ({name}) has shape {tuple(value.shape)}, "
                    f"the parameter's is {tuple(param.shape)}"
                )


def _kind(value) -> str:
    return "None" if value is None else f"a {type(value).__name__}"
