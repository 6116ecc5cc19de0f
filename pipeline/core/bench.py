"""Benchmarks: ratios of two variants timed side by side in one process ("Performance is measured").

A study declares ``BENCHMARKS: list[Benchmark]`` in ``pipeline/<study>/bench.py``. The runner
(``python -m pipeline.bench``, ``make bench``) times ``numerator`` and ``denominator`` alternately,
``repeats`` times each after a warm-up, and reports the ratio of their median times.

A variant that cannot run inside this process (e.g. one step of 16 torch.distributed processes) is timed
where it runs: ``numerator_times(repeats)`` is called once and returns ``repeats`` per-call seconds measured
elsewhere (after its own warm-up); the denominator is still timed here, and the entry says where the
numerator was timed (``numerator_timed``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Benchmark:
    """``ratio = median time(numerator) / median time(denominator)``; ``goal`` bounds it (or None).

    ``numerator_times``: if set, the numerator's per-call seconds come from it (called once with
    ``repeats``; timed outside this process) and ``numerator`` is not called; ``numerator_timed`` says
    where the numerator was timed, for the entry.
    """

    name: str
    study: str
    what: str
    numerator: Callable[[], object]
    denominator: Callable[[], object]
    goal: float | None = None
    goal_is: Literal["at most", "at least"] = "at most"
    repeats: int = 7
    numerator_times: Callable[[int], list[float]] | None = None
    numerator_timed: str = "in this process"


def _time_once(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _external_times(bench: Benchmark) -> tuple[list[float], list[float]]:
    """Numerator times from ``numerator_times`` (one call), then the denominator's here."""
    num_times = [float(t) for t in bench.numerator_times(bench.repeats)]
    if len(num_times) != bench.repeats:
        raise ValueError(f"{bench.name}: {len(num_times)} external times for {bench.repeats} repeats")
    bench.denominator()
    return num_times, [_time_once(bench.denominator) for _ in range(bench.repeats)]


def _interleaved_times(bench: Benchmark) -> tuple[list[float], list[float]]:
    """Both variants alternately in this process (so drift hits both alike), after one warm-up call each."""
    bench.numerator()
    bench.denominator()
    num_times, den_times = [], []
    for _ in range(bench.repeats):
        num_times.append(_time_once(bench.numerator))
        den_times.append(_time_once(bench.denominator))
    return num_times, den_times


def measure(bench: Benchmark) -> dict[str, object]:
    """Time both variants and return the bench.json entry (see the module docstring)."""
    external = bench.numerator_times is not None
    num_times, den_times = _external_times(bench) if external else _interleaved_times(bench)
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
        "numerator_timed": bench.numerator_timed,
    }
