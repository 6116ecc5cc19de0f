"""The gradient_flow study interface: runs, records, claims (verdicts from numbers), figures, benchmarks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from helpers.records import execute_all, study_results

from pipeline import studies
from pipeline.core.bench import Benchmark
from pipeline.core.config import ConfigError, section
from pipeline.core.study import RunContext
from pipeline.gradient_flow import claims as claims_of
from pipeline.gradient_flow import study
from pipeline.gradient_flow.history import HISTORY_COLUMNS
from pipeline.gradient_flow.runs import DescentRun, MatrixFlowRun, ScalarFlowRun
from pipeline.results import Results

TINY: dict[str, Any] = {
    "lambdas": [-1.0, 0.0, 1.0, 2.0],
    "n_points": 201,
    "matrix": {
        "m": 2,
        "n": 2,
        "k": 2,
        "lambdas": [0.0, 1.0],
        "spectra": [[1.5, 0.5], [1.0, 0.0]],
        "t_max": 40.0,
        "n_points": 201,
    },
    "descent": {"steps": 100, "lambdas": [0.0, 1.0]},
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """Execute every run of a tiny config and write the records the way pipeline.cli does."""
    return execute_all("gradient_flow", TINY, tmp_path_factory.mktemp("results"))


def test_runs_are_three_typed_specs() -> None:
    table = studies.runs("gradient_flow", section("gradient_flow"))
    assert list(table) == ["scalar", "matrix", "descent"]
    assert [type(spec) for spec in table.values()] == [ScalarFlowRun, MatrixFlowRun, DescentRun]
    for spec in table.values():
        assert studies.spec_from_dict("gradient_flow", json.loads(json.dumps(spec.to_dict()))) == spec


def test_each_spec_holds_only_the_keys_its_run_reads() -> None:
    base = studies.runs("gradient_flow", section("gradient_flow"))
    changed = studies.runs("gradient_flow", section("gradient_flow", {"descent": {"eta": 0.01}}))
    assert [run for run in base if base[run] != changed[run]] == ["descent"]


def test_relations_between_keys_are_checked() -> None:
    with pytest.raises(ConfigError, match="w0"):
        studies.runs("gradient_flow", section("gradient_flow", {"w0": 2.0}))
    with pytest.raises(ConfigError, match="spectra"):
        studies.runs(
            "gradient_flow", section("gradient_flow", {"matrix": {"spectra": [[1.0, 1.0, 1.0, 1.0]]}})
        )


def test_records_are_complete(results: Results) -> None:
    for spec in results:
        history = results.history(spec)
        assert tuple(history.columns) == HISTORY_COLUMNS
        assert len(history) > 100
        assert results.metrics(spec)
    assert len(results.metrics(results.one(ScalarFlowRun))["records"]) == len(TINY["lambdas"])


def test_all_claims_hold_on_tiny_config(results: Results) -> None:
    claims = claims_of.claims(results)
    ids = {c.claim_id for c in claims}
    assert {
        "conservation",
        "closed_form_scalar",
        "closed_form_riccati",
        "rate_scalar",
        "rate_matrix_modes",
    } <= ids
    assert {"acceleration", "descent_recursion", "theory", "overparameterised_faster"} <= ids
    failing = [(c.claim_id, c.measured, c.comparison) for c in claims if not c.holds]
    assert not failing, failing
    thresholds = {c.claim_id: c.comparison for c in claims}
    assert thresholds["conservation"] == "<= 1e-08"
    assert thresholds["closed_form_scalar"] == thresholds["closed_form_riccati"] == "<= 1e-06"
    assert thresholds["rate_scalar"] == thresholds["rate_matrix_modes"] == "<= 0.02"
    assert thresholds["descent_recursion"] == "<= 1e-12"


def _copy_results(results: Results, target: Path) -> Results:
    """The same results under ``target`` (metrics.json and theory.json only)."""
    source = results.outputs.study_dir("gradient_flow")
    copy = study_results("gradient_flow", TINY, target)
    for path in source.rglob("*.json"):
        destination = copy.outputs.study_dir("gradient_flow") / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(path.read_text())
    return copy


def _edit_metrics(results: Results, run: str, key: str, value: Any) -> None:
    path = results.metrics_path(run)
    data = json.loads(path.read_text())
    data["metrics"][key] = value
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("run", "key", "value", "claim_id"),
    [
        ("scalar", "conservation_rel_err_max", 1e-3, "conservation"),
        ("matrix", "conservation_rel_err_max", None, "conservation"),  # JSON null = non-finite
        ("scalar", "closed_form_rel_err_max", 2e-6, "closed_form_scalar"),
        ("matrix", "riccati_rel_err_max", 1e-2, "closed_form_riccati"),
        ("scalar", "rate_rel_err_max", 0.021, "rate_scalar"),
        ("matrix", "rate_rel_err_max", 0.5, "rate_matrix_modes"),
        ("scalar", "acceleration_violations", 1, "acceleration"),
        ("descent", "recursion_dev_max", 1e-9, "descent_recursion"),
        ("scalar", "rate_over_linear_min", 0.9, "overparameterised_faster"),
    ],
)
def test_a_bad_number_breaks_exactly_its_claim(
    results: Results, tmp_path: Path, run: str, key: str, value: Any, claim_id: str
) -> None:
    copy = _copy_results(results, tmp_path)
    _edit_metrics(copy, run, key, value)
    verdicts = {c.claim_id: c.holds for c in claims_of.claims(copy)}
    assert verdicts.pop(claim_id) is False
    assert all(verdicts.values()), verdicts


def test_a_failing_sympy_check_breaks_the_theory_claim(results: Results, tmp_path: Path) -> None:
    copy = _copy_results(results, tmp_path)
    path = copy.outputs.theory_json("gradient_flow")
    theory = json.loads(path.read_text())
    theory["checks"]["scalar_lambda_conserved"]["passes"] = False
    path.write_text(json.dumps(theory))
    claim = next(c for c in claims_of.claims(copy) if c.claim_id == "theory")
    assert claim.holds is False and claim.measured == 1.0


def test_default_config_meets_claims_numbers() -> None:
    """The default-scale matrix run (the slowest, ~0.5 s) meets its thresholds."""
    spec = studies.runs("gradient_flow", section("gradient_flow"))["matrix"]
    output = study.execute(spec, RunContext("gradient_flow", 0, "default", "cpu", Path(".")))
    metrics = output.metrics
    assert metrics["conservation_rel_err_max"] <= 1e-8
    assert metrics["riccati_rel_err_max"] <= 1e-6
    assert metrics["rate_rel_err_max"] <= 0.02
    assert metrics["init_balance_err_max"] <= 1e-12
    assert not math.isnan(metrics["rate_rel_err_max_balanced"])


def test_figures(results: Results, tmp_path: Path) -> None:
    from analysis import gradient_flow as figures

    figures.plot(results, tmp_path)
    for stem in figures.CAPTIONS:
        assert (tmp_path / f"{stem}.png").stat().st_size > 0
        assert (tmp_path / f"{stem}.pdf").stat().st_size > 0
    assert {"conservation", "residual_closed_form", "rates"} <= set(figures.CAPTIONS)


def test_benchmarks_compare_equal_outputs() -> None:
    from pipeline.gradient_flow.bench import BENCHMARKS, scalar_closed_form, scalar_ode

    assert all(isinstance(b, Benchmark) and b.study == "gradient_flow" for b in BENCHMARKS)
    assert "gradient_flow_closed_form_vs_ode" in {b.name for b in BENCHMARKS}
    for ode, closed in zip(scalar_ode(), scalar_closed_form(), strict=True):
        assert max(abs(a - b) for a, b in zip(ode, closed, strict=True)) < 1e-8
