"""`diffprob joint`: joint and conditional distribution of two channels."""

from __future__ import annotations

from pathlib import Path

from ._common import (
    Outputs,
    add_alpha_option,
    add_bins_and_space,
    add_verb,
    inputs_label,
    load_counted_images,
    print_json,
)

EPILOG = """\
examples:
  diffprob joint photo.png --x R --y G
  diffprob joint photo.png --x R --y B --bins 64 --given R=128 --given R=200 --plot rb.png
  diffprob joint photo.png --space hsv --x H --y S --json

With --plot PLOT and --given, the conditional curves go beside PLOT, one
figure per conditioning channel: rb.png -> rb_given_R.png.
"""


def register(subparsers):
    parser = add_verb(
        subparsers,
        "joint",
        help="joint/conditional histogram of two channels, correlation, mutual information",
        description=(
            "Count every (X, Y) pair of channel values, then report Pearson correlation, "
            "entropies, mutual information, a chi-square test of independence, and the "
            "conditional distributions P(Y | X = v) asked for with --given."
        ),
        epilog=EPILOG,
    )
    parser.add_argument(
        "images", metavar="IMG", nargs="+", help="image file(s) or folder(s); several are pooled"
    )
    parser.add_argument("--x", default="R", help="channel on the X axis (default: R)")
    parser.add_argument("--y", default="G", help="channel on the Y axis (default: G)")
    add_bins_and_space(
        parser,
        bins_help="bins per axis, 1..256 (default: 256)",
        space_help="colour space the channels belong to (default: rgb)",
    )
    add_alpha_option(parser)
    parser.add_argument(
        "--given",
        metavar="C=V",
        action="append",
        default=[],
        help="report P(other | C = V) for channel C (X or Y) at code V; "
        "repeatable, e.g. --given R=128 --given R=200",
    )
    parser.add_argument(
        "--plot",
        metavar="PLOT",
        default=None,
        help="write the joint heatmap (log scale) with both marginals",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the numbers (and conditional PMFs) as JSON"
    )
    parser.set_defaults(func=run)


def parse_given(text: str) -> tuple[str, float]:
    """Split ``"R=128"`` into ``("R", 128.0)``."""
    import math

    from diffprob.errors import ParameterError

    name, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not sep or not name.strip() or not math.isfinite(number):
        raise ParameterError(f"--given expects CHANNEL=VALUE, e.g. R=128; got {text!r}")
    return name.strip(), number


def run(args) -> int:
    import numpy as np

    from diffprob.errors import ParameterError
    from diffprob.stats.colorspaces import get_space
    from diffprob.stats.histograms import check_bins, level_to_bin
    from diffprob.stats.io import image_paths
    from diffprob.stats.joint import joint_histogram

    check_bins(args.bins)
    space = get_space(args.space)
    x_name = space.channels[space.channel_index(args.x)]
    y_name = space.channels[space.channel_index(args.y)]
    givens = []
    for text in args.given:
        name, value = parse_given(text)
        channel = space.channels[space.channel_index(name)]
        if channel not in (x_name, y_name):
            raise ParameterError(f"--given {text}: channel must be --x {x_name} or --y {y_name}")
        levels = space.levels[space.channel_index(name)]
        if not 0 <= value < levels:
            raise ParameterError(f"--given {text}: {channel} values are in [0, {levels})")
        givens.append((text, "x" if channel == x_name else "y", channel, value))
    paths = image_paths(args.images)
    outputs = Outputs(inputs=paths)  # all checked now; written together at the end
    plot_path = None
    cond_paths = {}  # axis -> figure of the conditionals given that channel
    if args.plot is not None:
        plot_path = outputs.add(args.plot)
        for _, axis, channel, _ in givens:
            if axis not in cond_paths:
                name = f"{plot_path.stem}_given_{channel}{plot_path.suffix}"
                cond_paths[axis] = outputs.add(plot_path.with_name(name))
    images = load_counted_images(paths, args.alpha)

    joint = joint_histogram(images, x=x_name, y=y_name, bins=args.bins, space=space.name)
    chi2 = joint.chi2_independence()

    conditionals = []
    for text, axis, channel, value in givens:
        other = joint.y if axis == "x" else joint.x
        marginal = joint.marginal_x if axis == "x" else joint.marginal_y
        row = joint.bin_of(axis, value)
        entry = {
            "given": text,
            "channel": channel,
            "value": value,
            "bin": row,
            "other": other,
            "probability_of_condition": float(marginal[row]),
        }
        if marginal[row] > 0:
            # Moments in codes, exactly, from the full-resolution counts.
            table = joint.level_counts if axis == "x" else joint.level_counts.T
            in_bin = level_to_bin(table.shape[0], joint.bins) == row
            counts = table[in_bin].sum(axis=0)
            codes = np.arange(counts.size)
            p_codes = counts / counts.sum()
            mean = float(p_codes @ codes)
            entry.update(
                mean=mean,
                std=float(np.sqrt(p_codes @ (codes - mean) ** 2)),
                mode=int(np.argmax(counts)),
                pmf=joint.conditional(axis, value),
            )
        else:
            entry.update(mean=None, std=None, mode=None, pmf=None)
        conditionals.append(entry)

    if plot_path is not None:
        from diffprob.plot.statistics import plot_conditionals, plot_joint_histogram, save_figure

        what = inputs_label(paths)
        with outputs:
            save_figure(
                plot_joint_histogram(
                    joint,
                    title=(
                        f"{what}: joint {joint.x}-{joint.y}, {joint.bins} bins (log scale), "
                        f"r = {joint.correlation:.3f}, "
                        f"I = {joint.mutual_information_bits:.3f} bits"
                    ),
                ),
                outputs.temp(plot_path),
            )
            for axis, path in cond_paths.items():
                values = [g[3] for g in givens if g[1] == axis]
                save_figure(plot_conditionals(joint, values, given=axis), outputs.temp(path))

    written = [str(p) for p in [plot_path, *cond_paths.values()] if p is not None]
    if args.json:
        print_json(
            {
                "inputs": [str(p) for p in paths],
                "space": joint.space,
                "x": joint.x,
                "y": joint.y,
                "bins": joint.bins,
                "n_pixels": joint.n_pixels,
                "correlation": joint.correlation,
                "entropy_x_bits": joint.entropy_x_bits,
                "entropy_y_bits": joint.entropy_y_bits,
                "joint_entropy_bits": joint.joint_entropy_bits,
                "mutual_information_bits": joint.mutual_information_bits,
                "chi2": {
                    "statistic": chi2.statistic,
                    "pvalue": chi2.pvalue,
                    "dof": chi2.dof,
                    "cramers_v": chi2.cramers_v,
                },
                "conditionals": conditionals,
                "written": written,
            }
        )
        return 0
    name = inputs_label(paths)
    print(
        f"{name}: {joint.space} {joint.x} vs {joint.y}, {joint.bins} bins, "
        f"{joint.n_pixels:,} pixels"
    )
    print(f"  Pearson r {joint.correlation:+.4f}")
    print(
        f"  H({joint.x}) {joint.entropy_x_bits:.3f}  H({joint.y}) {joint.entropy_y_bits:.3f}  "
        f"H({joint.x},{joint.y}) {joint.joint_entropy_bits:.3f}  "
        f"I({joint.x};{joint.y}) {joint.mutual_information_bits:.3f} bits"
    )
    print(
        f"  chi-square independence: {chi2.statistic:.4g} on {chi2.dof} dof, "
        f"p = {chi2.pvalue:.3g}, Cramer's V {chi2.cramers_v:.3f}"
    )
    for c in conditionals:
        label = f"P({c['other']} | {c['channel']} = {c['value']:g})"
        if c["pmf"] is None:
            print(f"  {label}: undefined, no pixel has {c['channel']} in that bin")
        else:
            print(
                f"  {label}: mean {c['mean']:.2f}, std {c['std']:.2f}, mode {c['mode']} "
                f"(P({c['channel']} bin) = {c['probability_of_condition']:.4f})"
            )
    for path in written:
        print(f"wrote {Path(path)}")
    return 0
