"""The fisher study interface: the run table, one tiny run, claims computed from numbers, figures."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers.records import context, record_run, study_results

from analysis import fisher as figures
from pipeline import studies
from pipeline.core.config import ConfigError, section
from pipeline.core.stats import verdict
from pipeline.fisher import claims as claims_of
from pipeline.fisher import study
from pipeline.fisher.runs import ARMS, FisherRun
from pipeline.results import Results

TINY_EXPERIMENT = {
    "name": "tiny",
    "dataset": "digits",
    "model": "small_cnn",
    "width": 4,
    "train_size": 128,
    "test_size": 64,
    "batch_size": 32,
    "epochs": 2,
    "lr_small": 0.05,
    "lr_large": 0.2,
    "trace_examples": 8,
    "trace_every": 2,
    "trace_until": 4,
    "eval_every": 4,
    "arms": ["noisy_fp"],
}


def _experiments(**changes: dict[str, Any]) -> list[dict[str, Any]]:
    """The default experiments list, with ``changes[name]`` merged into experiment ``name``."""
    experiments = copy.deepcopy(section("fisher")["experiments"])
    return [{**exp, **changes.get(exp["name"], {})} for exp in experiments]


CLEAN = ("small", "large", "small_fp")


def test_runs_are_typed_specs_with_todays_ids() -> None:
    table = studies.runs("fisher", section("fisher"))
    clean = [f"mnist1d_{arm}_s{k}" for arm in CLEAN for k in range(3)]
    noisy = [f"mnist1dnoisy_{arm}_s{k}" for arm in ("noisy", "noisy_fp") for k in range(3)]
    assert list(table) == clean + noisy
    assert all(type(spec) is FisherRun for spec in table.values())
    for spec in table.values():
        assert studies.spec_from_dict("fisher", json.loads(json.dumps(spec.to_dict()))) == spec
    assert studies.datasets("fisher", section("fisher")) == ["mnist1d"]


def test_arm_settings_are_resolved_into_the_spec() -> None:
    table = studies.runs("fisher", section("fisher", {"experiments": [{"name": "m"}]}))  # every arm
    arm = {spec.arm: spec for spec in table.values() if spec.seed_index == 0}
    settings = {a: (s.lr, s.penalty, s.alpha, s.penalty_every, s.noise_fraction) for a, s in arm.items()}
    assert settings == {
        "small": (0.03, "none", 0.0, None, 0.0),
        "large": (0.3, "none", 0.0, None, 0.0),
        "small_fp": (0.03, "fisher", 0.05, 1, 0.0),
        "small_gp": (0.03, "grad_norm", 0.05, 1, 0.0),
        "small_gpx": (0.03, "input_grad", 0.05, 1, 0.0),
        "small_gpr": (0.03, "random_label", 0.05, 1, 0.0),
        "noisy": (0.3, "none", 0.0, None, 0.25),
        "noisy_fp": (0.3, "fisher", 0.05, 1, 0.25),
    }
    default = studies.runs("fisher", section("fisher"))
    clean, noisy = default["mnist1d_small_fp_s2"], default["mnist1dnoisy_noisy_fp_s2"]
    assert (clean.dataset, clean.model, clean.width, clean.train_size, clean.epochs) == (
        "mnist1d",
        "cnn1d",
        32,
        0,
        240,
    )
    assert (clean.penalty_every, clean.alpha, clean.trace_until, clean.eval_every) == (10, 0.5, 1000, 250)
    assert (noisy.penalty_every, noisy.alpha) == (1, 0.05)
    assert (noisy.train_size, noisy.epochs, noisy.lr, noisy.noise_fraction) == (1000, 120, 0.3, 0.25)
    assert (noisy.eval_every, noisy.trace_until) == (50, 500)


@pytest.mark.parametrize(
    ("change", "arms"),
    [
        ({"lr_large": 0.5}, {"large"}),
        ({"lr_small": 0.01}, {"small", "small_fp", "small_gp", "small_gpx", "small_gpr"}),
        ({"alpha_gp": 0.1}, {"small_gp"}),
        ({"alpha_gpx": 0.1}, {"small_gpx"}),
        ({"alpha_gpr": 0.1}, {"small_gpr"}),
        ({"alpha_fp": 0.1}, {"small_fp", "noisy_fp"}),
        ({"penalty_every": 5}, {"small_fp", "small_gp", "small_gpx", "small_gpr", "noisy_fp"}),
        ({"noise_fraction": 0.4}, {"noisy", "noisy_fp"}),
        ({"noise_lr": 0.1}, {"noisy", "noisy_fp"}),
        ({"epochs": 3}, set(ARMS)),
        ({"fisher_mode": "eval"}, set(ARMS)),
    ],
)
def test_a_key_changes_exactly_the_specs_that_read_it(change: dict[str, Any], arms: set[str]) -> None:
    every_arm = [{"name": "m"}, {"name": "other"}]  # the item defaults run every arm
    base = studies.runs("fisher", section("fisher", {"experiments": every_arm}))
    changed = studies.runs(
        "fisher", section("fisher", {"experiments": [{"name": "m", **change}, every_arm[1]]})
    )
    assert list(changed) == list(base)
    differ = [run for run in base if base[run] != changed[run]]
    assert differ == [s.id for s in base.values() if s.experiment == "m" and s.arm in arms]


def test_changing_one_experiment_reruns_only_its_arms() -> None:
    base = studies.runs("fisher", section("fisher"))
    changed = studies.runs(
        "fisher", section("fisher", {"experiments": _experiments(mnist1d={"lr_large": 0.4})})
    )
    differ = {run for run in base if base[run] != changed[run]}
    assert differ == {"mnist1d_large_s0", "mnist1d_large_s1", "mnist1d_large_s2"}
    assert all(changed[run].lr == 0.4 for run in differ)
    noisier = studies.runs(
        "fisher", section("fisher", {"experiments": _experiments(mnist1dnoisy={"noise_lr": 0.1})})
    )
    assert {run for run in base if base[run] != noisier[run]} == {
        run for run in base if run.startswith("mnist1dnoisy_")
    }


def test_adding_a_seed_leaves_existing_specs_equal() -> None:
    three = studies.runs("fisher", section("fisher"))
    four = studies.runs("fisher", section("fisher", {"seeds": 4}))
    assert {run: four[run] for run in three} == three
    added = [run for run in four if run not in three]
    # the study's seeds count for the experiments without their own (the noisy one sets its own 3)
    assert added == [f"mnist1d_{arm}_s3" for arm in CLEAN]
    assert all(four[run] == replace(three[run.replace("_s3", "_s0")], seed_index=3) for run in added)
    six = studies.runs("fisher", section("fisher", {"experiments": _experiments(mnist1dnoisy={"seeds": 4})}))
    assert {run: six[run] for run in three} == three
    assert [run for run in six if run not in three] == ["mnist1dnoisy_noisy_s3", "mnist1dnoisy_noisy_fp_s3"]


def test_relations_between_keys_are_checked() -> None:
    with pytest.raises(ConfigError, match="names must be unique"):
        studies.runs("fisher", section("fisher", {"experiments": [{"name": "a"}, {"name": "a"}]}))
    with pytest.raises(ConfigError, match="arms"):
        section("fisher", {"experiments": [{"arms": ["tiny_lr"]}]})
    with pytest.raises(ConfigError, match="noise_fraction"):
        section("fisher", {"experiments": [{"noise_fraction": 1.0}]})


def test_one_tiny_noisy_fp_run_records_what_claims_and_figures_read(tmp_path: Path) -> None:
    results = study_results(
        "fisher", {"seeds": 1, "checkpoint_every": 0, "experiments": [TINY_EXPERIMENT]}, tmp_path
    )
    spec = results.one(FisherRun, experiment="tiny", arm="noisy_fp", seed_index=0)
    assert spec.id == "tiny_noisy_fp_s0"
    ctx = context(results, spec)
    output = study.execute(spec, ctx)
    m = output.metrics
    assert m["steps"] == 8 and m["penalty"] == "fisher" and m["noise_fraction"] == 0.25
    read = (
        "test_accuracy",
        "fit_accuracy",
        "trace_peak_early",
        "noisy_fit_mean",
        "clean_fit_mean",
        "trace_final",
    )
    for key in read:
        assert key in m and m[key] == m[key]
    assert "fit_step" in m  # NaN: a 2-epoch run does not fit
    assert {"fisher_trace", "noisy_fit", "clean_fit", "train_penalty"} <= set(output.history.columns)
    assert (ctx.run_dir / "checkpoint.pt").exists()
    again = study.execute(spec, ctx)  # finished checkpoint: same result, no retraining
    assert again.metrics == m


@pytest.mark.parametrize(("arm", "kind"), [("small_gpx", "input_grad"), ("small_gpr", "random_label")])
def test_the_control_penalties_train(tmp_path: Path, arm: str, kind: str) -> None:
    tiny = {**TINY_EXPERIMENT, "epochs": 1, "arms": [arm]}
    results = study_results("fisher", {"seeds": 1, "checkpoint_every": 0, "experiments": [tiny]}, tmp_path)
    spec = results.one(FisherRun, experiment="tiny", arm=arm, seed_index=0)
    assert (spec.penalty, spec.lr, spec.alpha) == (kind, 0.05, 0.05)
    output = study.execute(spec, context(results, spec))
    assert output.metrics["steps"] == 4 and output.metrics["train_penalty"] > 0
    assert output.history["fisher_trace"].notna().any()


def _write(results: Results, name: str, arm: str, seed: int, **values: float) -> None:
    spec = results.one(FisherRun, experiment=name, arm=arm, seed_index=seed)
    metrics = {"experiment": name, "arm": arm, "seed_index": seed, "trace_peak_step": 100.0, **values}
    rows = [
        {
            "step": s,
            "fisher_trace": values.get("trace_peak_early", 1.0) / (1 + s / 100),
            "noisy_fit": s / 400 * values.get("noisy_fit_mean", 0.5),
            "clean_fit": s / 400 * values.get("clean_fit_mean", 0.5),
        }
        for s in (25, 100, 200, 400)
    ]
    record_run(results.run_dir(spec), metrics, pd.DataFrame(rows))


CLAIMS = (
    "fisher_explosion",
    "small_lr_worse",
    "fp_closes_gap",
    "fp_lowers_trace",
    "early_trace_predicts_accuracy",
    "fp_beats_gpx",
    "fp_limits_memorisation",
)
# Per-seed numbers (3 seeds) for each case: every seed on the claimed side ("holds"), seeds on both sides
# ("straddles"), every seed on the other side ("fails"). Accuracies are fractions, as the runs store them.
CASES: dict[str, dict[str, Any]] = {
    "holds": {
        "acc": {
            "small": [0.90, 0.91, 0.89],
            "large": [0.95, 0.955, 0.945],
            "small_fp": [0.94, 0.945, 0.935],
            "small_gp": [0.92, 0.925, 0.915],
            "small_gpx": [0.91, 0.915, 0.905],
            "small_gpr": [0.93, 0.935, 0.925],
        },
        "peak": {
            "small": [300.0, 310.0, 290.0],
            "large": [100.0, 110.0, 95.0],
            "small_fp": [120.0, 125.0, 118.0],
            "small_gp": [200.0, 205.0, 195.0],
            "small_gpx": [250.0, 255.0, 245.0],
            "small_gpr": [150.0, 155.0, 145.0],
        },
        # (noisy-subset fit, clean-subset fit) per seed: FP lowers the noisy fit by 40 points, the clean by 5
        "fit": {
            "noisy": [(0.80, 0.95), (0.82, 0.96), (0.78, 0.94)],
            "noisy_fp": [(0.40, 0.90), (0.41, 0.905), (0.385, 0.89)],
        },
    },
    "straddles": {
        "acc": {
            "small": [0.90, 0.93, 0.90],
            "large": [0.93, 0.90, 0.91],
            "small_fp": [0.92, 0.91, 0.905],
            "small_gp": [0.91, 0.92, 0.90],
            "small_gpx": [0.91, 0.92, 0.90],
            "small_gpr": [0.905, 0.915, 0.91],
        },
        "peak": {
            "small": [400.0, 100.0, 250.0],
            "large": [100.0, 100.0, 100.0],
            "small_fp": [200.0, 150.0, 250.0],
            "small_gp": [300.0, 120.0, 200.0],
            "small_gpx": [350.0, 110.0, 180.0],
            "small_gpr": [220.0, 130.0, 260.0],
        },
        "fit": {
            "noisy": [(0.80, 0.95), (0.80, 0.95), (0.80, 0.95)],
            "noisy_fp": [(0.70, 0.90), (0.80, 0.80), (0.75, 0.95)],
        },
    },
    "fails": {
        # the small lr peaks higher than the large lr but less than twice as high, and higher early peaks
        # go with higher accuracy (Spearman ρ = 1)
        "acc": {
            "small": [0.95, 0.955, 0.945],
            "large": [0.90, 0.91, 0.89],
            "small_fp": [0.96, 0.965, 0.955],
            "small_gp": [0.85, 0.855, 0.845],
            "small_gpx": [0.97, 0.975, 0.965],
            "small_gpr": [0.86, 0.865, 0.855],
        },
        "peak": {
            "small": [150.0, 155.0, 145.0],
            "large": [100.0, 105.0, 98.0],
            "small_fp": [200.0, 205.0, 198.0],
            "small_gp": [60.0, 62.0, 58.0],
            "small_gpx": [250.0, 255.0, 245.0],
            "small_gpr": [70.0, 72.0, 68.0],
        },
        "fit": {
            "noisy": [(0.80, 0.95), (0.82, 0.96), (0.78, 0.94)],
            "noisy_fp": [(0.75, 0.70), (0.77, 0.71), (0.73, 0.69)],
        },
    },
}
EXPECTED = {
    "holds": dict.fromkeys(CLAIMS, "holds"),
    "straddles": dict.fromkeys(CLAIMS, "inconclusive"),
    # no positive small-vs-large gap: the fraction of it that FP closes is undefined, hence inconclusive
    "fails": {**dict.fromkeys(CLAIMS, "fails"), "fp_closes_gap": "inconclusive"},
}


def _results(
    root: Path, case: str = "holds", fit: float = 1.0, fits: dict[str, list[float]] | None = None
) -> Results:
    """Fake runs of experiment ``m`` (every arm, 3 seeds) with the per-seed numbers of ``CASES[case]``;
    every run has train accuracy ``fit`` unless ``fits[arm]`` gives that arm's per-seed train accuracy."""
    results = study_results("fisher", {"seeds": 3, "experiments": [{"name": "m"}]}, root)
    numbers, fits = CASES[case], fits or {}
    for arm, accuracies in numbers["acc"].items():
        for seed, (acc, peak) in enumerate(zip(accuracies, numbers["peak"][arm], strict=True)):
            train = fits.get(arm, [fit] * 3)[seed]
            _write(results, "m", arm, seed, test_accuracy=acc, fit_accuracy=train, trace_peak_early=peak)
    for arm, subsets in numbers["fit"].items():
        for seed, (noisy, clean) in enumerate(subsets):
            _write(
                results,
                "m",
                arm,
                seed,
                test_accuracy=0.8,
                fit_accuracy=fits.get(arm, [fit] * 3)[seed],
                trace_peak_early=50.0,
                noisy_fit_mean=noisy,
                clean_fit_mean=clean,
            )
    return results


def _claims(results: Results) -> dict[str, Any]:
    return {c.claim_id.removesuffix("_m"): c for c in claims_of.claims(results)}


@pytest.mark.parametrize("case", list(CASES))
def test_verdicts_come_from_the_intervals(tmp_path: Path, case: str) -> None:
    rows = _claims(_results(tmp_path, case))
    assert list(rows) == list(CLAIMS)
    verdicts = {k: c.verdict for k, c in rows.items()}
    assert verdicts == EXPECTED[case], {k: (c.estimate, c.ci_low, c.ci_high) for k, c in rows.items()}
    for claim in rows.values():
        assert claim.n == (18 if claim.claim_id.startswith("early_trace") else 3)
        if claim.verdict == "holds":
            assert claim.ci_low <= claim.estimate <= claim.ci_high


def test_every_claim_is_a_reproduction_with_a_source_and_a_drawn_figure(tmp_path: Path) -> None:
    rows = _claims(_results(tmp_path))
    stems = set(figures.CAPTIONS)
    for claim in rows.values():
        assert claim.kind == "reproduction"
        assert claim.paper_value and claim.paper_source
        assert "abstract" in claim.paper_source or "recalled, unconfirmed" in claim.paper_source
        assert claim.note  # the documented reason it may not hold at this scale
        assert claim.evidence.startswith("figures/smoke/fisher/")
        assert Path(claim.evidence).stem in stems
    assert rows["fisher_explosion"].evidence == "figures/smoke/fisher/trace_curves.png"


def test_estimates_are_paired_per_seed_in_percentage_points(tmp_path: Path) -> None:
    rows = _claims(_results(tmp_path))
    explosion = rows["fisher_explosion"]
    expected = math.exp(sum(math.log(a / b) for a, b in [(300, 100), (310, 110), (290, 95)]) / 3)
    assert explosion.estimate == pytest.approx(expected)
    assert "geometric-mean ratio over paired seeds" in explosion.method
    assert rows["small_lr_worse"].estimate == pytest.approx(5.0)  # points
    assert rows["small_lr_worse"].method.startswith("paired difference")
    assert rows["fp_closes_gap"].estimate == pytest.approx(4.0 / 5.0)
    assert rows["fp_beats_gpx"].estimate == pytest.approx(3.0)
    assert "bootstrap" in rows["fp_closes_gap"].method
    assert rows["fp_limits_memorisation"].estimate == pytest.approx(
        sum(
            (n - nf) - (c - cf)
            for (n, c), (nf, cf) in zip(
                CASES["holds"]["fit"]["noisy"], CASES["holds"]["fit"]["noisy_fp"], strict=True
            )
        )
        / 3
        * 100
    )
    assert rows["early_trace_predicts_accuracy"].method.startswith("Spearman")


def test_gap_fraction_is_nan_without_a_gap_and_uses_seeds_all_arms_have() -> None:
    none = claims_of.gap_fraction([90.0, 91.0, 92.0], [90.0, 91.0, 92.0], [95.0, 95.0, 95.0])
    assert math.isnan(none.value)
    some = claims_of.gap_fraction(
        [90.0, 90.0, math.nan, 90.0], [95.0, 94.0, 95.0, 96.0], [93.0, 92.0, 93.0, 93.0]
    )
    assert some.n == 3 and some.value == pytest.approx((3 + 2 + 3) / (5 + 4 + 6))
    assert "1 missing or diverged excluded" in some.method


@pytest.mark.parametrize(
    ("fp", "expected"),
    [
        ([94.0, 93.5, 94.5], "holds"),  # closes 4 of 5 points in every seed
        ([94.0, 86.0, 92.0], "inconclusive"),  # closes 0.8, -0.8 and 0.4 of the gap: straddles 0.5
        ([89.0, 88.5, 89.5], "fails"),  # FP is worse than the small lr in every seed
    ],
)
def test_gap_fraction_verdicts_from_the_bootstrap_interval(fp: list[float], expected: str) -> None:
    estimate = claims_of.gap_fraction([90.0, 90.0, 90.0], [95.0, 95.0, 95.0], fp)
    assert estimate.finite and estimate.n == 3
    assert verdict(estimate, ">=", 0.5) == expected


def test_missing_runs_are_excluded_and_a_diverged_run_fails_the_fit_gate(tmp_path: Path) -> None:
    results = _results(tmp_path)
    spec = results.one(FisherRun, experiment="m", arm="large", seed_index=1)
    record_run(results.run_dir(spec), {"diverged": 1.0, "diverged_at_step": 3.0, "trace_peak_early": 1e6})
    missing = results.one(FisherRun, experiment="m", arm="small_gp", seed_index=2)
    (results.metrics_path(missing)).unlink()
    rows = _claims(results)
    assert (
        rows["fisher_explosion"].n == 2
        and "1 missing or diverged excluded" in rows["fisher_explosion"].method
    )
    assert rows["fisher_explosion"].verdict == "inconclusive"  # fewer than 3 pairs
    assert rows["fp_lowers_trace"].n == 3 and rows["fp_lowers_trace"].verdict == "holds"  # no large arm
    # the diverged large-lr run did not fit: every claim on final accuracy with that arm is gated
    for key in ("small_lr_worse", "fp_closes_gap", "early_trace_predicts_accuracy"):
        assert rows[key].verdict == "inconclusive" and math.isnan(rows[key].ci_low)
        assert "large lr (1 diverged)" in rows[key].note
    assert rows["fp_beats_gpx"].verdict == "holds"  # reads neither arm
    assert rows["early_trace_predicts_accuracy"].n == 16
    assert "2 missing or diverged excluded" in rows["early_trace_predicts_accuracy"].method
    figures.plot(results, tmp_path / "figures")  # figures draw what is there


def test_a_claim_whose_arms_do_not_fit_is_inconclusive_with_the_reason(tmp_path: Path) -> None:
    fitted = _claims(_results(tmp_path / "fitted", fit=1.0))
    underfit = _claims(_results(tmp_path / "underfit", fits={"small": [1.0, 0.75, 1.0]}))
    for key in ("small_lr_worse", "fp_closes_gap", "early_trace_predicts_accuracy"):
        assert fitted[key].verdict == "holds" and "fit gate" not in fitted[key].note
        claim = underfit[key]
        assert claim.verdict == "inconclusive"
        assert claim.estimate == pytest.approx(fitted[key].estimate)  # the point estimate is kept …
        assert math.isnan(claim.ci_low) and math.isnan(claim.ci_high)  # … its interval withheld
        assert "interval withheld" in claim.method
        assert "Inconclusive by the fit gate" in claim.note
        assert "small lr (1 of 3 below, lowest 75.0%)" in claim.note
    for key in ("fisher_explosion", "fp_lowers_trace", "fp_beats_gpx", "fp_limits_memorisation"):
        assert underfit[key].verdict == fitted[key].verdict == "holds"  # not gated on the small arm
        assert "fit gate" not in underfit[key].note
    exactly = _claims(_results(tmp_path / "exactly", fits={"small": [0.99, 0.99, 0.99]}))
    assert exactly["small_lr_worse"].verdict == "holds"  # 99% is fitted


def test_memorisation_needs_the_unpenalised_noisy_arm_to_memorise(tmp_path: Path) -> None:
    """The noisy arm without FP must fit its flipped labels too; the penalised arm is exempt."""
    fp_short = _claims(_results(tmp_path / "a", fits={"noisy_fp": [0.8, 0.8, 0.8]}))
    assert fp_short["fp_limits_memorisation"].verdict == "holds"
    not_memorised = _claims(_results(tmp_path / "b", fits={"noisy": [0.8, 1.0, 1.0]}))
    claim = not_memorised["fp_limits_memorisation"]
    assert claim.verdict == "inconclusive" and "noisy labels (1 of 3 below, lowest 80.0%)" in claim.note
    assert "memorise" in claim.note


def test_fit_gate_names_arms_without_a_recorded_train_accuracy(tmp_path: Path) -> None:
    results = _results(tmp_path)
    spec = results.one(FisherRun, experiment="m", arm="small_fp", seed_index=0)
    record_run(results.run_dir(spec), {"test_accuracy": 0.9, "trace_peak_early": 100.0})
    rows = _claims(results)
    assert rows["fp_closes_gap"].verdict == "inconclusive"
    assert "small lr + Fisher penalty (no train accuracy recorded)" in rows["fp_closes_gap"].note


def test_claims_appear_only_for_the_arms_an_experiment_runs(tmp_path: Path) -> None:
    results = study_results(
        "fisher", {"seeds": 3, "experiments": [{"name": "f", "arms": ["small", "small_fp"]}]}, tmp_path
    )
    for seed in range(3):
        _write(results, "f", "small", seed, test_accuracy=0.9, trace_peak_early=300.0 + seed)
        _write(results, "f", "small_fp", seed, test_accuracy=0.9, trace_peak_early=100.0 + seed)
    rows = claims_of.claims(results)
    assert [c.claim_id for c in rows] == ["fp_lowers_trace_f"]
    assert rows[0].verdict == "holds"


def test_figures_are_drawn_from_results(tmp_path: Path) -> None:
    results = _results(tmp_path)
    figures.plot(results, tmp_path / "figures")
    assert list(figures.CAPTIONS) == ["trace_curves", "accuracy", "trace_vs_accuracy", "memorisation"]
    for stem in figures.CAPTIONS:
        assert (tmp_path / "figures" / f"{stem}.png").stat().st_size > 0
        assert (tmp_path / "figures" / f"{stem}.pdf").stat().st_size > 0
    json.dumps(figures.CAPTIONS)


def test_figures_without_noisy_arms_say_so(tmp_path: Path) -> None:
    results = study_results(
        "fisher", {"seeds": 2, "experiments": [{"name": "f", "arms": ["small", "large"]}]}, tmp_path
    )
    for arm in ("small", "large"):
        for seed in range(2):
            _write(results, "f", arm, seed, test_accuracy=0.9, fit_accuracy=0.95, trace_peak_early=200.0)
    figures.plot(results, tmp_path / "figures")
    assert all((tmp_path / "figures" / f"{stem}.png").exists() for stem in figures.CAPTIONS)
