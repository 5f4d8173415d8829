"""Figures for the model half: the forward process, SNR over t, sample grids.

Like :mod:`diffprob.plot.statistics`, every function builds a :class:`matplotlib.figure.Figure`
directly (no pyplot), so they work headless; save with :func:`diffprob.plot.statistics.save_figure`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from diffprob.errors import ParameterError

__all__ = ["plot_forward_process", "plot_sample_grid", "plot_snr", "plot_trajectory"]


def _display(x) -> np.ndarray:
    """(C, H, W) model-range array -> (H, W, C) in [0, 1] for imshow."""
    x = np.asarray(x, dtype=np.float64)
    return np.clip((x.transpose(1, 2, 0) + 1) / 2, 0, 1)


def plot_forward_process(steps, *, bins: int = 60, title: str | None = None) -> Figure:
    """A row of noised images with, under each, its pixel histogram and the theory.

    Parameters
    ----------
    steps : sequence of ForwardStep
        From :func:`diffprob.diffusion.forward_process.forward_steps`.
    bins : int, optional
        Histogram bins.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
        Top row: x_t (clipped to [-1, 1] for display). Bottom row: density histogram of
        the pixels of x_t (all channels), the exact mixture density (solid) and N(0, 1)
        (dotted), with the KS statistic.

    Examples
    --------
    >>> from diffprob.diffusion.forward_process import forward_steps
    >>> from diffprob.diffusion.schedule import NoiseSchedule
    >>> x0 = np.linspace(-1, 1, 3 * 8 * 8).reshape(3, 8, 8)
    >>> fig = plot_forward_process(forward_steps(x0, NoiseSchedule(100), [0, 10, 100], generator=0))
    >>> len(fig.axes)
    6
    """
    steps = list(steps)
    if not steps:
        raise ParameterError("nothing to plot: no forward steps")
    n = len(steps)
    fig = Figure(figsize=(2.6 * n, 5.4), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False, height_ratios=[1.1, 1])
    lo = min(-3.0, min(float(s.x_t.min()) for s in steps))
    hi = max(3.0, max(float(s.x_t.max()) for s in steps))
    grid = np.linspace(lo, hi, 400)
    gauss = np.exp(-0.5 * grid**2) / math.sqrt(2 * math.pi)
    for k, step in enumerate(steps):
        ax_img, ax_hist = axes[0, k], axes[1, k]
        x_t = step.x_t
        if x_t.ndim == 3 and x_t.shape[0] in (1, 3):
            ax_img.imshow(_display(x_t), interpolation="nearest")
        else:
            ax_img.imshow(np.clip((np.squeeze(x_t) + 1) / 2, 0, 1), cmap="gray", vmin=0, vmax=1)
        ax_img.set_title(f"t = {step.t}\n" + rf"$\bar\alpha_t$ = {step.alpha_bar:.3g}", fontsize=9)
        ax_img.set_axis_off()
        ax_hist.hist(
            x_t.ravel(),
            bins=bins,
            range=(lo, hi),
            density=True,
            color="0.6",
            label="pixels of $x_t$",
        )
        if not step.mixture.is_discrete:
            ax_hist.plot(grid, step.mixture.pdf(grid), "C3", lw=1.5, label="theory (mixture)")
            ax_hist.text(
                0.03,
                0.95,
                f"KS D = {step.ks_statistic:.3f}",
                transform=ax_hist.transAxes,
                fontsize=8,
                va="top",
            )
        ax_hist.plot(grid, gauss, "k:", lw=1, label="N(0, 1)")
        ax_hist.set_xlim(lo, hi)
        ax_hist.set_xlabel("pixel value")
        ax_hist.set_yticks([])
        if k == 0:
            ax_hist.set_ylabel("density")
        if k == n - 1:
            ax_hist.legend(fontsize=7, loc="upper right")
    fig.suptitle(
        title or r"Forward process: $x_t \sim N(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I)$"
    )
    return fig


def plot_snr(schedules, *, labels: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """Signal and noise scales and log10 SNR over t for one or more schedules.

    Parameters
    ----------
    schedules : NoiseSchedule or sequence of NoiseSchedule
        The schedules to compare (T may differ: the x axis is t / T).
    labels : sequence of str, optional
        Legend labels (default: ``repr`` of each schedule).
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
        Left: sqrt(alpha_bar_t) (signal) and sqrt(1 - alpha_bar_t) (noise). Right:
        log10 SNR(t) = log10(alpha_bar_t / (1 - alpha_bar_t)), for t >= 1 (a schedule
        with zero terminal SNR has no finite value at t = T; its legend says so).

    Examples
    --------
    >>> from diffprob.diffusion.schedule import NoiseSchedule
    >>> fig = plot_snr([NoiseSchedule(500), NoiseSchedule(500, "cosine")])
    >>> len(fig.axes)
    2
    """
    if not isinstance(schedules, (list, tuple)):
        schedules = [schedules]
    if labels is None:
        labels = [repr(s) for s in schedules]
    if len(labels) != len(schedules):
        raise ParameterError(f"{len(labels)} labels for {len(schedules)} schedules")
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax_scale, ax_snr = fig.subplots(1, 2)
    for k, (schedule, label) in enumerate(zip(schedules, labels, strict=True)):
        T = schedule.num_timesteps
        ab = schedule.alpha_bar.double().cpu().numpy()
        u = np.arange(T + 1) / T
        color = f"C{k}"
        ax_scale.plot(u, np.sqrt(ab), color=color, label=f"{label}: signal")
        ax_scale.plot(u, np.sqrt(1 - ab), color=color, ls="--", label=f"{label}: noise")
        with np.errstate(divide="ignore"):  # SNR is exactly 0 at t = T with zero terminal SNR
            log_snr = np.log10(ab[1:] / (1 - ab[1:]))
        finite = np.isfinite(log_snr)
        if not finite.all():
            label = f"{label} (SNR = 0 at t = T)"
        ax_snr.plot(u[1:][finite], log_snr[finite], color=color, label=label)
    ax_scale.set_xlabel("t / T")
    ax_scale.set_ylabel(r"$\sqrt{\bar\alpha_t}$ (solid), $\sqrt{1-\bar\alpha_t}$ (dashed)")
    ax_scale.legend(fontsize=7)
    ax_snr.axhline(0, color="0.7", lw=0.8)
    ax_snr.set_xlabel("t / T")
    ax_snr.set_ylabel(r"$\log_{10}$ SNR$(t)$")
    ax_snr.legend(fontsize=7)
    fig.suptitle(title or "Noise schedules")
    return fig


def _to_uint8_nhwc(images) -> np.ndarray:
    from diffprob.diffusion.model_range import from_model_range

    if hasattr(images, "images"):
        images = images.images
    if hasattr(images, "detach") or np.asarray(images).dtype != np.uint8:
        return from_model_range(images)
    return np.asarray(images)


def plot_sample_grid(
    images,
    *,
    ncols: int | None = None,
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
    scale: int = 4,
) -> Figure:
    """Show samples as one crisp grid.

    Parameters
    ----------
    images : SampleResult, torch.Tensor or ndarray
        (n, C, H, W) floats in [-1, 1] (model range), or (n, H, W, 3) uint8.
    ncols : int, optional
        Images per row (default ceil(sqrt(n))).
    row_labels : sequence of str, optional
        A label left of each row (e.g. class names with :func:`~diffprob.diffusion.sampling.per_class_context`).
    title : str, optional
        Figure title.
    scale : int, optional
        Nearest-neighbour upscaling of each image.

    Returns
    -------
    Figure

    Examples
    --------
    >>> fig = plot_sample_grid(np.zeros((6, 3, 4, 4)), ncols=3, row_labels=["a", "b"])
    >>> len(fig.axes)
    1
    """
    from diffprob.sprites.grid import make_grid

    tiles = _to_uint8_nhwc(images)
    n, h = tiles.shape[0], tiles.shape[1]
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    pad = 1
    grid = make_grid(tiles, ncols, scale=scale, pad=pad)
    fig = Figure(
        figsize=(max(3.0, grid.shape[1] / 60), max(2.0, grid.shape[0] / 60) + 0.4),
        layout="constrained",
    )
    ax = fig.subplots()
    ax.imshow(grid, interpolation="nearest")
    ax.set_xticks([])
    if row_labels is not None:
        if len(row_labels) != nrows:
            raise ParameterError(f"{len(row_labels)} row labels for {nrows} rows")
        tile = h * scale + pad
        ax.set_yticks([pad + r * tile + h * scale / 2 for r in range(nrows)], list(row_labels))
        ax.tick_params(length=0)
    else:
        ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title)
    return fig


def plot_trajectory(
    result, *, n_show: int = 4, max_frames: int = 10, title: str | None = None
) -> Figure:
    """Rows of samples, columns of captured timesteps: denoising as a still picture.

    Parameters
    ----------
    result : SampleResult
        From :func:`~diffprob.diffusion.sampling.sample` with ``trajectory_every > 0``.
    n_show : int, optional
        How many samples (rows).
    max_frames : int, optional
        At most this many columns, evenly chosen, always including the first and last.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import torch
    >>> from diffprob.diffusion.sampling import SampleResult
    >>> states = [torch.zeros(2, 3, 4, 4)] * 3
    >>> res = SampleResult(states[-1], [2, 1], states, [2, 1, 0])
    >>> fig = plot_trajectory(res, n_show=2)
    >>> len(fig.axes)
    6
    """
    from diffprob.diffusion.model_range import from_model_range

    states, ts = result.trajectory, result.trajectory_timesteps
    if not states:
        raise ParameterError("no trajectory: sample with trajectory_every > 0")
    picks = sorted(
        set(np.linspace(0, len(states) - 1, min(max_frames, len(states))).round().astype(int))
    )
    n_show = min(n_show, len(states[0]))
    fig = Figure(figsize=(1.3 * len(picks), 1.4 * n_show + 0.4), layout="constrained")
    axes = fig.subplots(n_show, len(picks), squeeze=False)
    for col, idx in enumerate(picks):
        frame = from_model_range(states[idx][:n_show])
        for row in range(n_show):
            ax = axes[row, col]
            ax.imshow(frame[row], interpolation="nearest")
            ax.set_axis_off()
            if row == 0:
                ax.set_title(f"t = {ts[idx]}", fontsize=9)
    fig.suptitle(title or "Denoising: x_t from t = T to 0")
    return fig
