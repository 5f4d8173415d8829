"""Figures for evaluation: the diffusion-map spectrum and picture, and metric bars.

Like :mod:`diffprob.plot.statistics`, every function builds a
:class:`matplotlib.figure.Figure` directly (no pyplot state), so it works
headless and in notebooks; save with :func:`diffprob.plot.statistics.save_figure`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from diffprob.errors import ParameterError

__all__ = ["plot_eigenvalue_spectrum", "plot_diffusion_embedding", "plot_evaluation_metrics"]

# Stable colours per evaluation group; other groups cycle through the default palette.
GROUP_COLORS = {
    "real": "tab:blue",
    "reference": "tab:blue",
    "model": "tab:orange",
    "generated": "tab:orange",
    "independent_pixel": "tab:green",
    "noise": "tab:gray",
}


def plot_eigenvalue_spectrum(
    eigenvalues, *, t=1, n_show: int | None = None, title: str | None = None
) -> Figure:
    """Eigenvalues of a diffusion map's Markov matrix, and their t-th powers.

    Parameters
    ----------
    eigenvalues : array_like or DiffusionMap
        Leading eigenvalues in decreasing order (``DiffusionMap.eigenvalues_``),
        or a fitted :class:`~diffprob.evaluation.diffusion_map.DiffusionMap`.
    t : float or sequence of float, optional
        Diffusion time(s) whose :math:`\\lambda^t` are drawn as well.
    n_show : int, optional
        Number of eigenvalues shown (default: all given).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    :math:`\\lambda_0 = 1` belongs to the constant eigenvector and is drawn but
    skipped by the embedding. A gap after :math:`\\lambda_k` says k coordinates
    capture the walk's slow (large-scale) structure; raising t widens the gap.

    Examples
    --------
    >>> fig = plot_eigenvalue_spectrum([1.0, 0.9, 0.85, 0.3, 0.1], t=[1, 4])
    >>> len(fig.axes[0].lines)
    2
    """
    values = getattr(eigenvalues, "eigenvalues_", eigenvalues)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ParameterError("eigenvalues must be a non-empty 1-D array")
    if n_show is not None:
        values = values[: int(n_show)]
    times = [t] if np.isscalar(t) else list(t)
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    index = np.arange(len(values))
    for tau in times:
        ax.plot(
            index, np.clip(values, 0, None) ** tau, "o-", ms=4, label=f"$\\lambda_i^{{{tau:g}}}$"
        )
    ax.axvspan(-0.5, 0.5, color="0.9", zorder=0)
    ax.set_xlabel("i (0 = trivial constant eigenvector, not embedded)")
    ax.set_ylabel("eigenvalue")
    ax.set_ylim(0, 1.05)
    ax.legend()
    ax.set_title(title or f"Diffusion-map spectrum (t = {', '.join(f'{x:g}' for x in times)})")
    fig.tight_layout()
    return fig


def plot_diffusion_embedding(
    embedding,
    groups: Sequence[str] | None = None,
    *,
    components=(0, 1),
    title: str | None = None,
    alpha: float = 0.6,
) -> Figure:
    """2-D scatter of diffusion coordinates, one colour per group.

    Parameters
    ----------
    embedding : array_like, shape (n, k) or DiffusionMap
        Diffusion coordinates (``DiffusionMap.embedding_``), k >= 2.
    groups : sequence of str, optional
        Group of each row (e.g. ``"real"``, ``"model"``, ``"independent_pixel"``);
        groups are drawn in order of first appearance, with a legend.
    components : pair of int, optional
        Which two coordinates to plot (0 = :math:`\\psi_1`).
    title : str, optional
    alpha : float, optional
        Marker opacity.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> emb = np.random.default_rng(0).normal(size=(6, 2))
    >>> fig = plot_diffusion_embedding(emb, ["real"] * 3 + ["model"] * 3)
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['real', 'model']
    """
    emb = np.asarray(getattr(embedding, "embedding_", embedding), dtype=np.float64)
    if emb.ndim != 2 or emb.shape[1] < 2:
        raise ParameterError(f"embedding must have shape (n, k >= 2), got {emb.shape}")
    i, j = (int(c) for c in components)
    if not (0 <= i < emb.shape[1] and 0 <= j < emb.shape[1]):
        raise ParameterError(f"components must be in [0, {emb.shape[1] - 1}], got {components}")
    if groups is None:
        groups = ["points"] * len(emb)
    groups = np.asarray([str(g) for g in groups])
    if groups.shape != (len(emb),):
        raise ParameterError(f"{len(groups)} group labels for {len(emb)} points")
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    names = list(dict.fromkeys(groups.tolist()))
    for k, name in enumerate(names):
        rows = groups == name
        ax.scatter(
            emb[rows, i],
            emb[rows, j],
            s=12,
            alpha=alpha,
            label=name,
            color=GROUP_COLORS.get(name, f"C{k % 10}"),
            edgecolors="none",
        )
    ax.set_xlabel(f"$\\lambda_{{{i + 1}}}^t \\psi_{{{i + 1}}}$")
    ax.set_ylabel(f"$\\lambda_{{{j + 1}}}^t \\psi_{{{j + 1}}}$")
    ax.legend(markerscale=2)
    ax.set_title(title or "Diffusion map")
    fig.tight_layout()
    return fig


def plot_evaluation_metrics(
    report, metrics=("tv", "joint_tv", "fd", "kid", "accuracy"), *, title: str | None = None
) -> Figure:
    """Bar charts of headline metrics per group from an :class:`EvaluationReport`.

    Parameters
    ----------
    report : EvaluationReport or dict
        The report, or its :meth:`~diffprob.evaluation.report.EvaluationReport.to_dict`.
    metrics : sequence of str, optional
        Metric keys (see :data:`diffprob.evaluation.evaluate.METRICS`), one panel each.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    overall = report["overall"] if isinstance(report, dict) else report.overall
    groups = list(overall)
    fig = Figure(figsize=(3 * len(metrics), 3.2))
    for k, key in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), k + 1)
        values = [overall[g].get(key) for g in groups]
        values = [np.nan if v is None else float(v) for v in values]
        ax.bar(
            range(len(groups)),
            values,
            color=[GROUP_COLORS.get(g, f"C{i}") for i, g in enumerate(groups)],
        )
        ax.set_xticks(range(len(groups)), [g.replace("_", "\n") for g in groups], fontsize=8)
        ax.set_title(key)
    fig.suptitle(title or "Evaluation: model vs baselines (lower is better except accuracy)")
    fig.tight_layout()
    return fig
