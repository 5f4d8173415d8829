"""`diffprob train`: train a sprite diffusion model (also under torchrun for DDP)."""

from __future__ import annotations

import argparse

from ._common import finite_float, info, non_negative_int, positive_int, print_json

EPILOG = """\
examples:
  diffprob train --config sprite --steps 6000 --out runs/sprite
  diffprob train --out runs/sprite --resume   # after Ctrl-C: same options, same run
  diffprob train --config sprite --steps 6000 --mixed-precision bf16   # ~2x on CPUs with AMX
  diffprob train --data sprites_1788_16x16.npy --config course --epochs 32 --batch-size 100
  diffprob train --config tiny --steps 200 --device cpu --no-progress --out runs/try
  diffprob train --zero-terminal-snr --prediction-type v_prediction --steps 30000 \
      --init-from data/checkpoints/sprites16.pt --out runs/vpred   # fine-tune
  torchrun --nproc_per_node 4 -m diffprob train --config course --steps 20000 --out runs/ddp

The run folder holds last.pt (full training state, every --checkpoint-every steps,
at the end and on Ctrl-C), model.pt (EMA weights only, for sampling), loss.csv,
loss.png, previews/step_*.png, config.json and train_args.json. Ctrl-C saves and
exits with 130; --resume continues exactly where it stopped, taking every data, model
and optimisation option not given on its command line from train_args.json (give
--steps or --epochs to train a finished run further). --batch-size is the global
batch: under torchrun each of N processes takes batch/N examples of it.
--init-from starts a new run from a trained checkpoint's (EMA) weights: same model
config, fresh optimizer and learning-rate schedule, any schedule and prediction type.
"""

# The options a run is defined by, with their defaults. `--resume` reads the values a run
# was started with from RUN_DIR/train_args.json, so that the user does not have to repeat
# them (the argparse defaults are None to tell "not given" from "given the default").
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
    "zero_terminal_snr": False,
    "prediction_type": "epsilon",
    "init_from": None,
    "steps": None,
    "epochs": None,
    "batch_size": 64,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "warmup_steps": 200,
    "lr_decay": "cosine",
    "ema_decay": 0.999,
    "context_dropout": 0.1,
    "t_max": None,
    "grad_clip": 1.0,
    "mixed_precision": "auto",
    "seed": 0,
}
ARGS_FILE = "train_args.json"


def register(subparsers):
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
        default=None,
        metavar="SOURCE",
        help="'sprites' (the embedded generator, default), a data set .npz, the course's "
        "sprites_*.npy, or a folder with one sub-folder of images per class",
    )
    data.add_argument(
        "--n-data",
        type=positive_int,
        default=None,
        metavar="N",
        help="number of training sprites (generator default 20000; files: all, or a random subset)",
    )
    data.add_argument(
        "--data-seed",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="seed of the sprite generator / subset (default 0)",
    )

    model = parser.add_argument_group("model and schedule")
    model.add_argument(
        "--config",
        default=None,
        metavar="NAME",
        help="model configuration: tiny, small, sprite (default) or course",
    )
    model.add_argument(
        "--image-size",
        type=int,
        choices=(16, 32),
        default=None,
        help="image side in pixels (default: the config's, 16)",
    )
    model.add_argument(
        "--n-feat",
        type=positive_int,
        default=None,
        metavar="F",
        help="override the config's width (channels of the first level)",
    )
    model.add_argument(
        "--time-embedding",
        choices=("mlp", "sinusoidal"),
        default=None,
        help="override the config's time embedding",
    )
    model.add_argument(
        "--architecture",
        choices=("course", "ddpm"),
        default=None,
        help="override the config's network: the course's ContextUnet or the DDPM-style "
        "U-Net (embedding in every block, attention)",
    )
    model.add_argument(
        "--schedule",
        choices=("linear", "cosine"),
        default=None,
        help="noise schedule (default linear, 1e-4 -> 0.02 as in the course)",
    )
    model.add_argument(
        "--timesteps",
        type=positive_int,
        default=None,
        metavar="T",
        help="number of diffusion steps T (default 500)",
    )
    model.add_argument(
        "--zero-terminal-snr",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rescale the schedule so that alpha_bar_T = 0 (Lin et al. 2024; needs "
        "--prediction-type v_prediction)",
    )
    model.add_argument(
        "--prediction-type",
        choices=("epsilon", "v_prediction"),
        default=None,
        help="what the network predicts: the noise (default) or the velocity v",
    )
    model.add_argument(
        "--init-from",
        default=None,
        metavar="CKPT",
        help="start from this checkpoint's weights (fine-tuning; same model config)",
    )

    opt = parser.add_argument_group("optimisation")
    length = opt.add_mutually_exclusive_group()
    length.add_argument(
        "--steps", type=positive_int, default=None, help="optimizer steps (default 5000)"
    )
    length.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="passes over the data (instead of --steps)",
    )
    opt.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        metavar="B",
        help="global batch size (default 64)",
    )
    opt.add_argument("--lr", type=finite_float, default=None, help="peak learning rate (1e-3)")
    opt.add_argument(
        "--weight-decay", type=finite_float, default=None, help="AdamW weight decay (default 0)"
    )
    opt.add_argument(
        "--warmup-steps",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="linear learning-rate warm-up steps (default 200)",
    )
    opt.add_argument(
        "--lr-decay",
        choices=("cosine", "linear", "constant"),
        default=None,
        help="decay after warm-up (default cosine, to 2%% of --lr)",
    )
    opt.add_argument(
        "--ema-decay",
        type=finite_float,
        default=None,
        metavar="D",
        help="EMA decay in [0, 1) (default 0.999, with warm-up)",
    )
    opt.add_argument(
        "--context-dropout",
        type=finite_float,
        default=None,
        metavar="P",
        help="probability of the null context per sample (default 0.1)",
    )
    opt.add_argument(
        "--t-max",
        type=positive_int,
        default=None,
        metavar="T",
        help="draw t from 1..T only: a low-noise expert for the last sampling steps "
        "(see 'diffprob experts'; default: all timesteps)",
    )
    opt.add_argument(
        "--grad-clip",
        type=finite_float,
        default=None,
        metavar="NORM",
        help="gradient-norm clipping (default 1; 0 disables)",
    )
    opt.add_argument(
        "--mixed-precision",
        choices=("auto", "bf16", "fp16", "off"),
        default=None,
        help="autocast on CUDA (auto: bf16 if supported, else fp16 + grad scaler; "
        "with TF32 products); off: float32 throughout",
    )
    opt.add_argument(
        "--seed", type=non_negative_int, default=None, help="seed of weights, data order, noise"
    )

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
        help="continue from RUN_DIR/last.pt with the options it was started with "
        "(--steps/--epochs may change)",
    )
    run_group.add_argument(
        "--checkpoint-every",
        type=non_negative_int,
        default=500,
        metavar="N",
        help="write RUN_DIR/last.pt every N steps (default 500; 0: end only)",
    )
    run_group.add_argument(
        "--preview-every",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="write a sample grid every N steps (default 0: at the end only)",
    )
    run_group.add_argument(
        "--log-every",
        type=positive_int,
        default=50,
        metavar="N",
        help="loss.csv row (and log line with --no-progress) every N steps (default 50)",
    )
    run_group.add_argument(
        "--threads",
        type=positive_int,
        default=None,
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
    from diffprob.diffusion.models.unet import get_config
    from diffprob.diffusion.schedule import NoiseSchedule
    from diffprob.diffusion.training.train import TrainConfig, resolve_device
    from diffprob.sprites.dataset import load_sprite_data

    train_config = TrainConfig(
        steps=args.steps,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps,
        lr_decay=args.lr_decay,
        ema_decay=args.ema_decay,
        context_dropout=args.context_dropout,
        t_max=args.t_max,
        grad_clip=args.grad_clip or None,
        mixed_precision=args.mixed_precision,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        preview_every=args.preview_every,
        log_every=args.log_every,
    )
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


def _fill_run_options(args, out):
    """Replace options not given (None) by the run's saved ones (on --resume) or defaults."""
    import json

    from diffprob.errors import CheckpointError

    saved = {}
    path = out / ARGS_FILE
    if args.resume and path.is_file():
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise CheckpointError(f"{str(path)!r} is not a readable JSON file: {err}") from None
        if not isinstance(saved, dict):
            raise CheckpointError(f"{str(path)!r} does not hold a JSON object")
    if args.steps is not None or args.epochs is not None:
        saved = {k: v for k, v in saved.items() if k not in ("steps", "epochs")}
    for name, default in RUN_OPTIONS.items():
        if getattr(args, name) is None:
            setattr(args, name, saved.get(name, default))


def _save_run_options(args, out):
    import json

    from diffprob.diffusion.training.distributed import is_main_process

    if is_main_process() and out.is_dir():  # under torchrun only rank 0 writes the run folder
        options = {name: getattr(args, name) for name in RUN_OPTIONS}
        (out / ARGS_FILE).write_text(json.dumps(options, indent=2) + "\n")


def run(args):
    from pathlib import Path

    from diffprob.diffusion.training.train import train
    from diffprob.errors import ParameterError

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {str(out)!r} exists and is not a folder")
    if not args.resume and (out / "last.pt").exists():
        raise ParameterError(
            f"{str(out / 'last.pt')!r} exists; pass --resume to continue it or choose another --out"
        )
    _fill_run_options(args, out)
    data, model_config, train_config, schedule = _build(args)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
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
        )
    except KeyboardInterrupt:  # last.pt was written: record how to resume it
        _save_run_options(args, out)
        raise
    # Written only once training ran, so a refused resume leaves the run's record alone.
    _save_run_options(args, out)
    if result.out_dir is None:  # not the main process under torchrun
        return 0
    ckpt = result.checkpoint
    last = result.history[-1] if result.history else {}
    summary = {
        "run_dir": str(out),
        "checkpoint": str(out / "last.pt"),
        "inference_checkpoint": str(out / "model.pt"),
        "step": ckpt.step,
        "epoch": ckpt.epoch,
        "loss": last.get("loss"),
        "images_per_s": result.images_per_second,
        "train_seconds": ckpt.metadata.get("train_seconds"),
        "device": ckpt.metadata.get("device"),
        "model_config": ckpt.model_config,
    }
    if args.json:
        print_json(summary)
    else:
        loss = "n/a" if summary["loss"] is None else f"{summary['loss']:.4f}"
        print(f"trained {ckpt.step} steps (epoch {ckpt.epoch}), final loss {loss}")
        print(f"checkpoint: {out / 'last.pt'}  inference weights: {out / 'model.pt'}")
    info(f"run folder: {out}")
    return 0
