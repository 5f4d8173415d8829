"""Helpers shared by the command-line verbs: output paths, JSON, parsers."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from diffprob.errors import ImageWriteError, ParameterError
from diffprob.util.jsonable import to_jsonable


def output_path(path: str | os.PathLike | None, default: str, inputs: Iterable = ()) -> Path:
    """Return the output path, refusing one that names any of ``inputs``.

    ``path`` None means ``default`` in the current directory. The parent folder
    is created. Checking before anything is written keeps inputs intact.
    """
    out = Path(default if path is None else path)
    out_resolved = out.expanduser().resolve()
    for item in inputs:
        src = Path(item).expanduser()
        same = src.resolve() == out_resolved
        if not same and out.exists() and src.exists():
            same = os.path.samefile(src, out)
        if same:
            raise ImageWriteError(f"output {str(out)!r} is an input file; refusing to overwrite it")
    if out.is_dir():
        raise ImageWriteError(f"output {str(out)!r} is a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def add_verb(subparsers, name: str, **kwargs) -> argparse.ArgumentParser:
    """``subparsers.add_parser(name, **kwargs)`` keeping the line breaks of the
    description and of the examples in the epilog."""
    return subparsers.add_parser(
        name, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
    )


def add_bins_and_space(parser, *, bins_help: str, space_help: str) -> None:
    """Add --bins (default 256) and --space (default rgb), shared by the histogram verbs."""
    parser.add_argument("--bins", type=int, default=256, help=bins_help)
    parser.add_argument(
        "--space", choices=["rgb", "hsv", "lab", "gray"], default="rgb", help=space_help
    )


def add_alpha_option(parser) -> None:
    """Add --alpha {composite,ignore}, shared by the verbs that count colours."""
    parser.add_argument(
        "--alpha",
        choices=["composite", "ignore"],
        default="composite",
        help="transparent pixels: composite them over white (default), or leave fully "
        "transparent pixels out of every count",
    )


def load_counted_images(paths, alpha: str) -> list:
    """Load ``paths`` for counting; a note on stderr when transparency is composited."""
    from diffprob.stats.io import load_image

    images = [load_image(p, alpha="ignore") for p in paths]
    transparent = sum(int(im.mask[..., 0].sum()) for im in images)
    if alpha == "ignore":
        return images
    if transparent:
        total = sum(im.shape[0] * im.shape[1] for im in images)
        info(
            f"note: {transparent:,} of {total:,} pixels ({transparent / total:.1%}) are fully "
            "transparent and count as white; --alpha ignore leaves them out"
        )
    return [im.data for im in images]


def inputs_label(paths) -> str:
    """How summaries and figure titles name the inputs: the file name, or "N images"."""
    return paths[0].name if len(paths) == 1 else f"{len(paths)} images"


def print_json(obj) -> None:
    """Print ``obj`` (numpy values allowed) as JSON on stdout."""
    json.dump(to_jsonable(obj), sys.stdout, indent=2)
    sys.stdout.write("\n")


def info(message: str) -> None:
    """A diagnostic line on stderr (results go to stdout)."""
    print(message, file=sys.stderr)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


def finite_float(text: str) -> float:
    """argparse type: a finite float."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def check_range(name: str, value, low=None, high=None) -> None:
    """Raise ParameterError unless low <= value <= high."""
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ParameterError(f"{name} must be in {bounds}, got {value}")


def add_sampling_arguments(add) -> None:
    """Add --ckpt, --sampler, --steps, --eta and --guidance, shared by the sampling verbs.

    ``add`` is a parser's (or argument group's) ``add_argument``. Ranges that depend on
    the checkpoint (steps <= T) are checked later, by :func:`sampler_config_from_args`
    and the sampler itself, so that a bad value is a one-line error rather than usage.
    """
    add(
        "--ckpt",
        metavar="CKPT",
        default=None,
        help="checkpoint file (default: the shipped data/checkpoints/sprites16.pt)",
    )
    add(
        "--sampler",
        choices=("dpmpp-2m", "ddim", "ddpm"),
        default=None,
        help="dpmpp-2m (default: DPM-Solver++(2M), second order, deterministic; ddim with "
        "--inpaint), ddim (DDIM, few steps, --eta adds noise) or ddpm (ancestral, all T steps)",
    )
    add(
        "--steps",
        type=int,
        default=None,
        help="DDIM or DPM-Solver steps, 1..T (default: 25); DDPM always takes T steps",
    )
    add(
        "--spacing",
        choices=("uniform", "quadratic"),
        default=None,
        help="timesteps of ddim and dpmpp-2m: uniform or quadratic, denser at small t (Song "
        "et al. 2021); default quadratic for dpmpp-2m, uniform for ddim",
    )
    add(
        "--eta",
        type=finite_float,
        default=0.0,
        help="DDIM noise scale in [0, 1]: 0 deterministic (default), 1 DDPM-like",
    )
    add(
        "--guidance",
        type=finite_float,
        default=None,
        metavar="W",
        help="classifier-free guidance weight w >= 0; 0 = plain conditional "
        "(default: diffprob.diffusion.samplers.config.DEFAULT_GUIDANCE = 0)",
    )


def sampler_config_from_args(args, base=None):
    """The :class:`~diffprob.diffusion.samplers.config.SamplerConfig` of a verb's options.

    Built from every setting the verb has as an option (``--sampler``, ``--steps``,
    ``--spacing``, ``--eta``, ``--guidance``, and ``--no-clip`` or ``--variance`` where
    the verb offers them); the others keep the defaults of `base` (default:
    ``SamplerConfig()``). The config checks them, with the same words as the API.
    """
    import re

    from diffprob.diffusion.samplers.config import SamplerConfig

    names = [name for name in SamplerConfig.field_names() if hasattr(args, name)]
    # Options left at None (--sampler, --spacing) take the config's defaults.
    given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    try:
        return SamplerConfig.from_options(base, **given)
    except ParameterError as exc:
        # The config names its settings; on the command line they are flags.
        flags = "|".join(names)
        raise ParameterError(re.sub(rf"(?<![-\w])({flags})\b", r"--\1", str(exc))) from None


def add_options(add, rows) -> None:
    """Add options given as rows ``(flag, type, default, help[, metavar])``, in order.

    ``add`` is a parser's ``add_argument``; ``type`` None keeps the value a string.
    A verb with many plain options lists them as one table instead of one call each.
    """
    for flag, kind, default, help_text, *metavar in rows:
        add(flag, type=kind, default=default, help=help_text, metavar=(metavar or [None])[0])


def option_values(args, *names: str) -> dict:
    """``{name: args.name}`` for `names`: options passed on as keyword arguments."""
    return {name: getattr(args, name) for name in names}
