"""directpred study interface: run ids, config, a one-epoch BYOL run on digits, claims from stored numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.records import record_run

from pipeline import studies
from pipeline.core.atomic import atomic_write_json
from pipeline.directpred import study

TINY: dict[str, Any] = {
    "linear": {
        "n1": 8,
        "n2": 4,
        "steps": 6000,
        "dt": 0.02,
        "threshold_ratios": [0.5, 2.0],
        "threshold_steps": 3000,
        "threshold_dt": 0.05,
        "record_every": 100,
    },
    "sweeps": {
        "t_max": 40.0,
        "n_points": 41,
        "etas": [0.04, 0.2],
        "betas": [0.4],
        "portrait_etas": [0.04],
        "portrait_grid": 2,
    },
    "ssl": {
        "datasets": ["digits"],
        "n_train": 600,
        "n_val": 200,
        "n_test": 397,
        "image_size": 8,
        "channels": [8, 8, 8],
        "batch_size": 64,
        "steps": 8,
        "variants": ["linear", "directpred"],
        "seeds": 1,
        "track_every": 4,
        "proj_hidden": 16,
        "proj_dim": 8,
        "pred_hidden": 16,
        "probe_iters": 30,
        "checkpoint_every": 4,
        "probe_weight_decays": [1.0e-3],
    },
}


def _context(results: Path, run: str) -> studies.RunContext:
    return studies.RunContext(
        study="directpred",
        cfg=TINY,
        seed=0,
        device="cpu",
        scale="smoke",
        run_dir=results / "directpred" / run,
        results_dir=results,
    )


def _record(results: Path, run: str, output: studies.RunOutput) -> None:
    record_run(results, "directpred", run, output.metrics, output.history, config={"study": TINY})


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every run of TINY (8 BYOL steps on 800 digits per predictor), recorded as pipeline.cli does."""
    root = tmp_path_factory.mktemp("results")
    for run in study.run_ids(TINY):
        (root / "directpred" / run).mkdir(parents=True)
        _record(root, run, study.execute(run, _context(root, run)))
    atomic_write_json(root / "directpred" / "theory.json", {"study": "directpred", **study.theory(TINY)})
    return root


def test_run_ids_and_config_errors() -> None:
    assert study.run_ids(TINY) == [
        "linear_flow",
        "collapse",
        "eigenmodes",
        "digits_byol_linear_s0",
        "digits_byol_directpred_s0",
    ]
    assert studies.datasets("directpred", TINY) == ["digits"]
    with pytest.raises(ValueError, match="variant"):
        study.resolve({"ssl": {"variants": ["directpred_every5"]}})
    with pytest.raises(KeyError, match="unknown config key"):
        study.resolve({"predictor": {}})


def test_config_sections_list_every_key() -> None:
    default = yaml.safe_load(Path("config/config.yaml").read_text())["directpred"]
    assert study.resolve(default) == default
    for name in ("smoke", "paper"):
        study.resolve(yaml.safe_load(Path(f"config/{name}.yaml").read_text())["directpred"])


def test_one_epoch_byol_on_digits(results: Path) -> None:
    for run in ("digits_byol_linear_s0", "digits_byol_directpred_s0"):
        metrics = json.loads((results / "directpred" / run / "metrics.json").read_text())["metrics"]
        assert metrics["steps"] == 8 and metrics["diverged"] == 0.0
        assert metrics["probe_test_accuracy"] > 0.2  # 10 classes: chance is 0.1
        assert 0.0 <= metrics["align_cos_top_k"] <= 1.0 + 1e-9
    history = (results / "directpred" / "digits_byol_directpred_s0" / "history.csv").read_text()
    assert "eig_cos_mean" in history.splitlines()[0]


def test_resumed_run_gives_the_same_metrics(results: Path, tmp_path: Path) -> None:
    """Resume: a run restarted from its step-4 checkpoint ends with the uninterrupted run's numbers."""
    ctx = _context(tmp_path, "digits_byol_directpred_s0")
    ctx.run_dir.mkdir(parents=True)
    short = {**TINY, "ssl": {**TINY["ssl"], "steps": 4}}
    study.execute("digits_byol_directpred_s0", studies.RunContext(**{**ctx.__dict__, "cfg": short}))
    resumed = study.execute("digits_byol_directpred_s0", ctx).metrics
    original = json.loads(
        (results / "directpred" / "digits_byol_directpred_s0" / "metrics.json").read_text()
    )["metrics"]
    assert resumed["probe_test_accuracy"] == original["probe_test_accuracy"]
    assert resumed["train_loss"] == original["train_loss"]


def test_claims_hold_on_the_simulations(results: Path) -> None:
    rows = {c.claim_id: c for c in study.claims(TINY, _context(results, ""))}
    for cid in (
        "theory",
        "fixed_point",
        "commutator_decay",
        "collapse_threshold",
        "collapse_no_stop_grad",
        "collapse_no_predictor",
        "collapse_weight_decay",
    ):
        assert rows[cid].holds, cid
    assert {"directpred_vs_linear_digits", "real_encoder_alignment_digits"} <= set(rows)


def test_claims_fail_on_bad_numbers(results: Path, tmp_path: Path) -> None:
    """Claims computed from doctored metrics: a wrong fixed point and a worse DirectPred do not hold."""
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(results, bad)
    path = bad / "directpred" / "linear_flow" / "metrics.json"
    record = json.loads(path.read_text())
    record["metrics"]["p_err_max"] = 0.05
    path.write_text(json.dumps(record))
    for run, acc in (("digits_byol_linear_s0", 0.9), ("digits_byol_directpred_s0", 0.5)):
        path = bad / "directpred" / run / "metrics.json"
        record = json.loads(path.read_text())
        record["metrics"]["probe_test_accuracy"] = acc
        path.write_text(json.dumps(record))
    rows = {c.claim_id: c for c in study.claims(TINY, _context(bad, ""))}
    assert not rows["fixed_point"].holds
    assert not rows["directpred_vs_linear_digits"].holds
    assert rows["directpred_vs_linear_digits"].measured == pytest.approx(-40.0)


def test_figures_are_drawn(results: Path, tmp_path: Path) -> None:
    from analysis import directpred as figures

    figures.plot(results / "directpred", tmp_path)
    assert all((tmp_path / f"{stem}.png").exists() for stem in figures.CAPTIONS)
