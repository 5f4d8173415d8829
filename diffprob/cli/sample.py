"""`diffprob sample`: draw sprites from a trained model (DDPM/DDIM, guidance, inpainting)."""

from __future__ import annotations

import argparse
import math

from ._common import (
    Outputs,
    add_sampling_arguments,
    info,
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
  diffprob sample --n 64 --seed 0 -o grid.png
  diffprob sample --context hero --guidance 2 --steps 50 -o heroes.png --gif heroes.gif
  diffprob sample --context "0.6*food+0.4*spell" --guidance 1 --seed 3
  diffprob sample --per-class 8 --guidance 2 -o classes.png --npz classes.npz
  diffprob sample --sampler ddpm --seed 1 --gif denoise.gif
  diffprob sample --inpaint sprite.png --mask mask.png --n 16 --resample 5 -o fixed.png
  diffprob sample --ckpt runs/try/model.pt --device cuda --json
"""


def register(subparsers):
    parser = subparsers.add_parser(
        "sample",
        help="draw sprites from a trained model (DDPM/DDIM, guidance, inpainting)",
        description=(
            "Sample images from a trained diffusion model and write them as one grid. "
            "Samplers: DDPM (Ho et al. algorithm 2, all T steps) or DDIM (Song et al. eq. 12, "
            "any number of steps, noise scale eta). Context picks the class; classifier-free "
            "guidance uses eps~ = (1 + w) eps(x, c) - w eps(x, null) (w = 0: plain "
            "conditional). With --inpaint/--mask, regenerates the white part of the mask "
            "consistently with the rest of the image (RePaint)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add_sampling_arguments(add)
    add(
        "--n",
        type=positive_int,
        default=64,
        help="number of images (default: 64); with --inpaint, variants of the image",
    )
    add(
        "--context",
        default=None,
        metavar="SPEC",
        help="class to draw: a name ('hero'), an index ('2'), or a mixture "
        "('0.6*food+0.4*spell'); default: none (unconditional)",
    )
    add(
        "--per-class",
        type=positive_int,
        default=None,
        metavar="K",
        help="K samples of every class, one row per class (replaces --n and --context)",
    )
    add(
        "--seed",
        type=int,
        default=None,
        help="random seed (default: a fresh one, printed so the run can be repeated)",
    )
    add(
        "--variance",
        choices=("beta", "posterior"),
        default="beta",
        help="DDPM noise variance sigma_t^2: beta_t (default, the course's) or the "
        "posterior variance",
    )
    add(
        "--no-clip",
        dest="clip_x0",
        action="store_false",
        help="do not clip the predicted x0 to [-1, 1] inside each step",
    )
    add_grid_output_arguments(
        add,
        default_output="samples.png",
        what="sample",
        ncols_help="images per grid row (default: ceil(sqrt(n)), or K with --per-class)",
        npz_help="also write the samples as .npz: images (uint8 N,H,W,3), x (float32 "
        "N,C,H,W in [-1, 1]), context, class_names, settings (JSON)",
    )
    add(
        "--device",
        default="auto",
        help="auto (CUDA, then MPS, then CPU; default), cpu, cuda, cuda:N or mps",
    )
    add(
        "--inpaint",
        metavar="IMG",
        default=None,
        help="image to inpaint (resized to the model's size if needed); needs --mask",
    )
    add(
        "--mask",
        metavar="MASK",
        default=None,
        help="mask image for --inpaint: white (> 127) = regenerate, black = keep",
    )
    add(
        "--resample",
        type=positive_int,
        default=1,
        metavar="R",
        help="RePaint resampling: redo each stretch of steps R times (default: 1 = off)",
    )
    add(
        "--jump",
        type=positive_int,
        default=1,
        metavar="J",
        help="RePaint jump length in steps (default: 1)",
    )
    add("--no-progress", dest="progress", action="store_false", help="no progress bar on stderr")
    add("--json", action="store_true", help="print a JSON summary instead of text")
    parser.set_defaults(func=run, draws_seed=True)


def _load_checkpoint(path_arg, device):
    from diffprob.diffusion.checkpoint import Checkpoint, resolve_checkpoint_path

    path = resolve_checkpoint_path(path_arg)
    ckpt = Checkpoint.load(path)
    ema = ckpt.ema_state is not None
    if not ema:
        info(f"{path.name} has no EMA weights; sampling with the raw weights")
    return path, ckpt, ckpt.build_model(ema=ema, device=device), ckpt.build_schedule()


def _load_inpaint_inputs(args, size):
    import cv2
    import numpy as np

    from diffprob.errors import ParameterError
    from diffprob.stats.io import load_image

    image = load_image(args.inpaint)
    mask = load_image(args.mask)
    if image.shape != mask.shape:
        raise ParameterError(
            f"--mask is {mask.shape[1]}x{mask.shape[0]} but --inpaint is "
            f"{image.shape[1]}x{image.shape[0]}"
        )
    if image.shape[:2] != (size, size):
        info(f"resizing {image.shape[1]}x{image.shape[0]} to the model's {size}x{size}")
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
    regenerate = mask.mean(axis=2) > 127
    if not regenerate.any():
        raise ParameterError("--mask has no white pixels: nothing to regenerate")
    x0 = image.transpose(2, 0, 1).astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    return x0, regenerate.astype(np.float32)


def _check_sizes(args) -> None:
    """Upper bounds of the size-like options (diffprob.util.limits), before loading anything."""
    from diffprob.util.limits import MAX_BATCH, MAX_TIMESTEPS, check_upper

    more = "draw several batches with different --seed"
    check_upper("--n", args.n, MAX_BATCH, f"all images are drawn at once; {more}")
    if args.per_class is not None:
        check_upper("--per-class", args.per_class, MAX_BATCH, more)
    for flag, value in (("--resample", args.resample), ("--jump", args.jump)):
        check_upper(flag, value, MAX_TIMESTEPS)
    if args.gif_every is not None:
        check_upper("--gif-every", args.gif_every, MAX_TIMESTEPS)


def _check_output_size(args, n: int, ncols: int, size: int, n_steps: int) -> None:
    """Refuse a grid (or GIF) above the pixel limit before sampling anything."""
    from diffprob.util.limits import MAX_BATCH, check_upper

    if args.per_class is not None:
        check_upper("--per-class x classes", n, MAX_BATCH, "ask for fewer per class")
    every = args.gif_every or max(1, round(n_steps * (2 if args.inpaint else 1) / 40))
    frames = n_steps * args.resample * (2 if args.inpaint else 1) // every + 2
    check_grid_pixels(args, n, ncols, size, frames, "the sample grid")


def run(args) -> int:
    import json
    import time

    import numpy as np
    import torch

    from diffprob.diffusion.device import resolve_device
    from diffprob.diffusion.guidance import parse_context, per_class_context
    from diffprob.diffusion.inpainting import inpaint
    from diffprob.diffusion.model_range import from_model_range
    from diffprob.diffusion.samplers.config import SamplerConfig
    from diffprob.diffusion.samplers.factory import make_sampler
    from diffprob.diffusion.sampling import sample
    from diffprob.errors import ParameterError
    from diffprob.sprites.grid import label_rows, make_grid
    from diffprob.stats.io import save_image

    # -- validate everything before writing anything ------------------------------------
    # Inpainting needs a one-step sampler: without --sampler it takes DDIM.
    base = SamplerConfig(sampler="ddim") if args.inpaint is not None else None
    config = sampler_config_from_args(args, base)
    _check_sizes(args)
    if (args.inpaint is None) != (args.mask is None):
        raise ParameterError("--inpaint and --mask go together")
    if args.per_class is not None and args.context is not None:
        raise ParameterError("--per-class draws every class; drop --context")
    if args.per_class is not None and args.inpaint is not None:
        raise ParameterError("--per-class cannot be combined with --inpaint")
    device = resolve_device(args.device)
    wanted = check_output_names(args, "samples.png")

    ckpt_path, ckpt, model, schedule = _load_checkpoint(args.ckpt, device)
    class_names = ckpt.class_names
    n_cfeat = model.config.n_cfeat
    if args.inpaint is not None:
        config.check_inpainting("--inpaint")
    n_steps = len(make_sampler(schedule, config).timesteps)  # also checks steps <= T
    if args.per_class is not None:
        n, ncols = args.per_class * n_cfeat, args.ncols or args.per_class
        context = per_class_context(n_cfeat, args.per_class)
        context_desc = "per-class"
    else:
        n, ncols = args.n, args.ncols or math.ceil(math.sqrt(args.n))
        context = parse_context(args.context, class_names, n_cfeat)
        context = None if args.context is None else context
        context_desc = args.context
    _check_output_size(args, n, ncols, model.config.image_size, n_steps)
    if args.inpaint is not None:
        image, mask = _load_inpaint_inputs(args, model.config.image_size)

    # Every output checked before sampling; all written together at the end.
    inputs = [p for p in (args.ckpt, args.inpaint, args.mask) if p is not None]
    outputs = Outputs(inputs=inputs)
    out = outputs.add(args.output, "samples.png")
    extra = {flag: outputs.add(value) for flag, value in wanted.items()}

    # -- sample ---------------------------------------------------------------------------
    seed = args.seed  # checked, or drawn, by the command line's main
    generator = torch.Generator().manual_seed(seed)
    every = 0
    if "--gif" in extra:
        every = args.gif_every or max(1, round(n_steps * (2 if args.inpaint else 1) / 40))
    common = dict(
        context=context,
        config=config,
        generator=generator,
        device=device,
        trajectory_every=every,
        progress=args.progress,
        class_names=class_names,
    )
    start = time.perf_counter()
    if args.inpaint is not None:
        result = inpaint(
            model,
            schedule,
            torch.from_numpy(image),
            torch.from_numpy(mask),
            n=n,
            resample=args.resample,
            jump_length=args.jump,
            **common,
        )
    else:
        result = sample(model, schedule, n, **common)
    seconds = time.perf_counter() - start

    # -- write ----------------------------------------------------------------------------
    with outputs:
        images = from_model_range(result.images)
        # A per-class run has one row per class: name the rows.
        row_labels = (
            list(class_names) if args.per_class is not None and ncols == args.per_class else None
        )
        grid = make_grid(images, ncols, scale=args.scale)
        if row_labels is not None:
            grid = label_rows(grid, row_labels, images.shape[1] * args.scale)
        save_image(outputs.temp(out), grid)
        if result.context is None or args.per_class is not None:
            context_weights = None
        else:
            context_weights = result.context[0].tolist()
        settings = {
            "checkpoint": str(ckpt_path),
            "n": n,
            **result.info,
            "context": context_desc,
            "context_weights": context_weights,
            "class_names": list(class_names),
            "seed": seed,
            "device": str(device),
            "seconds": round(seconds, 3),
            "output": str(out),
        }
        if args.inpaint is not None:
            settings.update(inpaint=str(args.inpaint), mask=str(args.mask))
        if "--gif" in extra:
            from diffprob.plot.animation import save_denoising_gif

            save_denoising_gif(
                result,
                outputs.temp(extra["--gif"]),
                ncols=ncols,
                scale=args.scale,
                row_labels=row_labels,
            )
            settings["gif"] = str(extra["--gif"])
            settings["gif_frames"] = len(result.trajectory)
        if "--npz" in extra:
            ctx = result.context.numpy() if result.context is not None else np.zeros((n, n_cfeat))
            # A file handle: numpy would add .npz to a name that does not end in it.
            with open(outputs.temp(extra["--npz"]), "wb") as handle:
                np.savez_compressed(
                    handle,
                    images=images,
                    x=result.images.numpy().astype(np.float32),
                    context=ctx.astype(np.float32),
                    class_names=np.array(class_names, dtype=str),
                    settings=np.array(json.dumps(settings)),
                )
            settings["npz"] = str(extra["--npz"])

    if args.json:
        print_json(settings)
    else:
        what = f"context {context_desc!r}" if context_desc else "unconditional"
        sampler = sampler_description(config, n_steps)
        verb = "inpainted" if args.inpaint else "sampled"
        print(
            f"{verb} {n} images in {seconds:.1f} s on {device}: {sampler}, {what}, "
            f"guidance {config.guidance:g}, seed {seed}"
        )
        for key in ("output", "gif", "npz"):
            if key in settings:
                print(f"wrote {settings[key]}")
    return 0
