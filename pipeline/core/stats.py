"""Estimates with 95% intervals over seeds, and the three-way verdict a claim gets from one.

Every comparative claim is decided from an :class:`Estimate` (a point value with an interval and the
number of independent units, seeds or pairs, it rests on):

- :func:`mean_interval`: Student-t interval of a mean over independent seeds;
- :func:`paired_difference`: the same on per-seed differences a_i − b_i of runs that share a seed
  (same initialisation and data order), which removes the seed-to-seed variance both arms share;
- :func:`paired_log_ratio`: a ratio of positive quantities as exp of the paired mean log-ratio
  (a geometric-mean ratio, interval transformed back);
- :func:`bootstrap`: percentile bootstrap over seeds for statistics that are not means (a best
  learning rate, a spread, a fraction recovered);
- :func:`spearman_interval`: Spearman's rank correlation with the Fisher-z interval
  (standard error sqrt(1.06 / (n − 3)), Fieller, Hartley and Pearson 1957);
- :func:`exact`: a deterministic computation (float64 numerics, sympy): n = 1, zero-width interval.

:func:`verdict` is ``holds`` when the whole interval lies on the claimed side of the threshold, ``fails``
when it lies wholly on the other side, and ``inconclusive`` otherwise, including a stochastic estimate
on fewer than :data:`MIN_SEEDS` units or a non-finite one. A deterministic check that produced no
finite number fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

LEVEL = 0.95
MIN_SEEDS = 3
VERDICTS = ("holds", "inconclusive", "fails")
COMPARISONS = (">", ">=", "<", "<=", "==", "|x| <=")


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% interval over ``n`` independent units (seeds or pairs)."""

    value: float
    low: float
    high: float
    n: int
    method: str
    stochastic: bool = True

    @property
    def finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.value, self.low, self.high))


def t_critical(n: int, level: float = LEVEL) -> float:
    """The two-sided t quantile of a ``level`` interval over ``n`` values (n − 1 degrees of freedom, at
    least 1): the factor a paired t-interval puts on the standard error."""
    return float(scipy_stats.t.ppf(0.5 + level / 2, max(n - 1, 1)))


def exact(value: float | bool, method: str = "deterministic computation") -> Estimate:
    """A number computed without sampling noise (float64 numerics, a count, sympy): n = 1, no width."""
    number = float(value)
    return Estimate(number, number, number, 1, method, stochastic=False)


def _clean(values: Sequence[float]) -> np.ndarray:
    return np.asarray([np.nan if v is None else float(v) for v in values], dtype=float)


def _nan(n: int, method: str) -> Estimate:
    return Estimate(math.nan, math.nan, math.nan, n, method)


def _excluded(count: int) -> str:
    return f"; {count} missing or diverged excluded" if count else ""


def mean_interval(values: Sequence[float], level: float = LEVEL) -> Estimate:
    """Mean over independent seeds with its Student-t interval. Missing or non-finite values (a run that
    diverged) are excluded, and the method says how many; ``n`` counts what is left."""
    raw = _clean(values)
    data = raw[np.isfinite(raw)]
    method = f"mean over seeds, {level:.0%} t-interval{_excluded(raw.size - data.size)}"
    if data.size == 0:
        return _nan(0, method)
    mean = float(data.mean())
    if data.size < 2:
        return Estimate(mean, math.nan, math.nan, int(data.size), method)
    half = float(scipy_stats.t.ppf(0.5 + level / 2, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size))
    return Estimate(mean, mean - half, mean + half, int(data.size), method)


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Estimate:
    """Mean of a_i − b_i over seeds shared by both arms, with the paired t-interval."""
    left, right = _clean(a), _clean(b)
    if left.shape != right.shape:
        raise ValueError(f"paired values need equal lengths, got {left.size} and {right.size}")
    differences = left - right
    estimate = mean_interval(list(differences), level)
    method = f"paired difference, {level:.0%} t{_excluded(int((~np.isfinite(differences)).sum()))}"
    return Estimate(estimate.value, estimate.low, estimate.high, estimate.n, method)


def paired_log_ratio(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Estimate:
    """Geometric-mean ratio a/b over shared seeds: exp of the paired t-interval of log(a_i / b_i)."""
    left, right = _clean(a), _clean(b)
    if left.shape != right.shape:
        raise ValueError(f"paired values need equal lengths, got {left.size} and {right.size}")
    keep = np.isfinite(left) & np.isfinite(right)
    method = f"geometric-mean ratio over paired seeds, {level:.0%} t on logs{_excluded(int((~keep).sum()))}"
    if np.any(left[keep] <= 0) or np.any(right[keep] <= 0):
        return _nan(int(keep.sum()), method)
    logs = mean_interval(list(np.log(left[keep] / right[keep])), level)
    return Estimate(math.exp(logs.value), math.exp(logs.low), math.exp(logs.high), logs.n, method)


def bootstrap(
    samples: Sequence[object],
    statistic: Callable[[list[object]], float],
    level: float = LEVEL,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """``statistic`` of ``samples`` (one entry per seed) with its percentile bootstrap interval."""
    items = list(samples)
    method = f"statistic over seeds, {level:.0%} percentile bootstrap ({resamples} resamples)"
    value = float(statistic(items))
    if len(items) < 2:
        return Estimate(value, math.nan, math.nan, len(items), method)
    rng = np.random.default_rng(seed)
    draws = np.array(
        [
            float(statistic([items[i] for i in rng.integers(0, len(items), len(items))]))
            for _ in range(resamples)
        ]
    )
    if not np.isfinite(draws).all():
        return Estimate(value, math.nan, math.nan, len(items), method)
    low, high = np.quantile(draws, [0.5 - level / 2, 0.5 + level / 2])
    return Estimate(value, float(low), float(high), len(items), method)


def spearman_interval(x: Sequence[float], y: Sequence[float], level: float = LEVEL) -> Estimate:
    """Spearman's ρ of paired observations with the Fisher-z interval (se = sqrt(1.06 / (n − 3)))."""
    left, right = _clean(x), _clean(y)
    keep = np.isfinite(left) & np.isfinite(right)
    left, right, n = left[keep], right[keep], int(keep.sum())
    method = f"Spearman rank correlation, {level:.0%} Fisher-z interval"
    if n < 4 or np.unique(left).size < 2 or np.unique(right).size < 2:
        return _nan(n, method)
    rho = float(scipy_stats.spearmanr(left, right).statistic)
    z = math.atanh(max(min(rho, 1 - 1e-12), -1 + 1e-12))
    half = float(scipy_stats.norm.ppf(0.5 + level / 2) * math.sqrt(1.06 / (n - 3)))
    return Estimate(rho, math.tanh(z - half), math.tanh(z + half), n, method)


def verdict(estimate: Estimate, comparison: str, threshold: float, min_n: int = MIN_SEEDS) -> str:
    """``holds`` / ``fails`` / ``inconclusive`` of ``estimate <comparison> threshold`` (see module doc).

    ``|x| <=`` is an equivalence claim: holds when the interval lies inside [−threshold, threshold],
    fails when it lies wholly outside. ``==`` is for exact checks (counts): compared on the value.
    """
    if comparison not in COMPARISONS:
        raise ValueError(f"comparison {comparison!r} must be one of {COMPARISONS}")
    if not estimate.stochastic and not math.isfinite(estimate.value):
        return "fails"  # a deterministic check that produced no number did not pass
    if not estimate.finite or (estimate.stochastic and estimate.n < min_n):
        return "inconclusive"
    low, high = estimate.low, estimate.high
    if comparison == "==":
        return "holds" if estimate.value == threshold else "fails"
    if comparison == "|x| <=":
        if -threshold <= low and high <= threshold:
            return "holds"
        return "fails" if high < -threshold or low > threshold else "inconclusive"
    claimed = {">": low > threshold, ">=": low >= threshold, "<": high < threshold, "<=": high <= threshold}
    opposite = {">": high <= threshold, ">=": high < threshold, "<": low >= threshold, "<=": low > threshold}
    if claimed[comparison]:
        return "holds"
    return "fails" if opposite[comparison] else "inconclusive"
