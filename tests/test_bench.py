"""The benchmark runner: ratios of medians, goals in both directions, and every study's entries load."""

import dataclasses
import json
import time

from pipeline import bench as runner
from pipeline.core.bench import Benchmark, measure


def _sleep(seconds):
    return lambda: time.sleep(seconds)


def test_ratio_of_a_slower_numerator_exceeds_one():
    entry = measure(
        Benchmark("b", "s", "sleep", _sleep(0.004), _sleep(0.001), goal=2.0, goal_is="at least", repeats=3)
    )
    assert entry["ratio"] > 2.0
    assert entry["meets_goal"] is True


def test_goal_at_most_is_checked():
    entry = measure(
        Benchmark("b", "s", "sleep", _sleep(0.004), _sleep(0.001), goal=1.5, goal_is="at most", repeats=3)
    )
    assert entry["meets_goal"] is False


def test_externally_timed_numerator_uses_its_times_and_says_so():
    """A fake external timer (fixed per-step times, called once) over an in-process sleep."""
    calls = []

    def external(repeats):
        calls.append(repeats)
        return [0.050, 0.010, 0.030, 0.020, 0.040][:repeats]

    def never():
        raise AssertionError("the numerator must not run in-process when numerator_times is given")

    bench = Benchmark("b", "s", "ext", never, _sleep(0.002), repeats=5, numerator_times=external)
    entry = measure(dataclasses.replace(bench, numerator_timed="elsewhere"))
    assert calls == [5]
    assert entry["numerator_median_s"] == 0.030
    assert 0.002 <= entry["denominator_median_s"] < 0.015
    assert entry["ratio"] == entry["numerator_median_s"] / entry["denominator_median_s"]
    assert entry["numerator_timed"] == "elsewhere"


def test_in_process_entries_say_where_they_were_timed():
    entry = measure(Benchmark("b", "s", "sleep", _sleep(0.0), _sleep(0.0), repeats=2))
    assert entry["numerator_timed"] == "in this process"


def test_runner_writes_bench_json_with_the_issue_keys(tmp_path, monkeypatch):
    fake = [Benchmark("fake", "s", "what", _sleep(0.0), _sleep(0.0), repeats=2)]
    monkeypatch.setattr(runner, "collect", lambda selected: fake)
    assert runner.main(["--out", str(tmp_path / "bench.json")]) == 0
    entry = json.loads((tmp_path / "bench.json").read_text())["fake"]
    assert {"study", "what", "ratio", "goal"} <= set(entry)


def test_every_study_benchmark_is_well_formed():
    for bench in runner.collect(list(runner.studies.STUDIES)):
        assert bench.name and bench.study in runner.studies.STUDIES and bench.what
