"""Starting a run from a checkpoint: resuming an interrupted run, or fine-tuning weights.

Resuming continues the same run (same model, schedule, data and settings, except
:data:`~diffprob.diffusion.training.config.RESUMABLE_CHANGES`) from its last step,
with its optimizer state. Fine-tuning (``init_from``) starts a new run at step 0
from another run's weights; only the architecture has to match.
"""

from __future__ import annotations

from pathlib import Path

from diffprob.diffusion.checkpoint import Checkpoint, describe_mismatch
from diffprob.diffusion.models.unet import UNetConfig
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.diffusion.training.config import RESUMABLE_CHANGES, TrainConfig
from diffprob.diffusion.training.run_folder import RunFolder
from diffprob.errors import CheckpointError, ParameterError

__all__ = ["initial_weights", "resume_checkpoint"]


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
    return init_state, init_info


def resume_checkpoint(
    resume,
    run: RunFolder,
    model_config: UNetConfig,
    schedule: NoiseSchedule,
    config: TrainConfig,
    source: str,
    n_train: int,
) -> Checkpoint:
    """The checkpoint to continue: the run folder's ``last.pt`` (``resume=True``) or a path.

    Raises
    ------
    CheckpointError
        Nothing to resume, or the checkpoint was trained with another model, schedule,
        settings or data (the message names every difference).
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
    return ckpt
