"""Several models side by side: quality against the real row, and sampling time per image.

:func:`compare_models` puts the headline figures of several evaluations -- e.g. the pixel
U-Net (``data/checkpoints/sprites16.pt``) and the latent text-to-sprite model
(``data/checkpoints/txt2img.pt``) -- in one table. Each figure is shown with its ratio
to the ``real`` row of its own run (a second real sample of the same size), the form in
which runs of the same n can be compared; the models should be evaluated with the same
n and seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from diffprob.errors import ParameterError
from diffprob.util.jsonable import to_jsonable

__all__ = ["ModelComparison", "compare_models", "COMPARED_METRICS"]

COMPARED_METRICS = (
    ("fd", "FD", "{:.3f}"),
    ("tv", "colour TV", "{:.4f}"),
    ("joint_tv", "joint TV", "{:.4f}"),
    ("accuracy", "accuracy", "{:.3f}"),
)
"""(metric, column label, number format) of the comparison table."""


@dataclass
class ModelComparison:
    """The rows of :func:`compare_models`.

    Attributes
    ----------
    rows : dict
        ``rows[label]`` = ``{metric: value, metric + "_over_real": ratio, ...,
        "s_per_image": float, "guidance": w, "sampler": str, "steps": int, "n": int,
        "seeds": [...], "model_kind": "pixel" or "txt2img"}``; a text-to-sprite model
        also has ``class_accuracy`` and ``colour_accuracy`` on "a <colour> <noun>" prompts.
    """

    rows: dict

    def to_dict(self) -> dict:
        """JSON-ready rows (NaN becomes None)."""
        return to_jsonable({"rows": self.rows})

    def table(self) -> str:
        """One row per model: each figure with its ratio to the real row, and s per image."""
        width = max(12, *(len(label) for label in self.rows)) + 2
        header = f"  {'model':<{width}}" + "".join(
            f"{title:>18}" for _, title, _ in COMPARED_METRICS
        )
        header += f"{'sampling':>16}{'guidance':>10}"
        faith = any("colour_accuracy" in row for row in self.rows.values())
        if faith:
            header += f"{'prompt class':>14}{'prompt colour':>15}"
        first = next(iter(self.rows.values()))
        lines = [
            f"model comparison: n = {first['n']}, seeds {', '.join(map(str, first['seeds']))}; "
            "each figure (its ratio to the real row of the same run)",
            header,
        ]
        for label, row in self.rows.items():
            cells = []
            for key, _, fmt in COMPARED_METRICS:
                value, ratio = row[key], row[f"{key}_over_real"]
                text = "-" if not math.isfinite(value) else fmt.format(value)
                if math.isfinite(ratio):
                    text += f" ({ratio:.2f}x)"
                cells.append(f"{text:>18}")
            seconds = row["s_per_image"]
            cells.append(f"{seconds * 1000:>10.1f} ms/im")
            cells.append(f"{row['guidance']:>10g}")
            if faith:
                for key, w in (("class_accuracy", 14), ("colour_accuracy", 15)):
                    value = row.get(key, math.nan)
                    cells.append(f"{'-' if not math.isfinite(value) else f'{value:.3f}':>{w}}")
            lines.append(f"  {label:<{width}}" + "".join(cells))
        lines += [
            "",
            "Lower is better except accuracy; a ratio near 1 is as close to the data as a "
            "second real sample. Sampling: seconds per sprite on the device of the run "
            f"({first['device']}), sampler and steps as set.",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def compare_models(reports: dict) -> ModelComparison:
    """One table of several models' quality and sampling time.

    Parameters
    ----------
    reports : dict
        ``{label: EvaluationReport or SeedsReport}`` (e.g. from
        :func:`~diffprob.evaluation.evaluate.evaluate` of the pixel model and of the
        text-to-sprite pipeline, same n and seeds). With a SeedsReport every figure is
        its mean over seeds.

    Returns
    -------
    ModelComparison

    Examples
    --------
    >>> from diffprob.diffusion.models.unet import ContextUnet
    >>> from diffprob.diffusion.schedule import NoiseSchedule
    >>> from diffprob.sprites.classes import CLASSES
    >>> from diffprob.evaluation.evaluate import evaluate
    >>> src = "sprites(n=200, size=16, seed=0)"
    >>> report = evaluate((ContextUnet("tiny").eval(), NoiseSchedule(20), CLASSES, src),
    ...                   n=10, steps=2, kid_subsets=2, n_bootstrap=0)
    >>> table = compare_models({"tiny": report})
    >>> table.rows["tiny"]["accuracy_over_real"] <= 1.0
    True
    """
    from diffprob.evaluation.seeds import SeedsReport

    if not isinstance(reports, dict) or not reports:
        raise ParameterError("reports must be a non-empty dict {label: report}")
    rows = {}
    for label, report in reports.items():
        if isinstance(report, SeedsReport):
            singles = list(report.reports)
            seeds = list(report.seeds)
        else:
            singles = [report]
            seeds = [report.settings.get("seed")]
        rows[str(label)] = _row(singles, seeds)
    return ModelComparison(rows)


def _mean(values) -> float:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return sum(values) / len(values) if values else math.nan


def _row(reports, seeds) -> dict:
    s = reports[0].settings
    row = {}
    for key, _, _ in COMPARED_METRICS:
        model = _mean(r.overall["model"][key] for r in reports)
        real = _mean(r.overall["real"][key] for r in reports)
        row[key] = model
        row[f"real_{key}"] = real
        row[f"{key}_over_real"] = model / real if real else math.nan
    row["s_per_image"] = _mean(r.timings["sampling_s"] / r.settings["n"] for r in reports)
    if reports[0].faithfulness:
        for key in ("class_accuracy", "colour_accuracy", "variant_accuracy"):
            row[key] = _mean(r.faithfulness["model"].estimates[key].value for r in reports)
    row.update(
        model_kind=s.get("model_kind", "pixel"),
        checkpoint=s.get("checkpoint"),
        guidance=s.get("guidance"),
        sampler=s.get("sampler"),
        steps=s.get("steps"),
        n=s.get("n"),
        seeds=seeds,
        device=s.get("device"),
    )
    return row
