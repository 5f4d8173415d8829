"""The run folder of a training run: checkpoints, loss log and plot, sample previews.

Its files, by the names below::

    last.pt           full training state (every checkpoint_every steps, at the end, on Ctrl-C)
    model.pt          EMA weights only, for sampling (at the end)
    config.json       model, schedule and training settings, data, device
    loss.csv          the loss averaged over each log window
    loss.png          its plot
    previews/         sample grids, step_0001000.png ...
    train_args.json   the command-line options of the run (written by ``diffprob train``
                      when the run starts, so that ``--resume`` finds them even after a crash)
    .lock             held by the live run (:mod:`~diffprob.diffusion.training.lock`)

Every file but loss.csv (appended to) is written to a temporary file and renamed into
place, so a crash leaves the previous version; :meth:`RunFolder.start` removes the
temporary files a killed run left behind.

Torch is imported only to draw previews, so that the command line can read these
names without it.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from diffprob.diffusion.model_range import from_model_range
from diffprob.util.atomic_save import write_text_atomic

if TYPE_CHECKING:
    from diffprob.diffusion.checkpoint import Checkpoint

__all__ = [
    "RunFolder",
    "LAST_CHECKPOINT",
    "INFERENCE_CHECKPOINT",
    "CONFIG_FILE",
    "LOSS_LOG",
    "LOSS_PLOT",
    "PREVIEWS",
    "ARGS_FILE",
    "write_run_args",
]

LAST_CHECKPOINT = "last.pt"
INFERENCE_CHECKPOINT = "model.pt"
CONFIG_FILE = "config.json"
LOSS_LOG = "loss.csv"
LOSS_PLOT = "loss.png"
PREVIEWS = "previews"
ARGS_FILE = "train_args.json"


class RunFolder:
    """The files of one run; ``RunFolder(None)`` writes nothing (no folder, or not rank 0).

    Parameters
    ----------
    path : Path or None
    target_name : str
        What the network regresses on, for the title of the loss plot.
    """

    COLUMNS = ("step", "epoch", "loss", "lr", "images_per_s", "elapsed_s")

    def __init__(self, path: Path | None, target_name: str = "noise prediction"):
        self.path = path
        self.target_name = target_name

    def __bool__(self):
        return self.path is not None

    @property
    def last(self) -> Path:
        return self.path / LAST_CHECKPOINT

    def start(self, config_json: dict, resume_step: int, run_args: dict | None = None) -> None:
        """Write config.json (and train_args.json from `run_args`), and a loss.csv that
        keeps only rows up to `resume_step`; remove temporary files of a killed run.

        Call it with the folder locked (:class:`~diffprob.diffusion.training.lock.RunLock`):
        a temporary file is then no other process's write in progress.
        """
        if not self:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        for name in (LAST_CHECKPOINT, INFERENCE_CHECKPOINT, CONFIG_FILE, ARGS_FILE):
            for stale in self.path.glob(f".{name}.*.tmp"):
                stale.unlink(missing_ok=True)
        self.describe(config_json)
        if run_args is not None:
            write_run_args(self.path, run_args)
        csv_path = self.path / LOSS_LOG
        rows = []
        if resume_step and csv_path.is_file():  # drop rows written after the checkpoint
            with csv_path.open(newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= resume_step]
        with csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, self.COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def describe(self, config_json: dict) -> None:
        """(Re)write config.json, e.g. once a time budget's plan is made."""
        if self:
            write_text_atomic(json.dumps(config_json, indent=2) + "\n", self.path / CONFIG_FILE)

    def log(self, row: dict) -> None:
        """Append one row (:attr:`COLUMNS`) to loss.csv."""
        if not self:
            return
        with (self.path / LOSS_LOG).open("a", newline="") as handle:
            csv.DictWriter(handle, self.COLUMNS).writerow(row)

    def save(self, ckpt: Checkpoint, final: bool = False) -> None:
        """Write last.pt and loss.png; at the end also model.pt, with the loss curve.

        The loss curve travels with the small file because loss.csv may not.
        """
        if not self:
            return
        ckpt.save(self.last)
        self.plot_loss()
        if final:
            ckpt.metadata["loss_history"] = self.loss_history()
            ckpt.export_for_inference(self.path / INFERENCE_CHECKPOINT)

    def loss_history(self) -> list[dict]:
        """The rows of loss.csv as ``{"step": int, "loss": float}``."""
        with (self.path / LOSS_LOG).open(newline="") as handle:
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
        fig.savefig(self.path / LOSS_PLOT, dpi=100)

    def preview(self, ema_model, schedule, step: int, seed: int, class_names=()) -> None:
        """Save a grid of a few samples per class, rows named by class, as
        previews/step_<step>.png."""
        if not self:
            return
        try:
            images = _preview_images(ema_model, schedule, seed)
        except Exception as exc:  # a preview must never kill a training run
            print(f"warning: no preview at step {step}: {exc}", file=sys.stderr)
            return
        import matplotlib.image

        from diffprob.sprites.grid import label_rows, make_grid

        grid = make_grid(images, ncols=_PREVIEW_PER_CLASS, scale=4)
        if len(class_names) == len(images) // _PREVIEW_PER_CLASS:
            grid = label_rows(grid, class_names, images.shape[1] * 4)
        folder = self.path / PREVIEWS
        folder.mkdir(exist_ok=True)
        matplotlib.image.imsave(folder / f"step_{step:07d}.png", grid)


_PREVIEW_PER_CLASS = 8


def write_run_args(folder: Path, run_args: dict) -> None:
    """Write the options a run was started with to ``folder/train_args.json`` (atomically),
    what ``--resume`` reads back (:func:`~diffprob.diffusion.training.run_args.read_run_options`)."""
    write_text_atomic(json.dumps(run_args, indent=2) + "\n", Path(folder) / ARGS_FILE)


def _preview_images(ema_model, schedule, seed: int):
    """A few samples per class (the default sampler) as uint8 NHWC."""
    import torch

    from diffprob.diffusion.guidance import per_class_context
    from diffprob.diffusion.sampling import sample

    context = per_class_context(ema_model.config.n_cfeat, _PREVIEW_PER_CLASS)
    result = sample(
        ema_model,
        schedule,
        len(context),
        context=context,
        generator=torch.Generator().manual_seed(seed),
        progress=False,
    )
    return from_model_range(result.images)
