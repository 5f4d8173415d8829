"""`diffprob train-txt2img`: train the text-to-sprite U-Net on a trained autoencoder and CLIP."""

from __future__ import annotations

import argparse

from ._common import finite_float
from ._fit import add_fit_arguments, fill_options, fit_config_from_args, run_fit

# The parts and the U-Net's options: (kind, default); saved with the run for --resume.
OPTIONS = {
    "vae": (str, None),
    "clip": (str, None),
    "config": (str, "small"),
    "prediction_type": (str, "v_prediction"),
    "guidance": (float, None),
}

EPILOG = """\
examples:
  diffprob train-txt2img --vae runs/vae/model.pt --clip runs/clip/model.pt --out runs/txt2img
  diffprob train-txt2img --vae runs/vae/model.pt --clip runs/clip/model.pt --minutes 20 \\
      --out runs/txt2img20
  diffprob train-txt2img --out runs/txt2img --resume   # after Ctrl-C: the saved options
  diffprob txt2img "a red potion" --ckpt runs/txt2img/txt2img.pt -o potions.png

Each step draws fresh captioned sprites, encodes them with the frozen autoencoder (standardised
by its latent scaling) and the frozen text encoder, drops 10 % of the captions (the
null caption that classifier-free guidance needs) and takes one step of the diffusion
loss on the latents. RUN_DIR/txt2img.pt is the whole pipeline in one file (autoencoder,
tokenizer, text encoder, U-Net, schedule, latent scaling), what `diffprob txt2img --ckpt`
and `diffprob evaluate --ckpt` read; RUN_DIR/model.pt is the U-Net alone.
"""


def register(subparsers):
    from diffprob.stable_diffusion.fit_config import TXT2IMG_FIT

    parser = subparsers.add_parser(
        "train-txt2img",
        help="train the text-to-sprite latent diffusion U-Net (cross-attention to captions)",
        description=(
            "Latent diffusion with cross-attention: a U-Net on the autoencoder's 8x8x4 "
            "latents reads the caption's token features through cross-attention, and learns "
            "the conditional and (by caption dropout) the unconditional model at once."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parts = parser.add_argument_group("parts")
    parts.add_argument(
        "--vae", metavar="FILE", help="RUN_DIR/model.pt of train-vae (required; --resume: saved)"
    )
    parts.add_argument(
        "--clip", metavar="FILE", help="RUN_DIR/model.pt of train-clip (required; --resume: saved)"
    )
    parts.add_argument("--config", help=f"U-Net configuration (default {OPTIONS['config'][1]})")
    parts.add_argument(
        "--prediction-type",
        choices=("epsilon", "v_prediction"),
        help=f"what the U-Net predicts (default {OPTIONS['prediction_type'][1]}, "
        "on a zero-terminal-SNR schedule)",
    )
    parts.add_argument(
        "--guidance",
        type=finite_float,
        metavar="W",
        help="the pipeline's default guidance weight (default: the pipeline's)",
    )
    add_fit_arguments(parser, TXT2IMG_FIT, "runs/txt2img")
    parser.set_defaults(func=run)


def run(args):
    from pathlib import Path

    from diffprob.diffusion.models.unet import count_parameters
    from diffprob.errors import ParameterError
    from diffprob.stable_diffusion.fit_config import TXT2IMG_FIT
    from diffprob.stable_diffusion.latent_training import (
        LatentDiffusionTask,
        load_text_part,
        load_vae_part,
    )
    from diffprob.stable_diffusion.parts import load_part
    from diffprob.stable_diffusion.text_unet import get_config

    resumed = fill_options(args, OPTIONS)
    for name, made_by in (("vae", "train-vae"), ("clip", "train-clip")):
        if getattr(args, name) is None:
            raise ParameterError(f"--{name} is required: the RUN_DIR/model.pt of {made_by}")
    # Each part file is read once; the U-Net's context width is the text encoder's.
    vae, scaling = load_vae_part(args.vae)
    text_encoder, tokenizer = load_text_part(args.clip)
    task = LatentDiffusionTask(
        vae,
        text_encoder,
        tokenizer,
        latent_scaling=scaling,
        schedule=args.prediction_type,
        unet_config=get_config(args.config, context_dim=text_encoder.config.width),
    )
    config = fit_config_from_args(args, TXT2IMG_FIT)
    length = f"{config.minutes:g} min" if config.minutes else f"{config.steps} steps"
    describe = resumed + [
        f"text U-Net: {count_parameters(task.build_model()):,} parameters ({args.config}), "
        f"{args.prediction_type}; latents {'x'.join(map(str, task.vae.config.latent_shape))} "
        f"{task.latent_scaling.describe()}",
        f"data: fresh captioned generator sprites every step, batch {config.batch_size}; {length}",
    ]

    def save_pipeline(result):
        pipeline = task.pipeline(result.model.to("cpu"), args.guidance)
        # What the parts' own runs measured travels with the pipeline (not their loss curves).
        parts = {
            name: load_part(path, name)[2]
            for name, path in (("vae", args.vae), ("clip", args.clip))
        }
        pipeline.metadata = {
            "fit": result.metadata,
            **{
                name: {k: v for k, v in meta.items() if k != "loss_history"}
                for name, meta in parts.items()
            },
        }
        path = Path(args.out) / "txt2img.pt"
        pipeline.save(path)
        return [f"wrote {path} (the whole pipeline: diffprob txt2img --ckpt {path})"]

    result = run_fit(task, config, args, describe, OPTIONS, extra=save_pipeline)
    return 130 if result.interrupted else 0
