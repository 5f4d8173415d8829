"""`diffprob forward`: noise an image along the forward process and check its histograms."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ._common import Outputs, positive_int, print_json

EPILOG = """\
examples:
  diffprob forward photo.png --t 0,50,100,250,500 --seed 0 -o forward.png
  diffprob forward sprite.png --schedule cosine --timesteps 1000 --t 0,100,500,1000
  diffprob forward photo.png --t 10,100 --json
"""


def _timesteps(text: str) -> list[int]:
    """argparse type: comma-separated integers."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers like 0,50,500, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one timestep")
    return values


def register(subparsers):
    parser = subparsers.add_parser(
        "forward",
        help="noise an image with the forward process; pixel histograms vs theory",
        description=(
            "Map an image to [-1, 1], draw x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) "
            "eps at each requested timestep (one seeded noise draw per t) and plot a row of "
            "the noised images with, under each, the histogram of its pixel values next to "
            "the distribution it must follow: the mixture over pixels i of "
            "N(sqrt(alpha_bar_t) x0_i, 1 - alpha_bar_t). Prints, per t, the measured pixel "
            "mean and variance against theory and the Kolmogorov-Smirnov statistic."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("image", metavar="IMG", help="input image (any format OpenCV reads)")
    parser.add_argument(
        "--t",
        dest="t",
        type=_timesteps,
        default=[0, 50, 100, 250, 500],
        metavar="T1,T2,...",
        help="timesteps to show, each in [0, --timesteps] (default: 0,50,100,250,500)",
    )
    parser.add_argument(
        "--schedule",
        choices=("linear", "cosine"),
        default="linear",
        help="noise schedule: linear betas 1e-4 -> 0.02 (the course's, default) "
        "or cosine (Nichol & Dhariwal)",
    )
    parser.add_argument(
        "--zero-terminal-snr",
        action="store_true",
        help="rescale the schedule so that alpha_bar_T = 0: x_T is pure noise, with no trace "
        "of the image (Lin et al. 2024; the shipped model's schedule)",
    )
    parser.add_argument(
        "--timesteps",
        type=positive_int,
        default=500,
        metavar="T",
        help="number of diffusion steps T of the schedule (default: 500)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed for the noise (default: a fresh one, printed so the run can be repeated)",
    )
    parser.add_argument(
        "--bins", type=positive_int, default=60, help="histogram bins in the figure (default: 60)"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        default=None,
        help="figure to write (default: <stem>_forward.png in the current "
        "folder); never the input itself",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the per-t numbers as JSON instead of the table"
    )
    parser.set_defaults(func=run, draws_seed=True)


def run(args) -> int:
    import numpy as np

    from diffprob.diffusion.forward_process import forward_steps
    from diffprob.diffusion.schedule import NoiseSchedule
    from diffprob.errors import ParameterError
    from diffprob.stats.io import load_image
    from diffprob.util.limits import MAX_FIGURE_BINS, MAX_TIMESTEPS, check_upper

    check_upper("--timesteps", args.timesteps, MAX_TIMESTEPS)
    check_upper("--bins", args.bins, MAX_FIGURE_BINS)
    # One column of the figure and one float32 copy of the image per timestep.
    check_upper("the number of --t values", len(args.t), 20, "the figure has one column each")
    # The forward process does not depend on what a network would predict; the schedule
    # only refuses zero terminal SNR with eps-prediction, so name the type that goes with it.
    schedule = NoiseSchedule(
        args.timesteps,
        args.schedule,
        zero_terminal_snr=args.zero_terminal_snr,
        prediction_type="v_prediction" if args.zero_terminal_snr else "epsilon",
    )
    for t in args.t:
        if not 0 <= t <= schedule.num_timesteps:
            raise ParameterError(
                f"timestep {t} is outside [0, {schedule.num_timesteps}] (see --timesteps)"
            )
    src = Path(args.image)
    image = load_image(src)
    outputs = Outputs(inputs=[src])
    out = outputs.add(args.output, f"{src.stem}_forward.png")
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".pdf", ".svg"):
        raise ParameterError(f"figure must be .png, .jpg, .pdf or .svg, got {str(out)!r}")

    x0 = image.transpose(2, 0, 1).astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    steps = forward_steps(x0, schedule, args.t, generator=args.seed)

    from diffprob.plot.diffusion import plot_forward_process
    from diffprob.plot.statistics import save_figure

    h, w = image.shape[:2]
    fig = plot_forward_process(
        steps,
        bins=args.bins,
        title=f"{src.name}: forward process, {schedule!r}, seed={args.seed}",
    )
    with outputs:
        save_figure(fig, outputs.temp(out))
    summary = {
        "input": str(src),
        "output": str(out),
        "shape": [h, w, 3],
        "schedule": schedule.config.to_dict(),
        "seed": args.seed,
        "steps": [s.to_dict() for s in steps],
    }
    if args.json:
        print_json(summary)
    else:
        print(f"{src.name}: {w}x{h}, {schedule!r}, seed {args.seed}")
        print("     t  alpha_bar   mean (theory)        var (theory)        KS D   KS p")
        for s in steps:
            ks = (
                "     -      -"
                if math.isnan(s.ks_statistic)
                else (f"{s.ks_statistic:6.4f} {s.ks_pvalue:6.3f}")
            )
            print(
                f"{s.t:6d}  {s.alpha_bar:9.5f}  {s.mean:+.4f} ({s.mean_theory:+.4f})  "
                f"{s.var:8.4f} ({s.var_theory:8.4f})  {ks}"
            )
        print(f"wrote {out}")
    return 0
