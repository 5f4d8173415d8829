"""`diffprob txt2img`: draw sprites from a prompt with the text-to-sprite (latent) model."""

from __future__ import annotations

import argparse
import math

from ._common import (
    Outputs,
    add_sampling_arguments,
    positive_int,
    print_json,
    sampler_config_from_args,
)
from ._grid_outputs import (
    add_grid_output_arguments,
    check_grid_pixels,
    check_output_names,
    sampler_description,
)

EPILOG = """\
examples:
  diffprob txt2img "a red potion" --seed 0 -o potions.png
  diffprob txt2img "a blue slime" --n 64 --guidance 5 --seed 1 -o slimes.png --npz slimes.npz
  diffprob txt2img "a hero with blonde hair in a green tunic" --steps 50 --gif hero.gif
  diffprob txt2img "an ice spell orb" --sampler ddim --eta 1 --seed 2 -o orbs.png
  diffprob txt2img "" --n 16 -o unconditional.png
  diffprob txt2img "a chocolate cupcake" --ckpt runs/txt2img/txt2img.pt --json
"""

# The shared sampling options, with the help that is different for this verb.
_HELP = {
    "--ckpt": "text-to-sprite pipeline file (default: the shipped data/checkpoints/txt2img.pt)",
    "--guidance": "classifier-free guidance weight w >= 0; 0 = plain conditional "
    "(default: the weight stored with the pipeline)",
}


def register(subparsers):
    parser = subparsers.add_parser(
        "txt2img",
        help="draw sprites from a prompt with the text-to-sprite (latent diffusion) model",
        description=(
            "Draw sprites for a prompt such as 'a red potion'. The prompt is tokenized and "
            "encoded by the text encoder; a U-Net denoises 8x8x4 latents, reading the text "
            "through cross-attention, with classifier-free guidance eps~ = (1 + w) eps(z, "
            "text) - w eps(z, null); the autoencoder decodes the latents to 16x16 sprites. "
            "An empty prompt is the null caption (unconditional). Unknown words are refused "
            "with the nearest known words."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument

    def add_shared(*flags, **kwargs):
        if flags[0] in _HELP:
            kwargs["help"] = _HELP[flags[0]]
        return add(*flags, **kwargs)

    add("prompt", metavar="PROMPT", help="what to draw, e.g. 'a red potion' ('' = unconditional)")
    add_sampling_arguments(add_shared)
    add("--n", type=positive_int, default=16, help="number of sprites (default: 16)")
    add(
        "--seed",
        type=int,
        default=None,
        help="random seed (default: a fresh one, printed so the run can be repeated)",
    )
    add_grid_output_arguments(
        add,
        default_output="txt2img.png",
        what="sprite",
        ncols_help="sprites per grid row (default: ceil(sqrt(n)))",
        npz_help="also write the sprites as .npz: images (uint8 N,H,W,3), latents (float32 "
        "N,4,8,8), prompt, seed, settings (JSON)",
    )
    add(
        "--device",
        default="auto",
        help="auto (CUDA, then MPS, then CPU; default), cpu, cuda, cuda:N or mps",
    )
    add("--no-progress", dest="progress", action="store_false", help="no progress bar on stderr")
    add("--json", action="store_true", help="print a JSON summary instead of text")
    parser.set_defaults(func=run, draws_seed=True)


def _check_sizes(args) -> None:
    """Upper bounds of the size-like options (diffprob.util.limits), before loading anything."""
    from diffprob.util.limits import MAX_BATCH, MAX_TIMESTEPS, check_upper

    check_upper("--n", args.n, MAX_BATCH, "all sprites are drawn at once; vary --seed instead")
    if args.gif_every is not None:
        check_upper("--gif-every", args.gif_every, MAX_TIMESTEPS)


def _check_output_size(args, n: int, ncols: int, size: int, n_steps: int) -> None:
    """Refuse a grid (or GIF) above the pixel limit before sampling anything."""
    every = args.gif_every or max(1, round(n_steps / 40))
    check_grid_pixels(args, n, ncols, size, n_steps // every + 2, "the sprite grid")


def run(args) -> int:
    import json

    import numpy as np
    import torch

    from diffprob.diffusion.device import resolve_device
    from diffprob.diffusion.samplers.config import SamplerConfig
    from diffprob.diffusion.samplers.factory import make_sampler
    from diffprob.sprites.grid import make_grid
    from diffprob.stable_diffusion.pipeline import Txt2ImgPipeline, resolve_txt2img_path
    from diffprob.stats.io import save_image

    # -- validate everything before writing anything ------------------------------------
    config = sampler_config_from_args(args, SamplerConfig(clip_x0=False))
    _check_sizes(args)
    device = resolve_device(args.device)
    wanted = check_output_names(args, "txt2img.png")

    ckpt_path = resolve_txt2img_path(args.ckpt)
    pipe = Txt2ImgPipeline.load(ckpt_path, device)
    if args.prompt.strip():
        pipe.tokenizer.encode([args.prompt])  # an unknown word: one line, nothing written
    guidance = pipe.guidance if args.guidance is None else args.guidance
    n_steps = len(make_sampler(pipe.schedule, config).timesteps)  # also checks steps <= T
    n, ncols = args.n, args.ncols or math.ceil(math.sqrt(args.n))
    _check_output_size(args, n, ncols, pipe.vae.config.image_size, n_steps)

    # Every output checked before sampling; all written together at the end.
    outputs = Outputs(inputs=[ckpt_path])
    out = outputs.add(args.output, "txt2img.png")
    extra = {flag: outputs.add(value) for flag, value in wanted.items()}

    # -- sample ---------------------------------------------------------------------------
    seed = args.seed  # checked, or drawn, by the command line's main
    every = 0
    if "--gif" in extra:
        every = args.gif_every or max(1, round(n_steps / 40))
    result = pipe(
        args.prompt,
        n,
        guidance=guidance,
        config=config,
        generator=torch.Generator().manual_seed(seed),
        return_latents=True,
        trajectory_every=every,
        progress=args.progress,
    )
    seconds = result.info["seconds"]

    # -- write ----------------------------------------------------------------------------
    with outputs:
        save_image(outputs.temp(out), make_grid(result.images, ncols, scale=args.scale))
        settings = {
            "checkpoint": str(ckpt_path),
            "prompt": args.prompt,
            "n": n,
            **result.info,
            "seed": seed,
            "device": str(device),
            "output": str(out),
        }
        if "--gif" in extra:
            from diffprob.plot.animation import save_denoising_gif

            save_denoising_gif(
                result.as_sample_result(),
                outputs.temp(extra["--gif"]),
                ncols=ncols,
                scale=args.scale,
            )
            settings["gif"] = str(extra["--gif"])
            settings["gif_frames"] = len(result.trajectory)
        if "--npz" in extra:
            # A file handle: numpy would add .npz to a name that does not end in it.
            with open(outputs.temp(extra["--npz"]), "wb") as handle:
                np.savez_compressed(
                    handle,
                    images=result.images,
                    latents=result.latents.numpy().astype(np.float32),
                    prompt=np.array(args.prompt, dtype=str),
                    seed=np.array(seed, dtype=np.int64),
                    settings=np.array(json.dumps(settings)),
                )
            settings["npz"] = str(extra["--npz"])

    if args.json:
        print_json(settings)
    else:
        sampler = sampler_description(config, n_steps)
        what = f"prompt {args.prompt!r}" if args.prompt.strip() else "unconditional"
        print(
            f"sampled {n} sprites in {seconds:.1f} s on {device}: {sampler}, {what}, "
            f"guidance {guidance:g}, seed {seed}"
        )
        for key in ("output", "gif", "npz"):
            if key in settings:
                print(f"wrote {settings[key]}")
    return 0
