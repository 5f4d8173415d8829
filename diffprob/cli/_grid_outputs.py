"""The outputs `diffprob sample` and `diffprob txt2img` share: a grid image, a denoising GIF
and an ``.npz`` of the samples, their options, their checks and the run's one-line summary."""

from __future__ import annotations

import math
from pathlib import Path

from ._common import positive_int

__all__ = [
    "IMAGE_SUFFIXES",
    "add_grid_output_arguments",
    "check_output_names",
    "check_grid_pixels",
    "sampler_description",
]

IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm")


def add_grid_output_arguments(
    add, *, default_output: str, what: str, ncols_help: str, npz_help: str
):
    """-o/--output, --ncols, --scale, --gif, --gif-every and --npz."""
    add(
        "-o",
        "--output",
        metavar="OUT",
        default=None,
        help=f"{what} grid image to write (default: {default_output})",
    )
    add("--ncols", type=positive_int, default=None, help=ncols_help)
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
    add("--npz", metavar="NPZ", default=None, help=npz_help)


def check_output_names(args, default_output: str) -> dict:
    """Refuse a lossy -o, a --gif/--npz of the wrong kind, or two outputs on one file;
    return ``{flag: path}`` of the extra outputs asked for."""
    from diffprob.errors import ParameterError

    suffix = Path(args.output or default_output).suffix.lower()
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
        Path(v).expanduser().resolve() for v in (args.output or default_output, *wanted.values())
    ]
    if len(set(names)) != len(names):
        raise ParameterError("-o, --gif and --npz must name different files")
    return wanted


def check_grid_pixels(args, n: int, ncols: int, size: int, frames: int, what: str) -> None:
    """Refuse a grid of n images (and, with --gif, an animation of `frames` frames) above
    the pixel limit, before sampling anything."""
    from diffprob.errors import ParameterError
    from diffprob.util.limits import check_image_pixels

    cell = size * args.scale + 1
    grid = (math.ceil(n / ncols) * cell + 1, ncols * cell + 1)
    check_image_pixels(
        grid, f"{what} ({n} images, {ncols} per row, --scale {args.scale})", error=ParameterError
    )
    if args.gif is not None:
        check_image_pixels(
            frames * grid[0] * grid[1],
            f"the animation ({frames} frames of {grid[1]}x{grid[0]})",
            error=ParameterError,
        )


def sampler_description(config, n_steps: int) -> str:
    """'DPM-Solver++(2M) 25 steps, quadratic spacing' and the like, for the summary line."""
    name = {
        "ddim": f"DDIM {n_steps} steps, eta {config.eta:g}",
        "ddpm": f"DDPM {n_steps} steps ({config.variance} variance)",
        "dpmpp-2m": f"DPM-Solver++(2M) {n_steps} steps",
    }[config.sampler]
    if config.timestep_spacing == "uniform":
        return name
    return f"{name}, {config.timestep_spacing} spacing"
