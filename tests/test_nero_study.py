"""The nero study: run ids, a tiny sweep end to end, the memory table and claims fed good and bad results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.records import record_run

from pipeline.nero import study
from pipeline.nero.train import lr_factor
from pipeline.studies import RunContext

TINY = {
    "tasks": ["mlp"],
    "optimizers": ["nero", "sgd", "adam"],
    "lrs": [1.0e-2, 1.0],
    "eval_points": 1,
    "log_points": 2,
    "checkpoint_every": 2,
    "mlp": {"depth": 3, "width": 16, "steps": 4},
    "ablation": {"settings": []},
}


def test_run_ids_and_validation() -> None:
    ids = study.run_ids({})
    assert len(ids) == 3 * 5 + 4 + 1 and "sweep_mlp_nero_s0" in ids and "ablation_both_s0" in ids
    assert study.datasets({}) == ["digits", "fashion_mnist", "kjv"]
    with pytest.raises(ValueError, match="unknown optimizer"):
        study.resolve({"optimizers": ["rmsprop"]})
    assert study.lr_key(3.0e-4) == "3e-04"


def test_lr_schedules() -> None:
    cosine = {"kind": "cosine", "warmup_fraction": 0.0, "milestones": [], "gamma": 0.2}
    assert lr_factor(0, 10, cosine) == 1.0 and lr_factor(5, 10, cosine) == pytest.approx(0.5)
    multi = {"kind": "multistep", "warmup_fraction": 0.1, "milestones": [0.5, 0.8], "gamma": 0.2}
    assert lr_factor(0, 100, multi) == pytest.approx(0.1)
    assert [lr_factor(s, 100, multi) for s in (49, 50, 80)] == pytest.approx([1.0, 0.2, 0.04])


def test_tiny_sweep_records_every_lr_and_resumes(tmp_path: Path) -> None:
    ctx = RunContext("nero", TINY, 0, "cpu", "smoke", tmp_path / "sweep_mlp_nero_s0")
    output = study.execute("sweep_mlp_nero_s0", ctx)
    assert set(output.metrics["per_lr"]) == {"1e-02", "1e+00"}
    assert output.metrics["best_lr"] in (1.0e-2, 1.0)
    assert set(output.history["lr"]) == {1.0e-2, 1.0}
    again = study.execute("sweep_mlp_nero_s0", ctx)  # finished checkpoints: same numbers at once
    assert again.metrics["per_lr"] == output.metrics["per_lr"]


def test_memory_table_matches_closed_form(tmp_path: Path) -> None:
    cfg = {**TINY, "tasks": ["mlp", "cnn"], "cnn": {"dataset": "digits", "channels": [4], "hidden": 8}}
    output = study.execute("memory", RunContext("nero", cfg, 0, "cpu", "smoke", tmp_path / "memory"))
    table = output.history.set_index(["task", "optimizer"])
    for task in ("mlp", "cnn"):
        assert table.loc[(task, "nero"), "state_numel"] == table.loc[(task, "nero"), "nero_expected_numel"]
        assert table.loc[(task, "adam"), "state_numel"] == 2 * table.loc[(task, "adam"), "params"]
        assert table.loc[(task, "sgd"), "state_numel"] == 0


def _write_sweep(
    base: Path, task: str, opt: str, scores: dict[float, float | None], lm: bool = False
) -> None:
    per_lr, score_map = {}, {}
    for lr, value in scores.items():
        key = study.lr_key(lr)
        diverged = value is None
        entry = {"lr": lr, "diverged": float(diverged)}
        if not diverged:
            entry["valid_loss" if lm else "test_accuracy"] = value
        per_lr[key] = entry
        score_map[key] = None if diverged else (-value if lm else value)
    metrics = {"task": task, "optimizer": opt, "seed_index": 0, "per_lr": per_lr, "scores": score_map,
               "score_name": "neg_valid_loss" if lm else "test_accuracy", "best_lr": None}  # fmt: skip
    record_run(base.parent, "nero", f"sweep_{task}_{opt}_s0", metrics)


def _claims(tmp_path: Path, nero_mlp: dict, adam_mlp: dict, nero_cnn: dict, adam_cnn: dict, ratio: float):
    base = tmp_path / "nero"
    cfg = {"tasks": ["mlp", "cnn"], "optimizers": ["nero", "sgd", "adam"], "ablation": {"settings": []}}
    for task, nero, adam in (("mlp", nero_mlp, adam_mlp), ("cnn", nero_cnn, adam_cnn)):
        _write_sweep(base, task, "nero", nero)
        _write_sweep(base, task, "adam", adam)
        _write_sweep(base, task, "sgd", {lr: 0.1 for lr in nero})
    (base / "memory").mkdir()
    rows = [{"task": "cnn", "optimizer": "nero", "state_numel": ratio * 1000}]
    rows.append({"task": "cnn", "optimizer": "adam", "state_numel": 1000})
    (base / "memory" / "metrics.json").write_text(json.dumps({"metrics": {"memory": rows}}))
    ctx = RunContext("nero", cfg, 0, "cpu", "smoke", base, results_dir=tmp_path)
    return {c.claim_id: c for c in study.claims(cfg, ctx)}


def test_claims_hold_on_good_results(tmp_path: Path) -> None:
    claims = _claims(
        tmp_path,
        nero_mlp={1e-3: 0.9, 1e-2: 0.85, 1.0: None},
        adam_mlp={1e-3: 0.5, 1e-2: 0.3, 1.0: None},
        nero_cnn={1e-3: 0.7, 1e-2: 0.8, 1.0: 0.5},
        adam_cnn={1e-3: 0.81, 1e-2: 0.6, 1.0: None},
        ratio=0.01,
    )
    assert claims["nero_best_lr_near_default"].holds
    assert claims["nero_default_vs_tuned_cnn"].holds  # 1 point behind Adam's best
    assert claims["deep_mlp_nero_beats_sgd_adam"].measured == pytest.approx(40.0)
    assert claims["deep_mlp_nero_beats_sgd_adam"].holds
    assert claims["nero_state_vs_adam_cnn"].holds


def test_claims_fail_on_bad_results(tmp_path: Path) -> None:
    claims = _claims(
        tmp_path,
        nero_mlp={1e-3: 0.55, 1e-2: 0.5, 1.0: None},
        adam_mlp={1e-3: 0.5, 1e-2: 0.3, 1.0: None},
        nero_cnn={1e-3: 0.8, 1e-2: 0.7, 1.0: None},  # best at 1e-3: a factor 10 from 0.01
        adam_cnn={1e-3: 0.81, 1e-2: 0.6, 1.0: None},
        ratio=0.2,
    )
    for claim_id in ("nero_best_lr_near_default", "nero_default_vs_tuned_cnn", "deep_mlp_nero_beats_sgd_adam",
                     "nero_state_vs_adam_cnn", "adam_best_lr_varies", "sgd_best_lr_varies"):  # fmt: skip
        assert not claims[claim_id].holds, claim_id


def _schema_defaults(node: dict) -> object:
    if node.get("type") == "object" and "properties" in node:
        return {key: _schema_defaults(child) for key, child in node["properties"].items()}
    return node["default"]


def test_defaults_agree_with_schema_and_config_yaml() -> None:
    import yaml

    root = Path(__file__).resolve().parents[1] / "config"
    schema = yaml.safe_load((root / "config.schema.yaml").read_text())["properties"]["nero"]
    config = yaml.safe_load((root / "config.yaml").read_text())["nero"]
    assert _schema_defaults(schema) == study.DEFAULTS == study.resolve(config)
