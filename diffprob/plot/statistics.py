"""Figures for the statistics (and the model) half, as matplotlib Figures.

Every function builds a :class:`matplotlib.figure.Figure` directly instead of
going through pyplot, so nothing depends on a display or on global state:
the figures work headless, in scripts and in notebooks (where a returned
Figure is shown by the notebook). Save with :func:`save_figure`. Titles carry
the parameters that made the figure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from diffprob.errors import ImageWriteError, ParameterError

__all__ = [
    "save_figure",
    "plot_noise_distribution",
    "plot_noisy_pair",
    "plot_channel_histograms",
    "plot_channel_pmfs_compare",
    "plot_joint_histogram",
    "plot_conditionals",
]


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 100) -> None:
    """Save ``fig`` (format from the extension); ImageWriteError on failure."""
    try:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    except (OSError, ValueError) as exc:
        raise ImageWriteError(f"{str(path)!r}: cannot save figure ({exc})") from None


def _colors(space: str) -> tuple[str, ...]:
    from diffprob.stats.colorspaces import get_space

    return get_space(space).colors


def plot_noise_distribution(clean, mean=0.0, var=0.01, *, noisy=None, title=None) -> Figure:
    """Gaussian PDF and its 8-bit PMF, with CDFs, the measured noise and the clipped mass.

    Parameters
    ----------
    clean : int or ndarray of uint8
        A clean pixel code, or the clean image (the model is then the mixture
        over its pixel values, see :func:`diffprob.stats.distributions.quantized_noise_pmf`).
    mean, var : float
        Noise parameters in [0, 1] units.
    noisy : ndarray of uint8, optional
        The noisy image as stored (same shape as ``clean``; any shape when
        ``clean`` is one pixel code, e.g. many noisy draws of that pixel); its
        measured noise ``(noisy - clean) / 255`` is overlaid as a histogram and
        an empirical CDF.
    title : str, optional
        Overrides the default title, which states mean and variance.

    Returns
    -------
    Figure
        Left: density :math:`f(x)/255` (probability per 8-bit step), the
        quantised PMF and the measured frequencies; the probability clipping
        piles at 0 and 255 is printed and, for one clean value, marked.
        Right: the CDFs.

    Examples
    --------
    >>> fig = plot_noise_distribution(128, 0.0, 0.01)
    >>> len(fig.axes)
    2
    """
    from diffprob.stats.distributions import gaussian_cdf, gaussian_pdf, quantized_noise_pmf

    q = quantized_noise_pmf(clean, mean, var)
    sigma = float(np.sqrt(var))
    lo = max(-1.0, mean - 5 * sigma - 2 / 255)
    hi = min(1.0, mean + 5 * sigma + 2 / 255)
    keep = (q.values >= lo) & (q.values <= hi)
    grid = np.linspace(lo, hi, 801)

    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_pmf, ax_cdf = fig.subplots(1, 2)
    if noisy is not None:
        clean_arr = np.asarray(clean)
        noisy_arr = np.asarray(noisy)
        if clean_arr.ndim and noisy_arr.shape != clean_arr.shape:
            raise ParameterError(
                f"noisy shape {noisy_arr.shape} differs from clean shape {clean_arr.shape}"
            )
        steps = noisy_arr.astype(np.int16) - clean_arr.astype(np.int16)
        freq = np.bincount(steps.ravel() + 255, minlength=511) / steps.size
        edges = np.append(q.values[keep] - 0.5 / 255, q.values[keep][-1] + 0.5 / 255)
        ax_pmf.stairs(freq[keep], edges, fill=True, color="0.75", label="measured")
        ax_cdf.step(
            q.values, np.cumsum(freq), where="post", color="0.5", lw=3, alpha=0.6, label="measured"
        )
    if sigma > 0:
        ax_pmf.plot(
            grid,
            gaussian_pdf(grid, mean, var) / 255,
            color="tab:blue",
            label=r"Gaussian $f(x)/255$",
        )
        ax_cdf.plot(grid, gaussian_cdf(grid, mean, var), color="tab:blue", label="Gaussian CDF")
    ax_pmf.plot(q.values[keep], q.pmf[keep], ".", color="tab:red", ms=4, label="8-bit PMF")
    ax_cdf.step(q.values, q.cdf, where="post", color="tab:red", lw=1, label="8-bit CDF")

    interior = keep.copy()
    if np.ndim(clean) == 0:
        c = int(clean)
        interior[[255 - c, 510 - c]] = False
    # Scale to the bell, not to a clipped spike that can be 20x taller.
    peak = max(
        float(q.pmf[interior].max(initial=0.0)),
        gaussian_pdf(mean, mean, var) / 255 if sigma > 0 else 0.0,
    )
    ymax = 1.3 * peak if peak > 0 else 1.0
    if np.ndim(clean) == 0:
        for k, tail, side in ((-c, q.clipped_low, "0"), (255 - c, q.clipped_high, "255")):
            mass = q.pmf[k + 255]
            if lo <= k / 255 <= hi and tail > 1e-4:
                ax_pmf.vlines(k / 255, 0, min(mass, ymax), color="tab:red", lw=2)
                ax_pmf.annotate(
                    f"P(pixel = {side}) = {mass:.3f}\n(clipped tail {tail:.3f})",
                    (k / 255, min(mass, ymax)),
                    xytext=(8 if side == "0" else -8, -60),
                    textcoords="offset points",
                    ha="left" if side == "0" else "right",
                    va="top",
                    fontsize=8,
                    color="tab:red",
                    bbox={"fc": "white", "alpha": 0.85, "ec": "none"},
                )
    ax_pmf.set_ylim(0, ymax)
    # Two different quantities, labelled as such: theory's share of pixels that clipping
    # moves, and the measured share that ends at 0 or 255 (which also counts pixels that
    # round there without clipping).
    notes = [f"theory: clipping moves {q.clipped_low:.2%} to 0, {q.clipped_high:.2%} to 255"]
    if noisy is not None:
        at_0, at_255 = float(np.mean(noisy_arr == 0)), float(np.mean(noisy_arr == 255))
        notes.append(f"measured: {at_0:.2%} of values are 0, {at_255:.2%} are 255")
    ax_pmf.text(0.02, 0.97, "\n".join(notes), transform=ax_pmf.transAxes, va="top", fontsize=8)
    ax_pmf.set(
        xlabel="noise (image units, step 1/255)", ylabel="probability per step", xlim=(lo, hi)
    )
    ax_cdf.set(xlabel="noise (image units)", ylabel="P(noise <= x)", xlim=(lo, hi), ylim=(0, 1.02))
    ax_pmf.legend(fontsize=8, loc="best")
    ax_cdf.legend(fontsize=8, loc="lower right")
    where = f"pixel {int(clean)}" if np.ndim(clean) == 0 else "image pixels"
    fig.suptitle(title or f"Gaussian noise N(mean={mean:g}, var={var:g}) stored in 8 bits, {where}")
    return fig


def _show_image(ax, image, title):
    image = np.asarray(image)
    if image.dtype.kind == "f":
        image = np.clip(image, 0, 1)
    ax.imshow(
        image,
        cmap="gray" if image.ndim == 2 else None,
        interpolation="nearest",
        vmin=0,
        vmax=1 if image.dtype.kind == "f" else 255,
    )
    ax.set_title(title)
    ax.set_axis_off()


def plot_noisy_pair(original, noisy, *, mean=None, var=None, title=None) -> Figure:
    """The original and the noisy image side by side.

    ``original``/``noisy`` are RGB arrays (``uint8``, or float in [0, 1]);
    ``mean``/``var`` only go into the title.

    Examples
    --------
    >>> img = np.zeros((8, 8, 3), np.uint8)
    >>> len(plot_noisy_pair(img, img, mean=0, var=0.01).axes)
    2
    """
    fig = Figure(figsize=(10, 5), layout="constrained")
    left, right = fig.subplots(1, 2)
    _show_image(left, original, "original")
    params = "" if var is None else f" (mean={mean or 0:g}, var={var:g})"
    _show_image(right, noisy, "noisy" + params)
    if title:
        fig.suptitle(title)
    return fig


def plot_channel_histograms(hists, *, log: bool = False, title: str | None = None) -> Figure:
    """Per-channel PMF (left) and CDF (right) of a :class:`~diffprob.stats.histograms.ChannelHistograms`.

    Examples
    --------
    >>> from diffprob.stats.histograms import channel_histograms
    >>> h = channel_histograms(np.zeros((4, 4, 3), np.uint8), bins=32)
    >>> len(plot_channel_histograms(h).axes)
    2
    """
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_pmf, ax_cdf = fig.subplots(1, 2)
    for c, (name, color) in enumerate(zip(hists.channels, _colors(hists.space), strict=True)):
        edges = hists.bin_edges[c]
        label = f"{name}  (mean {hists.mean[c]:.1f}, entropy {hists.entropy_bits[c]:.2f} bits)"
        ax_pmf.stairs(hists.pmf[c], edges, color=color, label=label)
        ax_cdf.stairs(hists.cdf[c], edges, color=color, label=name, baseline=None)
    if log:
        ax_pmf.set_yscale("log")
    ax_pmf.set(xlabel=f"{hists.space} code", ylabel="P(bin)")
    ax_cdf.set(xlabel=f"{hists.space} code", ylabel="P(value <= x)", ylim=(0, 1.02))
    ax_pmf.legend(fontsize=8)
    ax_cdf.legend(fontsize=8, loc="lower right")
    pooled = f", {hists.n_images} images pooled" if hists.n_images > 1 else ""
    fig.suptitle(
        title
        or f"{hists.space.upper()} channel distributions, {hists.bins} bins, "
        f"{hists.n_pixels:,} pixels{pooled}"
    )
    return fig


def plot_channel_pmfs_compare(
    hists: Mapping[str, object], *, cdf: bool = False, log: bool = False, title: str | None = None
) -> Figure:
    """Compare the channel PMFs (or CDFs) of several collections, one panel per channel.

    Parameters
    ----------
    hists : mapping of label -> ChannelHistograms
        E.g. ``{"real sprites": h_real, "generated": h_model}``; all must share
        space and bins.
    cdf : bool, optional
        Plot CDFs instead of PMFs.
    log : bool, optional
        Logarithmic probability axis (PMFs only).

    Examples
    --------
    >>> from diffprob.stats.histograms import channel_histograms
    >>> rng = np.random.default_rng(0)
    >>> a = channel_histograms(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), bins=16)
    >>> b = channel_histograms(np.full((8, 8, 3), 200, np.uint8), bins=16)
    >>> len(plot_channel_pmfs_compare({"random": a, "flat": b}).axes)
    3
    """
    if not hists:
        raise ParameterError("nothing to compare")
    items = list(hists.items())
    first = items[0][1]
    for label, h in items[1:]:
        if h.space != first.space or h.bins != first.bins:
            raise ParameterError(f"{label!r}: space/bins differ from {items[0][0]!r}")
    n = len(first.channels)
    fig = Figure(figsize=(4.2 * n, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, sharey=True))
    styles = ["-", "--", ":", "-."]
    for c, ax in enumerate(axes):
        for i, (label, h) in enumerate(items):
            values = h.cdf[c] if cdf else h.pmf[c]
            ax.stairs(
                values,
                h.bin_edges[c],
                label=label,
                linestyle=styles[i % len(styles)],
                color=f"C{i}",
                baseline=None if cdf else 0,
            )
        ax.set(title=first.channels[c], xlabel=f"{first.space} code")
        if log and not cdf:
            ax.set_yscale("log")
    axes[0].set_ylabel("P(value <= x)" if cdf else "P(bin)")
    axes[0].legend(fontsize=8)
    kind = "CDF" if cdf else "PMF"
    fig.suptitle(title or f"{first.space.upper()} channel {kind}s compared, {first.bins} bins")
    return fig


def plot_joint_histogram(joint, *, log: bool = True, title: str | None = None) -> Figure:
    """Heatmap of p(x, y) with both marginals, linear or logarithmic colour scale.

    Examples
    --------
    >>> from diffprob.stats.joint import joint_histogram
    >>> j = joint_histogram(np.zeros((4, 4, 3), np.uint8), bins=16)
    >>> len(plot_joint_histogram(j, log=False).axes)    # heatmap, 2 marginals, colourbar
    4
    """
    from matplotlib.colors import LogNorm, Normalize

    fig = Figure(figsize=(7, 6.5), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(4, 1), height_ratios=(1, 4))
    ax = fig.add_subplot(grid[1, 0])
    ax_top = fig.add_subplot(grid[0, 0], sharex=ax)
    ax_right = fig.add_subplot(grid[1, 1], sharey=ax)
    pmf = joint.pmf.T  # rows of the picture are y
    positive = pmf[pmf > 0]
    if log and positive.size:
        norm = LogNorm(vmin=positive.min(), vmax=positive.max())
        shown = np.where(pmf > 0, pmf, np.nan)
    else:
        norm = Normalize(vmin=0, vmax=max(float(pmf.max()), 1e-12))
        shown = pmf
    extent = (joint.x_edges[0], joint.x_edges[-1], joint.y_edges[0], joint.y_edges[-1])
    image = ax.imshow(
        shown,
        origin="lower",
        extent=extent,
        aspect="auto",
        norm=norm,
        cmap="magma",
        interpolation="nearest",
    )
    fig.colorbar(image, ax=ax_right, label="p(x, y)", location="right")
    ax.set(xlabel=f"{joint.x} ({joint.space} code)", ylabel=f"{joint.y} ({joint.space} code)")
    ax_top.stairs(joint.marginal_x, joint.x_edges, fill=True, color="0.4")
    ax_top.set_ylabel(f"p({joint.x})")
    ax_top.tick_params(labelbottom=False)
    ax_right.stairs(
        joint.marginal_y, joint.y_edges, fill=True, color="0.4", orientation="horizontal"
    )
    ax_right.set_xlabel(f"p({joint.y})")
    ax_right.tick_params(labelleft=False)
    fig.suptitle(
        title
        or (
            f"joint {joint.x}-{joint.y}, {joint.bins} bins ({'log' if log else 'linear'} scale): "
            f"r = {joint.correlation:.3f}, I = {joint.mutual_information_bits:.3f} bits"
        )
    )
    return fig


def plot_conditionals(
    joint, values: Sequence[float], *, given: str = "x", title: str | None = None
) -> Figure:
    """Conditional distributions P(other | given = v) for several values v.

    Values whose bin holds no pixels are skipped (noted in the legend title).

    Examples
    --------
    >>> from diffprob.stats.joint import joint_histogram
    >>> rng = np.random.default_rng(0)
    >>> j = joint_histogram(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), bins=32)
    >>> len(plot_conditionals(j, [64, 192]).axes)
    1
    """
    axis = joint._axis(given)
    cond_name, other = (joint.x, joint.y) if axis == 0 else (joint.y, joint.x)
    edges = joint.y_edges if axis == 0 else joint.x_edges
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    skipped = []
    for i, v in enumerate(values):
        try:
            p = joint.conditional(given, v)
        except ParameterError:
            joint.bin_of(given, v)  # out-of-range values still raise
            skipped.append(f"{v:g}")
            continue
        ax.stairs(p, edges, color=f"C{i}", label=f"{cond_name} = {v:g}")
    marginal = joint.marginal_y if axis == 0 else joint.marginal_x
    ax.stairs(marginal, edges, color="0.5", linestyle="--", label=f"p({other}) (marginal)")
    ax.set(xlabel=f"{other} ({joint.space} code)", ylabel=f"P({other} | {cond_name})")
    legend_title = f"no pixels: {cond_name} = {', '.join(skipped)}" if skipped else None
    ax.legend(fontsize=8, title=legend_title, title_fontsize=8)
    fig.suptitle(title or f"P({other} | {cond_name}), {joint.bins} bins")
    return fig
