"""The gradient_flow study interface: runs, records, claims (verdicts from numbers), figures, benchmarks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.records import record_run

from pipeline import studies
from pipeline.core.atomic import atomic_write_json
from pipeline.core.bench import Benchmark
from pipeline.gradient_flow import study

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


def _context(results: Path, cfg: dict[str, Any], run: str = "scalar") -> studies.RunContext:
    return studies.RunContext(
        study="gradient_flow",
        cfg=cfg,
        seed=0,
        device="cpu",
        scale="smoke",
        run_dir=results / "gradient_flow" / run,
        results_dir=results,
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Execute every run of a tiny config and write the records the way pipeline.cli does."""
    root = tmp_path_factory.mktemp("results")
    cfg = study.resolve(TINY)
    for run in studies.run_ids("gradient_flow", cfg):
        output = studies.load("gradient_flow").execute(run, _context(root, cfg, run))
        record_run(root, "gradient_flow", run, output.metrics, output.history, config=cfg)
    atomic_write_json(root / "gradient_flow" / "theory.json", {"study": "gradient_flow", **study.theory(cfg)})
    return root


def test_run_ids() -> None:
    assert study.run_ids(study.DEFAULTS) == ["scalar", "matrix", "descent"]
    assert studies.run_ids("gradient_flow", study.DEFAULTS) == ["scalar", "matrix", "descent"]


def test_resolve_fills_defaults_and_validates() -> None:
    assert study.resolve(None) == study.DEFAULTS
    assert study.resolve(study.DEFAULTS) == study.DEFAULTS
    assert study.resolve({"matrix": {"m": 4}})["matrix"]["n"] == study.DEFAULTS["matrix"]["n"]
    with pytest.raises(ValueError, match="w0"):
        study.resolve({"w0": 2.0})
    with pytest.raises(ValueError, match="spectrum"):
        study.resolve({"matrix": {"spectra": [[1.0, 1.0, 1.0, 1.0]]}})
    with pytest.raises(KeyError):
        study.execute("nope", _context(Path("."), study.DEFAULTS))


def test_records_are_complete(results: Path) -> None:
    for run in study.RUNS:
        run_dir = results / "gradient_flow" / run
        history = (run_dir / "history.csv").read_text().splitlines()
        assert history[0] == ",".join(study.HISTORY_COLUMNS)
        assert len(history) > 100
        metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
        assert metrics
    scalar = json.loads((results / "gradient_flow" / "scalar" / "metrics.json").read_text())["metrics"]
    assert len(scalar["records"]) == len(TINY["lambdas"])


def test_all_claims_hold_on_tiny_config(results: Path) -> None:
    cfg = study.resolve(TINY)
    claims = study.claims(cfg, _context(results, cfg))
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


def _copy_results(results: Path, target: Path) -> Path:
    for path in (results / "gradient_flow").rglob("*.json"):
        destination = target / path.relative_to(results)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(path.read_text())
    return target


def _edit_metrics(root: Path, run: str, key: str, value: Any) -> None:
    path = root / "gradient_flow" / run / "metrics.json"
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
    results: Path, tmp_path: Path, run: str, key: str, value: Any, claim_id: str
) -> None:
    root = _copy_results(results, tmp_path)
    _edit_metrics(root, run, key, value)
    cfg = study.resolve(TINY)
    verdicts = {c.claim_id: c.holds for c in study.claims(cfg, _context(root, cfg))}
    assert verdicts.pop(claim_id) is False
    assert all(verdicts.values()), verdicts


def test_a_failing_sympy_check_breaks_the_theory_claim(results: Path, tmp_path: Path) -> None:
    root = _copy_results(results, tmp_path)
    path = root / "gradient_flow" / "theory.json"
    theory = json.loads(path.read_text())
    theory["checks"]["scalar_lambda_conserved"]["passes"] = False
    path.write_text(json.dumps(theory))
    cfg = study.resolve(TINY)
    claim = next(c for c in study.claims(cfg, _context(root, cfg)) if c.claim_id == "theory")
    assert claim.holds is False and claim.measured == 1.0


def test_default_config_meets_claims_numbers() -> None:
    """The default-scale matrix run (the slowest, ~0.5 s) meets its thresholds."""
    output = study.execute("matrix", _context(Path("."), study.DEFAULTS, "matrix"))
    metrics = output.metrics
    assert metrics["conservation_rel_err_max"] <= 1e-8
    assert metrics["riccati_rel_err_max"] <= 1e-6
    assert metrics["rate_rel_err_max"] <= 0.02
    assert metrics["init_balance_err_max"] <= 1e-12
    assert not math.isnan(metrics["rate_rel_err_max_balanced"])


def test_figures(results: Path, tmp_path: Path) -> None:
    from analysis import gradient_flow as figures

    figures.plot(results / "gradient_flow", tmp_path)
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


def test_schema_defaults_match_study_defaults() -> None:
    """When config/config.schema.yaml carries this section, its defaults are DEFAULTS (skipped before)."""
    schema_path = Path(__file__).resolve().parents[1] / "config" / "config.schema.yaml"
    if not schema_path.exists():
        pytest.skip("no config/config.schema.yaml")
    section = yaml.safe_load(schema_path.read_text())["properties"].get("gradient_flow", {})
    if "properties" not in section:
        pytest.skip("gradient_flow schema section not merged yet")

    def defaults(node: dict[str, Any]) -> dict[str, Any]:
        return {
            key: defaults(sub) if sub.get("type") == "object" else sub["default"]
            for key, sub in node["properties"].items()
        }

    assert defaults(section) == study.DEFAULTS
