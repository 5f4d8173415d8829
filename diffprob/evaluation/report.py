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

__all__ = ["EvaluationReport", "GROUPS", "METRICS"]

GROUPS = ("model", "real", "independent_pixel", "noise")
"""Groups scored by :func:`~diffprob.evaluation.evaluate.evaluate`, in table order."""

METRICS = {
    "tv": "total variation between per-channel PMFs (mean over R, G, B), in [0, 1]",
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
    images, labels : dict
        ``images[group]`` uint8 (n, H, W, 3) and ``labels[group]`` int64 (n,),
        including the ``"reference"`` set. Not part of :meth:`to_dict`.
    """

    settings: dict
    class_names: tuple
    overall: dict
    per_class: dict
    timings: dict
    images: dict = field(default_factory=dict, repr=False)
    labels: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        """Plain, JSON-serialisable dict (NaN becomes None; images are left out)."""
        return to_jsonable(
            {
                "settings": self.settings,
                "class_names": list(self.class_names),
                "metrics": dict(METRICS),
                "overall": self.overall,
                "per_class": self.per_class,
                "timings": self.timings,
            }
        )

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
        lines += _format_block("overall", self.overall)
        if per_class:
            for name in self.class_names:
                lines.append("")
                lines += _format_block(f"class {name}", self.per_class[name])
        lines += [
            "",
            "real = other held-out sprites (the floor); lower is better except accuracy.",
            f"FD is biased upward at n = {s.get('n')}: compare it with the real row only.",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


# (metric key, column label, number format) of the table, in column order.
_COLUMNS = (
    ("tv", "TV", "{:.4f}"),
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
        lines.append(f"  {group:<19}" + "".join(cells))
    return lines
