"""`diffprob noise`: add Gaussian noise to an image and report what was added."""

from __future__ import annotations

import math
from pathlib import Path

from ._common import Outputs, add_verb, finite_float, print_json

EPILOG = """\
examples:
  diffprob noise photo.png --var 0.01 --seed 1
  diffprob noise photo.png --mean 0.05 --var 0.02 -o noisy.png --plot noise.png
  diffprob noise photo.png --var 0.1 --no-clip --json
"""


def register(subparsers):
    parser = add_verb(
        subparsers,
        "noise",
        help="add Gaussian noise N(mean, var) to an image",
        description=(
            "Add independent Gaussian noise N(mean, var) to every pixel and channel, with "
            "skimage.util.random_noise semantics: the 8-bit image is scaled to [0, 1], "
            "noise is added, the result is clipped to [0, 1] and written as 8-bit RGB. "
            "Prints the measured noise statistics."
        ),
        epilog=EPILOG,
    )
    parser.add_argument("image", metavar="IMG", help="input image (any format OpenCV reads)")
    parser.add_argument(
        "--mean",
        type=finite_float,
        default=0.0,
        help="noise mean in [0, 1] image units (default: 0)",
    )
    parser.add_argument(
        "--var",
        type=finite_float,
        default=0.01,
        help="noise variance (not std), >= 0 (default: 0.01)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed for a reproducible result (default: a fresh one, printed so the run can be repeated)",
    )
    parser.add_argument(
        "--no-clip",
        dest="clip",
        action="store_false",
        help="do not clip the float result to [0, 1]; the summary then counts "
        "values outside [0, 1] (the 8-bit file is clipped when written anyway)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        default=None,
        help="noisy image to write (default: <stem>_noisy_m<mean>_v<var>.png "
        "in the current folder); never the input itself",
    )
    parser.add_argument(
        "--plot",
        metavar="PLOT",
        default=None,
        help="also write a figure of the noise distribution: Gaussian PDF/CDF, "
        "its 8-bit PMF/CDF, the measured noise and the clipped mass",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the numbers as JSON instead of the human summary"
    )
    parser.set_defaults(func=run, draws_seed=True)


def run(args) -> int:
    from diffprob.errors import ParameterError
    from diffprob.stats.io import load_image, save_image
    from diffprob.stats.noise import add_gaussian_noise_uint8

    if args.var < 0:
        raise ParameterError(f"--var must be >= 0, got {args.var}")
    seed = args.seed  # checked, or drawn, by the command line's main
    src = Path(args.image)
    image = load_image(src)
    default = f"{src.stem}_noisy_m{args.mean:g}_v{args.var:g}.png"
    out = Path(default if args.output is None else args.output)
    if args.plot is not None and Path(args.plot).resolve() == out.resolve():
        raise ParameterError(f"--plot and the output image are the same file: {out}")
    outputs = Outputs(inputs=[src])  # all checked now; written together at the end
    out = outputs.add(out)
    plot_path = None if args.plot is None else outputs.add(args.plot)

    # Block by block: memory stays the image, its 8-bit result and a few tens of MB.
    result = add_gaussian_noise_uint8(image, args.mean, args.var, clip=args.clip, rng=seed)
    stored = result.image
    summary = {
        "input": str(src),
        "output": str(out),
        "shape": list(image.shape),
        "mean": args.mean,
        "var": args.var,
        "seed": seed,
        "clip": args.clip,
        **{key: getattr(result, key) for key in result._fields[1:]},
    }
    with outputs:
        save_image(outputs.temp(out), stored)
        if plot_path is not None:
            from diffprob.plot.statistics import plot_noise_distribution, save_figure

            fig = plot_noise_distribution(
                image,
                args.mean,
                args.var,
                noisy=stored,
                title=f"{src.name}: N(mean={args.mean:g}, var={args.var:g})"
                f" stored in 8 bits, seed={seed}",
            )
            save_figure(fig, outputs.temp(plot_path))
            summary["plot"] = str(plot_path)

    if args.json:
        print_json(summary)
    else:
        h, w, _ = image.shape
        print(
            f"{src.name}: {w}x{h}, noise N(mean={args.mean:g}, var={args.var:g}), "
            f"std {math.sqrt(args.var):.4g}, seed {seed}"
        )
        print(f"  drawn noise:  mean {summary['noise_mean']:+.5f}  var {summary['noise_var']:.5f}")
        print(
            f"  stored noise: mean {summary['stored_noise_mean']:+.5f}  "
            f"var {summary['stored_noise_var']:.5f}  (after clipping and 8-bit rounding)"
        )
        print(
            f"  measured, values at 0: {summary['fraction_at_0']:.2%}   "
            f"at 255: {summary['fraction_at_255']:.2%}"
        )
        if not args.clip:
            print(f"  float values outside [0, 1]: {summary['fraction_outside_0_1']:.2%}")
        print(f"wrote {out}")
        if plot_path is not None:
            print(f"wrote {plot_path}")
    return 0
