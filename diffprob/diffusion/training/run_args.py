"""The options a run is started with, saved in its folder so that ``--resume`` can reuse them.

``diffprob train`` writes the options that define a run (:data:`RUN_OPTIONS`: data, model,
schedule and the :class:`TrainConfig` fields in :data:`TRAIN_OPTIONS` and
:data:`RUN_SETTINGS`) to ``RUN_DIR/train_args.json`` when the run starts. On ``--resume``:

1. :func:`read_run_options` reads that file and checks each option's kind
   (:class:`CheckpointError` naming the first bad one);
2. :func:`fill_run_options` takes every option not given on the command line from it
   (one of --steps/--epochs/--minutes given replaces the run's length), the rest from
   the defaults, and names the given ones that change a saved value.

The command line's defaults are None (argparse's own), to tell "not given" from "given
the default"; the defaults are those here, TrainConfig's for its fields.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from diffprob.diffusion.training.config import TrainConfig
from diffprob.diffusion.training.recipe import RECIPE_SCHEDULE
from diffprob.diffusion.training.run_folder import ARGS_FILE
from diffprob.errors import CheckpointError

__all__ = [
    "TRAIN_DEFAULTS",
    "TRAIN_OPTIONS",
    "RUN_SETTINGS",
    "RUN_OPTIONS",
    "run_options",
    "train_config_of",
    "read_run_options",
    "fill_run_options",
]

# TrainConfig's field defaults: the one source of every training default shown or used here.
TRAIN_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}
# The TrainConfig fields a run is defined by (saved in train_args.json), and those that may
# change when it is resumed (RESUMABLE_CHANGES; given afresh each time, with defaults).
TRAIN_OPTIONS = (
    "steps",
    "epochs",
    "minutes",
    "batch_size",
    "lr",
    "weight_decay",
    "warmup_steps",
    "lr_decay",
    "ema_decay",
    "context_dropout",
    "t_max",
    "grad_clip",
    "mixed_precision",
    "seed",
)
RUN_SETTINGS = ("checkpoint_every", "preview_every", "log_every")

# The options a run is defined by, with their defaults (saved in train_args.json).
RUN_OPTIONS = {
    "data": "sprites",
    "n_data": None,
    "data_seed": 0,
    "config": "sprite",
    "image_size": None,
    "n_feat": None,
    "time_embedding": None,
    "architecture": None,
    "schedule": "linear",
    "timesteps": 500,
    **RECIPE_SCHEDULE,
    "init_from": None,
    **{name: TRAIN_DEFAULTS[name] for name in TRAIN_OPTIONS + RUN_SETTINGS},
}
# What each saved option must be in train_args.json (None is allowed where its default is).
_OPTION_KINDS = {
    **dict.fromkeys(
        ("data", "config", "time_embedding", "architecture", "schedule", "prediction_type"), str
    ),
    **dict.fromkeys(("init_from", "lr_decay", "mixed_precision"), str),
    **dict.fromkeys(("n_data", "data_seed", "image_size", "n_feat", "timesteps"), int),
    **dict.fromkeys(("steps", "epochs", "batch_size", "warmup_steps", "t_max", "seed"), int),
    **dict.fromkeys(RUN_SETTINGS, int),
    **dict.fromkeys(
        ("minutes", "lr", "weight_decay", "ema_decay", "context_dropout", "grad_clip"), float
    ),
    "zero_terminal_snr": bool,
}


def run_options(args) -> dict:
    """What train_args.json holds: the value of each of :data:`RUN_OPTIONS` in `args`."""
    return {name: getattr(args, name) for name in RUN_OPTIONS}


def train_config_of(args) -> TrainConfig:
    """The :class:`TrainConfig` of the options in `args` (``grad_clip`` 0: no clipping)."""
    settings = {name: getattr(args, name) for name in TRAIN_OPTIONS + RUN_SETTINGS}
    settings["grad_clip"] = settings["grad_clip"] or None  # --grad-clip 0: no clipping
    return TrainConfig(**settings)


def read_run_options(path: Path, kinds: dict | None = None) -> dict:
    """The options in a run's train_args.json, each checked to be of its option's kind.

    `kinds` maps each option to its type (default: those of ``diffprob train``).
    """
    kinds = _OPTION_KINDS if kinds is None else kinds
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{str(path)!r} is not a readable JSON file: {err}") from None
    if not isinstance(saved, dict):
        raise CheckpointError(f"{str(path)!r} does not hold a JSON object")
    for name, kind in kinds.items():
        value = saved.get(name)
        ok = value is None or (
            isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        )
        if kind is float:  # JSON writes 1.0 as 1.0, but a hand-edited file may say 1
            ok = ok or (isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            flag = "--" + name.replace("_", "-")
            raise CheckpointError(
                f"{str(path)!r} is malformed: {name} ({flag}) must be "
                f"{'true/false' if kind is bool else 'a ' + kind.__name__ + ' or null'}, "
                f"got {json.dumps(value)}"
            )
    return saved


def fill_run_options(
    args, out: Path, options: dict | None = None, kinds: dict | None = None
) -> list[str]:
    """Replace options not given (None) by the run's saved ones (on --resume) or defaults.

    `options` maps each option to its default and `kinds` to its type (default: those of
    ``diffprob train``, :data:`RUN_OPTIONS`). Returns the options given on the command
    line that change a saved one, as ``"--steps 300 (was 200)"``.
    """
    options = RUN_OPTIONS if options is None else options
    saved = {}
    path = out / ARGS_FILE
    if args.resume and path.is_file():
        saved = read_run_options(path, kinds)
    changed = [
        f"--{name.replace('_', '-')} {getattr(args, name)} (was {_shown(saved[name])})"
        for name in options
        if getattr(args, name) is not None and name in saved and getattr(args, name) != saved[name]
    ]
    length = ("steps", "epochs", "minutes")  # one given replaces the run's
    if any(getattr(args, name, None) is not None for name in length):
        saved = {k: v for k, v in saved.items() if k not in length}
    for name, default in options.items():
        if getattr(args, name) is None:
            setattr(args, name, saved.get(name, default))
    return changed


def _shown(value) -> str:
    return "not set" if value is None else str(value)
