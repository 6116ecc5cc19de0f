"""The qgm study: the run table (typed specs, per-run re-runs), partitions as the runs use them, one tiny
run, claims from per-seed numbers (verdicts from their intervals: holds, inconclusive, fails), figures from
stored records only, and the benchmark's shape."""

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
from helpers.records import context, record_run, study_results

from pipeline import studies
from pipeline.core.bench import Benchmark
from pipeline.core.config import ConfigError, section
from pipeline.data.partition import class_entropy, dirichlet_lists
from pipeline.decentralized.runner import load_data, make_shards
from pipeline.qgm import claims as claims_of
from pipeline.qgm import study, training
from pipeline.qgm.runs import METHODS, QgmRun
from pipeline.qgm.runs import spec as qgm_spec
from pipeline.results import Results

CLAIM_CFG: dict[str, Any] = {
    "alphas": [10.0, 1.0, 0.1],
    "methods": ["allreduce_sgdm_n", "dsgd", "dsgdm_n", "qg_dsgdm_n"],
    "seeds": 3,
}


def _runs(overrides: dict[str, Any] | None = None) -> dict[str, QgmRun]:
    return studies.runs("qgm", section("qgm", overrides))


# ------------------------------------------------------------------------------------------ run table


def test_registered_and_watching_the_shared_engine() -> None:
    assert studies.implementation("qgm") is study
    assert "pipeline/decentralized/algorithms.py" in studies.code_paths("qgm")
    assert not studies.has_theory("qgm")
    assert studies.datasets("qgm", section("qgm")) == ["mnist1d"]


def test_runs_cover_methods_alphas_seeds_with_todays_ids() -> None:
    table = _runs({**CLAIM_CFG, "seeds": 2})
    assert len(table) == 3 * 4 * 2
    assert list(table)[:3] == ["allreduce_sgdm_n_a10_s0", "allreduce_sgdm_n_a10_s1", "dsgd_a10_s0"]
    assert "qg_dsgdm_n_a0.1_s1" in table and "dsgd_a1_s0" in table
    assert all(type(spec) is QgmRun and spec.method in METHODS for spec in table.values())
    spec = table["qg_dsgdm_n_a0.1_s1"]
    assert (spec.method, spec.alpha, spec.seed_index) == ("qg_dsgdm_n", 0.1, 1)


def test_spec_json_round_trips() -> None:
    for spec in _runs({"methods": list(METHODS), "warmup_from": 0.05}).values():
        assert studies.spec_from_dict("qgm", json.loads(json.dumps(spec.to_dict()))) == spec


def test_methods_are_checked() -> None:
    with pytest.raises(ConfigError, match="methods"):
        section("qgm", {"methods": ["dsgdm_n", "qg_dsgdm_n", "adam"]})
    with pytest.raises(ConfigError, match="qg_dsgdm_n"):
        _runs({"methods": ["dsgdm_n", "dsgd"]})
    with pytest.raises(ConfigError, match="sgd"):
        section("qgm", {"method_lrs": {"sgd": 0.3}})
    with pytest.raises(ConfigError, match="alphas"):
        _runs({"alphas": [0.1, 0.1000000001]})


def test_method_lrs_override_only_when_positive() -> None:
    table = _runs({"lr": 0.1, "method_lrs": {"dsgd": 0.5, "dsgdm_n": 0.0}, "methods": list(METHODS)})
    lrs = {spec.method: spec.lr for spec in table.values()}
    assert lrs == {"allreduce_sgdm_n": 0.1, "dsgd": 0.5, "dsgdm_n": 0.1, "qg_dsgdm_n": 0.1, "d2": 0.1,
                   "gradient_tracking": 0.1}  # fmt: skip
    engine = training.engine_spec(table["dsgd_a0.1_s0"], (40,))
    assert engine["lr"] == 0.5 and engine["partition"] == {"kind": "dirichlet", "alpha": 0.1}
    assert engine["warmup_from"] is None and engine["momentum"] == 0.0
    qgm = training.engine_spec(table["qg_dsgdm_n_a0.1_s0"], (40,))
    assert qgm["buffer_rate"] == 0.1 and qgm["momentum"] == 0.9


def _changed(before: dict[str, QgmRun], after: dict[str, QgmRun]) -> set[str]:
    return {run for run in before if run in after and before[run] != after[run]}


def test_changing_a_method_lr_changes_only_that_methods_specs() -> None:
    base = _runs()
    after = _runs({"method_lrs": {"dsgd": 0.3}})
    assert list(after) == list(base)
    assert _changed(base, after) == {run for run, spec in base.items() if spec.method == "dsgd"}
    buffer = _runs({"buffer_rate": 0.2})
    assert _changed(base, buffer) == {run for run, spec in base.items() if spec.method == "qg_dsgdm_n"}
    assert _changed(base, _runs({"steps": 400})) == set(base)


def test_adding_an_alpha_adds_only_its_specs() -> None:
    base = _runs()
    after = _runs({"alphas": [10.0, 1.0, 0.1, 0.05]})
    added = set(after) - set(base)
    assert added == {run for run, spec in after.items() if spec.alpha == 0.05} and len(added) == 4 * 3
    assert all(after[run] == spec for run, spec in base.items())


def test_adding_a_seed_leaves_existing_specs_equal() -> None:
    base = _runs({"seeds": 3})
    after = _runs({"seeds": 4})
    added = set(after) - set(base)
    assert added == {run for run, spec in after.items() if spec.seed_index == 3} and len(added) == 3 * 4
    assert all(after[run] == spec for run, spec in base.items())


# ------------------------------------------------------------------------------ partitions, as the runs use


def _labels(n: int = 4000, classes: int = 10) -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(3).integers(0, classes, n))


def _shards(alpha: float, index: int = 0, n: int = 16) -> list[np.ndarray]:
    spec = qgm_spec(section("qgm", {"n_workers": n}), "qg_dsgdm_n", alpha, index)
    return make_shards(training.engine_spec(spec, (40,)), _labels(), training.run_seed(0, index))


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
    engines = [training.engine_spec(qgm_spec(cfg, m, 0.1, 1), (40,)) for m in METHODS]
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
    "model": {"name": "small_cnn", "width": 2},
    "n_workers": 4,
    "alphas": [10.0, 0.1],
    "methods": ["dsgdm_n", "qg_dsgdm_n"],
    "steps": 4,
    "seeds": 1,
    "eval_every": 0,
    "checkpoint_every": 2,
}


def test_tiny_run_executes_and_records_its_partition(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    results = study_results("qgm", TINY, tmp_path)
    spec = results.one(QgmRun, method="qg_dsgdm_n", alpha=0.1)
    assert spec.id == "qg_dsgdm_n_a0.1_s0"
    output = study.execute(spec, context(results, spec))
    m = output.metrics
    assert m["method"] == "qg_dsgdm_n" and m["alpha"] == 0.1 and m["partition"] == "dirichlet"
    assert m["seed"] == training.run_seed(0, 0) and m["lr"] == 0.1
    assert m["steps"] == 4 and 0.0 <= m["test_local_accuracy"] <= 1.0 and 0.0 <= m["test_avg_accuracy"] <= 1.0
    counts = np.asarray(m["class_counts"])
    assert counts.shape == (4, 10) and len(set(counts.sum(axis=1))) == 1
    labels = load_data({"dataset": "digits"}, None)[1]
    shards = make_shards(training.engine_spec(spec, (1, 8, 8)), labels, m["seed"])
    expected = [np.bincount(labels.numpy()[s], minlength=10) for s in shards]
    assert np.array_equal(counts, np.asarray(expected))
    xi = output.history["train_xi_sq"].dropna()
    assert len(xi) == 4 and (xi >= 0).all() and xi.iloc[-1] > 0  # non-IID gossip leaves disagreement
    assert m["xi_sq_mean"] == pytest.approx(float(xi.mean()))
    assert (results.run_dir(spec) / "train.pt").exists()  # checkpoint_every = 2
    with pytest.raises(TypeError):
        study.execute(object(), context(results, spec))  # type: ignore[arg-type]


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
    for spec in results.select(QgmRun):
        method, alpha, s = spec.method, spec.alpha, spec.seed_index
        local = _per_seed(accuracy[(method, alpha)], s) + SEED_EFFECT[s] + _noise(method, s)
        metrics = {
            "method": method,
            "alpha": alpha,
            "seed_index": s,
            "test_local_accuracy": local,
            "test_avg_accuracy": local + 0.01,
            "xi_sq_mean": _per_seed(xi.get(method, 0.0), s) / alpha if method != "allreduce_sgdm_n" else 0.0,
            "class_counts": [[10 * (c == w % 10) + 1 for c in range(10)] for w in range(4)],
        }
        steps = np.arange(1, 41)
        history = pd.DataFrame(
            {
                "step": steps,
                "train_xi_sq": metrics["xi_sq_mean"] * np.exp(-steps / 40),
                "train_lr": np.where(steps > 20, 0.01, 0.1),
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
