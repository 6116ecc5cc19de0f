"""Figures read only the runs the config asks for: stale run directories never reach a figure."""

from __future__ import annotations

import json
from pathlib import Path

from analysis import directpred
from analysis.runs import read_metrics, run_dirs


def _run(results: Path, name: str, metrics: dict | None) -> None:
    (results / name).mkdir(parents=True)
    if metrics is not None:
        (results / name / "metrics.json").write_text(json.dumps({"metrics": metrics}))


def test_run_dirs_lists_finished_runs_and_filters_by_run_id(tmp_path: Path) -> None:
    _run(tmp_path, "b", {"x": 2})
    _run(tmp_path, "a", {"x": 1})
    _run(tmp_path, "unfinished", None)
    assert [p.name for p in run_dirs(tmp_path)] == ["a", "b"]
    assert [p.name for p in run_dirs(tmp_path, ["b", "never_ran"])] == ["b"]
    assert read_metrics(tmp_path / "a") == {"x": 1}


def test_directpred_ssl_figures_skip_runs_the_config_no_longer_lists(tmp_path: Path) -> None:
    ssl = {"method": "byol", "variant": "linear", "probe_test_accuracy": 0.5}
    _run(tmp_path, "digits_byol_linear_s0", {**ssl, "dataset": "digits"})
    _run(tmp_path, "digits_byol_linear_s1", {**ssl, "dataset": "digits"})  # from an older, larger config
    _run(tmp_path, "linear_flow", {"p_err_max": 0.0})  # not an SSL run
    grouped = directpred._ssl_runs(tmp_path, ["linear_flow", "digits_byol_linear_s0"])
    assert {k: [p.name for p in v] for k, v in grouped.items()} == {"digits": ["digits_byol_linear_s0"]}
    assert sum(len(v) for v in directpred._ssl_runs(tmp_path, None).values()) == 2
