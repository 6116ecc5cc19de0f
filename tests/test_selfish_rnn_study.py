"""The selfish_rnn study: run table, specs, tiny end-to-end runs, forks, resume, claims, figures, benches."""

from __future__ import annotations

import json
import math
import re
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
    "corpora": ["synthetic"],
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
    assert list(table) == [  # SNT-ASGD first: each SGD run continues the SNT-ASGD run of its seed
        "synthetic_dense_sntasgd_s0",
        "synthetic_dense_sgd_s0",
        "synthetic_static_sntasgd_s0",
        "synthetic_static_sgd_s0",
        "synthetic_selfish_sntasgd_s0",
        "synthetic_selfish_sgd_s0",
    ]
    assert all(type(spec) is SelfishRun for spec in table.values())
    assert list(_runs({**TINY, "fork_sgd": False}))[:2] == [
        "synthetic_dense_sgd_s0",
        "synthetic_dense_sntasgd_s0",
    ]
    default = _runs()
    assert len(default) == 3 * 2 * 4  # dense, static, Selfish-RNN; two optimisers; four seeds
    spec = _runs({"methods": ["set"]})["kjv_set_sntasgd_s1"]
    assert (spec.corpus, spec.method, spec.optimizer, spec.seed_index) == ("kjv", "set", "sntasgd", 1)
    assert studies.datasets("selfish_rnn", section("selfish_rnn", TINY)) == []
    assert studies.datasets("selfish_rnn", section("selfish_rnn")) == ["kjv"]
    two = section("selfish_rnn", {"corpora": ["ptb", "wikitext2"], "seeds": 1})
    assert studies.datasets("selfish_rnn", two) == ["ptb", "wikitext2"]
    assert {spec.corpus for spec in studies.runs("selfish_rnn", two).values()} == {"ptb", "wikitext2"}
    assert len(studies.runs("selfish_rnn", two)) == 2 * 3 * 2


def test_forked_sgd_runs_need_their_sntasgd_run():
    table = _runs()
    sgd, snt = table["kjv_selfish_sgd_s2"], table["kjv_selfish_sntasgd_s2"]
    assert sgd.forked and sgd.needs() == ("kjv_selfish_sntasgd_s2",) and sgd.fork_source == snt.id
    assert not snt.forked and snt.needs() == ()
    assert all(spec.needs() == () for spec in _runs({"fork_sgd": False}).values())
    assert all(spec.needs() == () for spec in _runs({"optimizers": ["sgd"]}).values())
    # the SGD run differs from its source only in what it is: the optimiser and the fork flag
    assert experiment._source_spec(sgd) == snt
    # a short paper-scale check trains it from scratch, as fork_sgd: false would, and needs nothing
    scratch = _runs({"fork_sgd": False})["kjv_selfish_sgd_s2"]
    assert sgd.check_variant() == (scratch, 1) and scratch.needs() == ()
    assert snt.check_variant() == (snt, 1)


def test_specs_round_trip_through_json():
    for spec in _runs().values():
        assert studies.spec_from_dict("selfish_rnn", json.loads(json.dumps(spec.to_dict()))) == spec


def test_specs_hold_only_what_their_run_reads():
    table = _runs()
    dense, static, selfish = (
        table["kjv_dense_sgd_s0"],
        table["kjv_static_sgd_s0"],
        table["kjv_selfish_sntasgd_s0"],
    )
    assert (dense.density, dense.sparse_init, dense.death_rate, dense.growth) == (None,) * 4
    assert (static.density, static.sparse_init) == (0.33, "uniform")
    assert (static.death_rate, static.growth) == (None, None)  # static masks never change
    assert (selfish.density, selfish.death_rate, selfish.growth) == (0.33, 0.5, "random")
    assert selfish.nonmono == 5 and dense.nonmono == 5  # a forked SGD run starts at SNT-ASGD's trigger
    scratch = _runs({"fork_sgd": False})["kjv_dense_sgd_s0"]
    assert scratch.nonmono is None and not scratch.forked  # then the trigger window is SNT-ASGD's only
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
        ({"nonmono": 3}, lambda spec: spec.optimizer == "sntasgd" or spec.forked),
        ({"fork_sgd": False}, lambda spec: spec.optimizer == "sgd"),
        ({"lr": 10.0}, lambda spec: True),
        ({"gate_spread_min": 0.5}, lambda spec: False),
    ],
)
def test_a_key_changes_exactly_the_specs_that_read_it(overrides: dict[str, Any], reads: Any):
    base, changed = _runs(), _runs(overrides)
    assert set(base) == set(changed)
    assert [run for run in base if base[run] != changed[run]] == [run for run in base if reads(base[run])]


def test_adding_a_seed_adds_its_runs_and_leaves_the_others_equal():
    two, three = _runs({"seeds": 2}), _runs({"seeds": 3})
    added = [run for run in three if run not in two]
    assert added == [f"kjv_{m}_{o}_s2" for m in ("dense", "static", "selfish") for o in ("sntasgd", "sgd")]
    assert all(three[run].seed_index == 2 for run in added)
    assert set(two) <= set(three)
    assert all(two[run] == three[run] for run in two)


def test_bad_config_is_rejected():
    with pytest.raises(ConfigError, match="lr_typo"):
        section("selfish_rnn", {"lr_typo": 1.0})
    with pytest.raises(ConfigError, match="methods"):
        section("selfish_rnn", {"methods": ["rigl"]})
    with pytest.raises(ConfigError, match="corpora"):
        section("selfish_rnn", {"corpora": ["enwik8"]})
    with pytest.raises(ConfigError, match=r"selfish_rnn\.tie_weights"):
        _runs({"tie_weights": True, "emsize": 50})
    with pytest.raises(ConfigError, match=r"selfish_rnn\.vocab_size"):
        _runs({**TINY, "vocab_size": 0})


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
            assert spec.forked and 1 <= record["fork_epoch"] <= spec.epochs
        else:
            assert (results.run_dir(spec) / experiment.FORK_FILE).exists()
        assert 0 < record["unigram_test_ppl"] < 30
        assert "epoch" in results.history(spec)


def test_unigram_perplexity_matches_a_hand_computation():
    train, test = torch.tensor([0, 0, 1, 2, 0]), torch.tensor([0, 1, 3])
    counts = [3 + 1, 1 + 1, 1 + 1, 0 + 1]  # add-one counts over a vocabulary of 4, total 9
    expected = math.exp(-(math.log(4 / 9) + math.log(2 / 9) + math.log(1 / 9)) / 3)
    assert sum(counts) == 9
    assert experiment.unigram_perplexity(train, test, 4) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------------------------- forks

FORKED = {**TINY, "epochs": 5}  # 16 steps per epoch; every SNT-ASGD trigger fires at the end of epoch 3


def _without_fork_fields(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k not in ("fork_epoch", "trained_steps")}


def test_forked_sgd_runs_equal_sgd_runs_trained_from_scratch(tmp_path: Path):
    """Continuing the SNT-ASGD run from its fork state gives bit for bit what training SGD from scratch
    gives (same metrics, same history), while training only the epochs after the fork."""
    forked = execute_all("selfish_rnn", FORKED, tmp_path / "forked")
    scratch = execute_all("selfish_rnn", {**FORKED, "fork_sgd": False}, tmp_path / "scratch")
    sgd = forked.select(SelfishRun, optimizer="sgd")
    assert sgd and all(spec.forked for spec in sgd)
    for spec in sgd:
        other = scratch.one(SelfishRun, method=spec.method, optimizer="sgd", seed_index=0)
        mine, theirs = forked.metrics(spec), scratch.metrics(other)
        source = forked.metrics(forked.one(SelfishRun, method=spec.method, optimizer="sntasgd"))
        assert source["switch_epoch"] == mine["fork_epoch"] == 3  # a switch inside the run
        assert mine["trained_steps"] == (5 - 3) * 16 and theirs["trained_steps"] == 5 * 16
        assert _without_fork_fields(mine) == _without_fork_fields(theirs)
        pd.testing.assert_frame_equal(
            forked.history(spec), scratch.history(other)[forked.history(spec).columns]
        )
        # and the branches did part after the switch: SNT-ASGD validates its averaged weights from there
        mine_val, source_val = (
            _val_by_epoch(h) for h in (forked.history(spec), source_history(forked, spec))
        )
        later = [epoch for epoch in mine_val.index if epoch > mine["fork_epoch"]]
        assert later and all(mine_val[epoch] != source_val[epoch] for epoch in later)


def _val_by_epoch(history: pd.DataFrame) -> pd.Series:
    return history.dropna(subset=["epoch"]).set_index("epoch")["val_ppl"]


def source_history(results: Results, spec: SelfishRun) -> pd.DataFrame:
    """History of the SNT-ASGD run a forked SGD run continues."""
    return results.history(results.one(SelfishRun, method=spec.method, optimizer="sntasgd", seed_index=0))


def test_forked_run_resumes_to_the_same_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Kill a forked SGD run at step 70 (its own checkpoint at step 63 = 56 + 7), rerun: same metrics."""
    results = execute_all("selfish_rnn", FORKED, tmp_path, only=lambda spec: spec.optimizer == "sntasgd")
    spec = results.one(SelfishRun, method="selfish", optimizer="sgd", seed_index=0)
    full = study.execute(spec, context(results, spec))
    checkpoint = results.run_dir(spec) / "checkpoint.pt"
    checkpoint.unlink()

    class Killed(experiment.SequenceBatches):
        def __call__(self, step: int):
            if step == 70:
                raise KeyboardInterrupt
            return super().__call__(step)

    monkeypatch.setattr(experiment, "SequenceBatches", Killed)
    with pytest.raises(KeyboardInterrupt):
        study.execute(spec, context(results, spec))
    assert checkpoint.exists()
    monkeypatch.undo()
    resumed = study.execute(spec, context(results, spec))
    assert resumed.metrics == full.metrics
    pd.testing.assert_frame_equal(resumed.history, full.history)


def test_a_fork_state_from_another_run_is_refused(tmp_path: Path):
    from pipeline.core.checkpoint import load_checkpoint, save_checkpoint

    results = execute_all("selfish_rnn", FORKED, tmp_path, only=lambda spec: spec.optimizer == "sntasgd")
    spec = results.one(SelfishRun, method="static", optimizer="sgd", seed_index=0)
    path = results.run_dir(spec.fork_source) / experiment.FORK_FILE
    state = load_checkpoint(path)
    save_checkpoint(path, {**state, "spec": {**state["spec"], "lr": 1.0}})
    with pytest.raises(experiment.ForkError, match="another run or config"):
        study.execute(spec, context(results, spec))
    path.unlink()
    with pytest.raises(experiment.ForkError, match="missing"):
        study.execute(spec, context(results, spec))


def test_a_checkpoint_written_after_another_fork_state_is_dropped(tmp_path: Path):
    """A forked run's own checkpoint belongs to the fork state it started from: when the SNT-ASGD run
    wrote a different one (a re-run on a non-deterministic device), the run starts over from the new one."""
    from pipeline.core.checkpoint import load_checkpoint, save_checkpoint

    results = execute_all("selfish_rnn", FORKED, tmp_path, only=lambda spec: spec.optimizer == "sntasgd")
    spec = results.one(SelfishRun, method="dense", optimizer="sgd", seed_index=0)
    first = study.execute(spec, context(results, spec))
    path = results.run_dir(spec.fork_source) / experiment.FORK_FILE
    state = load_checkpoint(path)
    validation = {**state["validation"], "val_ppl": state["validation"]["val_ppl"] + 1.0}
    save_checkpoint(path, {**state, "validation": validation})  # another fork state, same run
    second = study.execute(spec, context(results, spec))  # no "checkpoint from another run" error
    assert second.metrics["trained_steps"] == first.metrics["trained_steps"]
    before, after = first.history["val_ppl"].tolist(), second.history["val_ppl"].tolist()
    assert after[:3] == [*before[:2], before[2] + 1.0] and after[3:] == before[3:]


def test_a_forked_run_copies_a_source_that_diverged_before_its_fork(tmp_path: Path):
    results = study_results("selfish_rnn", FORKED, tmp_path)
    spec = results.one(SelfishRun, method="selfish", optimizer="sgd", seed_index=0)
    source = results.run_dir(spec.fork_source)
    metrics = {"method": "selfish", "optimizer": "sntasgd", "seed_index": 0, "test_ppl": 80.0}
    record_run(source, {**metrics, "diverged_at_step": 9, "switch_epoch": -1}, pd.DataFrame({"step": [9.0]}))
    output = study.execute(spec, context(results, spec))
    assert output.metrics["diverged_at_step"] == 9 and output.metrics["optimizer"] == "sgd"
    assert output.metrics["test_ppl"] == 80.0 and output.history["step"].tolist() == [9.0]


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

ALL = ["dense", "static", "set", "selfish"]
COMPARATIVE = [
    "snt_asgd_helps_static",
    "snt_asgd_helps_set",
    "snt_asgd_helps_selfish",
    "selfish_beats_static_sgd",
    "selfish_beats_static_sntasgd",
    "selfish_vs_dense_sgd",
    "selfish_vs_dense_sntasgd",
    "selfish_sntasgd_vs_dense_sgd",
]
CHECKS = ["budget_preserved", "non_uniform_gates", "beats_unigram"]


def test_claims_from_the_tiny_run(results: Results):
    from analysis.selfish_rnn import CAPTIONS

    rows = claims_of.claims(results)
    assert [row.claim_id for row in rows] == [
        "snt_asgd_helps_static",
        "snt_asgd_helps_selfish",
        "selfish_beats_static_sgd",
        "selfish_beats_static_sntasgd",
        "selfish_vs_dense_sgd",
        "selfish_vs_dense_sntasgd",
        "selfish_sntasgd_vs_dense_sgd",
        *CHECKS,
    ]
    by_id = {row.claim_id: row for row in rows}
    assert by_id["budget_preserved"].verdict == "holds" and by_id["budget_preserved"].estimate == 0.0
    assert by_id["budget_preserved"].n == 1 and by_id["non_uniform_gates"].kind == "check"
    assert by_id["beats_unigram"].kind == "check" and by_id["beats_unigram"].n == 1
    for row in rows[:7]:  # one seed: a stochastic estimate on one pair never decides
        assert row.kind == "reproduction" and row.n == 1 and row.verdict == "inconclusive", row
        assert "Resolution: fewer than 2 finished pairs" in row.note
    figures = "figures/smoke/selfish_rnn"
    assert all(row.scale == "smoke" and row.evidence.startswith(figures + "/") for row in rows)
    assert {Path(row.evidence).stem for row in rows} <= set(CAPTIONS)


def _fake_results(
    root: Path,
    ppl: dict[tuple[str, str], list[float]],
    methods: list[str] | None = None,
    budget_error: float | None = 0.0,
    spread: float | None = 0.1,
    diverged: set[tuple[str, str, int]] = frozenset(),
    corpora: tuple[str, ...] = ("synthetic",),
    unigram: float = 1000.0,
) -> Results:
    """Records of every run in ``ppl`` ({(method, optimizer): test ppl per seed index}, the same on every
    corpus); runs missing from ``ppl`` (or a None value) are not written; runs in ``diverged`` are flagged
    as the engine does."""
    seeds = max(len(values) for values in ppl.values())
    config = {**TINY, "methods": methods or ALL, "seeds": seeds, "corpora": list(corpora)}
    results = study_results("selfish_rnn", config, root)
    for corpus in corpora:
        for (method, optimizer), values in ppl.items():
            for k, value in enumerate(values):
                if value is None:
                    continue
                spec = results.one(
                    SelfishRun, corpus=corpus, method=method, optimizer=optimizer, seed_index=k
                )
                metrics = {"method": method, "optimizer": optimizer, "seed_index": k, "test_ppl": value}
                metrics["diverged_at_step"] = 7 if (method, optimizer, k) in diverged else None
                metrics |= {"unigram_test_ppl": unigram, "switch_epoch": 3 if optimizer == "sntasgd" else -1}
                if method != "dense":
                    metrics |= {"budget_error_max": budget_error, "gate_spread_min": spread}
                record_run(results.run_dir(spec), metrics, pd.DataFrame({"step": [1.0]}))
    return results


def _table(gap: list[float]) -> dict[tuple[str, str], list[float]]:
    """Per-seed test ppl where every claimed gap is ``gap`` per seed: SGD − SNT-ASGD, static − Selfish and
    dense − Selfish all equal ``gap`` (seed-to-seed spread of 40 ppl, removed by the pairing)."""
    b = [100.0 + 40.0 * k for k in range(len(gap))]
    add = lambda values, offset: [v + offset for v in values]  # noqa: E731
    selfish_snt = add(b, 0.0)
    selfish_sgd = [v + g for v, g in zip(selfish_snt, gap, strict=True)]
    static_snt = [v + g for v, g in zip(selfish_snt, gap, strict=True)]
    static_sgd = [v + g for v, g in zip(static_snt, gap, strict=True)]
    return {
        ("dense", "sgd"): [v + g for v, g in zip(selfish_sgd, gap, strict=True)],
        ("dense", "sntasgd"): [v + g for v, g in zip(selfish_snt, gap, strict=True)],
        ("static", "sgd"): static_sgd,
        ("static", "sntasgd"): static_snt,
        ("set", "sgd"): [v + g for v, g in zip(add(b, 3.0), gap, strict=True)],
        ("set", "sntasgd"): add(b, 3.0),
        ("selfish", "sgd"): selfish_sgd,
        ("selfish", "sntasgd"): selfish_snt,
    }


@pytest.mark.parametrize(
    ("gap", "verdict"),
    [
        ([2.0, 2.5, 1.8], "holds"),  # every paired gap on the claimed side, despite the 40-ppl seed spread
        ([3.0, -2.0, 0.5], "inconclusive"),  # straddling zero
        ([-2.0, -2.5, -1.8], "fails"),  # wholly on the other side
    ],
)
def test_verdicts_come_from_the_paired_intervals(tmp_path: Path, gap: list[float], verdict: str):
    rows = {row.claim_id: row for row in claims_of.claims(_fake_results(tmp_path, _table(gap)))}
    assert list(rows) == COMPARATIVE + CHECKS
    for claim_id in COMPARATIVE:
        row = rows[claim_id]
        assert row.kind == "reproduction" and row.n == 3, row
        assert row.verdict == verdict, (claim_id, row)
        assert row.ci_low <= row.estimate <= row.ci_high
        assert "Resolution: over 3 pairs" in row.note
    assert rows["snt_asgd_helps_selfish"].estimate == pytest.approx(sum(gap) / 3)
    assert rows["snt_asgd_helps_selfish"].method.startswith("paired difference")
    assert rows["selfish_vs_dense_sgd"].comparison == "<=" and rows["selfish_vs_dense_sgd"].threshold == 1.0
    assert "fired in 3 of 3 finished" in rows["snt_asgd_helps_selfish"].note
    assert all(rows[c].verdict == "holds" for c in CHECKS)


def test_sparse_vs_dense_pairs_each_optimiser_with_its_own_dense_run(tmp_path: Path):
    ppl = _table([2.0, 2.5, 1.8])
    ppl[("dense", "sntasgd")] = [10.0, 14.0, 18.0]  # a far better dense SNT-ASGD must not touch the SGD claim
    rows = {row.claim_id: row for row in claims_of.claims(_fake_results(tmp_path, ppl))}
    selfish, dense = ppl[("selfish", "sgd")], ppl[("dense", "sgd")]
    expected = math.exp(sum(math.log(a / b) for a, b in zip(selfish, dense, strict=True)) / 3)
    assert rows["selfish_vs_dense_sgd"].estimate == pytest.approx(expected)
    assert rows["selfish_vs_dense_sgd"].verdict == "holds"
    assert rows["selfish_vs_dense_sntasgd"].verdict == "fails"
    assert rows["selfish_vs_dense_sgd"].method.startswith("geometric-mean ratio over paired seeds")
    # the paper's comparison: Selfish-RNN with SNT-ASGD over dense with SGD, whatever dense SNT-ASGD does
    selfish_snt = ppl[("selfish", "sntasgd")]
    paper = math.exp(sum(math.log(a / b) for a, b in zip(selfish_snt, dense, strict=True)) / 3)
    assert rows["selfish_sntasgd_vs_dense_sgd"].estimate == pytest.approx(paper)
    assert rows["selfish_sntasgd_vs_dense_sgd"].verdict == "holds"


def test_each_corpus_gets_its_own_claims(tmp_path: Path):
    ppl = {key: values for key, values in _table([2.0, 2.5, 1.8]).items() if key[0] in ("dense", "selfish")}
    results = _fake_results(tmp_path, ppl, methods=["dense", "selfish"], corpora=("kjv", "ptb"))
    rows = {row.claim_id: row for row in claims_of.claims(results)}
    first = ["snt_asgd_helps_selfish", "selfish_vs_dense_sgd", "selfish_vs_dense_sntasgd"]
    first.append("selfish_sntasgd_vs_dense_sgd")
    assert list(rows) == first + [f"{claim}_ptb" for claim in first] + CHECKS
    assert (
        "on KJV" in rows["selfish_vs_dense_sgd"].claim and "on PTB" in rows["selfish_vs_dense_sgd_ptb"].claim
    )
    assert rows["selfish_vs_dense_sgd_ptb"].estimate == pytest.approx(rows["selfish_vs_dense_sgd"].estimate)
    assert claims_of.per_seed(results, "test_ppl", "dense", "sgd", "ptb") == ppl[("dense", "sgd")]


def test_fewer_than_three_pairs_never_decide(tmp_path: Path):
    ppl = {key: values[:2] for key, values in _table([2.0, 2.5, 1.8]).items()}
    rows = claims_of.claims(_fake_results(tmp_path, ppl))
    assert all(row.verdict == "inconclusive" and row.n == 2 for row in rows if row.kind == "reproduction")
    assert all(row.verdict == "holds" for row in rows if row.kind == "check")
    assert all("2 seeds per arm" in row.note for row in rows if row.kind == "reproduction")


def test_pairs_needed_matches_a_hand_computation():
    # sd 1, mean 1: t(0.975, 5)/sqrt(6) = 2.571/2.449 = 1.050 (not yet), t(0.975, 6)/sqrt(7) = 2.447/2.646
    # = 0.925 < 1, so 7 pairs
    assert claims_of.pairs_needed(1.0, 1.0) == 7
    assert claims_of.pairs_needed(1.0, -1.0) == 7  # the sign of the effect does not matter
    # a 0.5 effect at sd 1.5: the normal approximation (2 * 1.96 * 1.5 / ... ) gives n ≈ (1.96·3)² ≈ 35;
    # the t quantile adds a few: t(0.975, 36)/sqrt(37) = 2.028/6.083 = 0.3334 > 1/3, t(0.975, 37)/sqrt(38)
    # = 2.026/6.164 = 0.3287 < 1/3, so 38 pairs
    assert claims_of.pairs_needed(1.5, 0.5) == 38
    assert claims_of.pairs_needed(1.0, 0.0) is None and claims_of.pairs_needed(math.nan, 1.0) is None
    assert claims_of.pairs_needed(1.0, 1e-6) is None  # beyond MAX_PAIRS
    # mean 2, sd 1: t(0.975, 2)/sqrt(3) = 4.303/1.732 = 2.48 > 2, t(0.975, 3)/sqrt(4) = 1.59 < 2: 4 pairs;
    # at 0.5: t(0.975, 16)/sqrt(17) = 2.120/4.123 = 0.514, t(0.975, 17)/sqrt(18) = 2.110/4.243 = 0.497: 18
    note = claims_of.resolution([1.0, 2.0, 3.0], " ppl", 0.5)
    assert "mean 2 ppl and sd 1 ppl" in note and "needs about 4 pairs, and at 0.5 ppl about 18" in note


def test_missing_and_diverged_runs_are_excluded_from_their_pairs(tmp_path: Path):
    """A run the config lists but that has not finished, or that diverged, drops its pair (and says so)."""
    ppl = _table([2.0, 2.5, 1.8, 2.2])
    ppl[("selfish", "sntasgd")][3] = None  # not finished
    results = _fake_results(tmp_path, ppl, diverged={("static", "sgd", 0)})
    rows = {row.claim_id: row for row in claims_of.claims(results)}
    assert rows["snt_asgd_helps_selfish"].n == 3 and "1 missing or diverged excluded" in (
        rows["snt_asgd_helps_selfish"].method
    )
    assert rows["snt_asgd_helps_selfish"].estimate == pytest.approx((2.0 + 2.5 + 1.8) / 3)
    assert rows["snt_asgd_helps_static"].n == 3 and rows["snt_asgd_helps_static"].estimate == pytest.approx(
        (2.5 + 1.8 + 2.2) / 3
    )
    assert rows["selfish_beats_static_sntasgd"].n == 3  # seed 3 of Selfish-RNN SNT-ASGD is missing
    assert rows["snt_asgd_helps_set"].n == 4 and rows["snt_asgd_helps_set"].verdict == "holds"
    static_sgd = claims_of.per_seed(results, "test_ppl", "static", "sgd")
    assert math.isnan(static_sgd[0]) and all(math.isfinite(v) for v in static_sgd[1:])  # diverged: no score
    assert rows["beats_unigram"].verdict == "fails"  # a diverged run has not learned anything checkable


@pytest.mark.parametrize(
    ("budget_error", "spread", "budget_verdict", "gates_verdict"),
    [
        (0.0, 0.1, "holds", "holds"),
        (2.0, 0.001, "fails", "fails"),  # a leak of 2 weights; gates that stayed uniform
        (None, None, "fails", "fails"),  # a check that produced no number did not pass
    ],
)
def test_checks_are_exact_and_fail_on_a_bad_number(
    tmp_path: Path, budget_error: float | None, spread: float | None, budget_verdict: str, gates_verdict: str
):
    results = _fake_results(tmp_path, _table([2.0, 2.5, 1.8]), budget_error=budget_error, spread=spread)
    rows = {row.claim_id: row for row in claims_of.claims(results)}
    budget, gates = rows["budget_preserved"], rows["non_uniform_gates"]
    assert (budget.kind, gates.kind) == ("check", "check")
    assert (budget.n, gates.n) == (1, 1)
    assert budget.ci_low == budget.ci_high or math.isnan(budget.estimate)  # exact: no interval width
    assert (budget.verdict, gates.verdict) == (budget_verdict, gates_verdict)
    assert gates.comparison == ">" and gates.threshold == 0.02  # gate_spread_min from the config


def test_unigram_check_takes_the_worst_run(tmp_path: Path):
    ppl = _table([2.0, 2.5, 1.8])  # test ppl from 100 to about 190
    assert claims_of.claims(_fake_results(tmp_path / "a", ppl, unigram=1000.0))[-1].verdict == "holds"
    row = claims_of.claims(_fake_results(tmp_path / "b", ppl, unigram=150.0))[-1]
    assert row.claim_id == "beats_unigram" and row.verdict == "fails"
    assert row.estimate == pytest.approx(max(max(values) for values in ppl.values()) / 150.0)


def test_gate_check_takes_the_worst_selfish_run(tmp_path: Path):
    results = _fake_results(tmp_path, _table([2.0, 2.5, 1.8]))
    spec = results.one(SelfishRun, method="selfish", optimizer="sgd", seed_index=1)
    metrics = results.metrics(spec) | {"gate_spread_min": 0.01}
    record_run(results.run_dir(spec), metrics, pd.DataFrame({"step": [1.0]}))
    rows = {row.claim_id: row for row in claims_of.claims(results)}
    assert rows["non_uniform_gates"].estimate == pytest.approx(0.01)
    assert rows["non_uniform_gates"].verdict == "fails"


def test_every_reproduction_has_the_papers_value_source_and_a_drawn_figure(tmp_path: Path):
    from analysis.selfish_rnn import CAPTIONS

    rows = claims_of.claims(_fake_results(tmp_path, _table([2.0, 2.5, 1.8])))
    for row in rows:
        assert row.note, row.claim_id
        assert Path(row.evidence).stem in CAPTIONS, row.evidence
        if row.kind == "reproduction":
            assert row.paper_value and row.paper_source, row.claim_id
    by_id = {row.claim_id: row for row in rows}
    dense = by_id["selfish_vs_dense_sgd"]
    assert "71.65" in dense.paper_value and "67% sparsity" in dense.paper_value
    assert "SGD" in by_id["selfish_sntasgd_vs_dense_sgd"].paper_value


def test_claims_appear_only_for_the_arms_the_config_runs(tmp_path: Path):
    ppl = {key: values for key, values in _table([2.0, 2.5, 1.8]).items() if key[0] in ("dense", "selfish")}
    rows = claims_of.claims(_fake_results(tmp_path, ppl, methods=["dense", "selfish"]))
    assert [row.claim_id for row in rows] == [
        "snt_asgd_helps_selfish",
        "selfish_vs_dense_sgd",
        "selfish_vs_dense_sntasgd",
        "selfish_sntasgd_vs_dense_sgd",
        *CHECKS,
    ]


# ---------------------------------------------------------------------------------- figures and benches


RAW_IDS = {"sgd", "sntasgd", "selfish", "set"}  # config ids; the labels are SGD, SNT-ASGD, Selfish-RNN, SET


def _raw_ids(text: str) -> list[str]:
    tokens = re.split(r"[\s:,;()/=−+-]+", text)
    return [t for t in tokens if t in RAW_IDS] + (["weight_"] if "weight_" in text else [])


def _drawn(results: Results, out: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Draw every figure, keeping each matplotlib figure (by stem) before it is saved and closed."""
    from analysis import selfish_rnn as figures
    from analysis import style

    kept: dict[str, Any] = {}
    save = style.save

    def keep(fig, where, stem):
        kept[stem] = (
            [ax.get_ylabel() for ax in fig.axes if ax.get_xticks().size],
            [t.get_text() for ax in fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels()]
            + [ax.get_title() for ax in fig.axes]
            + [ax.get_xlabel() for ax in fig.axes]
            + [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
            + [
                cell.get_text().get_text()
                for ax in fig.axes
                for table in ax.tables
                for cell in table.get_celld().values()
            ],
        )
        save(fig, where, stem)

    monkeypatch.setattr(style, "save", keep)
    figures.plot(results, out)
    assert list(kept) == [stem for stem in ["val_curves", "ppl_table", "paired_gaps", "gate_share"]]
    assert list(kept) == list(figures.CAPTIONS)  # drawn in the order the report shows them
    return kept


def test_figures_are_drawn_from_results(results: Results, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from analysis import selfish_rnn as figures

    kept = _drawn(results, tmp_path, monkeypatch)
    for stem in figures.CAPTIONS:
        assert (tmp_path / f"{stem}.png").stat().st_size > 1000
    for stem, (ylabels, texts) in kept.items():
        assert all(ylabels), f"{stem}: a panel without a y label"
        raw = [text for text in texts if _raw_ids(text)]
        assert not raw, f"{stem}: raw ids in labels: {raw}"


def test_figures_draw_per_seed_numbers_without_histories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Three seeds, records without epoch histories, one missing run: every figure is still drawn."""
    ppl = _table([2.0, 2.5, 1.8])
    ppl[("set", "sgd")][1] = None
    kept = _drawn(_fake_results(tmp_path / "results", ppl), tmp_path / "figures", monkeypatch)
    labels = kept["ppl_table"][1]
    assert {"dense", "static sparse", "SET", "Selfish-RNN", "SGD", "SNT-ASGD"} <= {
        line for text in labels for line in text.split("\n")
    }


def test_benchmarks_are_declared():
    from pipeline.selfish_rnn.bench import BENCHMARKS

    assert all(isinstance(bench, Benchmark) and bench.study == "selfish_rnn" for bench in BENCHMARKS)
    assert BENCHMARKS[0].goal == 1.3 and BENCHMARKS[0].goal_is == "at most"
