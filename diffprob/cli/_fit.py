"""What the three training verbs of the Stable Diffusion parts share.

``diffprob train-vae``, ``train-clip`` and ``train-txt2img`` take the options of
:class:`~diffprob.stable_diffusion.fit.FitConfig` (length, optimiser, seed) and the run
options of ``diffprob train`` (``--out``, ``--resume``, ``--device``, ``--threads``,
``--no-progress``, ``--json``); :func:`run_fit` runs one of them over a task.

A run's options (the verb's own and the length and optimiser ones) are saved in
``RUN_DIR/train_args.json`` when it starts; :func:`fill_options` takes every option not
given on the command line from there on ``--resume`` (as ``diffprob train`` does), so
that ``--resume`` alone continues a run.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields, replace
from pathlib import Path

from ._common import finite_float, non_negative_int, positive_int, print_json

__all__ = ["FIT_OPTIONS", "add_fit_arguments", "fill_options", "fit_config_from_args", "run_fit"]

# The FitConfig fields the command line sets, and their kinds (defaults: FitConfig's).
FIT_OPTIONS = {
    "steps": int,
    "minutes": float,
    "batch_size": int,
    "lr": float,
    "warmup_steps": int,
    "seed": int,
    "checkpoint_every": int,
}


def add_fit_arguments(parser: argparse.ArgumentParser, defaults, out_default: str) -> None:
    """Add the length, optimiser and run options; `defaults` is the part's FitConfig."""
    d = defaults
    length = parser.add_argument_group(f"length (give one; default --steps {d.steps})")
    exclusive = length.add_mutually_exclusive_group()
    exclusive.add_argument("--steps", type=positive_int, metavar="N", help="optimizer steps")
    exclusive.add_argument(
        "--minutes",
        type=finite_float,
        metavar="M",
        help="train for M minutes of wall-clock time (a throughput probe sets the steps)",
    )
    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--batch-size", type=positive_int, metavar="B", help=f"default {d.batch_size}")
    opt.add_argument("--lr", type=finite_float, help=f"peak learning rate (default {d.lr:g})")
    opt.add_argument(
        "--warmup-steps", type=non_negative_int, metavar="N", help=f"default {d.warmup_steps}"
    )
    opt.add_argument("--seed", type=non_negative_int, help=f"default {d.seed}")
    run = parser.add_argument_group("run")
    run.add_argument("--out", default=out_default, metavar="RUN_DIR", help=f"default {out_default}")
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue from RUN_DIR/last.pt with the options it was started with "
        "(--steps/--minutes and --checkpoint-every may change)",
    )
    run.add_argument(
        "--checkpoint-every",
        type=non_negative_int,
        metavar="N",
        help=f"write RUN_DIR/last.pt every N steps (default {d.checkpoint_every}; 0: end only)",
    )
    run.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda", "mps"),
        default="auto",
        help="where to train (auto: cuda > mps > cpu)",
    )
    run.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads for torch")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def fill_options(args, options: dict) -> list[str]:
    """Fill the options not given: from the run's train_args.json on --resume, else defaults.

    `options` maps each of the verb's own options to ``(kind, default)``; the length and
    optimiser options (:data:`FIT_OPTIONS`) come on top, with FitConfig's defaults. Returns
    a line for the run's description when a resumed run reads its saved options.
    """
    from diffprob.diffusion.training.run_args import fill_run_options
    from diffprob.diffusion.training.run_folder import ARGS_FILE

    defaults = {**{k: default for k, (_, default) in options.items()}, **dict.fromkeys(FIT_OPTIONS)}
    kinds = {**{k: kind for k, (kind, _) in options.items()}, **FIT_OPTIONS}
    out = Path(args.out)
    saved = args.resume and (out / ARGS_FILE).is_file()
    changed = fill_run_options(args, out, defaults, kinds)
    if not saved:
        return []
    return [f"resume: {', '.join(changed) or 'the saved options'} (from {out / ARGS_FILE})"]


def fit_config_from_args(args, defaults):
    """`defaults` (a FitConfig) with the options given on the command line."""
    given = {
        f.name: getattr(args, f.name)
        for f in fields(defaults)
        if getattr(args, f.name, None) is not None
    }
    if "minutes" in given:
        given["steps"] = None
    return replace(defaults, **given)


def run_fit(task, config, args, describe: list[str], options: dict, extra=None):
    """Train `task` into ``args.out``; print `describe` and a summary; return the FitResult.

    `options` are the verb's own (as for :func:`fill_options`); they and :data:`FIT_OPTIONS`
    are saved in the run folder.

    `extra(result)`, if given, writes more files after a finished run and returns lines
    for the summary (e.g. the whole pipeline beside the U-Net).
    """
    from diffprob.errors import ParameterError
    from diffprob.stable_diffusion.fit import fit

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {str(out)!r} exists and is not a folder")
    if not args.resume and (out / "last.pt").exists():
        raise ParameterError(
            f"{str(out / 'last.pt')!r} exists; pass --resume to continue it or choose another --out"
        )
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    def print_description():
        for line in describe:
            print(line, file=sys.stderr)

    run_args = {name: getattr(args, name) for name in (*options, *FIT_OPTIONS)}
    result = fit(
        task,
        config,
        out=out,
        resume=args.resume,
        device=args.device,
        progress=not args.no_progress,
        run_args=run_args,
        on_start=print_description,
    )
    summary = {
        "run_dir": str(out),
        "model": str(out / "model.pt") if not result.interrupted else None,
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "loss": result.history[-1]["loss"] if result.history else None,
        "interrupted": result.interrupted,
        **{k: v for k, v in result.metadata.items() if k not in ("fit_config",)},
    }
    wrote = [] if result.interrupted or extra is None else extra(result)
    if args.json:
        print_json(summary)
    elif result.interrupted:
        print(
            f"stopped at step {result.steps}; continue it with --out {out} --resume "
            "(the saved options)",
            file=sys.stderr,
        )
    else:
        print(f"wrote {out / 'model.pt'} ({result.steps} steps, {result.seconds:.0f} s)")
        for line in wrote:
            print(line)
    return result
