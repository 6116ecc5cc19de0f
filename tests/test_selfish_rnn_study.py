"""The selfish_rnn study: run table, specs, a tiny end-to-end run, resume, claims, figures, benchmarks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from helpers.records import context, execute_all, record_run, study_results
from helpers.threads import single_thread  # noqa: F401 (fixture)

from pipeline import studies
from pipeline.core.bench import Benchmark
from pipeline.core.config import ConfigError, section
from pipeline.core.seeding import derive_seed
from pipeline.results import Results
from pipeline.selfish_rnn import claims as claims_of
from pipeline.selfish_rnn import experiment, study
from pipeline.selfish_rnn.corpus import load_corpus, synthetic_stream
from pipeline.selfish_rnn.runs import SelfishRun

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


def _runs(overrides: dict[str, Any] | None = None) -> dict[str, SelfishRun]:
    return studies.runs("selfish_rnn", section("selfish_rnn", overrides))


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """Every run of the tiny config, recorded the way pipeline.cli does."""
    torch.set_num_threads(1)
    return execute_all("selfish_rnn", TINY, tmp_path_factory.mktemp("results"))


# ---------------------------------------------------------------------------------------------- run table


def test_registered_and_run_ids():
    assert "selfish_rnn" in studies.STUDIES
    table = _runs(TINY)
    assert list(table) == [
        "dense_sgd_s0",
        "dense_sntasgd_s0",
        "static_sgd_s0",
        "static_sntasgd_s0",
        "selfish_sgd_s0",
        "selfish_sntasgd_s0",
    ]
    assert all(type(spec) is SelfishRun for spec in table.values())
    default = _runs()
    assert len(default) == 4 * 2 * 2
    spec = default["set_sntasgd_s1"]
    assert (spec.method, spec.optimizer, spec.seed_index) == ("set", "sntasgd", 1)
    assert studies.datasets("selfish_rnn", section("selfish_rnn", TINY)) == []
    assert studies.datasets("selfish_rnn", section("selfish_rnn")) == ["kjv"]


def test_specs_round_trip_through_json():
    for spec in _runs().values():
        assert studies.spec_from_dict("selfish_rnn", json.loads(json.dumps(spec.to_dict()))) == spec


def test_specs_hold_only_what_their_run_reads():
    table = _runs()
    dense, static, selfish = table["dense_sgd_s0"], table["static_sgd_s0"], table["selfish_sntasgd_s0"]
    assert (dense.density, dense.sparse_init, dense.death_rate, dense.growth) == (None,) * 4
    assert (static.density, static.sparse_init) == (0.33, "uniform")
    assert (static.death_rate, static.growth) == (None, None)  # static masks never change
    assert (selfish.density, selfish.death_rate, selfish.growth) == (0.33, 0.5, "random")
    assert dense.nonmono is None and selfish.nonmono == 3  # the trigger window is SNT-ASGD's only
    assert "gate_spread_min" not in dense.to_dict()  # a claim threshold, not a run setting


def test_changing_density_reruns_exactly_the_sparse_runs():
    base, changed = _runs(), _runs({"density": 0.5})
    assert list(base) == list(changed)
    assert [run for run in base if base[run] != changed[run]] == [
        run for run, spec in base.items() if spec.method != "dense"
    ]
    assert all(changed[run].density == 0.5 for run in base if base[run].method != "dense")


@pytest.mark.parametrize(
    ("overrides", "reads"),
    [
        ({"death_rate": 0.3}, lambda spec: spec.method in ("set", "selfish")),
        ({"growth": "gradient"}, lambda spec: spec.method in ("set", "selfish")),
        ({"sparse_init": "ER"}, lambda spec: spec.method != "dense"),
        ({"nonmono": 5}, lambda spec: spec.optimizer == "sntasgd"),
        ({"lr": 10.0}, lambda spec: True),
        ({"gate_spread_min": 0.5}, lambda spec: False),
    ],
)
def test_a_key_changes_exactly_the_specs_that_read_it(overrides: dict[str, Any], reads: Any):
    base, changed = _runs(), _runs(overrides)
    assert list(base) == list(changed)
    assert [run for run in base if base[run] != changed[run]] == [run for run in base if reads(base[run])]


def test_adding_a_seed_adds_its_runs_and_leaves_the_others_equal():
    two, three = _runs({"seeds": 2}), _runs({"seeds": 3})
    added = [run for run in three if run not in two]
    assert added == [f"{m}_{o}_s2" for m in ("dense", "static", "set", "selfish") for o in ("sgd", "sntasgd")]
    assert all(three[run].seed_index == 2 for run in added)
    assert set(two) <= set(three)
    assert all(two[run] == three[run] for run in two)


def test_bad_config_is_rejected():
    with pytest.raises(ConfigError, match="lr_typo"):
        section("selfish_rnn", {"lr_typo": 1.0})
    with pytest.raises(ConfigError, match="methods"):
        section("selfish_rnn", {"methods": ["rigl"]})
    with pytest.raises(ConfigError, match="corpus"):
        section("selfish_rnn", {"corpus": "enwik8"})
    with pytest.raises(ConfigError, match=r"selfish_rnn\.tie_weights"):
        _runs({"tie_weights": True, "emsize": 50})


# ------------------------------------------------------------------------------------------------- runs


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


def test_runs_record_what_claims_and_figures_read(results: Results):
    for spec in results:
        record = results.metrics(spec)
        assert math.isfinite(record["test_ppl"]) and record["test_ppl"] < 30
        assert (record["method"], record["optimizer"], record["seed_index"]) == (
            spec.method,
            spec.optimizer,
            spec.seed_index,
        )
        assert record["run_seed"] == derive_seed(0, "selfish_rnn", spec.seed_index)
        if spec.method != "dense":
            assert record["budget_error_max"] == 0.0
            assert record["sparse_density"] == pytest.approx(0.33, abs=5e-3)
            assert record["parameters"] < record["dense_parameters"]
        if spec.optimizer == "sgd":
            assert record["switch_epoch"] == -1
        assert "epoch" in results.history(spec)


def test_resume_gives_the_same_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Kill at step 60 (checkpoint at 56, after the switch), rerun: same metrics as an uninterrupted run."""
    cfg = {**TINY, "epochs": 4}  # 16 steps per epoch; the trigger fires at the end of epoch 3
    first, second = (
        study_results("selfish_rnn", cfg, tmp_path / "a"),
        study_results("selfish_rnn", cfg, tmp_path / "b"),
    )
    spec = first.one(SelfishRun, method="selfish", optimizer="sntasgd", seed_index=0)
    full = study.execute(spec, context(first, spec))

    class Killed(experiment.SequenceBatches):
        def __call__(self, step: int):
            if step == 60:
                raise KeyboardInterrupt
            return super().__call__(step)

    monkeypatch.setattr(experiment, "SequenceBatches", Killed)
    with pytest.raises(KeyboardInterrupt):
        study.execute(spec, context(second, spec))
    assert (second.run_dir(spec) / "checkpoint.pt").exists()
    monkeypatch.undo()
    resumed = study.execute(spec, context(second, spec))
    assert resumed.metrics["test_ppl"] == full.metrics["test_ppl"]
    assert resumed.metrics["switch_epoch"] == full.metrics["switch_epoch"] == 3
    assert resumed.history["val_ppl"].dropna().tolist() == full.history["val_ppl"].dropna().tolist()


# ----------------------------------------------------------------------------------------------- claims


def test_claims_from_the_tiny_run(results: Results):
    rows = claims_of.claims(results)
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
    figures = str(Path(results.figure_path("ppl_table")).parent)
    assert figures == "figures/smoke/selfish_rnn"
    assert all(row.scale == "smoke" and row.evidence.startswith(figures + "/") for row in rows)


def _fake_results(
    root: Path,
    cfg: dict[str, Any],
    ppl: dict[tuple[str, str], float],
    budget_error: float = 0.0,
    spread: float = 0.1,
) -> Results:
    results = study_results("selfish_rnn", cfg, root)
    for (method, optimizer), value in ppl.items():
        spec = results.one(SelfishRun, method=method, optimizer=optimizer, seed_index=0)
        metrics = {"method": method, "optimizer": optimizer, "seed_index": 0, "test_ppl": value}
        if method != "dense":
            metrics |= {"budget_error_max": budget_error, "gate_spread_min": spread}
        record_run(results.run_dir(spec), metrics, pd.DataFrame({"step": [1.0]}))
    return results


def test_claims_can_fail(tmp_path: Path):
    """SNT-ASGD worse than SGD, static better than Selfish, a leak of 2, uniform gates: nothing holds."""
    cfg = {**TINY, "methods": ["dense", "static", "set", "selfish"], "seeds": 1}
    results = _fake_results(
        tmp_path,
        cfg,
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
    rows = {row.claim_id: row for row in claims_of.claims(results)}
    assert not any(row.holds for row in rows.values()), rows
    assert rows["best_sparse_vs_dense"].measured == pytest.approx(120.0 / 90.0)
    assert rows["snt_asgd_helps_static"].measured == pytest.approx(-10.0)
    assert rows["budget_preserved"].measured == 2.0
    assert rows["non_uniform_gates"].comparison == "> 0.02"


def test_claims_hold_on_good_numbers(tmp_path: Path):
    cfg = {**TINY, "methods": ["dense", "static", "selfish"]}
    results = _fake_results(
        tmp_path,
        cfg,
        {
            ("dense", "sgd"): 100.0,
            ("dense", "sntasgd"): 95.0,
            ("static", "sgd"): 120.0,
            ("static", "sntasgd"): 110.0,
            ("selfish", "sgd"): 105.0,
            ("selfish", "sntasgd"): 90.0,
        },
    )
    rows = {row.claim_id: row for row in claims_of.claims(results)}
    assert all(row.holds for row in rows.values()), rows


def test_missing_runs_break_their_claims(tmp_path: Path):
    """A run the config lists but that has not finished is missing, not silently dropped."""
    cfg = {**TINY, "methods": ["dense", "static", "selfish"]}
    results = _fake_results(
        tmp_path,
        cfg,
        {
            ("dense", "sgd"): 100.0,
            ("dense", "sntasgd"): 95.0,
            ("static", "sgd"): 120.0,
            ("static", "sntasgd"): 110.0,
            ("selfish", "sgd"): 105.0,
        },
    )
    rows = {row.claim_id: row for row in claims_of.claims(results)}
    assert math.isnan(rows["snt_asgd_helps_selfish"].measured) and not rows["snt_asgd_helps_selfish"].holds
    assert rows["snt_asgd_helps_static"].holds


# ---------------------------------------------------------------------------------- figures and benches


def test_figures_are_drawn_from_results(results: Results, tmp_path: Path):
    from analysis import selfish_rnn as figures

    figures.plot(results, tmp_path)
    for stem in figures.CAPTIONS:
        assert (tmp_path / f"{stem}.png").stat().st_size > 1000


def test_benchmarks_are_declared():
    from pipeline.selfish_rnn.bench import BENCHMARKS

    assert all(isinstance(bench, Benchmark) and bench.study == "selfish_rnn" for bench in BENCHMARKS)
    assert BENCHMARKS[0].goal == 1.3 and BENCHMARKS[0].goal_is == "at most"
