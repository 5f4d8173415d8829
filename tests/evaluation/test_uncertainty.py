"""Bootstrap intervals cover a known value at their nominal rate; seed spreads are mean ± std."""

import math

import numpy as np
import pytest

from diffprob.errors import ParameterError
from diffprob.evaluation.divergences import total_variation_distance
from diffprob.evaluation.uncertainty import (
    Estimate,
    bootstrap_interval,
    seed_spread,
    stratified_resamples,
)


def test_percentile_interval_covers_the_true_mean_at_its_nominal_rate():
    # 400 synthetic data sets with a known mean: a 90 % interval must hold it about 90 % of
    # the time (binomial sd 1.5 %; the percentile bootstrap under-covers slightly at n = 60).
    rng = np.random.default_rng(0)
    trials, covered = 400, 0
    for trial in range(trials):
        x = rng.exponential(2.0, 60)  # skewed, true mean 2
        est = bootstrap_interval(lambda i, x=x: x[i].mean(), len(x), confidence=0.9, rng=trial)
        covered += est.low <= 2.0 <= est.high
    assert 0.84 <= covered / trials <= 0.95


def test_interval_of_a_pmf_distance_covers_its_population_value():
    # TV between a sample's PMF and the true PMF: the interval is around the biased plug-in
    # value, and it shrinks like 1/sqrt(n)
    p = np.array([0.5, 0.3, 0.2])
    widths = []
    for n in (100, 1600):
        draws = np.random.default_rng(n).choice(3, n, p=p)

        def tv(i, draws=draws):
            return total_variation_distance(np.bincount(draws[i], minlength=3) / len(i), p)

        est = bootstrap_interval(tv, n, rng=0)
        assert est.low <= est.value <= est.high
        widths.append(est.high - est.low)
    assert widths[1] < widths[0] / 2.5  # 1/sqrt(16) = 1/4, with slack


def test_stratified_resamples_keep_every_class_count():
    strata = np.array([0] * 5 + [1] * 3 + [2] * 7)
    idx = stratified_resamples(strata, 50, rng=1)
    assert (strata[idx] == strata).all()
    assert len(np.unique(idx)) > 10  # it does resample


def test_estimate_formats_value_and_half_width():
    e = Estimate(0.051, 0.047, 0.055)
    assert str(e) == "0.0510 ± 0.0040" and e.format("{:.3f}") == "0.051 ± 0.004"
    assert e.to_dict() == {
        "value": 0.051,
        "ci_low": 0.047,
        "ci_high": 0.055,
        "confidence": 0.95,
        "method": "bootstrap",
    }
    assert e.overlaps(Estimate(0.06, 0.0545, 0.07)) and not e.overlaps(Estimate(0.06, 0.056, 0.07))
    assert Estimate(math.nan, math.nan, math.nan).format() == "-"


def test_seed_spread_is_mean_and_sample_std():
    e = seed_spread([0.05, 0.06, 0.07])
    assert e.value == pytest.approx(0.06) and e.half_width == pytest.approx(0.01)
    assert math.isnan(seed_spread([0.05]).half_width)


def test_bad_arguments():
    with pytest.raises(ParameterError, match="confidence"):
        bootstrap_interval(lambda i: 0.0, 3, confidence=1.0)
    with pytest.raises(ParameterError, match="strata"):
        bootstrap_interval(lambda i: 0.0, 3, strata=[0, 1])
