"""`diffprob train-vae`: train the sprite autoencoder of the text-to-sprite model."""

from __future__ import annotations

import argparse

from diffprob.stable_diffusion.fit_config import DEFAULT_KL_WEIGHT, DEFAULT_RECONSTRUCTION_LOSS

from ._common import finite_float
from ._fit import add_fit_arguments, fill_options, fit_config_from_args, run_fit

# The autoencoder's options: (kind, default); saved with the run for --resume.
OPTIONS = {
    "channels": (int, None),
    "kl_weight": (float, DEFAULT_KL_WEIGHT),
    "recon_loss": (str, DEFAULT_RECONSTRUCTION_LOSS),
}

EPILOG = """\
examples:
  diffprob train-vae --out runs/vae                    # the default 3000 steps
  diffprob train-vae --minutes 55 --out runs/vae55     # the shipped autoencoder's command
  diffprob train-vae --out runs/vae --resume           # after Ctrl-C
  diffprob train-vae --steps 20 --channels 8 --no-progress --out runs/try-vae

RUN_DIR/model.pt holds the autoencoder and, in its metadata, the latent scale factor
(1 / the standard deviation of the latents of 4000 held-out sprites, as Stable
Diffusion's 0.18215 was measured). train-txt2img takes it with --vae.
"""


def register(subparsers):
    from diffprob.stable_diffusion.fit_config import VAE_FIT

    parser = subparsers.add_parser(
        "train-vae",
        help="train the sprite autoencoder (16x16x3 -> 8x8x4 latents) for latent diffusion",
        description=(
            "Train a KL-regularised autoencoder on fresh generator sprites: loss = "
            "reconstruction error summed over pixels + KL weight * KL(q(z|x) || N(0, I)) "
            "summed over latents. Diffusion then runs on its scaled latents."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    model = parser.add_argument_group("autoencoder")
    model.add_argument("--channels", type=int, help="width of the first level (default 32)")
    model.add_argument(
        "--kl-weight",
        type=finite_float,
        help=f"weight of the KL term (default {DEFAULT_KL_WEIGHT:g})",
    )
    model.add_argument(
        "--recon-loss",
        choices=("l1", "mse"),
        help=f"reconstruction term (default {DEFAULT_RECONSTRUCTION_LOSS})",
    )
    add_fit_arguments(parser, VAE_FIT, "runs/vae")
    parser.set_defaults(func=run)


def run(args):
    from diffprob.diffusion.models.unet import count_parameters
    from diffprob.stable_diffusion.autoencoder import VAEConfig
    from diffprob.stable_diffusion.fit_config import VAE_FIT
    from diffprob.stable_diffusion.vae_training import VAETask

    resumed = fill_options(args, OPTIONS)
    vae_config = VAEConfig() if args.channels is None else VAEConfig(channels=args.channels)
    config = fit_config_from_args(args, VAE_FIT)
    task = VAETask(vae_config, kl_weight=args.kl_weight, recon_loss=args.recon_loss)
    length = f"{config.minutes:g} min" if config.minutes else f"{config.steps} steps"
    describe = resumed + [
        f"autoencoder: {count_parameters(task.build_model()):,} parameters, "
        f"latents {'x'.join(map(str, vae_config.latent_shape))}, KL weight {args.kl_weight:g}, "
        f"{args.recon_loss} reconstruction",
        f"data: fresh generator sprites every step, batch {config.batch_size}; {length}",
    ]
    result = run_fit(task, config, args, describe, OPTIONS)
    return 130 if result.interrupted else 0
