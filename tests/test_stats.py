"""Intervals over seeds and verdicts, against independent computations (scipy, hand values, coverage)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pipeline.core import stats


def test_mean_interval_is_the_student_t_interval():
    values = [1.0, 2.0, 4.0, 7.0]
    estimate = stats.mean_interval(values)
    low, high = scipy_stats.t.interval(0.95, 3, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert estimate.value == pytest.approx(3.5)
    assert (estimate.low, estimate.high) == pytest.approx((low, high), rel=1e-12)
    assert estimate.n == 4 and estimate.stochastic


def test_mean_interval_covers_the_true_mean_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = [stats.mean_interval(list(rng.normal(2.0, 3.0, 5))) for _ in range(4000)]
    rate = np.mean([e.low <= 2.0 <= e.high for e in covered])
    assert 0.94 < rate < 0.96


def test_paired_difference_removes_the_shared_seed_effect():
    seed_effect = np.array([0.0, 10.0, -5.0, 3.0])
    a, b = seed_effect + 1.0 + np.array([0.1, -0.1, 0.0, 0.05]), seed_effect
    paired = stats.paired_difference(list(a), list(b))
    assert paired.value == pytest.approx(1.0125)
    assert paired.low > 0.8 and paired.high < 1.3  # unpaired, the interval would span tens
    with pytest.raises(ValueError, match="equal lengths"):
        stats.paired_difference([1.0], [1.0, 2.0])


def test_paired_log_ratio_is_a_geometric_mean_ratio():
    estimate = stats.paired_log_ratio([2.0, 8.0, 4.0], [1.0, 2.0, 2.0])
    assert estimate.value == pytest.approx((2 * 4 * 2) ** (1 / 3))
    assert estimate.low < estimate.value < estimate.high
    assert math.isnan(stats.paired_log_ratio([1.0, -1.0, 1.0], [1.0, 1.0, 1.0]).value)


def test_missing_or_diverged_values_are_excluded_and_counted():
    estimate = stats.mean_interval([1.0, None, 2.0, float("nan"), 3.0])
    assert estimate.n == 3 and estimate.value == pytest.approx(2.0)
    assert "2 missing or diverged excluded" in estimate.method
    paired = stats.paired_difference([1.0, 2.0, float("nan")], [0.0, 0.0, 0.0])
    assert paired.n == 2 and "1 missing" in paired.method
    assert stats.verdict(paired, ">", 0.0) == "inconclusive"  # fewer than 3 pairs left
    assert not stats.mean_interval([None, None]).finite


def test_spearman_interval_matches_the_fisher_z_formula():
    x, y = [1, 2, 3, 4, 5, 6, 7, 8], [2, 1, 4, 3, 6, 5, 8, 7]
    estimate = stats.spearman_interval(x, y)
    rho = scipy_stats.spearmanr(x, y).statistic
    half = 1.959963984540054 * math.sqrt(1.06 / 5)
    assert estimate.value == pytest.approx(rho)
    assert estimate.low == pytest.approx(math.tanh(math.atanh(rho) - half))
    assert estimate.high == pytest.approx(math.tanh(math.atanh(rho) + half))


def test_bootstrap_of_a_mean_agrees_with_the_t_interval_roughly():
    rng = np.random.default_rng(1)
    values = list(rng.normal(0.0, 1.0, 30))
    boot = stats.bootstrap(values, lambda xs: float(np.mean(xs)), resamples=4000)
    t = stats.mean_interval(values)
    assert boot.value == pytest.approx(t.value)
    assert boot.low == pytest.approx(t.low, abs=0.1) and boot.high == pytest.approx(t.high, abs=0.1)


@pytest.mark.parametrize(
    ("low", "high", "comparison", "threshold", "expected"),
    [
        (0.1, 0.5, ">", 0.0, "holds"),
        (-0.1, 0.5, ">", 0.0, "inconclusive"),
        (-0.5, -0.1, ">", 0.0, "fails"),
        (-0.5, 0.0, ">", 0.0, "fails"),
        (0.0, 0.5, ">=", 0.0, "holds"),
        (-0.5, -0.1, "<", 0.0, "holds"),
        (-0.5, 0.0, "<", 0.0, "inconclusive"),
        (0.0, 0.5, "<", 0.0, "fails"),
        (0.2, 0.4, "<=", 0.5, "holds"),
        (0.6, 0.9, "<=", 0.5, "fails"),
        (-0.5, 0.5, "|x| <=", 1.0, "holds"),
        (0.5, 1.5, "|x| <=", 1.0, "inconclusive"),
        (1.5, 2.0, "|x| <=", 1.0, "fails"),
    ],
)
def test_verdict_compares_the_whole_interval(low, high, comparison, threshold, expected):
    estimate = stats.Estimate((low + high) / 2, low, high, 5, "test")
    assert stats.verdict(estimate, comparison, threshold) == expected


def test_too_few_seeds_are_inconclusive_but_an_exact_check_is_decided():
    assert stats.verdict(stats.Estimate(1.0, 0.9, 1.1, 2, "test"), ">", 0.0) == "inconclusive"
    assert stats.verdict(stats.exact(1e-12), "<=", 1e-8) == "holds"
    assert stats.verdict(stats.exact(1e-6), "<=", 1e-8) == "fails"
    assert stats.verdict(stats.exact(0), "==", 0) == "holds"
    assert stats.verdict(stats.exact(math.nan), "<=", 1.0) == "fails"
    with pytest.raises(ValueError, match="comparison"):
        stats.verdict(stats.exact(1.0), "!=", 0.0)
