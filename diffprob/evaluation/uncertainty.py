"""How sure a measured figure is: bootstrap confidence intervals and spread over seeds.

A figure measured on n samples moves when the samples are drawn again. Two ways to
see by how much, both used by :func:`~diffprob.evaluation.evaluate.evaluate`:

* :func:`bootstrap_interval` -- resample the n samples with replacement (within each
  class, so every resample keeps the class counts of the original), recompute the
  figure on each resample, and take the middle ``confidence`` of the resampled
  values (the percentile bootstrap, Efron & Tibshirani 1993, ch. 13). It sees the
  noise of this one sample; it cannot see a bias that every sample of size n
  shares (FD and TV between finite samples have one). Resampling with repeats adds
  to that bias, so at small n the interval of such a figure can lie wholly above
  the value: a sign that the bias is as large as the noise.
* :func:`seed_spread` -- the mean and standard deviation of the figure over runs
  with different seeds: everything random drawn anew.

Two figures whose intervals overlap are not shown to differ.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from diffprob.errors import ParameterError

__all__ = [
    "Estimate",
    "bootstrap_interval",
    "bootstrap_intervals",
    "seed_spread",
    "DEFAULT_RESAMPLES",
]

DEFAULT_RESAMPLES = 200
"""Bootstrap resamples: enough for a 95 % percentile interval's ends to within a few
per cent of its width, few enough that scoring stays seconds, not minutes."""


@dataclass(frozen=True)
class Estimate:
    """A measured value with its interval: ``low <= value <= high`` (usually).

    ``str(estimate)`` reads ``0.0510 ± 0.0040`` (half the interval's width), the form
    the evaluation tables print; :meth:`to_dict` gives the JSON form.
    """

    value: float
    low: float
    high: float
    confidence: float = 0.95
    method: str = "bootstrap"

    @property
    def half_width(self) -> float:
        """Half the interval's width: the ``±`` of the tables."""
        return (self.high - self.low) / 2

    def format(self, fmt: str = "{:.4f}") -> str:
        """``value ± half_width``, both in ``fmt``; ``-`` for a value that is not finite."""
        if not math.isfinite(self.value):
            return "-"
        if not math.isfinite(self.half_width):
            return fmt.format(self.value)
        return f"{fmt.format(self.value)} ± {fmt.format(self.half_width)}"

    def __str__(self) -> str:
        return self.format()

    def overlaps(self, other: Estimate) -> bool:
        """Whether the two intervals overlap (then the data do not tell them apart)."""
        return self.low <= other.high and other.low <= self.high

    def to_dict(self) -> dict:
        return {
            "value": self.value,
            "ci_low": self.low,
            "ci_high": self.high,
            "confidence": self.confidence,
            "method": self.method,
        }


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence must be in (0, 1), got {confidence}")
    return float(confidence)


def stratified_resamples(strata, n_resamples: int, rng) -> np.ndarray:
    """``(n_resamples, n)`` indices, each row a resample with replacement within every stratum.

    Examples
    --------
    >>> idx = stratified_resamples([0, 0, 1, 1, 1], 3, rng=0)
    >>> idx.shape, bool((np.asarray([0, 0, 1, 1, 1])[idx] == [0, 0, 1, 1, 1]).all())
    ((3, 5), True)
    """
    strata = np.asarray(strata)
    if strata.ndim != 1 or len(strata) == 0:
        raise ParameterError(f"strata must be a non-empty 1-D array, got shape {strata.shape}")
    rng = np.random.default_rng(rng)
    out = np.empty((n_resamples, len(strata)), np.int64)
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        out[:, members] = members[rng.integers(0, len(members), (n_resamples, len(members)))]
    return out


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    strata=None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    rng=None,
) -> Estimate:
    """Percentile bootstrap interval of ``statistic`` over n samples.

    Parameters
    ----------
    statistic : callable
        ``statistic(index)`` -> float: the figure computed on the samples
        ``index`` (an int array of length n, with repeats). ``statistic(arange(n))``
        is the reported value.
    n : int
        Number of samples.
    strata : array_like of shape (n,), optional
        Resample within each stratum (class), keeping its count.
    n_resamples : int, optional
    confidence : float, optional
        Coverage of the interval, e.g. 0.95.
    rng : int or numpy.random.Generator, optional

    Returns
    -------
    Estimate

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(5.0, 1.0, 400)
    >>> est = bootstrap_interval(lambda i: x[i].mean(), len(x), rng=1)
    >>> bool(est.low < 5.0 < est.high), round(est.half_width, 2)
    (True, 0.1)
    """
    intervals = bootstrap_intervals(
        lambda idx: {"value": statistic(idx)},
        n,
        strata=strata,
        n_resamples=n_resamples,
        confidence=confidence,
        rng=rng,
    )
    return intervals["value"]


def bootstrap_intervals(
    statistics: Callable[[np.ndarray], dict],
    n: int,
    *,
    strata=None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    rng=None,
) -> dict[str, Estimate]:
    """:func:`bootstrap_interval` of several figures that share each resample.

    ``statistics(index)`` returns ``{name: value}``; computing them together costs
    one pass over each resample (e.g. one histogram for every colour metric).
    """
    confidence = _check_confidence(confidence)
    if n_resamples < 2:
        raise ParameterError(f"n_resamples must be >= 2, got {n_resamples}")
    strata = np.zeros(n, np.int64) if strata is None else np.asarray(strata)
    if strata.shape != (n,):
        raise ParameterError(f"strata must have shape ({n},), got {strata.shape}")
    values = {k: float(v) for k, v in statistics(np.arange(n)).items()}
    rows = [statistics(idx) for idx in stratified_resamples(strata, n_resamples, rng)]
    tail = (1 - confidence) / 2
    out = {}
    for key, value in values.items():
        resampled = np.array([row[key] for row in rows], np.float64)
        resampled = resampled[np.isfinite(resampled)]
        if not math.isfinite(value) or len(resampled) < 2:
            out[key] = Estimate(value, math.nan, math.nan, confidence)
            continue
        low, high = np.quantile(resampled, [tail, 1 - tail])
        out[key] = Estimate(value, float(low), float(high), confidence)
    return out


def seed_spread(values: Sequence[float]) -> Estimate:
    """Mean of a figure over seeds, with mean ± one standard deviation as its interval.

    The interval shows the spread of single runs (ddof = 1), not the mean's
    uncertainty (divide the half width by sqrt(len(values)) for that); it has no
    coverage, so ``confidence`` is NaN.

    Examples
    --------
    >>> e = seed_spread([1.0, 2.0, 3.0])
    >>> e.value, e.low, e.high, e.method
    (2.0, 1.0, 3.0, 'seeds')
    """
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, "seeds")
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if len(v) > 1 else math.nan
    return Estimate(mean, mean - std, mean + std, math.nan, "seeds")
