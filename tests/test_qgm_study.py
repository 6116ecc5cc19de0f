"""The qgm study: the run table (typed specs, what each run reads and needs, per-run re-runs), the warm-up
and the paper-scale settings, partitions as the runs use them, a tiny execution (tuning on the validation
split, reuse of the first seed), claims from per-seed numbers (verdicts from their intervals: holds,
inconclusive, fails), figures from stored records only, and the benchmark's shape."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib.text
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from helpers.records import context, execute_all, record_run, study_results

from pipeline import studies
from pipeline.core.bench import Benchmark
from pipeline.core.config import ConfigError, section
from pipeline.data.partition import class_entropy, dirichlet_lists
from pipeline.data.registry import DATASETS
from pipeline.data.sources import mnist1d
from pipeline.decentralized.runner import load_data, make_schedule, make_shards
from pipeline.qgm import claims as claims_of
from pipeline.qgm import study, training
from pipeline.qgm.runs import METHODS, QgmRun, TuneRun, method_lrs
from pipeline.qgm.runs import spec as qgm_spec
from pipeline.results import Results

REPO = Path(__file__).resolve().parents[1]
CLAIM_CFG: dict[str, Any] = {
    "alphas": [10.0, 1.0, 0.1],
    "methods": ["allreduce_sgdm_n", "dsgd", "dsgdm_n", "qg_dsgdm_n"],
    "lrs": [0.05, 0.1],
    "method_lrs": {"dsgd": [0.5]},
    "seeds": 3,
}


def _runs(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    return studies.runs("qgm", section("qgm", overrides))


def _paper() -> dict[str, Any]:
    return section("qgm", yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["qgm"])


def _changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {run for run in before if run in after and before[run] != after[run]}


# ------------------------------------------------------------------------------------------ run table


def test_registered_and_watching_the_shared_engine() -> None:
    assert studies.implementation("qgm") is study
    paths = set(studies.code_paths("qgm"))
    assert {"pipeline/decentralized/algorithms.py", "pipeline/decentralized/tuning.py"} <= paths
    assert not studies.has_theory("qgm")
    assert studies.datasets("qgm", section("qgm")) == ["mnist1d_large"]


def test_runs_cover_methods_alphas_seeds_with_derived_ids() -> None:
    table = _runs()
    expected = []
    for alpha in ("10", "1", "0.1"):
        for method in ("allreduce_sgdm_n", "dsgdm_n", "qg_dsgdm_n"):
            if method == "allreduce_sgdm_n" and alpha != "10":
                continue  # all-reduce runs at reference_alphas only
            grid = (
                ("0.02", "0.04", "0.08")
                if method == "allreduce_sgdm_n"
                else ("0.0125", "0.025", "0.05", "0.1", "0.2", "0.4")
            )
            expected += [f"tune_{method}_a{alpha}_lr{lr}" for lr in grid]
            expected += [f"{method}_a{alpha}_s{i}" for i in range(5)]
    assert list(table) == expected
    assert {type(spec) for spec in table.values()} == {TuneRun, QgmRun}
    spec = table["qg_dsgdm_n_a0.1_s1"]
    assert (spec.method, spec.alpha, spec.seed_index, spec.lrs) == (
        "qg_dsgdm_n",
        0.1,
        1,
        (0.0125, 0.025, 0.05, 0.1, 0.2, 0.4),
    )
    assert spec.needs() == tuple(
        f"tune_qg_dsgdm_n_a0.1_lr{lr}" for lr in ("0.0125", "0.025", "0.05", "0.1", "0.2", "0.4")
    )
    order = list(table)
    assert all(order.index(need) < order.index(run) for run, s in table.items() for need in s.needs())


def test_spec_json_round_trips() -> None:
    for spec in _runs({"methods": list(METHODS), "warmup_from": 0.0}).values():
        assert studies.spec_from_dict("qgm", json.loads(json.dumps(spec.to_dict()))) == spec


def test_relations_between_keys_are_checked() -> None:
    with pytest.raises(ConfigError, match="methods"):
        section("qgm", {"methods": ["dsgdm_n", "qg_dsgdm_n", "adam"]})
    with pytest.raises(ConfigError, match="qg_dsgdm_n"):
        _runs({"methods": ["dsgdm_n", "dsgd"]})
    with pytest.raises(ConfigError, match="sgd"):
        section("qgm", {"method_lrs": {"sgd": [0.3]}})
    with pytest.raises(ConfigError, match="alphas"):
        _runs({"alphas": [0.1, 0.1000000001]})
    with pytest.raises(ConfigError, match="reference_alphas"):
        _runs({"reference_alphas": [5.0]})
    with pytest.raises(ConfigError, match="repeated"):
        _runs({"lrs": [0.05, 0.05]})


def test_each_method_has_its_grid_and_reads_only_its_settings() -> None:
    cfg = section("qgm", {"methods": list(METHODS), "method_lrs": {"dsgdm_n": [0.2, 0.4]}})
    grids = {method: method_lrs(cfg, method) for method in METHODS}
    assert grids["dsgdm_n"] == (0.2, 0.4) and grids["qg_dsgdm_n"] == (0.0125, 0.025, 0.05, 0.1, 0.2, 0.4)
    assert grids["allreduce_sgdm_n"] == (0.02, 0.04, 0.08)
    assert grids["dsgd"] == grids["d2"] == (0.25, 0.5, 1.0)  # no momentum: about 1/(1 − β) times the step
    dsgd = qgm_spec(cfg, "dsgd", 0.1, 0)
    engine = training.engine_spec(dsgd, 0.5, (40,))
    assert engine["lr"] == 0.5 and engine["partition"] == {"kind": "dirichlet", "alpha": 0.1}
    assert engine["momentum"] == 0.0 and engine["buffer_rate"] is None
    qgm = training.engine_spec(qgm_spec(cfg, "qg_dsgdm_n", 0.1, 0), 0.05, (40,))
    assert qgm["buffer_rate"] == 0.1 and qgm["momentum"] == 0.9
    assert not training.engine_spec(dsgd, 0.5, (40,))["evaluate_valid"]
    tune = studies.runs("qgm", cfg)["tune_dsgd_a0.1_lr0.5"]
    assert training.engine_spec(tune, tune.lr, (40,))["evaluate_valid"]  # only tuning runs score validation


def test_changing_one_key_changes_exactly_the_specs_that_read_it() -> None:
    base = _runs()
    grid = _runs({"method_lrs": {"dsgdm_n": [0.025, 0.05, 0.1, 0.2, 0.4]}})
    assert set(base) - set(grid) == {f"tune_dsgdm_n_a{a}_lr0.0125" for a in ("10", "1", "0.1")}
    assert _changed(base, grid) == {
        run for run, spec in base.items() if isinstance(spec, QgmRun) and spec.method == "dsgdm_n"
    }
    buffer = _runs({"buffer_rate": 0.2})
    assert _changed(base, buffer) == {run for run, spec in base.items() if spec.method == "qg_dsgdm_n"}
    assert _changed(base, _runs({"steps": 400})) == set(base)
    reference = _runs({"reference_alphas": [10.0, 1.0]})
    added = set(reference) - set(base)
    assert added == {r for r, s in reference.items() if s.method == "allreduce_sgdm_n" and s.alpha == 1.0}
    assert not _changed(base, reference)


def test_adding_an_alpha_adds_only_its_specs() -> None:
    base = _runs()
    after = _runs({"alphas": [10.0, 1.0, 0.1, 0.05]})
    added = set(after) - set(base)
    assert added == {run for run, spec in after.items() if spec.alpha == 0.05} and len(added) == 2 * (6 + 5)
    assert all(after[run] == spec for run, spec in base.items())


def test_adding_a_seed_leaves_existing_specs_equal() -> None:
    base = _runs({"seeds": 3})
    after = _runs({"seeds": 4})
    added = set(after) - set(base)
    assert added == {run for run, spec in after.items() if isinstance(spec, QgmRun) and spec.seed_index == 3}
    assert len(added) == 1 + 2 * 3
    assert all(after[run] == spec for run, spec in base.items())


# ---------------------------------------------------------------------- warm-up and the paper-scale settings


@pytest.mark.parametrize("scale", ["default", "paper"])
def test_the_schedule_starts_at_the_configured_warmup_lr(scale: str) -> None:
    cfg = section("qgm") if scale == "default" else _paper()
    shape = (40,) if scale == "default" else (3, 32, 32)
    for spec in studies.runs("qgm", cfg).values():
        lr = spec.lr if isinstance(spec, TuneRun) else spec.lrs[-1]
        schedule = make_schedule(training.engine_spec(spec, lr, shape))
        assert schedule.lr_at(0) == cfg["warmup_from"]
        assert schedule.lr_at(cfg["warmup_steps"]) == pytest.approx(lr)
    spec = _runs({"warmup_from": 0.0})["tune_dsgdm_n_a1_lr0.1"]
    assert make_schedule(training.engine_spec(spec, 0.1, (40,))).lr_at(0) == 0.1  # 0: no ramp


def test_paper_scale_settings() -> None:
    """CIFAR-10 with crop/flip and the code's normalisation, ResNet-EvoNorm-20 (32 groups), ring of 16, every
    method with a grid around the README's 0.05·16 = 0.8 (η/(1 − β) = 8 for the momentum-free ones), 300
    epochs of the 45,000 kept images (87 steps each), a 5-epoch warm-up from 0.1: no MNIST-1D value."""
    cfg = _paper()
    assert set(cfg["methods"]) == set(METHODS) and (cfg["n_workers"], cfg["topology"]) == (16, "ring")
    for method in METHODS:
        grid = method_lrs(cfg, method)
        assert (8.0 if method in ("dsgd", "d2") else 0.8) in grid, method
    assert (cfg["dataset"], cfg["normalise"], cfg["augment"]) == ("cifar10", "cifar10", "crop_flip")
    assert cfg["model"] == {"name": "resnet20", "width": 16, "norm": "evonorm", "groups": 32}
    per_epoch = (50_000 - cfg["valid_size"]) // 16 // cfg["batch_size"]
    assert per_epoch == 87 and cfg["steps"] == 300 * per_epoch and cfg["warmup_steps"] == 5 * per_epoch
    assert (cfg["warmup_from"], cfg["momentum"], cfg["weight_decay"]) == (0.1, 0.9, 1e-4)


def test_the_large_mnist1d_is_the_same_generator_with_more_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def fake(data_root: Any = None, download: bool = False, **overrides: Any) -> Any:
        calls.append(overrides)
        return mnist1d.DatasetBundle("mnist1d", {"train_x": torch.zeros(1, 40)}, {"source": "x"})

    monkeypatch.setattr(mnist1d, "load", fake)
    bundle = mnist1d.load_large()
    assert calls == [{"num_samples": 25_000}] and bundle.name == "mnist1d_large"
    assert DATASETS["mnist1d_large"].loader is mnist1d.load_large
    assert 0.8 * 25_000 - 2_000 >= 32 * 500  # 32 workers hold over 500 training signals each


# ------------------------------------------------------------------------------ partitions, as the runs use


def _labels(n: int = 4000, classes: int = 10) -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(3).integers(0, classes, n))


def _shards(alpha: float, index: int = 0, n: int = 16) -> list[np.ndarray]:
    spec = qgm_spec(section("qgm", {"n_workers": n}), "qg_dsgdm_n", alpha, index)
    return make_shards(training.engine_spec(spec, 0.05, (40,)), _labels(), training.run_seed(0, index))


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
    cfg = section("qgm")
    seed = training.run_seed(0, 1)
    engines = [training.engine_spec(qgm_spec(cfg, m, 0.1, 1), 0.05, (40,)) for m in METHODS]
    parts = [make_shards(engine, _labels(), seed) for engine in engines]
    for other in parts[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(parts[0], other, strict=True))
    assert not np.array_equal(parts[0][0], _shards(0.1, index=0)[0])  # another seed, another partition


def test_class_entropy_falls_with_alpha() -> None:
    """The mean per-worker class entropy decreases as alpha goes 10 → 1 → 0.1 (seed pinned)."""
    entropies = [class_entropy(_labels().numpy(), _shards(alpha), 10) for alpha in (10.0, 1.0, 0.1)]
    assert entropies[0] > entropies[1] > entropies[2]
    assert entropies[0] > 0.9 * math.log(10)  # near-uniform at alpha = 10


def test_group_of_ten_structure() -> None:
    """For n = 16 the first 10 workers' lists come only from the first 62.5 % of the shuffle."""
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
    "valid_size": 200,
    "model": {"name": "small_cnn", "width": 2},
    "n_workers": 4,
    "alphas": [10.0, 0.1],
    "reference_alphas": [0.1],
    "methods": ["allreduce_sgdm_n", "dsgdm_n", "qg_dsgdm_n"],
    "lrs": [0.05, 0.2],
    "method_lrs": {"allreduce_sgdm_n": []},  # empty: the shared grid
    "warmup_steps": 2,
    "warmup_from": 0.01,
    "steps": 6,
    "seeds": 2,
    "eval_every": 3,
    "score_evals": 2,
    "checkpoint_every": 3,
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Results:
    torch.set_num_threads(1)
    only = lambda spec: spec.alpha == 0.1  # noqa: E731 -- every method at one alpha keeps it short
    return execute_all("qgm", TINY, tmp_path_factory.mktemp("qgm"), only=only)


def _metrics(results: Results, run: str) -> dict[str, Any]:
    (spec,) = [spec for spec in results if spec.id == run]
    return results.metrics(spec)


def test_tiny_runs_tune_on_validation_and_reuse_the_first_seed(tiny: Results) -> None:
    for method in TINY["methods"]:
        scores = {
            lr: _metrics(tiny, f"tune_{method}_a0.1_lr{lr:g}")["score_valid_local_accuracy"]
            for lr in (0.05, 0.2)
        }
        best = max(scores, key=lambda lr: (scores[lr], -list(scores).index(lr)))
        first, second = _metrics(tiny, f"{method}_a0.1_s0"), _metrics(tiny, f"{method}_a0.1_s1")
        assert first["lr"] == second["lr"] == best and first["reused"] == f"tune_{method}_a0.1_lr{best:g}"
        assert first["lr_scores"] == {f"{lr:g}": v for lr, v in scores.items()}
        assert "reused" not in second and second["seed"] == training.run_seed(0, 1)
        assert "score_valid_local_accuracy" not in second  # the validation split is for tuning only
        assert 0.0 <= second["score_test_local_accuracy"] <= 1.0
        (spec,) = [s for s in tiny if s.id == f"{method}_a0.1_s1"]
        history = tiny.history(spec)
        assert history["train_lr"].iloc[0] == 0.01  # the configured warm-up start
        assert history.loc[history["step"] == 3, "train_lr"].item() == pytest.approx(best)
        xi = history["train_xi_sq"].dropna()
        assert second["xi_sq_mean"] == pytest.approx(float(xi.mean()))
        if method == "allreduce_sgdm_n":
            assert second["xi_sq_mean"] == pytest.approx(0.0)
        else:
            assert xi.iloc[-1] > 0  # non-IID gossip leaves disagreement


def test_tiny_runs_record_their_partition(tiny: Results) -> None:
    counts = {m: np.asarray(_metrics(tiny, f"{m}_a0.1_s1")["class_counts"]) for m in TINY["methods"]}
    first = counts["dsgdm_n"]
    assert first.shape == (4, 10) and len(set(first.sum(axis=1))) == 1
    assert all(np.array_equal(first, other) for other in counts.values())  # one partition per (alpha, seed)
    m = _metrics(tiny, "qg_dsgdm_n_a0.1_s1")
    assert (m["method"], m["alpha"], m["partition"]) == ("qg_dsgdm_n", 0.1, "dirichlet")
    (spec,) = [s for s in tiny if s.id == "qg_dsgdm_n_a0.1_s1"]
    data = load_data({"dataset": "digits", "valid_size": 200}, None)
    shards = make_shards(training.engine_spec(spec, 0.05, (1, 8, 8)), data.y_train, m["seed"])
    expected = [np.bincount(data.y_train.numpy()[s], minlength=10) for s in shards]
    assert np.array_equal(first, np.asarray(expected))
    assert (tiny.run_dir(spec) / "train.pt").exists()  # checkpoint_every = 3
    with pytest.raises(TypeError):
        study.execute(object(), context(tiny, spec))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ claims from numbers

Values = dict[tuple[str, float], float | list[float]]  # one number for every seed, or one per seed
SEED_EFFECT = [-0.002, 0.0, 0.002]  # shared by every method of a seed (same init and batch order)


def _noise(method: str, seed: int) -> float:
    """A small per-(method, seed) deviation that sums to 0 over the 3 seeds (intervals of nonzero width)."""
    return 0.0003 * ((seed + CLAIM_CFG["methods"].index(method)) % 3 - 1)


def _per_seed(value: float | list[float], seed: int) -> float:
    return value[seed] if isinstance(value, list) else value


def _write(root: Path, accuracy: Values, xi: dict[str, float | list[float]], **overrides: Any) -> Results:
    """Fake records of every CLAIM_CFG run under ``root`` (the numbers the claims and figures read)."""
    results = study_results("qgm", {**CLAIM_CFG, **overrides}, root)
    steps = np.arange(1, 41)
    for spec in results.select(TuneRun):
        metrics = {"score_valid_local_accuracy": 0.7 + spec.lr, "lr": spec.lr}
        history = pd.DataFrame({"step": steps, "train_xi_sq": 0.1, "train_lr": 0.1})
        record_run(results.run_dir(spec), metrics, history, config={"spec": spec.to_dict()})
    for spec in results.select(QgmRun):
        method, alpha, s = spec.method, spec.alpha, spec.seed_index
        local = _per_seed(accuracy[(method, alpha)], s) + SEED_EFFECT[s] + _noise(method, s)
        metrics = {
            "method": method,
            "alpha": alpha,
            "seed_index": s,
            "lr": spec.lrs[-1],
            "score_test_local_accuracy": local,
            "score_test_avg_accuracy": local + 0.01,
            "xi_sq_mean": _per_seed(xi.get(method, 0.0), s) / alpha if method != "allreduce_sgdm_n" else 0.0,
            "class_counts": [[10 * (c == w % 10) + 1 for c in range(10)] for w in range(4)],
        }
        history = pd.DataFrame(
            {
                "step": steps,
                "train_xi_sq": metrics["xi_sq_mean"] * np.exp(-steps / 40),
                "train_lr": np.where(steps > 20, 0.01, 0.1),
                "test_avg_accuracy": np.where(steps % 10 == 0, local, np.nan),
            }
        )
        record_run(results.run_dir(spec), metrics, history, config={"spec": spec.to_dict()})
    return results


def _good_accuracy() -> Values:
    base = {10.0: 0.80, 1.0: 0.75, 0.1: 0.60}
    gain = {"allreduce_sgdm_n": 0.002, "dsgd": -0.003, "dsgdm_n": 0.0}
    acc: Values = {(m, a): base[a] + gain[m] for m in gain for a in base}
    acc.update({("qg_dsgdm_n", 10.0): 0.801, ("qg_dsgdm_n", 1.0): 0.77, ("qg_dsgdm_n", 0.1): 0.68})
    return acc


GOOD_XI: dict[str, float | list[float]] = {"dsgd": 0.1, "dsgdm_n": 1.0, "qg_dsgdm_n": 0.2}
CLAIM_IDS = [
    "qgm_beats_dsgdm_alpha0.1",
    "qgm_beats_dsgdm_alpha1",
    "qgm_advantage_grows_with_heterogeneity",
    "near_iid_methods_agree_dsgdm_n",
    "near_iid_methods_agree_qg_dsgdm_n",
    "qgm_lowers_consensus_distance",
]


def _rows(tmp_path: Path, accuracy: Values | None = None, xi: dict | None = None, **overrides: Any):
    results = _write(tmp_path, accuracy or _good_accuracy(), xi or GOOD_XI, **overrides)
    rows = claims_of.claims(results)
    assert all(row.study == "qgm" and row.scale == "smoke" for row in rows)
    assert all(row.evidence.startswith("figures/smoke/qgm/") for row in rows)
    return {row.claim_id: row for row in rows}


def _verdicts(tmp_path: Path, accuracy: Values | None = None, xi: dict | None = None) -> dict[str, str]:
    return {claim_id: row.verdict for claim_id, row in _rows(tmp_path, accuracy, xi).items()}


def test_claims_hold_on_good_metrics(tmp_path: Path) -> None:
    from analysis import qgm as figures

    rows = _rows(tmp_path)
    assert list(rows) == CLAIM_IDS
    assert {row.kind for row in rows.values()} == {"reproduction"}
    assert {claim_id: row.verdict for claim_id, row in rows.items()} == dict.fromkeys(CLAIM_IDS, "holds")
    assert all(row.n == 3 for row in rows.values())
    assert rows["qgm_beats_dsgdm_alpha0.1"].estimate == pytest.approx(8.0)  # points
    assert rows["qgm_advantage_grows_with_heterogeneity"].estimate == pytest.approx(8.0 - 0.1)
    assert rows["near_iid_methods_agree_dsgdm_n"].estimate == pytest.approx(-0.2)
    assert (
        rows["near_iid_methods_agree_dsgdm_n"].comparison == "|x| <="
        and rows["near_iid_methods_agree_dsgdm_n"].threshold == 1.0
    )
    assert rows["qgm_lowers_consensus_distance"].estimate == pytest.approx(0.2)
    for row in rows.values():
        assert row.ci_low <= row.estimate <= row.ci_high
        assert row.paper_value and row.paper_source and row.note
        assert Path(row.evidence).stem in figures.CAPTIONS
        assert "papers/" not in row.paper_source + row.note + row.claim and "§" not in row.paper_source
        assert "qg_dsgdm_n" not in row.claim and "dsgdm_n" not in row.claim  # human names in the text


def test_the_near_iid_margin_is_never_tighter_than_the_reference_is_known(tmp_path: Path) -> None:
    """max(1 point, the half-width of all-reduce's own 95% interval): a noisy reference widens the margin."""
    acc = _with({("allreduce_sgdm_n", 10.0): [0.78, 0.80, 0.84]})
    row = _rows(tmp_path, acc)["near_iid_methods_agree_dsgdm_n"]
    spread = (
        np.asarray([0.78, 0.80, 0.84])
        + np.asarray(SEED_EFFECT)
        + [_noise("allreduce_sgdm_n", s) for s in range(3)]
    )
    half = 4.302653 * 100 * spread.std(ddof=1) / math.sqrt(3)
    assert row.threshold == pytest.approx(half, rel=1e-4) and row.threshold > 1.0
    assert claims_of.equivalence_margin([80.0, 80.1, 79.9]) == 1.0


def test_the_near_iid_claim_is_about_the_momentum_methods(tmp_path: Path) -> None:
    """D-SGD (no momentum) lagging all-reduce at alpha = 10 touches no claim; gradient tracking has one."""
    acc = _good_accuracy()
    acc[("dsgd", 10.0)] = 0.70
    assert set(_verdicts(tmp_path, acc).values()) == {"holds"}
    assert claims_of.momentum_methods(list(METHODS)) == ["dsgdm_n", "qg_dsgdm_n", "gradient_tracking"]


def _with(changes: dict[tuple[str, float], float | list[float]]) -> Values:
    return {**_good_accuracy(), **changes}


STRADDLE = {  # per-seed numbers on both sides of the threshold: the interval covers it
    "qgm_beats_dsgdm_alpha0.1": _with({("qg_dsgdm_n", 0.1): [0.62, 0.58, 0.61]}),
    "near_iid_methods_agree_dsgdm_n": _with({("dsgdm_n", 10.0): [0.80, 0.79, 0.81]}),
}
OTHER_SIDE = {
    "qgm_beats_dsgdm_alpha0.1": _with({("qg_dsgdm_n", 0.1): 0.55}),
    "qgm_beats_dsgdm_alpha1": _with({("qg_dsgdm_n", 1.0): 0.70}),
    "near_iid_methods_agree_qg_dsgdm_n": _with({("qg_dsgdm_n", 10.0): 0.78}),
}
COUPLED = {  # claims that read the numbers a scenario changes
    "qgm_beats_dsgdm_alpha0.1": {"qgm_advantage_grows_with_heterogeneity"},
    "near_iid_methods_agree_dsgdm_n": {"qgm_advantage_grows_with_heterogeneity"},
    "near_iid_methods_agree_qg_dsgdm_n": {"qgm_advantage_grows_with_heterogeneity"},
    "qgm_beats_dsgdm_alpha1": set(),
}


@pytest.mark.parametrize("claim_id", list(STRADDLE))
def test_an_interval_across_the_threshold_is_inconclusive(tmp_path: Path, claim_id: str) -> None:
    rows = _rows(tmp_path, STRADDLE[claim_id])
    row = rows.pop(claim_id)
    assert row.verdict == "inconclusive", row
    others = {k: r.verdict for k, r in rows.items() if k not in COUPLED[claim_id]}
    assert set(others.values()) == {"holds"}, others


@pytest.mark.parametrize("claim_id", list(OTHER_SIDE))
def test_an_interval_on_the_other_side_fails(tmp_path: Path, claim_id: str) -> None:
    verdicts = _verdicts(tmp_path, OTHER_SIDE[claim_id])
    assert verdicts.pop(claim_id) == "fails"
    others = {k: v for k, v in verdicts.items() if k not in COUPLED[claim_id]}
    assert set(others.values()) == {"holds"}, others


def test_the_advantage_must_be_larger_at_the_smallest_alpha(tmp_path: Path) -> None:
    acc = _with({("qg_dsgdm_n", 10.0): 0.83})  # +3 points at alpha = 10 ...
    acc[("qg_dsgdm_n", 0.1)] = 0.61  # ... only +1 at alpha = 0.1
    verdicts = _verdicts(tmp_path, acc)
    assert verdicts["qgm_advantage_grows_with_heterogeneity"] == "fails"
    assert verdicts["qgm_beats_dsgdm_alpha0.1"] == "holds"


def test_the_consensus_claim_from_the_ratio_interval(tmp_path: Path) -> None:
    assert _verdicts(tmp_path, xi={**GOOD_XI, "qg_dsgdm_n": 1.5})["qgm_lowers_consensus_distance"] == "fails"
    straddle = _verdicts(tmp_path, xi={**GOOD_XI, "qg_dsgdm_n": [0.5, 1.6, 0.9]})
    assert straddle["qgm_lowers_consensus_distance"] == "inconclusive"


def test_a_missing_or_diverged_run_is_excluded_and_said_so(tmp_path: Path) -> None:
    acc = _good_accuracy()
    acc[("qg_dsgdm_n", 0.1)] = [0.68, math.nan, 0.68]  # seed 1 has no accuracy (as after a divergence)
    row = _rows(tmp_path, acc)["qgm_beats_dsgdm_alpha0.1"]
    assert row.n == 2 and row.verdict == "inconclusive"
    assert "1 missing or diverged excluded" in row.method


def test_fewer_than_three_seeds_are_inconclusive(tmp_path: Path) -> None:
    rows = _rows(tmp_path, seeds=2)
    assert {row.verdict for row in rows.values()} == {"inconclusive"}


def test_without_all_reduce_runs_the_near_iid_claims_are_inconclusive(tmp_path: Path) -> None:
    methods = ["dsgd", "dsgdm_n", "qg_dsgdm_n"]
    rows = _rows(tmp_path, methods=methods)
    for method in ("dsgdm_n", "qg_dsgdm_n"):
        row = rows[f"near_iid_methods_agree_{method}"]
        assert row.verdict == "inconclusive" and row.n == 0


def test_figures_from_records_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from analysis import qgm as figures
    from analysis import style

    texts: dict[str, list[str]] = {}
    save = style.save

    def recording_save(fig: Any, out: Path, stem: str) -> None:
        texts[stem] = [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]
        save(fig, out, stem)

    monkeypatch.setattr(style, "save", recording_save)
    results = _write(tmp_path, _good_accuracy(), GOOD_XI)
    out = tmp_path / "figures"
    figures.plot(results, out)
    assert list(texts) == list(figures.CAPTIONS)
    for stem in figures.CAPTIONS:
        assert (out / f"{stem}.png").stat().st_size > 0
    everything = " ".join(t for stem in texts for t in texts[stem])
    for raw in METHODS:
        assert raw not in everything, raw
    assert {style.label("qg_dsgdm_n"), style.label("dsgdm_n")} <= set(texts["accuracy_vs_alpha"])
    assert style.ACCURACY_LABEL in texts["accuracy_vs_alpha"]
    table = pd.read_csv(out / "accuracy_table.csv", index_col=0)
    assert table.loc["qg_dsgdm_n", "0.1"] == pytest.approx(68.0)
    assert table.loc["qg_dsgdm_n", "label"] == style.label("qg_dsgdm_n")


def test_benchmark_shape() -> None:
    from pipeline.qgm.bench import BENCHMARKS

    assert [b.name for b in BENCHMARKS] == ["qgm_step_vs_dsgdm_step"]
    bench = BENCHMARKS[0]
    assert isinstance(bench, Benchmark) and bench.goal == 1.1 and bench.goal_is == "at most"
    qgm, dsgdm = bench.numerator(), bench.denominator()
    assert qgm.shape == dsgdm.shape and torch.isfinite(qgm).all()
