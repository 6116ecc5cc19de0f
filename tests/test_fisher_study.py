"""The fisher study interface: config, run ids, one tiny run, claims computed from numbers, figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers.records import record_run

from analysis import fisher as figures
from pipeline import studies
from pipeline.core.records import write_history
from pipeline.fisher import study

ROOT = Path(__file__).resolve().parents[1]

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


def test_schema_item_defaults_match_the_study_defaults():
    schema = yaml.safe_load((ROOT / "config" / "config.schema.yaml").read_text())["properties"]["fisher"]
    items = schema["properties"]["experiments"]["items"]["properties"]
    assert {key: sub["default"] for key, sub in items.items()} == study.EXPERIMENT_DEFAULTS
    resolved = study.resolve({"experiments": schema["properties"]["experiments"]["default"]})
    assert resolved == study.DEFAULTS


def test_default_config_lists_every_key_and_resolves_to_defaults():
    section = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["fisher"]
    assert set(section) == set(study.DEFAULTS)
    assert all(set(exp) == set(study.EXPERIMENT_DEFAULTS) for exp in section["experiments"])
    assert study.resolve(section) == study.DEFAULTS


def test_run_ids_round_trip_and_validation():
    ids = study.run_ids({})
    assert len(ids) == len(set(ids)) == sum(len(e["arms"]) for e in study.DEFAULTS["experiments"]) * 3
    for run in ids:
        name, arm, seed = study.parse_run_id(run)
        assert study.run_id(name, arm, seed) == run
    assert study.parse_run_id("mnist1d_small_gp_s2") == ("mnist1d", "small_gp", 2)
    with pytest.raises(ValueError, match="arms"):
        study.resolve({"experiments": [{"arms": ["tiny_lr"]}]})
    assert study.datasets({}) == ["fashion_mnist", "mnist1d"]


def test_one_tiny_noisy_fp_run_records_what_claims_and_figures_read(tmp_path):
    cfg = {"seeds": 1, "checkpoint_every": 0, "experiments": [TINY_EXPERIMENT]}
    ctx = studies.RunContext("fisher", cfg, 0, "cpu", "smoke", tmp_path / "run")
    output = study.execute("tiny_noisy_fp_s0", ctx)
    m = output.metrics
    assert m["steps"] == 8 and m["penalty"] == "fisher" and m["noise_fraction"] == 0.25
    for key in ("test_accuracy", "trace_peak_early", "noisy_fit_mean", "clean_fit_mean", "trace_final"):
        assert key in m and m[key] == m[key]
    assert {"fisher_trace", "noisy_fit", "clean_fit", "train_penalty"} <= set(output.history.columns)
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    again = study.execute("tiny_noisy_fp_s0", ctx)  # finished checkpoint: same result, no retraining
    assert again.metrics == m


def _write(root: Path, name: str, arm: str, seed: int, **values: float) -> None:
    run = study.run_id(name, arm, seed)
    metrics = {"experiment": name, "arm": arm, "seed_index": seed, "trace_peak_step": 100.0, **values}
    record_run(root, "fisher", run, metrics)
    rows = [
        {
            "step": s,
            "fisher_trace": values.get("trace_peak_early", 1.0) / (1 + s / 100),
            "noisy_fit": s / 400 * values.get("noisy_fit_mean", 0.5),
            "clean_fit": s / 400 * values.get("clean_fit_mean", 0.5),
        }
        for s in (25, 100, 200, 400)
    ]
    import pandas as pd

    write_history(root / "fisher" / run / "history.csv", pd.DataFrame(rows))


def _results(root: Path, good: bool) -> dict:
    cfg = {"seeds": 2, "experiments": [{"name": "m"}]}
    acc = {"small": 0.90, "large": 0.95, "small_fp": 0.94 if good else 0.89, "small_gp": 0.92}
    peak = {"small": 300.0, "large": 100.0, "small_fp": 120.0 if good else 320.0, "small_gp": 200.0}
    if not good:  # the large lr is worse, FP does not help, and high early Tr F goes with high accuracy
        acc["large"], peak["large"] = 0.85, 250.0
        acc["small_gp"], peak["small_gp"] = 0.80, 200.0
    for arm in acc:
        for seed in range(2):
            _write(root, "m", arm, seed, test_accuracy=acc[arm] + 0.001 * seed, trace_peak_early=peak[arm])
    fits = {"noisy": (0.8, 0.95), "noisy_fp": (0.4 if good else 0.8, 0.9)}
    for arm, (noisy, clean) in fits.items():
        for seed in range(2):
            _write(
                root,
                "m",
                arm,
                seed,
                test_accuracy=0.8,
                trace_peak_early=50.0,
                noisy_fit_mean=noisy,
                clean_fit_mean=clean,
            )
    return cfg


@pytest.mark.parametrize("good", [True, False])
def test_claims_follow_the_numbers(tmp_path, good):
    cfg = _results(tmp_path, good)
    ctx = studies.RunContext("fisher", cfg, 0, "cpu", "smoke", tmp_path, results_dir=tmp_path)
    rows = {c.claim_id.removesuffix("_m"): c for c in study.claims(cfg, ctx)}
    assert set(rows) == {
        "fisher_explosion",
        "small_lr_worse",
        "fp_closes_gap",
        "fp_lowers_trace",
        "early_trace_predicts_accuracy",
        "fp_limits_memorisation",
    }
    assert all(c.holds == good for c in rows.values()), {k: (c.measured, c.holds) for k, c in rows.items()}
    if good:
        assert rows["fisher_explosion"].measured == pytest.approx(3.0)
        assert rows["fp_closes_gap"].measured == pytest.approx(0.8)
        assert rows["fp_limits_memorisation"].measured == pytest.approx(0.35)


def test_figures_are_drawn_from_results(tmp_path):
    _results(tmp_path, True)
    figures.plot(tmp_path / "fisher", tmp_path / "figures")
    for stem in figures.CAPTIONS:
        assert (tmp_path / "figures" / f"{stem}.png").stat().st_size > 0
    json.dumps(figures.CAPTIONS)
