"""The result of :func:`~diffprob.evaluation.evaluate.evaluate` and its text table.

:class:`EvaluationReport` holds, for every group in :data:`GROUPS`, the headline
:data:`METRICS` (and per-channel, per-pair and spread variants) overall and per
class; :meth:`EvaluationReport.table` prints one row per group and one column per
headline metric, :meth:`EvaluationReport.to_dict` the same as plain JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from diffprob.util.jsonable import to_jsonable

__all__ = [
    "EvaluationReport",
    "GROUPS",
    "GROUP_LABELS",
    "GROUP_NOTES",
    "METRICS",
    "table_rows",
    "run_settings",
    "format_faithfulness",
]

GROUPS = ("model", "real", "independent_pixel", "noise")
"""Groups scored by :func:`~diffprob.evaluation.evaluate.evaluate`, in table order."""

GROUP_LABELS = {
    "model": "model",
    "real": "real (2nd sample)",
    "independent_pixel": "independent pixels",
    "noise": "noise",
}
"""How the table names each group."""

GROUP_NOTES = {
    "real": "a second real sample of the same size: what sampling noise alone gives. A model "
    "within its interval is indistinguishable from data by that metric; a model below it "
    "is not better than data but, usually, less diverse or lucky.",
    "independent_pixel": "every pixel drawn from its training marginal: right colour "
    "marginals by construction (it can beat a finite real sample on TV, JS, W1), no "
    "shapes (joint TV, accuracy, FD and KID see that).",
    "noise": "pure N(0, I) noise, where sampling starts: the far end of every scale.",
}
"""What each baseline is, and what it can and cannot see."""

METRICS = {
    "tv": "total variation between per-channel PMFs (mean over R, G, B), in [0, 1]",
    "tv_256": "the same at the exact 256 levels: sees colours a few levels off the palette",
    "class_tv": "colour TV within each class, mean over classes: sees colours in the wrong class",
    "js_bits": "Jensen-Shannon divergence between per-channel PMFs (mean over R, G, B), bits",
    "w1": "Wasserstein-1 between per-channel PMFs (mean over R, G, B), grey levels",
    "joint_tv": "total variation between joint-channel PMFs (mean over R-G, G-B, R-B)",
    "accuracy": "fraction the classifier assigns to the class that was asked for",
    "fd": "Frechet distance on classifier features (biased upward at small n)",
    "kid": "kernel distance (unbiased MMD^2, cubic kernel, stratified by class) on classifier features",
    "nn_train": "mean RMS pixel distance (0-1 units) of each image to its nearest training sprite",
}
"""Headline metrics (columns of :meth:`EvaluationReport.table`) and what they measure."""


@dataclass
class EvaluationReport:
    """Result of :func:`~diffprob.evaluation.evaluate.evaluate`.

    Attributes
    ----------
    settings : dict
        How the run was made (n, guidance, sampler, steps, seed, checkpoint,
        data source, classifier, bins, ...).
    class_names : tuple of str
    overall : dict
        ``overall[group][metric]`` -> float, for each group in :data:`GROUPS`.
        Besides the headline :data:`METRICS`: per-channel ``tv_R``..,
        ``js_bits_R``.., ``w1_R``.., per-pair ``joint_tv_RG``.., ``kid_std``,
        ``nn_train_median``, ``nn_train_min`` and ``exact_copies`` (fraction of
        images identical to a training sprite).
    per_class : dict
        ``per_class[class_name][group][metric]``, the same metrics on the images
        of one class (compared with the reference images of that class).
    timings : dict
        Seconds spent sampling and in total.
    intervals : dict
        ``intervals[group][metric]`` -> :class:`~diffprob.evaluation.uncertainty.Estimate`,
        the bootstrap interval of each headline metric of the overall rows (empty if
        the run had ``n_bootstrap=0``).
    images, labels : dict
        ``images[group]`` uint8 (n, H, W, 3) and ``labels[group]`` int64 (n,),
        including the ``"reference"`` set. Not part of :meth:`to_dict`.
    faithfulness : dict
        A text-to-sprite model only: ``{"model", "real", "noise"}`` ->
        :class:`~diffprob.evaluation.faithfulness.FaithfulnessResult` on "a <colour>
        <noun>" prompts (``real``: generator sprites drawn to match each prompt); empty
        for a pixel model.
    """

    settings: dict
    class_names: tuple
    overall: dict
    per_class: dict
    timings: dict
    intervals: dict = field(default_factory=dict)
    images: dict = field(default_factory=dict, repr=False)
    labels: dict = field(default_factory=dict, repr=False)
    faithfulness: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        """Plain, JSON-serialisable dict (NaN becomes None; images are left out).

        Beside each headline value of ``overall`` stands its interval,
        ``overall[group][metric + "_ci"] = [low, high]``.
        """
        overall = {
            group: {
                **row,
                **{f"{m}_ci": [e.low, e.high] for m, e in self.intervals.get(group, {}).items()},
            }
            for group, row in self.overall.items()
        }
        out = {
            "settings": self.settings,
            "class_names": list(self.class_names),
            "metrics": dict(METRICS),
            "groups": {g: GROUP_NOTES.get(g, "") for g in GROUPS},
            "overall": overall,
            "per_class": self.per_class,
            "timings": self.timings,
        }
        if self.faithfulness:
            from diffprob.evaluation.faithfulness import FAITHFULNESS_METRICS

            out["faithfulness_metrics"] = dict(FAITHFULNESS_METRICS)
            out["faithfulness"] = {g: r.to_dict() for g, r in self.faithfulness.items()}
        return to_jsonable(out)

    def table(self, per_class: bool = True) -> str:
        """The headline metrics as a text table (one row per group).

        Parameters
        ----------
        per_class : bool, optional
            Also print one block per class.
        """
        s = self.settings
        lines = [
            f"diffprob evaluate: {s.get('n')} samples ({s.get('sampler')}, "
            f"{s.get('steps')} steps"
            + (f", {s['spacing']} spacing" if s.get("spacing", "uniform") != "uniform" else "")
            + f", guidance {s.get('guidance')}, seed {s.get('seed')}) "
            f"vs {s.get('n_reference')} held-out sprites",
            "",
        ]
        lines += _format_overall(self.overall, self.intervals, s)
        if "sampling_s_per_image" in self.timings:
            lines += ["", f"sampling: {_per_image(self.timings)} ({s.get('device')})"]
        if self.faithfulness:
            lines.append("")
            lines += format_faithfulness(
                {g: r.estimates for g, r in self.faithfulness.items()},
                f'prompt faithfulness: {s.get("n_faithfulness")} "a <colour> <noun>" prompts '
                f"(value ± half of its {s.get('confidence', 0.95):.0%} bootstrap interval)",
            )
        if per_class:
            for name in self.class_names:
                lines.append("")
                lines += _format_block(f"class {name}", self.per_class[name])
        lines += ["", "Lower is better except accuracy."]
        lines += [f"{GROUP_LABELS[g]}: {note}" for g, note in GROUP_NOTES.items()]
        if self.faithfulness:
            lines.append(f"prompt faithfulness, {FAITHFULNESS_LABELS['real']}: {FAITHFULNESS_NOTE}")
            prompts = ", ".join(f'"{p}"' for p in s.get("prompts", {}).values())
            lines.append(f"the model's rows above were prompted with the class prompts {prompts}.")
        lines.append(
            f"FD and TV between finite samples are biased upward (FD by about tr(Sigma)/n): "
            f"compare them with the real row of the same n = {s.get('n')}, never across n."
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


# (metric key, column label, number format) of the table, in column order.
_COLUMNS = (
    ("tv", "TV", "{:.4f}"),
    ("tv_256", "TV 256", "{:.4f}"),
    ("class_tv", "class TV", "{:.4f}"),
    ("js_bits", "JS bits", "{:.4f}"),
    ("w1", "W1", "{:.2f}"),
    ("joint_tv", "joint TV", "{:.4f}"),
    ("accuracy", "accuracy", "{:.3f}"),
    ("fd", "FD", "{:.3f}"),
    ("kid", "KID", "{:.4f}"),
    ("nn_train", "NN-train", "{:.4f}"),
)


def _format_block(title: str, rows: dict) -> list[str]:
    header = [f"{title:<21}"] + [f"{label:>9}" for _, label, _ in _COLUMNS]
    lines = ["".join(header)]
    for group, metrics in rows.items():
        cells = []
        for key, _, fmt in _COLUMNS:
            value = metrics.get(key, float("nan"))
            cells.append(f"{'-' if not math.isfinite(value) else fmt.format(value):>9}")
        lines.append(f"  {GROUP_LABELS.get(group, group):<19}" + "".join(cells))
    return lines


def _format_overall(rows: dict, intervals: dict, settings: dict) -> list[str]:
    """The overall block, one row per metric, each value with its interval."""
    if not intervals:
        return _format_block("overall", rows)
    lines = [
        f"overall (value ± half of its {settings.get('confidence', 0.95):.0%} bootstrap "
        f"interval, {settings.get('n_bootstrap')} resamples of each group's images within classes)"
    ]
    return lines + table_rows(intervals)


FAITHFULNESS_LABELS = {"model": "model", "real": "real (matching)", "noise": "noise"}
FAITHFULNESS_NOTE = (
    "generator sprites drawn to match each prompt, the ceiling a perfect model reaches "
    "(about 1: what the judges get wrong on real sprites); noise is chance."
)
_FAITHFULNESS_ROWS = (
    ("class_accuracy", "class"),
    ("colour_accuracy", "colour"),
    ("variant_accuracy", "variant"),
    ("faithful", "all three"),
)


def format_faithfulness(estimates: dict, title: str) -> list[str]:
    """The faithfulness block: one row per figure, one column per group.

    `estimates` is ``{group: {metric: Estimate}}`` (e.g. ``{g: result.estimates}``).
    """
    groups = list(estimates)
    lines = [title]
    lines.append(
        f"  {'accuracy':<10}" + "".join(f"{FAITHFULNESS_LABELS.get(g, g):>21}" for g in groups)
    )
    for key, label in _FAITHFULNESS_ROWS:
        cells = []
        for g in groups:
            estimate = estimates[g].get(key)
            cells.append(f"{'-' if estimate is None else estimate.format('{:.3f}'):>21}")
        lines.append(f"  {label:<10}" + "".join(cells))
    return lines


def _per_image(timings: dict) -> str:
    seconds = timings["sampling_s_per_image"]
    return f"{seconds * 1000:.1f} ms per image" if seconds < 1 else f"{seconds:.2f} s per image"


def table_rows(estimates: dict, fmt: str | None = None) -> list[str]:
    """One row per headline metric, one column per group: ``value ± half width``.

    `estimates` is ``{group: {metric: Estimate}}``; `fmt` overrides every metric's own
    number format (e.g. for ratios).
    """
    groups = list(estimates)
    lines = [f"  {'metric':<10}" + "".join(f"{GROUP_LABELS.get(g, g):>21}" for g in groups)]
    for key, label, own_fmt in _COLUMNS:
        cells = []
        for g in groups:
            estimate = estimates[g].get(key)
            text = "-" if estimate is None else estimate.format(fmt or own_fmt)
            cells.append(f"{text:>21}")
        lines.append(f"  {label:<10}" + "".join(cells))
    return lines


def run_settings(
    *,
    n,
    counts,
    config,
    steps,
    seed,
    n_reference,
    n_train,
    checkpoint,
    data_source,
    classifier,
    classifier_label,
    image_size,
    metrics,
    device,
) -> dict:
    """``EvaluationReport.settings``: how the run was made, in the order its JSON lists them."""
    return {
        "n": int(n),
        "n_per_class": counts.tolist(),
        "n_reference": n_reference,
        "n_train": n_train,
        "guidance": config.guidance,
        "sampler": config.sampler,
        "steps": steps,
        "eta": config.eta,
        "spacing": config.timestep_spacing,
        "seed": int(seed),
        "n_bootstrap": int(metrics.n_bootstrap),
        "confidence": float(metrics.confidence),
        "checkpoint": checkpoint,
        "data_source": data_source,
        "classifier": classifier_label,
        "image_size": image_size,
        "pmf_bins": int(metrics.pmf_bins),
        "joint_bins": int(metrics.joint_bins),
        "kid_subset_size": int(min(metrics.kid_subset_size, n_reference)),
        "kid_subsets": int(metrics.kid_subsets),
        "feature_dim": int(classifier.feature_dim),
        "device": str(device),
    }
