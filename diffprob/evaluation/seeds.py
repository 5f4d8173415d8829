"""One evaluation at several seeds: mean ± spread of every figure, and the model-to-real ratio.

A single seed's figure moves with the seed (the real row's FD by tens of per cent at
n = 500), so release targets are judged on the mean over seeds: the model's mean
metric over the real row's mean metric (:meth:`SeedsReport.ratios`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from diffprob.errors import ParameterError
from diffprob.evaluation.report import (
    GROUP_LABELS,
    GROUPS,
    METRICS,
    EvaluationReport,
    format_faithfulness,
    table_rows,
)
from diffprob.evaluation.uncertainty import Estimate, seed_spread
from diffprob.util.jsonable import to_jsonable

__all__ = ["SeedsReport", "evaluate_seeds", "parse_seeds", "ratio_to_real"]


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; ParameterError for anything else.

    Examples
    --------
    >>> parse_seeds("0, 1,2")
    [0, 1, 2]
    """
    try:
        seeds = [int(part) for part in str(text).split(",")]
    except ValueError:
        raise ParameterError(f"seeds must be integers separated by commas, got {text!r}") from None
    if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise ParameterError(f"seeds must be distinct integers >= 0, got {text!r}")
    return seeds


@dataclass
class SeedsReport:
    """The :class:`~diffprob.evaluation.report.EvaluationReport` of each seed, summarised.

    Attributes
    ----------
    seeds : list of int
    reports : list of EvaluationReport
        One per seed, in the same order.
    """

    seeds: list
    reports: list

    def summary(self) -> dict:
        """``summary[group][metric]`` -> :class:`~diffprob.evaluation.uncertainty.Estimate`:
        the mean over seeds with mean ± one standard deviation as its interval."""
        return {
            g: {m: seed_spread([r.overall[g][m] for r in self.reports]) for m in METRICS}
            for g in GROUPS
        }

    def faithfulness_summary(self) -> dict:
        """``[group][metric]`` -> mean ± sd over seeds of the prompt-faithfulness figures
        (a text-to-sprite model; empty otherwise)."""
        first = self.reports[0].faithfulness
        return {
            g: {
                m: seed_spread([r.faithfulness[g].estimates[m].value for r in self.reports])
                for m in first[g].estimates
            }
            for g in first
        }

    def ratios(self) -> dict:
        """``ratios[group][metric]``: the group's mean over seeds / the real row's mean
        (:func:`ratio_to_real`; NaN where the real row is not clearly above 0)."""
        summary = self.summary()
        return {
            g: {m: ratio_to_real(summary[g][m].value, summary["real"][m]) for m in METRICS}
            for g in GROUPS
        }

    def to_dict(self) -> dict:
        """JSON: settings, per-seed overall rows, and each figure's mean, sd and ratio."""
        summary, ratios = self.summary(), self.ratios()
        settings = dict(self.reports[0].settings)
        settings.pop("seed", None)
        faithfulness = {
            g: {
                **{m: e.value for m, e in row.items()},
                **{f"{m}_sd": e.half_width for m, e in row.items()},
            }
            for g, row in self.faithfulness_summary().items()
        }
        return to_jsonable(
            {
                **({"faithfulness_mean": faithfulness} if faithfulness else {}),
                "seeds": list(self.seeds),
                "settings": settings,
                "metrics": dict(METRICS),
                "mean": {
                    g: {
                        **{m: e.value for m, e in summary[g].items()},
                        **{f"{m}_sd": e.half_width for m, e in summary[g].items()},
                        **{f"{m}_over_real": ratios[g][m] for m in METRICS},
                    }
                    for g in GROUPS
                },
                "per_seed": {
                    str(s): r.to_dict() for s, r in zip(self.seeds, self.reports, strict=True)
                },
            }
        )

    def table(self) -> str:
        """Mean ± standard deviation over seeds, then each group's ratio to the real row."""
        s = self.reports[0].settings
        summary, ratios = self.summary(), self.ratios()
        lines = [
            f"diffprob evaluate: seeds {', '.join(map(str, self.seeds))}, {s.get('n')} samples "
            f"each ({s.get('sampler')}, {s.get('steps')} steps, guidance {s.get('guidance')}) "
            f"vs {s.get('n_reference')} held-out sprites",
            "",
            f"mean ± standard deviation over {len(self.seeds)} seeds",
        ]
        lines += table_rows(summary)
        lines += ["", "mean over seeds / the real row's mean (release targets read this)"]
        # "-" where the real row is 0 within its spread: no ratio to read
        lines += table_rows(
            {g: {m: Estimate(v, np.nan, np.nan) for m, v in ratios[g].items()} for g in GROUPS},
            fmt="{:.2f}",
        )
        faithfulness = self.faithfulness_summary()
        if faithfulness:
            lines.append("")
            lines += format_faithfulness(
                faithfulness,
                f'prompt faithfulness on {s.get("n_faithfulness")} "a <colour> <noun>" '
                f"prompts, mean ± standard deviation over {len(self.seeds)} seeds",
            )
        lines += ["", f"real = {GROUP_LABELS['real']}; lower is better except accuracy."]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def ratio_to_real(value: float, real: Estimate) -> float:
    """`value` / the real row's mean, or NaN when that mean is not clearly above 0
    (at most its spread over seeds): KID's real row, an unbiased estimate of 0, is as
    often negative as positive, and a ratio to it says nothing.

    Examples
    --------
    >>> round(ratio_to_real(0.5, Estimate(0.036, 0.033, 0.039)), 2)
    13.89
    >>> ratio_to_real(0.12, Estimate(-0.0004, -0.0013, 0.0005))
    nan
    """
    spread = real.half_width if np.isfinite(real.half_width) else 0.0
    clearly_positive = np.isfinite(real.value) and real.value > max(spread, 0.0)
    return float(value) / real.value if clearly_positive else float("nan")


def evaluate_seeds(model=None, *, seeds: Sequence[int] = (0, 1, 2), **kwargs) -> SeedsReport:
    """:func:`~diffprob.evaluation.evaluate.evaluate` once per seed, with the same settings.

    Parameters
    ----------
    model
        As for :func:`~diffprob.evaluation.evaluate.evaluate` (loaded once; a pixel
        checkpoint or a text-to-sprite pipeline).
    seeds : sequence of int
        Distinct seeds; each draws its own samples, held-out sets and baselines.
    **kwargs
        Every other argument of :func:`~diffprob.evaluation.evaluate.evaluate`.

    Returns
    -------
    SeedsReport
    """
    from diffprob.diffusion.checkpoint import default_checkpoint_path
    from diffprob.evaluation.evaluate import evaluate, load_model_file

    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ParameterError(f"seeds must be one or more distinct integers, got {seeds}")
    if "seed" in kwargs:
        raise ParameterError("give seeds=, not seed=, to evaluate_seeds")
    if model is None or isinstance(model, str) or hasattr(model, "__fspath__"):
        model = load_model_file(default_checkpoint_path() if model is None else model)
    reports: list[EvaluationReport] = [evaluate(model, seed=s, **kwargs) for s in seeds]
    return SeedsReport(seeds, reports)
