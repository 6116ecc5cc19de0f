"""The qgm study: config resolution, partitions as the runs use them, one tiny run, claims from numbers
(bad metrics must fail), figures from stored records only, and the benchmark's shape (papers/qgm.md §5-6)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.records import record_run

from pipeline import studies
from pipeline.core.bench import Benchmark
from pipeline.core.records import write_history
from pipeline.data.partition import class_entropy, dirichlet_lists
from pipeline.decentralized.runner import make_shards
from pipeline.qgm import study

CLAIM_CFG: dict[str, Any] = {
    "alphas": [10.0, 1.0, 0.1],
    "methods": ["allreduce_sgdm_n", "dsgd", "dsgdm_n", "qg_dsgdm_n"],
    "seeds": 2,
}


def _context(results: Path, cfg: dict[str, Any], run: str = "x") -> studies.RunContext:
    return studies.RunContext(
        study="qgm",
        cfg=cfg,
        seed=0,
        device="cpu",
        scale="smoke",
        run_dir=results / "qgm" / run,
        results_dir=results,
    )


# ----------------------------------------------------------------------------------------- config, ids


def test_registered_with_shared_code() -> None:
    assert studies.load("qgm") is study
    assert study.SHARED_CODE == ("pipeline/decentralized",)
    assert all(Path(__file__).resolve().parents[1].joinpath(p).is_dir() for p in study.SHARED_CODE)


def test_run_ids_cover_methods_alphas_seeds() -> None:
    ids = studies.run_ids("qgm", CLAIM_CFG)
    assert len(ids) == 3 * 4 * 2
    assert "qg_dsgdm_n_a0.1_s1" in ids and "allreduce_sgdm_n_a10_s0" in ids and "dsgd_a1_s0" in ids
    for run in ids:
        match = study._RUN.match(run)
        assert match is not None and match["method"] in study.METHODS


def test_resolve_rejects_unknown_or_missing_methods() -> None:
    assert study.resolve(None)["buffer_rate"] == 0.1
    with pytest.raises(ValueError, match="unknown"):
        study.resolve({"methods": ["dsgdm_n", "qg_dsgdm_n", "adam"]})
    with pytest.raises(ValueError, match="qg_dsgdm_n"):
        study.resolve({"methods": ["dsgdm_n", "dsgd"]})
    with pytest.raises(ValueError, match="unknown"):
        study.resolve({"method_lrs": {"sgd": 0.3}})


def test_method_lrs_override_only_when_positive() -> None:
    cfg = study.resolve({"lr": 0.1, "method_lrs": {"dsgd": 0.5, "dsgdm_n": 0.0}})
    assert study.method_lr(cfg, "dsgd") == 0.5
    assert study.method_lr(cfg, "dsgdm_n") == 0.1
    assert study.method_lr(cfg, "qg_dsgdm_n") == 0.1
    spec = study.build_spec(cfg, "dsgd", 0.1, (40,))
    assert spec["lr"] == 0.5 and spec["partition"] == {"kind": "dirichlet", "alpha": 0.1}
    assert spec["buffer_rate"] == 0.1 and spec["warmup_from"] is None


# ------------------------------------------------------------------------------ partitions, as the runs use


def _labels(n: int = 4000, classes: int = 10) -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(3).integers(0, classes, n))


def _shards(alpha: float, index: int = 0, n: int = 16) -> list[np.ndarray]:
    cfg = study.resolve({"n_workers": n})
    spec = study.build_spec(cfg, "qg_dsgdm_n", alpha, (40,))
    return make_shards(spec, _labels(), study.run_seed(0, index))


@pytest.mark.parametrize("alpha", [10.0, 1.0, 0.1])
def test_shards_equal_sized_disjoint_and_deterministic(alpha: float) -> None:
    shards = _shards(alpha)
    assert len(shards) == 16
    assert {len(s) for s in shards} == {4000 // 16}
    union = np.concatenate(shards)
    assert len(np.unique(union)) == len(union) and union.min() >= 0 and union.max() < 4000
    for a, b in zip(shards, _shards(alpha), strict=True):
        assert np.array_equal(a, b)


def test_every_method_of_a_seed_sees_the_same_partition() -> None:
    cfg = study.resolve(None)
    seed = study.run_seed(0, 1)
    parts = [make_shards(study.build_spec(cfg, m, 0.1, (40,)), _labels(), seed) for m in study.METHODS]
    for other in parts[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(parts[0], other, strict=True))
    assert not np.array_equal(parts[0][0], _shards(0.1, index=0)[0])  # another seed, another partition


def test_class_entropy_falls_with_alpha() -> None:
    """qgm.md §6: mean per-worker class entropy decreases as alpha goes 10 → 1 → 0.1 (seed pinned)."""
    entropies = [class_entropy(_labels().numpy(), _shards(alpha), 10) for alpha in (10.0, 1.0, 0.1)]
    assert entropies[0] > entropies[1] > entropies[2]
    assert entropies[0] > 0.9 * math.log(10)  # near-uniform at alpha = 10


def test_group_of_ten_structure() -> None:
    """qgm.md §6: for n = 16 the first 10 workers' lists come only from the first 62.5 % of the shuffle."""
    labels = _labels().numpy()
    seed = 1234
    pairs = np.stack([np.arange(len(labels)), labels], axis=1)
    np.random.RandomState(seed).shuffle(pairs)  # step 1, re-done independently
    head = set(pairs[: int(10 / 16 * len(labels)), 0].tolist())
    lists = dirichlet_lists(labels, 16, 0.1, seed)
    assert all(set(lst.tolist()) <= head for lst in lists[:10])
    assert all(not (set(lst.tolist()) & head) for lst in lists[10:])


# --------------------------------------------------------------------------------------- one tiny run


TINY: dict[str, Any] = {
    "dataset": "digits",
    "model": {"name": "small_cnn", "width": 2},
    "n_workers": 4,
    "alphas": [0.1],
    "methods": ["dsgdm_n", "qg_dsgdm_n"],
    "steps": 4,
    "seeds": 1,
    "eval_every": 0,
    "checkpoint_every": 2,
}


def test_tiny_run_executes_and_records_its_partition(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = study.resolve(TINY)
    run = "qg_dsgdm_n_a0.1_s0"
    ctx = _context(tmp_path, cfg, run)
    ctx.run_dir.mkdir(parents=True)
    output = study.execute(run, ctx)
    m = output.metrics
    assert m["method"] == "qg_dsgdm_n" and m["alpha"] == 0.1 and m["partition"] == "dirichlet"
    assert m["steps"] == 4 and 0.0 <= m["test_local_accuracy"] <= 1.0 and 0.0 <= m["test_avg_accuracy"] <= 1.0
    counts = np.asarray(m["class_counts"])
    assert counts.shape == (4, 10) and len(set(counts.sum(axis=1))) == 1
    from pipeline.decentralized.runner import load_data

    labels = load_data(cfg, None)[1]
    shards = make_shards(study.build_spec(cfg, "qg_dsgdm_n", 0.1, (1, 8, 8)), labels, m["seed"])
    expected = [np.bincount(labels.numpy()[s], minlength=10) for s in shards]
    assert np.array_equal(counts, np.asarray(expected))
    xi = output.history["train_xi_sq"].dropna()
    assert len(xi) == 4 and (xi >= 0).all() and xi.iloc[-1] > 0  # non-IID gossip leaves disagreement
    assert m["xi_sq_mean"] == pytest.approx(float(xi.mean()))
    with pytest.raises(KeyError):
        study.execute("adam_a0.1_s0", ctx)


# ------------------------------------------------------------------------------------ claims from numbers


def _write(results: Path, accuracy: dict[tuple[str, float], float], xi: dict[str, float]) -> None:
    for method in CLAIM_CFG["methods"]:
        for alpha in CLAIM_CFG["alphas"]:
            for s in range(CLAIM_CFG["seeds"]):
                run = study.run_id(method, alpha, s)
                jitter = 0.002 * (s - 0.5)
                metrics = {
                    "method": method,
                    "alpha": alpha,
                    "seed_index": s,
                    "test_local_accuracy": accuracy[(method, alpha)] + jitter,
                    "test_avg_accuracy": accuracy[(method, alpha)] + 0.01,
                    "xi_sq_mean": xi.get(method, 0.0) / alpha if method != "allreduce_sgdm_n" else 0.0,
                    "class_counts": [[10 * (c == w % 10) + 1 for c in range(10)] for w in range(4)],
                }
                record_run(results, "qgm", run, metrics, config=CLAIM_CFG)
                steps = np.arange(1, 41)
                history = pd.DataFrame(
                    {
                        "step": steps,
                        "train_xi_sq": metrics["xi_sq_mean"] * np.exp(-steps / 40),
                        "train_lr": np.where(steps > 20, 0.01, 0.1),
                    }
                )
                write_history(results / "qgm" / run / "history.csv", history)


def _good_accuracy() -> dict[tuple[str, float], float]:
    base = {10.0: 0.80, 1.0: 0.75, 0.1: 0.60}
    gain = {"allreduce_sgdm_n": 0.002, "dsgd": -0.003, "dsgdm_n": 0.0}
    acc = {(m, a): base[a] + gain[m] for m in gain for a in base}
    acc.update({("qg_dsgdm_n", 10.0): 0.801, ("qg_dsgdm_n", 1.0): 0.77, ("qg_dsgdm_n", 0.1): 0.68})
    return acc


def _verdicts(tmp_path: Path, accuracy, xi) -> dict[str, bool]:
    _write(tmp_path, accuracy, xi)
    rows = study.claims(CLAIM_CFG, _context(tmp_path, CLAIM_CFG))
    assert all(row.study == "qgm" and row.scale == "smoke" for row in rows)
    return {row.claim_id: row.holds for row in rows}


GOOD_XI = {"dsgd": 0.1, "dsgdm_n": 1.0, "qg_dsgdm_n": 0.2}


def test_claims_hold_on_good_metrics(tmp_path: Path) -> None:
    verdicts = _verdicts(tmp_path, _good_accuracy(), GOOD_XI)
    assert set(verdicts) == {
        "qgm_beats_dsgdm_alpha0.1",
        "qgm_beats_dsgdm_alpha1",
        "qgm_advantage_grows_with_heterogeneity",
        "near_iid_methods_agree",
        "qgm_lowers_consensus_distance",
    }
    assert all(verdicts.values()), verdicts


def test_claims_fail_when_qgm_loses(tmp_path: Path) -> None:
    acc = _good_accuracy()
    acc[("qg_dsgdm_n", 0.1)] = 0.55
    verdicts = _verdicts(tmp_path, acc, GOOD_XI)
    assert not verdicts["qgm_beats_dsgdm_alpha0.1"]
    assert not verdicts["qgm_advantage_grows_with_heterogeneity"]
    assert verdicts["qgm_beats_dsgdm_alpha1"]


def test_advantage_must_grow_at_every_alpha(tmp_path: Path) -> None:
    acc = _good_accuracy()
    acc[("qg_dsgdm_n", 10.0)] = 0.80 + 0.009  # advantage 0.009 at alpha = 10 ...
    acc[("qg_dsgdm_n", 1.0)] = 0.75 + 0.005  # ... but only 0.005 at alpha = 1: not growing everywhere
    verdicts = _verdicts(tmp_path, acc, GOOD_XI)
    assert not verdicts["qgm_advantage_grows_with_heterogeneity"]
    assert verdicts["qgm_beats_dsgdm_alpha1"] and verdicts["qgm_beats_dsgdm_alpha0.1"]


def test_near_iid_claim_fails_when_a_method_lags(tmp_path: Path) -> None:
    acc = _good_accuracy()
    acc[("dsgd", 10.0)] = 0.78
    assert not _verdicts(tmp_path, acc, GOOD_XI)["near_iid_methods_agree"]


def test_consensus_claim_fails_when_qgm_drifts_more(tmp_path: Path) -> None:
    verdicts = _verdicts(tmp_path, _good_accuracy(), {**GOOD_XI, "qg_dsgdm_n": 1.5})
    assert not verdicts["qgm_lowers_consensus_distance"]


def test_claims_with_missing_metric_do_not_hold(tmp_path: Path) -> None:
    acc = _good_accuracy()
    acc[("qg_dsgdm_n", 0.1)] = math.nan
    assert not _verdicts(tmp_path, acc, GOOD_XI)["qgm_beats_dsgdm_alpha0.1"]


def test_figures_from_records_only(tmp_path: Path) -> None:
    from analysis import qgm as analysis

    _write(tmp_path, _good_accuracy(), GOOD_XI)
    out = tmp_path / "figures"
    analysis.plot(tmp_path / "qgm", out)
    for stem in analysis.CAPTIONS:
        assert (out / f"{stem}.png").stat().st_size > 0
    table = pd.read_csv(out / "accuracy_table.csv", index_col=0)
    assert table.loc["qg_dsgdm_n", "0.1"] == pytest.approx(68.0)


def test_benchmark_shape() -> None:
    from pipeline.qgm.bench import BENCHMARKS

    assert [b.name for b in BENCHMARKS] == ["qgm_step_vs_dsgdm_step"]
    bench = BENCHMARKS[0]
    assert isinstance(bench, Benchmark) and bench.goal == 1.1 and bench.goal_is == "at most"
    qgm, dsgdm = bench.numerator(), bench.denominator()
    assert qgm.shape == dsgdm.shape and torch.isfinite(qgm).all()
