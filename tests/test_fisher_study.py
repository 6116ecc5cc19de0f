"""The fisher study interface: the run table, one tiny run, claims computed from numbers, figures."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers.records import context, record_run, study_results

from analysis import fisher as figures
from pipeline import studies
from pipeline.core.config import ConfigError, section
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


def test_runs_are_typed_specs_with_todays_ids() -> None:
    table = studies.runs("fisher", section("fisher"))
    mnist = [f"mnist1d_{arm}_s{k}" for arm in ARMS for k in range(3)]
    fmnist = [f"fmnist_{arm}_s{k}" for arm in ("small", "large", "small_fp") for k in range(3)]
    assert list(table) == mnist + fmnist
    assert all(type(spec) is FisherRun for spec in table.values())
    for spec in table.values():
        assert studies.spec_from_dict("fisher", json.loads(json.dumps(spec.to_dict()))) == spec
    assert studies.datasets("fisher", section("fisher")) == ["fashion_mnist", "mnist1d"]


def test_arm_settings_are_resolved_into_the_spec() -> None:
    table = studies.runs("fisher", section("fisher"))
    arm = {spec.arm: spec for spec in table.values() if spec.experiment == "mnist1d" and spec.seed_index == 0}
    settings = {a: (s.lr, s.penalty, s.alpha, s.penalty_every, s.noise_fraction) for a, s in arm.items()}
    assert settings == {
        "small": (0.03, "none", 0.0, None, 0.0),
        "large": (0.3, "none", 0.0, None, 0.0),
        "small_fp": (0.03, "fisher", 0.05, 2, 0.0),
        "small_gp": (0.03, "grad_norm", 0.05, 2, 0.0),
        "noisy": (0.3, "none", 0.0, None, 0.25),
        "noisy_fp": (0.3, "fisher", 0.05, 2, 0.25),
    }
    fmnist = table["fmnist_large_s2"]
    assert (fmnist.dataset, fmnist.model, fmnist.width, fmnist.lr) == ("fashion_mnist", "mlp", 64, 0.2)
    assert (fmnist.train_size, fmnist.test_size, fmnist.epochs, fmnist.trace_until) == (4000, 2000, 20, 500)


@pytest.mark.parametrize(
    ("change", "arms"),
    [
        ({"lr_large": 0.5}, {"large"}),
        ({"lr_small": 0.01}, {"small", "small_fp", "small_gp"}),
        ({"alpha_gp": 0.1}, {"small_gp"}),
        ({"alpha_fp": 0.1}, {"small_fp", "noisy_fp"}),
        ({"penalty_every": 5}, {"small_fp", "small_gp", "noisy_fp"}),
        ({"noise_fraction": 0.4}, {"noisy", "noisy_fp"}),
        ({"noise_lr": 0.1}, {"noisy", "noisy_fp"}),
        ({"epochs": 3}, set(ARMS)),
    ],
)
def test_a_key_changes_exactly_the_specs_that_read_it(change: dict[str, Any], arms: set[str]) -> None:
    base = studies.runs("fisher", section("fisher"))
    changed = studies.runs("fisher", section("fisher", {"experiments": _experiments(mnist1d=change)}))
    assert list(changed) == list(base)
    differ = [run for run in base if base[run] != changed[run]]
    assert differ == [s.id for s in base.values() if s.experiment == "mnist1d" and s.arm in arms]


def test_changing_lr_large_of_one_experiment_reruns_only_its_large_arms() -> None:
    base = studies.runs("fisher", section("fisher"))
    changed = studies.runs(
        "fisher", section("fisher", {"experiments": _experiments(fmnist={"lr_large": 0.4})})
    )
    differ = {run for run in base if base[run] != changed[run]}
    assert differ == {"fmnist_large_s0", "fmnist_large_s1", "fmnist_large_s2"}
    assert all(changed[run].lr == 0.4 for run in differ)


def test_adding_a_seed_leaves_existing_specs_equal() -> None:
    three = studies.runs("fisher", section("fisher"))
    four = studies.runs("fisher", section("fisher", {"seeds": 4}))
    assert {run: four[run] for run in three} == three
    added = [run for run in four if run not in three]
    assert added == [f"{s.experiment}_{s.arm}_s3" for s in three.values() if s.seed_index == 0]
    assert all(four[run] == replace(three[run.replace("_s3", "_s0")], seed_index=3) for run in added)


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
    for key in ("test_accuracy", "trace_peak_early", "noisy_fit_mean", "clean_fit_mean", "trace_final"):
        assert key in m and m[key] == m[key]
    assert {"fisher_trace", "noisy_fit", "clean_fit", "train_penalty"} <= set(output.history.columns)
    assert (ctx.run_dir / "checkpoint.pt").exists()
    again = study.execute(spec, ctx)  # finished checkpoint: same result, no retraining
    assert again.metrics == m


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


def _results(root: Path, good: bool) -> Results:
    results = study_results("fisher", {"seeds": 2, "experiments": [{"name": "m"}]}, root)
    acc = {"small": 0.90, "large": 0.95, "small_fp": 0.94 if good else 0.89, "small_gp": 0.92}
    peak = {"small": 300.0, "large": 100.0, "small_fp": 120.0 if good else 320.0, "small_gp": 200.0}
    if not good:  # the large lr is worse, FP does not help, and high early Tr F goes with high accuracy
        acc["large"], peak["large"] = 0.85, 250.0
        acc["small_gp"], peak["small_gp"] = 0.80, 200.0
    for arm in acc:
        for seed in range(2):
            _write(results, "m", arm, seed, test_accuracy=acc[arm] + 0.001 * seed, trace_peak_early=peak[arm])
    fits = {"noisy": (0.8, 0.95), "noisy_fp": (0.4 if good else 0.8, 0.9)}
    for arm, (noisy, clean) in fits.items():
        for seed in range(2):
            _write(
                results,
                "m",
                arm,
                seed,
                test_accuracy=0.8,
                trace_peak_early=50.0,
                noisy_fit_mean=noisy,
                clean_fit_mean=clean,
            )
    return results


@pytest.mark.parametrize("good", [True, False])
def test_claims_follow_the_numbers(tmp_path: Path, good: bool) -> None:
    results = _results(tmp_path, good)
    rows = {c.claim_id.removesuffix("_m"): c for c in claims_of.claims(results)}
    assert set(rows) == {
        "fisher_explosion",
        "small_lr_worse",
        "fp_closes_gap",
        "fp_lowers_trace",
        "early_trace_predicts_accuracy",
        "fp_limits_memorisation",
    }
    assert all(c.holds == good for c in rows.values()), {k: (c.measured, c.holds) for k, c in rows.items()}
    assert rows["fisher_explosion"].evidence == "figures/smoke/fisher/trace_curves.png"
    if good:
        assert rows["fisher_explosion"].measured == pytest.approx(3.0)
        assert rows["fp_closes_gap"].measured == pytest.approx(0.8)
        assert rows["fp_limits_memorisation"].measured == pytest.approx(0.35)


def test_figures_are_drawn_from_results(tmp_path: Path) -> None:
    results = _results(tmp_path, True)
    figures.plot(results, tmp_path / "figures")
    for stem in figures.CAPTIONS:
        assert (tmp_path / "figures" / f"{stem}.png").stat().st_size > 0
    json.dumps(figures.CAPTIONS)
