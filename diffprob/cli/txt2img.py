"""`diffprob txt2img`: draw sprites from a prompt with the text-to-sprite (latent) model."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ._common import (
    Outputs,
    add_sampling_arguments,
    positive_int,
    print_json,
    sampler_config_from_args,
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

IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
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
    add(
        "-o",
        "--output",
        metavar="OUT",
        default=None,
        help="sprite grid image to write (default: txt2img.png)",
    )
    add(
        "--ncols",
        type=positive_int,
        default=None,
        help="sprites per grid row (default: ceil(sqrt(n)))",
    )
    add(
        "--scale",
        type=positive_int,
        default=4,
        help="nearest-neighbour upscaling of the grid and GIF (default: 4)",
    )
    add("--gif", metavar="GIF", default=None, help="also write the denoising animation (.gif)")
    add(
        "--gif-every",
        type=positive_int,
        default=None,
        metavar="K",
        help="one GIF frame every K steps (default: about 40 frames in all)",
    )
    add(
        "--npz",
        metavar="NPZ",
        default=None,
        help="also write the sprites as .npz: images (uint8 N,H,W,3), latents (float32 "
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
    from diffprob.errors import ParameterError
    from diffprob.util.limits import check_image_pixels

    cell = size * args.scale + 1
    grid = (math.ceil(n / ncols) * cell + 1, ncols * cell + 1)
    what = f"the sprite grid ({n} sprites, {ncols} per row, --scale {args.scale})"
    check_image_pixels(grid, what, error=ParameterError)
    if args.gif is not None:
        every = args.gif_every or max(1, round(n_steps / 40))
        frames = n_steps // every + 2
        check_image_pixels(
            frames * grid[0] * grid[1],
            f"the animation ({frames} frames of {grid[1]}x{grid[0]})",
            error=ParameterError,
        )


def run(args) -> int:
    import json

    import numpy as np
    import torch

    from diffprob.diffusion.device import resolve_device
    from diffprob.diffusion.samplers.config import SamplerConfig
    from diffprob.diffusion.samplers.factory import make_sampler
    from diffprob.errors import ParameterError
    from diffprob.sprites.grid import make_grid
    from diffprob.stable_diffusion.pipeline import Txt2ImgPipeline, resolve_txt2img_path
    from diffprob.stats.io import save_image

    # -- validate everything before writing anything ------------------------------------
    config = sampler_config_from_args(args, SamplerConfig(clip_x0=False))
    _check_sizes(args)
    device = resolve_device(args.device)
    suffix = Path(args.output or "txt2img.png").suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ParameterError(
            f"-o must be a lossless image ({', '.join(IMAGE_SUFFIXES)}), got {args.output!r}"
        )
    wanted = {flag: value for flag, value in (("--gif", args.gif), ("--npz", args.npz)) if value}
    for flag, value in wanted.items():
        if Path(value).suffix.lower() != flag.replace("--", "."):
            raise ParameterError(
                f"{flag} must name a {flag.replace('--', '.')} file, got {value!r}"
            )
    names = [
        Path(v).expanduser().resolve() for v in (args.output or "txt2img.png", *wanted.values())
    ]
    if len(set(names)) != len(names):
        raise ParameterError("-o, --gif and --npz must name different files")

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
        sampler = {
            "ddim": f"DDIM {n_steps} steps, eta {config.eta:g}",
            "ddpm": f"DDPM {n_steps} steps ({config.variance} variance)",
            "dpmpp-2m": f"DPM-Solver++(2M) {n_steps} steps",
        }[config.sampler] + (
            "" if config.timestep_spacing == "uniform" else f", {config.timestep_spacing} spacing"
        )
        what = f"prompt {args.prompt!r}" if args.prompt.strip() else "unconditional"
        print(
            f"sampled {n} sprites in {seconds:.1f} s on {device}: {sampler}, {what}, "
            f"guidance {guidance:g}, seed {seed}"
        )
        for key in ("output", "gif", "npz"):
            if key in settings:
                print(f"wrote {settings[key]}")
    return 0
