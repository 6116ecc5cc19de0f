"""Benchmarks: ratios of two variants timed side by side in one process ("Performance is measured").

A study declares ``BENCHMARKS: list[Benchmark]`` in ``pipeline/<study>/bench.py``. The runner
(``python -m pipeline.bench``, ``make bench``) times ``numerator`` and ``denominator`` alternately,
``repeats`` times each after a warm-up, and reports the ratio of their median times.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Benchmark:
    """``ratio = median time(numerator) / median time(denominator)``; ``goal`` bounds it (or None)."""

    name: str
    study: str
    what: str
    numerator: Callable[[], object]
    denominator: Callable[[], object]
    goal: float | None = None
    goal_is: Literal["at most", "at least"] = "at most"
    repeats: int = 7


def _time_once(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(bench: Benchmark) -> dict[str, object]:
    """Time both variants interleaved (so drift hits both alike) and return the bench.json entry."""
    bench.numerator()
    bench.denominator()
    num_times, den_times = [], []
    for _ in range(bench.repeats):
        num_times.append(_time_once(bench.numerator))
        den_times.append(_time_once(bench.denominator))
    num, den = statistics.median(num_times), statistics.median(den_times)
    ratio = num / den
    meets = None
    if bench.goal is not None:
        meets = ratio <= bench.goal if bench.goal_is == "at most" else ratio >= bench.goal
    return {
        "study": bench.study,
        "what": bench.what,
        "ratio": ratio,
        "goal": bench.goal,
        "goal_is": bench.goal_is,
        "meets_goal": meets,
        "numerator_median_s": num,
        "denominator_median_s": den,
        "repeats": bench.repeats,
    }
