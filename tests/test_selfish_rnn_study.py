"""The selfish_rnn study: config, run ids, a tiny end-to-end run, resume, claims, figures, benchmarks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.records import record_run
from helpers.threads import single_thread  # noqa: F401 (fixture)

from pipeline import studies
from pipeline.core.bench import Benchmark
from pipeline.selfish_rnn import study
from pipeline.selfish_rnn.corpus import load_corpus, synthetic_stream

TINY: dict[str, Any] = {
    "corpus": "synthetic",
    "vocab_size": 30,
    "train_tokens": 800,
    "eval_tokens": 300,
    "emsize": 12,
    "nhid": 12,
    "batch_size": 5,
    "bptt": 10,
    "eval_batch_size": 5,
    "epochs": 3,
    "lr": 5.0,
    "nonmono": 1,
    "methods": ["dense", "static", "selfish"],
    "optimizers": ["sgd", "sntasgd"],
    "seeds": 1,
    "checkpoint_every": 7,
}


pytestmark = pytest.mark.usefixtures("single_thread")  # tiny models, shared machine


def _context(results: Path, cfg: dict[str, Any], run: str) -> studies.RunContext:
    return studies.RunContext(
        study="selfish_rnn",
        cfg=cfg,
        seed=0,
        device="cpu",
        scale="smoke",
        run_dir=results / "selfish_rnn" / run,
        results_dir=results,
    )


def _write(results: Path, run: str, metrics: dict[str, Any], history=None) -> None:
    import pandas as pd

    record_run(
        results,
        "selfish_rnn",
        run,
        metrics,
        history if history is not None else pd.DataFrame({"step": [1.0]}),
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every run of the tiny config, recorded the way pipeline.cli does."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("results")
    for run in studies.run_ids("selfish_rnn", TINY):
        output = study.execute(run, _context(root, TINY, run))
        _write(root, run, output.metrics, output.history)
    return root


def test_registered_and_run_ids():
    assert "selfish_rnn" in studies.STUDIES
    assert study.run_ids(TINY) == [
        "dense_sgd_s0",
        "dense_sntasgd_s0",
        "static_sgd_s0",
        "static_sntasgd_s0",
        "selfish_sgd_s0",
        "selfish_sntasgd_s0",
    ]
    assert len(study.run_ids({})) == 4 * 2 * 2
    assert study.parse_run("set_sntasgd_s1") == ("set", "sntasgd", 1)
    assert study.datasets(TINY) == [] and study.datasets({}) == ["kjv"]


def test_bad_config_is_rejected():
    with pytest.raises(KeyError, match="lr_typo"):
        study.resolve({"lr_typo": 1.0})
    with pytest.raises(ValueError, match="methods"):
        study.resolve({"methods": ["rigl"]})
    with pytest.raises(ValueError, match="corpus"):
        study.resolve({"corpus": "enwik8"})


def test_synthetic_corpus_is_fixed_and_learnable():
    first, second = synthetic_stream(2000, 30), synthetic_stream(2000, 30)
    assert torch.equal(first, second) and int(first.max()) < 30
    counts = torch.zeros(30, 30)
    counts.index_put_((first[:-1], first[1:]), torch.ones(1999), accumulate=True)
    probs = counts / counts.sum(1, keepdim=True).clamp(min=1)
    entropy = -(counts * torch.log(probs.clamp(min=1e-12))).sum() / counts.sum()
    assert math.exp(float(entropy)) < 15.0  # bigram perplexity far below the vocabulary size
    corpus = load_corpus("synthetic", 30, 1000, 200, "unused")
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (1000, 200, 200)


def test_runs_record_what_claims_and_figures_read(results: Path):
    for run in study.run_ids(TINY):
        record = json.loads((results / "selfish_rnn" / run / "metrics.json").read_text())["metrics"]
        assert math.isfinite(record["test_ppl"]) and record["test_ppl"] < 30
        method = record["method"]
        if method != "dense":
            assert record["budget_error_max"] == 0.0
            assert record["sparse_density"] == pytest.approx(0.33, abs=5e-3)
            assert record["parameters"] < record["dense_parameters"]
        if record["optimizer"] == "sgd":
            assert record["switch_epoch"] == -1


def test_resume_gives_the_same_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Kill at step 60 (checkpoint at 56, after the switch), rerun: same metrics as an uninterrupted run."""
    run = "selfish_sntasgd_s0"
    cfg = {**TINY, "epochs": 4}  # 16 steps per epoch; the trigger fires at the end of epoch 3
    full = study.execute(run, _context(tmp_path / "a", cfg, run))

    class Killed(study.SequenceBatches):
        def __call__(self, step: int):
            if step == 60:
                raise KeyboardInterrupt
            return super().__call__(step)

    monkeypatch.setattr(study, "SequenceBatches", Killed)
    with pytest.raises(KeyboardInterrupt):
        study.execute(run, _context(tmp_path / "b", cfg, run))
    assert (tmp_path / "b" / "selfish_rnn" / run / "checkpoint.pt").exists()
    monkeypatch.undo()
    resumed = study.execute(run, _context(tmp_path / "b", cfg, run))
    assert resumed.metrics["test_ppl"] == full.metrics["test_ppl"]
    assert resumed.metrics["switch_epoch"] == full.metrics["switch_epoch"] == 3
    assert resumed.history["val_ppl"].dropna().tolist() == full.history["val_ppl"].dropna().tolist()


def test_claims_from_the_tiny_run(results: Path):
    rows = study.claims(TINY, _context(results, TINY, ""))
    ids = [row.claim_id for row in rows]
    assert ids == [
        "snt_asgd_helps_static",
        "snt_asgd_helps_selfish",
        "selfish_beats_static_sgd",
        "selfish_beats_static_sntasgd",
        "best_sparse_vs_dense",
        "budget_preserved",
        "non_uniform_gates",
    ]
    by_id = {row.claim_id: row for row in rows}
    assert by_id["budget_preserved"].holds and by_id["budget_preserved"].measured == 0.0
    assert all(row.scale == "smoke" and row.evidence.startswith("figures/selfish_rnn/") for row in rows)


def _fake_results(
    root: Path, ppl: dict[tuple[str, str], float], budget_error: float = 0.0, spread: float = 0.1
):
    for (method, optimizer), value in ppl.items():
        metrics = {"method": method, "optimizer": optimizer, "seed_index": 0, "test_ppl": value}
        if method != "dense":
            metrics |= {"budget_error_max": budget_error, "gate_spread_min": spread}
        _write(root, f"{method}_{optimizer}_s0", metrics)


def test_claims_can_fail(tmp_path: Path):
    """SNT-ASGD worse than SGD, static better than Selfish, a leak of 2, uniform gates: nothing holds."""
    cfg = {**TINY, "methods": ["dense", "static", "set", "selfish"]}
    cfg["seeds"] = 1
    _fake_results(
        tmp_path,
        {
            ("dense", "sgd"): 100.0,
            ("dense", "sntasgd"): 90.0,
            ("static", "sgd"): 120.0,
            ("static", "sntasgd"): 130.0,
            ("set", "sgd"): 125.0,
            ("set", "sntasgd"): 125.0,
            ("selfish", "sgd"): 140.0,
            ("selfish", "sntasgd"): 150.0,
        },
        budget_error=2.0,
        spread=0.001,
    )
    rows = {row.claim_id: row for row in study.claims(cfg, _context(tmp_path, cfg, ""))}
    assert not any(row.holds for row in rows.values()), rows
    assert rows["best_sparse_vs_dense"].measured == pytest.approx(120.0 / 90.0)
    assert rows["snt_asgd_helps_static"].measured == pytest.approx(-10.0)


def test_claims_hold_on_good_numbers(tmp_path: Path):
    cfg = {**TINY, "methods": ["dense", "static", "selfish"]}
    _fake_results(
        tmp_path,
        {
            ("dense", "sgd"): 100.0,
            ("dense", "sntasgd"): 95.0,
            ("static", "sgd"): 120.0,
            ("static", "sntasgd"): 110.0,
            ("selfish", "sgd"): 105.0,
            ("selfish", "sntasgd"): 90.0,
        },
    )
    rows = {row.claim_id: row for row in study.claims(cfg, _context(tmp_path, cfg, ""))}
    assert all(row.holds for row in rows.values()), rows


def test_figures_are_drawn_from_results(results: Path, tmp_path: Path):
    from analysis import selfish_rnn as figures

    figures.plot(results / "selfish_rnn", tmp_path)
    for stem in figures.CAPTIONS:
        assert (tmp_path / f"{stem}.png").stat().st_size > 1000


def test_benchmarks_are_declared():
    from pipeline.selfish_rnn.bench import BENCHMARKS

    assert all(isinstance(bench, Benchmark) and bench.study == "selfish_rnn" for bench in BENCHMARKS)
    assert BENCHMARKS[0].goal == 1.3 and BENCHMARKS[0].goal_is == "at most"
