"""`diffprob train`: train a sprite diffusion model (also under torchrun for DDP)."""

from __future__ import annotations

import argparse
import sys

from diffprob.diffusion.training.config import DEFAULT_STEPS, LR_DECAYS, PRECISIONS
from diffprob.diffusion.training.run_args import (
    TRAIN_DEFAULTS,
    fill_run_options,
    run_options,
    train_config_of,
)
from diffprob.diffusion.training.run_folder import (
    ARGS_FILE,
    CONFIG_FILE,
    INFERENCE_CHECKPOINT,
    LAST_CHECKPOINT,
    LOSS_LOG,
    LOSS_PLOT,
    PREVIEWS,
)
from diffprob.diffusion.training.summary import describe_run

from ._common import finite_float, info, non_negative_int, positive_int, print_json

EPILOG = f"""\
examples:
  diffprob train --config sprite --steps 6000 --out runs/sprite
  diffprob train --config sprite --minutes 30 --out runs/half-hour   # steps to fit 30 min
  diffprob train --out runs/sprite --resume   # after Ctrl-C: same options, same run
  diffprob train --config sprite --steps 6000 --mixed-precision bf16   # ~2x on CPUs with AMX
  diffprob train --data sprites_1788_16x16.npy --config course --epochs 32 --batch-size 100
  diffprob train --config tiny --steps 200 --device cpu --no-progress --out runs/try
  diffprob train --prediction-type epsilon --no-zero-terminal-snr --out runs/eps   # the course's
  diffprob train --steps 30000 --init-from data/checkpoints/sprites16.pt --out runs/tune
  torchrun --nproc_per_node 4 -m diffprob train --config course --steps 20000 --out runs/ddp

The run folder holds {LAST_CHECKPOINT} (full training state, every --checkpoint-every steps,
at the end and on Ctrl-C), {INFERENCE_CHECKPOINT} (EMA weights only, for sampling), {LOSS_LOG},
{LOSS_PLOT}, {PREVIEWS}/step_*.png, {CONFIG_FILE} and {ARGS_FILE} (written when the run
starts). One run at a time: a second run into a busy RUN_DIR is refused. Ctrl-C saves
and exits with 130; --resume continues exactly where it stopped (also after a crash,
from the last checkpoint), taking every option not given on its command line from
{ARGS_FILE} (give --steps or --epochs to train a finished run further). A loss that
stops being finite ends the run with status 1, keeping the last finite {LAST_CHECKPOINT}.
--minutes M trains for M minutes of training time: the first steps (up to 20, at most 3%
of the budget) measure the speed and set the number of steps, so that the learning-rate
warm-up and decay end with the budget (a warm-up longer than a fifth of the run is
shortened); every tenth of the budget the plan is made again from the recent speed, so a
machine that slows down still ends the decay with the budget.
Start-up, the final save and preview come on top. --resume continues the plan within the
budget left (a larger --minutes plans the rest again).
--batch-size is the global batch: under torchrun each of N processes takes batch/N
examples of it.
The recipe: v-prediction on the course's schedule rescaled to zero terminal SNR, from the
first step (chosen by bench/bench_time_to_quality.py; docs/model.md).
--init-from starts a new run from a trained checkpoint's (EMA) weights: same model
config, fresh optimizer and learning-rate schedule, any schedule and prediction type.
"""


def _number(value: float) -> str:
    """A default as people write it: 0.999, 1, 0 and 1e-3 (not 0.001)."""
    plain = f"{value:g}"
    short = f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return short if len(short) < len(plain) and float(short) == value else plain


def register(subparsers):
    d = TRAIN_DEFAULTS
    parser = subparsers.add_parser(
        "train",
        help="train a class-conditional sprite diffusion model",
        description=(
            "Train a context U-Net to predict the noise (or, with --prediction-type "
            "v_prediction, the velocity) of the forward process (MSE, context dropout for "
            "classifier-free guidance, AdamW with "
            "warm-up and decay, EMA weights), writing checkpoints, a loss curve and sample "
            "previews to a run folder. Runs unchanged under torchrun with "
            "DistributedDataParallel."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        metavar="SOURCE",
        help="'sprites' (the embedded generator, default), a data set .npz, the course's "
        "sprites_*.npy, or a folder with one sub-folder of images per class",
    )
    data.add_argument(
        "--n-data",
        type=positive_int,
        metavar="N",
        help="number of training sprites (generator default 20000; files: all, or a random subset)",
    )
    data.add_argument(
        "--data-seed",
        type=non_negative_int,
        metavar="N",
        help="seed of the sprite generator / subset (default 0)",
    )

    model = parser.add_argument_group("model and schedule")
    model.add_argument(
        "--config",
        metavar="NAME",
        help="model configuration: tiny, small, sprite (default) or course",
    )
    model.add_argument(
        "--image-size",
        type=int,
        choices=(16, 32),
        help="image side in pixels (default: the config's, 16)",
    )
    model.add_argument(
        "--n-feat",
        type=positive_int,
        metavar="F",
        help="override the config's width (channels of the first level)",
    )
    model.add_argument(
        "--time-embedding",
        choices=("mlp", "sinusoidal"),
        help="override the config's time embedding",
    )
    model.add_argument(
        "--architecture",
        choices=("course", "ddpm"),
        help="override the config's network: the course's ContextUnet or the DDPM-style "
        "U-Net (embedding in every block, attention)",
    )
    model.add_argument(
        "--schedule",
        choices=("linear", "cosine"),
        help="noise schedule (default linear, 1e-4 -> 0.02 as in the course)",
    )
    model.add_argument(
        "--timesteps",
        type=positive_int,
        metavar="T",
        help="number of diffusion steps T (default 500)",
    )
    model.add_argument(
        "--zero-terminal-snr",
        action=argparse.BooleanOptionalAction,
        help="rescale the schedule so that alpha_bar_T = 0 (Lin et al. 2024; needs "
        "--prediction-type v_prediction; on by default, the recipe's)",
    )
    model.add_argument(
        "--prediction-type",
        choices=("epsilon", "v_prediction"),
        help="what the network predicts: the noise or the velocity v (default v_prediction, "
        "the recipe's)",
    )
    model.add_argument(
        "--init-from",
        metavar="CKPT",
        help="start from this checkpoint's weights (fine-tuning; same model config)",
    )

    opt = parser.add_argument_group("optimisation")
    length = opt.add_mutually_exclusive_group()
    length.add_argument(
        "--steps", type=positive_int, help=f"optimizer steps (default {DEFAULT_STEPS})"
    )
    length.add_argument(
        "--epochs",
        type=positive_int,
        help="passes over the data (instead of --steps)",
    )
    opt.add_argument(  # not in `length`: a conflict is a one-line error, not usage
        "--minutes",
        type=float,
        metavar="M",
        help="train for M minutes instead (a probe of the first steps sets the number of "
        "steps; not with --steps/--epochs)",
    )
    opt.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="B",
        help=f"global batch size (default {d['batch_size']})",
    )
    opt.add_argument("--lr", type=finite_float, help=f"peak learning rate ({_number(d['lr'])})")
    opt.add_argument(
        "--weight-decay",
        type=finite_float,
        help=f"AdamW weight decay (default {_number(d['weight_decay'])})",
    )
    opt.add_argument(
        "--warmup-steps",
        type=non_negative_int,
        metavar="N",
        help=f"linear learning-rate warm-up steps (default {d['warmup_steps']})",
    )
    opt.add_argument(
        "--lr-decay",
        choices=LR_DECAYS,
        help=f"decay after warm-up (default {d['lr_decay']}, "
        f"to {_number(100 * d['min_lr_ratio'])}%% of --lr)",
    )
    opt.add_argument(
        "--ema-decay",
        type=finite_float,
        metavar="D",
        help=f"EMA decay in [0, 1) (default {_number(d['ema_decay'])}"
        + (", with warm-up)" if d["ema_warmup"] else ")"),
    )
    opt.add_argument(
        "--context-dropout",
        type=finite_float,
        metavar="P",
        help="probability of the null context per sample "
        f"(default {_number(d['context_dropout'])})",
    )
    opt.add_argument(
        "--t-max",
        type=positive_int,
        metavar="T",
        help="draw t from 1..T only: a low-noise expert for the last sampling steps "
        "(see 'diffprob experts'; default: all timesteps)",
    )
    opt.add_argument(
        "--grad-clip",
        type=finite_float,
        metavar="NORM",
        help=f"gradient-norm clipping (default {_number(d['grad_clip'])}; 0 disables)",
    )
    opt.add_argument(
        "--mixed-precision",
        choices=PRECISIONS,
        help="autocast on CUDA (auto: bf16 if supported, else fp16 + grad scaler; "
        "with TF32 products); off: float32 throughout",
    )
    opt.add_argument("--seed", type=int, help="seed of weights, data order, noise")

    run_group = parser.add_argument_group("run")
    run_group.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda", "mps"),
        default="auto",
        help="where to train (auto: cuda > mps > cpu)",
    )
    run_group.add_argument(
        "--out",
        default="runs/train",
        metavar="RUN_DIR",
        help="run folder (default runs/train)",
    )
    run_group.add_argument(
        "--resume",
        action="store_true",
        help=f"continue from RUN_DIR/{LAST_CHECKPOINT} with the options it was started with "
        "(--steps/--epochs/--minutes and the run settings below may change)",
    )
    for name, kind, text in (  # RUN_SETTINGS: may change on --resume
        (
            "checkpoint_every",
            non_negative_int,
            f"write RUN_DIR/{LAST_CHECKPOINT} every N steps "
            f"(default {d['checkpoint_every']}; 0: end only)",
        ),
        (
            "preview_every",
            non_negative_int,
            f"write a sample grid every N steps (default {d['preview_every']}: at the end only)",
        ),
        (
            "log_every",
            positive_int,
            f"{LOSS_LOG} row (and log line with --no-progress) every N steps "
            f"(default {d['log_every']})",
        ),
    ):
        flag = "--" + name.replace("_", "-")
        run_group.add_argument(flag, type=kind, metavar="N", help=text)
    run_group.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="CPU threads for torch (default: torch's choice; 1 is best on a busy machine)",
    )
    run_group.add_argument(
        "--no-progress", action="store_true", help="no progress bar (print log lines instead)"
    )
    run_group.add_argument(
        "--json", action="store_true", help="print a JSON summary on stdout at the end"
    )
    parser.set_defaults(func=run)


def _build(args):
    """Validate everything and build (data, model config, train config, schedule)."""
    from diffprob.diffusion.device import resolve_device
    from diffprob.diffusion.models.unet import get_config
    from diffprob.diffusion.schedule import NoiseSchedule
    from diffprob.sprites.dataset import load_sprite_data

    train_config = train_config_of(args)
    schedule = NoiseSchedule(
        args.timesteps,
        args.schedule,
        zero_terminal_snr=args.zero_terminal_snr,
        prediction_type=args.prediction_type,
    )
    resolve_device(args.device)
    base = get_config(args.config)  # unknown names fail before the data is loaded
    size = args.image_size or base.image_size
    data = load_sprite_data(args.data, n=args.n_data, size=size, seed=args.data_seed)
    model_config = get_config(
        args.config,
        image_size=size,
        n_feat=args.n_feat,
        time_embedding=args.time_embedding,
        architecture=args.architecture,
        n_cfeat=len(data.class_names),
    )
    return data, model_config, train_config, schedule


def run(args):
    from pathlib import Path

    from diffprob.diffusion.training.distributed import is_main_process
    from diffprob.diffusion.training.lock import RunLock
    from diffprob.errors import ParameterError

    if args.minutes is not None and (args.steps is not None or args.epochs is not None):
        raise ParameterError("--minutes excludes --steps and --epochs: give one of them")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {str(out)!r} exists and is not a folder")
    # The folder is ours from the first look at it to the last write (only rank 0
    # writes it under torchrun); train() takes the same lock again.
    with RunLock(out if is_main_process() else None):
        return _run_locked(args, out)


def _run_locked(args, out):
    from diffprob.diffusion.training.train import train
    from diffprob.errors import ParameterError

    if not args.resume and (out / LAST_CHECKPOINT).exists():
        raise ParameterError(
            f"{str(out / LAST_CHECKPOINT)!r} exists; "
            "pass --resume to continue it or choose another --out"
        )
    changed = fill_run_options(args, out)
    data, model_config, train_config, schedule = _build(args)
    summary_lines = describe_run(data, train_config)
    if changed:
        summary_lines.insert(0, f"resume: {', '.join(changed)}; the rest from {out / ARGS_FILE}")

    def print_summary_once(row):
        # On the first step, once train() has checked everything: an error stays one line.
        if summary_lines:
            from tqdm import tqdm

            for line in summary_lines:
                tqdm.write(line, file=sys.stderr)
            summary_lines.clear()

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    result = train(
        data,
        model_config,
        train_config,
        schedule=schedule,
        out_dir=out,
        resume=args.resume,
        # A resumed fine-tune continues from its own last.pt, not from the weights
        # it started with.
        init_from=None if args.resume else args.init_from,
        device=args.device,
        progress=not args.no_progress,
        callback=print_summary_once,
        # Written when training starts (every check passed): a refused resume leaves
        # the run's record alone, and a killed run can still be resumed with it.
        run_args=run_options(args),
    )
    if result.out_dir is None:  # not the main process under torchrun
        return 0
    ckpt = result.checkpoint
    last = result.history[-1] if result.history else {}
    summary = {
        "run_dir": str(out),
        "checkpoint": str(out / LAST_CHECKPOINT),
        "inference_checkpoint": str(out / INFERENCE_CHECKPOINT),
        "step": ckpt.step,
        "epoch": ckpt.epoch,
        "loss": last.get("loss"),
        "images_per_s": result.images_per_second,
        "train_seconds": ckpt.metadata.get("train_seconds"),
        "time_budget": ckpt.metadata.get("time_budget"),
        "device": ckpt.metadata.get("device"),
        "model_config": ckpt.model_config,
    }
    if args.json:
        print_json(summary)
    else:
        loss = "n/a" if summary["loss"] is None else f"{summary['loss']:.4f}"
        print(f"trained {ckpt.step} steps (epoch {ckpt.epoch}), final loss {loss}")
        print(
            f"checkpoint: {out / LAST_CHECKPOINT}  inference weights: {out / INFERENCE_CHECKPOINT}"
        )
    info(f"run folder: {out}")
    return 0
