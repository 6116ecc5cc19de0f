"""The gradient_flow study interface: runs, records, claims (verdicts from numbers), figures, benchmarks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from helpers.records import execute_all, study_results

from pipeline import studies
from pipeline.core import stats
from pipeline.core.bench import Benchmark
from pipeline.core.config import ConfigError, section
from pipeline.core.study import RunContext
from pipeline.gradient_flow import claims as claims_of
from pipeline.gradient_flow import study
from pipeline.gradient_flow.history import HISTORY_COLUMNS
from pipeline.gradient_flow.runs import DescentRun, GeneralImbalanceRun, MatrixFlowRun, ScalarFlowRun
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
    "general": {
        "spectrum": [1.5, 0.5],
        "imbalances": [[1.5, 2.0], [-2.0, -1.5], [-1.0, 1.0]],
        "draws": 2,
        "n_points": 401,
    },
    "descent": {"steps": 100, "lambdas": [0.0, 1.0]},
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """Execute every run of a tiny config and write the records the way pipeline.cli does."""
    return execute_all("gradient_flow", TINY, tmp_path_factory.mktemp("results"))


def test_runs_are_four_typed_specs() -> None:
    table = studies.runs("gradient_flow", section("gradient_flow"))
    assert list(table) == ["scalar", "matrix", "general", "descent"]
    assert [type(spec) for spec in table.values()] == [
        ScalarFlowRun,
        MatrixFlowRun,
        GeneralImbalanceRun,
        DescentRun,
    ]
    for spec in table.values():
        assert studies.spec_from_dict("gradient_flow", json.loads(json.dumps(spec.to_dict()))) == spec


def test_each_spec_holds_only_the_keys_its_run_reads() -> None:
    base = studies.runs("gradient_flow", section("gradient_flow"))
    changed = studies.runs("gradient_flow", section("gradient_flow", {"descent": {"eta": 0.01}}))
    assert [run for run in base if base[run] != changed[run]] == ["descent"]
    changed = studies.runs("gradient_flow", section("gradient_flow", {"general": {"draws": 2}}))
    assert [run for run in base if base[run] != changed[run]] == ["general"]
    changed = studies.runs("gradient_flow", section("gradient_flow", {"y": 2.0}))
    assert [run for run in base if base[run] != changed[run]] == ["scalar", "descent"]


def test_relations_between_keys_are_checked() -> None:
    with pytest.raises(ConfigError, match="w0"):
        studies.runs("gradient_flow", section("gradient_flow", {"w0": 2.0}))
    with pytest.raises(ConfigError, match="spectra"):
        studies.runs(
            "gradient_flow", section("gradient_flow", {"matrix": {"spectra": [[1.0, 1.0, 1.0, 1.0]]}})
        )
    with pytest.raises(ConfigError, match="imbalances"):
        studies.runs("gradient_flow", section("gradient_flow", {"general": {"imbalances": [[1.0, 2.0]]}}))


def test_records_are_complete(results: Results) -> None:
    for spec in results:
        history = results.history(spec)
        assert tuple(history.columns) == HISTORY_COLUMNS
        assert len(history) > 100
        assert results.metrics(spec)
    assert len(results.metrics(results.one(ScalarFlowRun))["records"]) == len(TINY["lambdas"])


KINDS = {
    "conservation": "check",
    "closed_form_scalar": "reproduction",
    "closed_form_riccati": "reproduction",
    "rate_scalar": "reproduction",
    "rate_scalar_vs_balanced": "reproduction",
    "rate_matrix_modes": "reproduction",
    "rate_matrix_vs_balanced": "reproduction",
    "spectrum_of_F": "check",
    "acceleration": "reproduction",
    "rate_general_linearised": "reproduction",
    "rate_general_upper_bound": "reproduction",
    "rate_general_lower_bound": "reproduction",
    "decay_bound_general": "reproduction",
    "rate_general_vs_balanced": "reproduction",
    "lower_bound_rejects_balanced": "check",
    "descent_recursion": "check",
    "theory": "check",
    "overparameterised_faster": "check",
}
SIDES = {
    "conservation": ("<=", 1e-8),
    "closed_form_scalar": ("<=", 1e-6),
    "closed_form_riccati": ("<=", 1e-6),
    "rate_scalar": ("<=", 1e-3),
    "rate_scalar_vs_balanced": (">", 1e-3),
    "rate_matrix_modes": ("<=", 1e-3),
    "rate_matrix_vs_balanced": (">", 1e-3),
    "spectrum_of_F": ("<=", 1e-10),
    "acceleration": ("==", 0.0),
    "rate_general_linearised": ("<=", 1e-3),
    "rate_general_upper_bound": ("<=", 1.001),
    "rate_general_lower_bound": (">=", 0.999),
    "decay_bound_general": (">=", 1.0 - 1e-6),
    "rate_general_vs_balanced": (">", 1.001),
    "lower_bound_rejects_balanced": ("<", 0.999),
    "descent_recursion": ("<=", 1e-12),
    "theory": ("==", 0.0),
    "overparameterised_faster": (">", 1.0),
}


def test_all_claims_hold_on_tiny_config(results: Results) -> None:
    claims = claims_of.claims(results)
    assert [c.claim_id for c in claims] == list(KINDS)
    failing = [(c.claim_id, c.estimate, c.comparison, c.threshold) for c in claims if c.verdict != "holds"]
    assert not failing, failing


def test_claims_follow_the_contract(results: Results) -> None:
    """Kinds as designed, thresholds as documented, exact estimates (n = 1, zero width), abstract cited."""
    claims = {c.claim_id: c for c in claims_of.claims(results)}
    assert {key: c.kind for key, c in claims.items()} == KINDS
    assert {key: (c.comparison, c.threshold) for key, c in claims.items()} == SIDES
    for claim in claims.values():
        assert claim.n == 1 and claim.ci_low == claim.ci_high == claim.estimate, claim.claim_id
        assert claim.study == "gradient_flow" and claim.scale == "smoke"
        if claim.kind == "reproduction":
            assert claim.paper_value and claim.paper_source == "abstract", claim.claim_id
        else:
            assert not claim.paper_value and not claim.paper_source, claim.claim_id
        assert claim.note or claim.claim_id == "theory", claim.claim_id


def test_every_evidence_is_a_figure_the_analysis_draws(results: Results) -> None:
    from analysis import gradient_flow as figures

    prefix = "figures/smoke/gradient_flow/"
    for claim in claims_of.claims(results):
        assert claim.evidence.startswith(prefix) and claim.evidence.endswith(".png"), claim.evidence
        assert claim.evidence[len(prefix) : -len(".png")] in figures.CAPTIONS, claim.claim_id


def test_no_overparameterised_claim_for_small_targets(results: Results, tmp_path: Path) -> None:
    """The rate 2y exceeds 1 only for y > 1/2: the check is absent otherwise."""
    small = study_results("gradient_flow", {**TINY, "y": 0.4, "w0": 0.001}, tmp_path)
    source = results.outputs.study_dir("gradient_flow")
    for path in source.rglob("*.json"):
        destination = small.outputs.study_dir("gradient_flow") / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(path.read_text())
    assert "overparameterised_faster" not in {c.claim_id for c in claims_of.claims(small)}


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
        ("scalar", "rate_rel_err_max", 0.0011, "rate_scalar"),
        ("scalar", "rate_rel_err_max", None, "rate_scalar"),  # no fit in the window
        ("scalar", "rate_vs_balanced_min", 5e-4, "rate_scalar_vs_balanced"),  # no acceleration resolved
        ("matrix", "rate_rel_err_max", 0.0011, "rate_matrix_modes"),
        ("matrix", "rate_vs_balanced_min", 1e-3, "rate_matrix_vs_balanced"),  # strict: equal fails
        ("general", "conservation_rel_err_max", 1e-6, "conservation"),
        ("general", "rate_rel_err_max", 2e-3, "rate_general_linearised"),
        ("general", "rate_rel_err_max", None, "rate_general_linearised"),
        ("general", "upper_ratio_max", 1.01, "rate_general_upper_bound"),
        ("general", "lower_ratio_min", 0.99, "rate_general_lower_bound"),
        ("general", "lower_ratio_min", None, "rate_general_lower_bound"),
        ("general", "average_rate_ratio_min", 0.9999, "decay_bound_general"),
        ("general", "definite_over_balanced_min", 1.0005, "rate_general_vs_balanced"),
        ("general", "balanced_over_weakest_bound", 0.9995, "lower_bound_rejects_balanced"),
        ("general", "balanced_average_rate_ratio", 1.2, "lower_bound_rejects_balanced"),
        ("matrix", "spectrum_err_max", 1e-6, "spectrum_of_F"),
        ("scalar", "acceleration_violations", 1, "acceleration"),
        ("descent", "recursion_dev_max", 1e-9, "descent_recursion"),
        ("scalar", "rate_over_linear_min", 0.9, "overparameterised_faster"),
        ("scalar", "rate_over_linear_min", 1.0, "overparameterised_faster"),  # strict: equal fails
    ],
)
def test_a_bad_number_fails_exactly_its_claim(
    results: Results, tmp_path: Path, run: str, key: str, value: Any, claim_id: str
) -> None:
    copy = _copy_results(results, tmp_path)
    _edit_metrics(copy, run, key, value)
    verdicts = {c.claim_id: c.verdict for c in claims_of.claims(copy)}
    assert verdicts.pop(claim_id) == "fails"
    assert set(verdicts.values()) == {"holds"}, verdicts


@pytest.mark.parametrize(
    ("run", "key", "value", "claim_id"),
    [
        ("scalar", "rate_rel_err_max", 1e-3, "rate_scalar"),
        ("general", "lower_ratio_min", 0.999, "rate_general_lower_bound"),
        ("matrix", "riccati_rel_err_max", 1e-6, "closed_form_riccati"),
        ("descent", "recursion_dev_max", 1e-12, "descent_recursion"),
    ],
)
def test_a_number_at_its_threshold_holds(
    results: Results, tmp_path: Path, run: str, key: str, value: Any, claim_id: str
) -> None:
    """The thresholds are inclusive bounds (``<=``); an exact estimate is never inconclusive."""
    copy = _copy_results(results, tmp_path)
    _edit_metrics(copy, run, key, value)
    claim = next(c for c in claims_of.claims(copy) if c.claim_id == claim_id)
    assert (claim.verdict, claim.estimate) == ("holds", value)


@pytest.mark.parametrize("claim_id", list(SIDES))
def test_verdicts_are_computed_from_intervals(claim_id: str) -> None:
    """Each claim's side, applied to an interval: wholly on the claimed side holds, straddling the
    threshold is inconclusive, wholly on the other side fails (the rule make_claim applies)."""
    comparison, threshold = SIDES[claim_id]
    if comparison == "==":
        assert stats.verdict(stats.exact(threshold), comparison, threshold) == "holds"
        assert stats.verdict(stats.exact(threshold + 1), comparison, threshold) == "fails"
        return
    scale = max(abs(threshold), 1e-3)
    below = [threshold - scale * f for f in (0.5, 0.6, 0.7, 0.8)]
    straddle = [
        threshold - scale * 0.5,
        threshold + scale * 0.5,
        threshold - scale * 0.4,
        threshold + scale * 0.6,
    ]
    above = [threshold + scale * f for f in (0.5, 0.6, 0.7, 0.8)]
    claimed, other = (below, above) if comparison in ("<", "<=") else (above, below)
    assert stats.verdict(stats.mean_interval(claimed), comparison, threshold) == "holds"
    assert stats.verdict(stats.mean_interval(straddle), comparison, threshold) == "inconclusive"
    assert stats.verdict(stats.mean_interval(other), comparison, threshold) == "fails"


def test_a_failing_sympy_check_fails_the_theory_claim(results: Results, tmp_path: Path) -> None:
    copy = _copy_results(results, tmp_path)
    path = copy.outputs.theory_json("gradient_flow")
    theory = json.loads(path.read_text())
    theory["checks"]["scalar_lambda_conserved"]["passes"] = False
    path.write_text(json.dumps(theory))
    claim = next(c for c in claims_of.claims(copy) if c.claim_id == "theory")
    assert claim.verdict == "fails" and claim.estimate == 1.0


def test_default_config_meets_claims_numbers() -> None:
    """The default-scale matrix and general runs (the slowest, ~1 s each) meet their thresholds."""
    table = studies.runs("gradient_flow", section("gradient_flow"))
    context = RunContext("gradient_flow", 0, "default", "cpu", Path("."))
    metrics = study.execute(table["matrix"], context).metrics
    assert metrics["conservation_rel_err_max"] <= 1e-8
    assert metrics["riccati_rel_err_max"] <= 1e-6
    assert metrics["rate_rel_err_max"] <= claims_of.RATE_REL_ERR_MAX
    assert metrics["rate_vs_balanced_min"] > claims_of.RATE_REL_ERR_MAX
    assert metrics["init_balance_err_max"] <= 1e-12
    assert not math.isnan(metrics["rate_rel_err_max_balanced"])
    general = study.execute(table["general"], context).metrics
    assert general["init_imbalance_err_max"] <= 1e-12
    assert general["conservation_rel_err_max"] <= 1e-8
    assert general["rate_rel_err_max"] <= claims_of.RATE_REL_ERR_MAX
    assert general["definite_cases"] == 2 * table["general"].draws
    assert general["upper_ratio_max"] <= 1 + claims_of.RATE_BOUND_SLACK
    assert general["lower_ratio_min"] >= 1 - claims_of.RATE_BOUND_SLACK
    assert general["balanced_over_weakest_bound"] < 1 - claims_of.RATE_BOUND_SLACK


def test_the_rate_test_has_power_at_the_default_grid() -> None:
    """The rule that accepts the derived rate (|fitted/derived − 1| ≤ tolerance) rejects the balanced rate
    2y (no acceleration) at every λ ≠ 0 of the default scalar grid; and the claim built on the balanced
    rate as the prediction fails."""
    spec = studies.runs("gradient_flow", section("gradient_flow"))["scalar"]
    metrics = study.execute(spec, RunContext("gradient_flow", 0, "default", "cpu", Path("."))).metrics
    tolerance = claims_of.RATE_REL_ERR_MAX
    for record in metrics["records"]:
        fitted = record["rate_fitted"]
        assert abs(fitted / record["rate_predicted"] - 1) <= tolerance, record["lam"]
        if record["lam"] != 0.0:
            assert abs(fitted / (2 * spec.y) - 1) > tolerance, record["lam"]
    no_acceleration = max(abs(r["rate_fitted"] / (2 * spec.y) - 1) for r in metrics["records"])
    assert stats.verdict(stats.exact(no_acceleration), "<=", tolerance) == "fails"


def test_a_general_flow_cut_off_by_t_max_has_no_rate_and_fails() -> None:
    """Too short a horizon leaves the residual above the window: no fitted rate, so the claims fail."""
    spec = studies.runs(
        "gradient_flow", section("gradient_flow", {**TINY, "general": {**TINY["general"], "t_max": 3.0}})
    )
    metrics = study.execute(
        spec["general"], RunContext("gradient_flow", 0, "smoke", "cpu", Path("."))
    ).metrics
    assert all(math.isnan(r["rate_fitted"]) for r in metrics["records"])
    assert math.isinf(metrics["rate_rel_err_max"]) and math.isinf(metrics["lower_ratio_min"])


def test_the_general_lower_bound_test_rejects_the_balanced_flow(results: Results) -> None:
    """Applied to the balanced starts (Q = 0), the lower-bound claims' rule fails: no acceleration is
    told apart from the bound q* by the same test."""
    metrics = results.metrics(results.one(GeneralImbalanceRun))
    weakest = metrics["weakest_lower_bound"]
    for record in metrics["records"]:
        if not record["balanced"]:
            continue
        ratio = record["rate_fitted"] / weakest
        assert stats.verdict(stats.exact(ratio), ">=", 1 - claims_of.RATE_BOUND_SLACK) == "fails"
        average = record["average_rate_min"] / weakest
        assert stats.verdict(stats.exact(average), ">=", 1 - claims_of.DECAY_BOUND_SLACK) == "fails"


def test_figures(results: Results, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every figure is drawn; every panel has a y label; legends carry human labels, never bare ids."""
    from analysis import gradient_flow as figures
    from analysis import style

    panels: dict[str, list[tuple[str, list[str]]]] = {}
    save = style.save

    def record(fig: Any, out: Path, stem: str) -> None:
        panels[stem] = [
            (ax.get_ylabel(), [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else [])
            for ax in fig.axes
        ]
        save(fig, out, stem)

    monkeypatch.setattr(figures.style, "save", record)
    figures.plot(results, tmp_path)
    assert list(panels) == list(figures.CAPTIONS)
    for stem in figures.CAPTIONS:
        assert (tmp_path / f"{stem}.png").stat().st_size > 0
        assert (tmp_path / f"{stem}.pdf").stat().st_size > 0
        for ylabel, legend in panels[stem]:
            assert ylabel.strip(), stem
            bare = [
                text for text in legend if text.replace(".", "").replace("−", "").replace("-", "").isdigit()
            ]
            assert not bare, (stem, bare)
            assert all(text not in ("spectrum", "model", "λ", "σ") for text in legend), (stem, legend)


def test_lambda_style_is_shared_and_symmetric() -> None:
    from analysis.gradient_flow import LambdaStyle

    lam_style = LambdaStyle([-2.0, 0.0, 1.0, 2.0, 3.0])
    assert lam_style.color(-2.0) == lam_style.color(2.0) != lam_style.color(3.0)
    assert (lam_style.linestyle(-2.0), lam_style.linestyle(2.0)) == ("--", "-")
    assert lam_style.label(-2.0) == "λ = −2" and lam_style.label(0.5, "λ₀") == "λ₀ = 0.5"


def test_benchmarks_compare_equal_outputs() -> None:
    from pipeline.gradient_flow.bench import BENCHMARKS, scalar_closed_form, scalar_ode

    assert all(isinstance(b, Benchmark) and b.study == "gradient_flow" for b in BENCHMARKS)
    assert "gradient_flow_closed_form_vs_ode" in {b.name for b in BENCHMARKS}
    for ode, closed in zip(scalar_ode(), scalar_closed_form(), strict=True):
        assert max(abs(a - b) for a, b in zip(ode, closed, strict=True)) < 1e-8
