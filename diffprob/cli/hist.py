"""`diffprob hist`: per-channel colour distributions of one image or a collection."""

from __future__ import annotations

import csv
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
  diffprob hist photo.png
  diffprob hist paintings/ --space hsv --bins 64 --plot palette.png --csv palette.csv
  diffprob hist a.png b.png c.jpg --space lab --json

CSV columns: bin, then for each channel C in order C_count,C_pmf,C_cdf
(e.g. bin,R_count,R_pmf,R_cdf,G_count,...). One row per bin.
"""


def register(subparsers):
    parser = add_verb(
        subparsers,
        "hist",
        help="per-channel PMF/CDF, moments and entropy of images (pooled)",
        description=(
            "Histogram every channel of the images and print mean, variance, standard "
            "deviation, skewness and entropy per channel. Several images, or folders of "
            "images, are pooled into one distribution. OpenCV 8-bit codes: hsv has H in "
            "0..179 (degrees/2), S and V in 0..255; lab has L*255/100 and a, b offset by 128."
        ),
        epilog=EPILOG,
    )
    parser.add_argument(
        "images",
        metavar="IMG",
        nargs="+",
        help="image files and/or folders (a folder contributes its image files, "
        "sorted by name, not recursing)",
    )
    add_bins_and_space(
        parser,
        bins_help="bins per channel, 1..256, spanning each channel's range (default: 256)",
        space_help="colour space (default: rgb)",
    )
    add_alpha_option(parser)
    parser.add_argument(
        "--plot", metavar="PLOT", default=None, help="write a figure of each channel's PMF and CDF"
    )
    parser.add_argument(
        "--csv",
        metavar="CSV",
        default=None,
        help="write one row per bin: bin, then C_count,C_pmf,C_cdf per channel C",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the statistics (and counts) as JSON instead of the summary",
    )
    parser.set_defaults(func=run)


def write_csv(path: Path, hists) -> None:
    """One row per bin: bin, then ``C_count,C_pmf,C_cdf`` for each channel C.

    A channel with fewer bins than the others (hue has 180 codes) leaves its cells
    empty in the rows past its last bin.
    """
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        header = ["bin"]
        for name in hists.channels:
            header += [f"{name}_count", f"{name}_pmf", f"{name}_cdf"]
        writer.writerow(header)
        for k in range(hists.bins):
            row = [k]
            for c in range(len(hists.channels)):
                if k >= hists.channel_bins[c]:
                    row += ["", "", ""]
                    continue
                row += [
                    int(hists.counts[c, k]),
                    repr(float(hists.pmf[c, k])),
                    repr(float(hists.cdf[c, k])),
                ]
            writer.writerow(row)


def run(args) -> int:
    from diffprob.errors import ParameterError
    from diffprob.stats.histograms import channel_histograms, check_bins
    from diffprob.stats.io import image_paths

    check_bins(args.bins)
    paths = image_paths(args.images)
    if args.plot is not None and args.csv is not None:
        if Path(args.csv).resolve() == Path(args.plot).resolve():
            raise ParameterError(f"--plot and --csv are the same file: {args.csv}")
    outputs = Outputs(inputs=paths)  # all checked now; written together at the end
    plot_path = None if args.plot is None else outputs.add(args.plot)
    csv_path = None if args.csv is None else outputs.add(args.csv)
    images = load_counted_images(paths, args.alpha)

    hists = channel_histograms(images, bins=args.bins, space=args.space)
    with outputs:
        if csv_path is not None:
            write_csv(outputs.temp(csv_path), hists)
        if plot_path is not None:
            from diffprob.plot.statistics import plot_channel_histograms, save_figure

            what = inputs_label(paths)
            fig = plot_channel_histograms(
                hists,
                title=f"{what}: {hists.space.upper()} channel distributions, "
                f"{hists.bins} bins, {hists.n_pixels:,} pixels",
            )
            save_figure(fig, outputs.temp(plot_path))

    if args.json:
        print_json(
            {
                "inputs": [str(p) for p in paths],
                "space": hists.space,
                "bins": hists.bins,
                "channel_bins": dict(zip(hists.channels, hists.channel_bins, strict=True)),
                "channels": list(hists.channels),
                "n_images": hists.n_images,
                "n_pixels": hists.n_pixels,
                "stats": hists.stats(),
                "counts": {
                    name: hists.counts[c, : hists.channel_bins[c]]
                    for c, name in enumerate(hists.channels)
                },
                "csv": csv_path,
                "plot": plot_path,
            }
        )
        return 0
    print(
        f"{len(paths)} image(s), {hists.n_pixels:,} pixels, space {hists.space}, {hists.bins} bins"
    )
    print(f"  {'channel':<8}{'mean':>9}{'var':>11}{'std':>9}{'skew':>8}{'entropy':>13}")
    for name, s in hists.stats().items():
        print(
            f"  {name:<8}{s['mean']:>9.2f}{s['var']:>11.2f}{s['std']:>9.2f}"
            f"{s['skewness']:>8.3f}{s['entropy_bits']:>9.3f} bits"
        )
    for path in (csv_path, plot_path):
        if path is not None:
            print(f"wrote {path}")
    return 0
