"""The nero study: the run table (typed specs, ids, per-run keys), the schedules and the CIFAR augmentation
against closed forms and independent computations, a tiny sweep end to end, the memory table, claims fed
good and bad results, and the figures."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.records import context, execute_all, record_run, study_results

from pipeline import studies
from pipeline.core.config import ConfigError, section
from pipeline.core.fingerprint import discard_stale_checkpoint
from pipeline.core.seeding import make_generator
from pipeline.data import augment
from pipeline.data.batches import TensorBatches
from pipeline.nero import claims as claims_of
from pipeline.nero import study
from pipeline.nero.runs import (
    AblationRun,
    ClassifierSweepRun,
    LanguageSweepRun,
    MemoryRun,
    OptimizerSettings,
    Schedule,
    SweepRun,
    lr_key,
)
from pipeline.nero.tasks import ClassifierData
from pipeline.nero.train import AugmentedBatches, lr_factor
from pipeline.results import Results

ALL_OPTIMIZERS = ("nero", "sgd", "sgdm", "adam", "lamb")
NO_GRIDS: dict[str, list[float]] = {name: [] for name in ALL_OPTIMIZERS}  # every optimiser on nero.lrs
TINY: dict[str, Any] = {
    "tasks": ["mlp"],
    "optimizers": ["nero", "sgd", "adam"],
    "lrs": [1.0e-2, 1.0],
    "seeds": 1,
    "eval_points": 1,
    "log_points": 2,
    "checkpoint_every": 2,
    "mlp": {"depth": 3, "width": 16, "steps": 4, "batch_size": 16, "lrs": NO_GRIDS},
    "ablation": {"settings": []},
}


def _table(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    return studies.runs("nero", section("nero", overrides))


TASKS = ("mlp", "cnn", "lstm")
OPTIMIZERS = ("nero", "sgd", "adam")  # the default optimisers
SEEDS = (0, 1, 2)  # the default seeds


def _sweeps(tasks: Any, optimizers: Any = OPTIMIZERS) -> list[str]:
    """Ids of the sweeps of ``tasks`` × ``optimizers`` × the default seeds (default config)."""
    return [f"sweep_{t}_{o}_s{i}" for t in tasks for o in optimizers for i in SEEDS]


def _changed(base: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """Ids of the runs whose spec differs (both tables must list the same runs)."""
    assert list(base) == list(other)
    return [run for run in base if base[run] != other[run]]


# ------------------------------------------------------------------------------------------- run table


def test_run_ids_in_config_order() -> None:
    table = _table()
    expected = _sweeps(TASKS)
    expected += [f"ablation_{a}_s{i}" for a in ("none", "mean", "norm") for i in SEEDS] + ["memory"]
    assert list(table) == expected
    assert isinstance(table["sweep_mlp_nero_s0"], ClassifierSweepRun)
    assert isinstance(table["sweep_lstm_adam_s2"], LanguageSweepRun)
    assert isinstance(table["ablation_none_s0"], AblationRun) and isinstance(table["memory"], MemoryRun)
    assert all(isinstance(table[run], SweepRun) for run in expected[:27])
    assert table["ablation_mean_s0"].optimizer == "nero_mean" and table["ablation_mean_s0"].task == "cnn"
    assert studies.datasets("nero", section("nero")) == ["digits", "kjv"]
    assert studies.datasets("nero", section("nero", {"tasks": ["lstm"], "ablation": {"settings": []}})) == [
        "kjv"
    ]
    assert lr_key(3.0e-4) == "3e-04" and lr_key(1.0) == "1e+00"


def test_each_sweep_reads_its_own_grid_and_the_ablation_reuses_the_nero_grid() -> None:
    config = section("nero")
    table = _table()
    for task in TASKS:
        for name in OPTIMIZERS:
            assert table[f"sweep_{task}_{name}_s0"].lrs == tuple(config[task]["lrs"][name])
    # with an empty grid the sweep falls back on nero.lrs
    fallback = _table({"cnn": {"lrs": {"adam": []}}})
    assert fallback["sweep_cnn_adam_s0"].lrs == tuple(config["lrs"])
    # Nero with both constraints is the Nero sweep of the ablation task: the grids agree by default
    assert table["ablation_none_s0"].lrs == table["sweep_cnn_nero_s0"].lrs


@pytest.mark.parametrize(
    "overrides",
    [{}, {"tasks": ["mlp", "cnn", "resnet", "lstm"], "seeds": 2, "ablation": {"task": "mlp"}}, TINY],
)
def test_specs_round_trip_through_json(overrides: dict[str, Any]) -> None:
    for spec in _table(overrides).values():
        assert studies.spec_from_dict("nero", json.loads(json.dumps(spec.to_dict()))) == spec


def test_each_optimiser_spec_holds_only_its_own_hyperparameters() -> None:
    table = _table({"sgd_grad_clip": 0.5, "optimizers": list(ALL_OPTIMIZERS)})
    assert table["sweep_cnn_nero_s0"].optim == OptimizerSettings(nero_beta=0.999)
    assert table["sweep_cnn_sgd_s0"].optim == OptimizerSettings()  # the clip is for the language model only
    assert table["sweep_lstm_sgd_s0"].optim == OptimizerSettings(sgd_grad_clip=0.5)
    assert table["sweep_cnn_sgdm_s0"].optim == OptimizerSettings(sgd_momentum=0.9)
    assert table["sweep_lstm_sgdm_s0"].optim == OptimizerSettings(sgd_momentum=0.9, sgd_grad_clip=0.5)
    assert table["sweep_cnn_lamb_s0"].optim == OptimizerSettings(baseline_beta1=0.9)
    assert table["ablation_none_s0"].optim == OptimizerSettings(nero_beta=0.999)
    assert table["memory"].optim == OptimizerSettings(nero_beta=0.999, sgd_momentum=0.9, baseline_beta1=0.9)


def test_changing_cnn_steps_re_runs_exactly_the_cnn_sweeps_and_the_ablation() -> None:
    base = _table()
    changed = _changed(base, _table({"cnn": {"steps": 7}}))
    expected = [run for run, spec in base.items() if isinstance(spec, SweepRun) and spec.task == "cnn"]
    expected += [run for run, spec in base.items() if isinstance(spec, AblationRun)]
    assert len(expected) == 9 + 9 and changed == expected
    # with the ablation on the mlp, cnn.steps no longer touches it
    on_mlp = _table({"ablation": {"task": "mlp"}})
    changed = _changed(on_mlp, _table({"ablation": {"task": "mlp"}, "cnn": {"steps": 7}}))
    assert changed == _sweeps(["cnn"])


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"nero_beta": 0.99}, [*_sweeps(TASKS, ["nero"]), "ablation", "memory"]),
        ({"sgd_momentum": 0.5}, []),  # sgdm is not swept by default
        ({"sgd_grad_clip": 1.0}, _sweeps(["lstm"], ["sgd"])),
        ({"lstm": {"bptt": 35}}, _sweeps(["lstm"])),
        ({"lstm": {"nhid": 32}}, [*_sweeps(["lstm"]), "memory"]),
        ({"lstm": {"schedule": {"kind": "multistep", "milestones": [0.5], "gamma": 0.1}}}, _sweeps(["lstm"])),
        ({"cnn": {"channels": [4]}}, [*_sweeps(["cnn"]), "ablation", "memory"]),
        ({"cnn": {"train_size": 100}}, [*_sweeps(["cnn"]), "ablation"]),
        ({"cnn": {"augment": "cifar"}}, [*_sweeps(["cnn"]), "ablation"]),
        ({"cnn": {"schedule": {"kind": "constant"}}}, [*_sweeps(["cnn"]), "ablation"]),
        ({"cnn": {"lrs": {"adam": [0.01, 0.1]}}}, _sweeps(["cnn"], ["adam"])),
        ({"mlp": {"depth": 5}}, [*_sweeps(["mlp"]), "memory"]),
        ({"mlp": {"train_eval_size": 100}}, _sweeps(["mlp"])),
        ({"ablation": {"lrs": [0.01, 0.1]}}, ["ablation"]),
        ({"lrs": [0.01]}, []),  # every default task sets its own grids
        ({"default_lr_claims": True}, []),  # read by the claims only
    ],
)
def test_one_key_re_runs_exactly_the_runs_that_read_it(
    overrides: dict[str, Any], expected: list[str]
) -> None:
    base = _table()
    ablation = [run for run, spec in base.items() if isinstance(spec, AblationRun)]
    wanted = [run for name in expected for run in (ablation if name == "ablation" else [name])]
    assert sorted(_changed(base, _table(overrides))) == sorted(wanted)


def test_the_schedule_and_cadence_re_run_every_training_run_but_not_memory() -> None:
    base = _table()
    for overrides in ({"schedule": {"kind": "constant"}}, {"eval_points": 2}, {"checkpoint_every": 10}):
        assert _changed(base, _table(overrides)) == [run for run in base if run != "memory"]
    # a task with a schedule of its own does not inherit nero.schedule
    own = {"lstm": {"schedule": {"kind": "multistep"}}}
    changed = _changed(_table(own), _table({**own, "schedule": {"kind": "constant"}}))
    assert changed == [run for run in base if run != "memory" and not run.startswith("sweep_lstm")]


def test_adding_a_seed_adds_the_s1_runs_and_leaves_the_s0_specs_equal() -> None:
    one, two = _table({"seeds": 1}), _table({"seeds": 2})
    assert set(one) <= set(two)
    assert all(two[run] == spec for run, spec in one.items())
    added = sorted(set(two) - set(one))
    assert added == sorted(run.replace("_s0", "_s1") for run in one if run != "memory")
    assert all(two[run].seed_index == 1 for run in added)


def test_relations_and_bad_names_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"nero\.mlp\.depth"):
        _table({"mlp": {"depth": 0}})
    _table({"mlp": {"depth": 0}, "tasks": ["cnn"], "ablation": {"task": "cnn"}})  # the mlp is not run
    with pytest.raises(ConfigError, match=r"nero\.cnn\.lrs\.adam"):
        _table({"cnn": {"lrs": {"adam": [0.1, 0.01]}}})
    with pytest.raises(ConfigError, match=r"nero\.ablation\.lrs"):
        _table({"ablation": {"lrs": [0.1, 0.1]}})
    with pytest.raises(ConfigError, match="optimizers"):
        section("nero", {"optimizers": ["rmsprop"]})
    with pytest.raises(ConfigError, match=r"ablation\.task"):
        section("nero", {"ablation": {"task": "lstm"}})


def test_lr_schedules_against_closed_forms() -> None:
    cosine = Schedule(kind="cosine", warmup_fraction=0.0, milestones=(), gamma=0.2)
    assert lr_factor(0, 10, cosine) == 1.0 and lr_factor(5, 10, cosine) == pytest.approx(0.5)
    multi = Schedule(kind="multistep", warmup_fraction=0.1, milestones=(0.5, 0.8), gamma=0.2)
    assert lr_factor(0, 100, multi) == pytest.approx(0.1)
    assert [lr_factor(s, 100, multi) for s in (49, 50, 80)] == pytest.approx([1.0, 0.2, 0.04])
    half = Schedule(
        kind="multistep", warmup_fraction=0.0, milestones=(0.5,), gamma=0.1
    )  # the LM: ÷10 at half
    assert [lr_factor(s, 20, half) for s in (0, 9, 10, 19)] == pytest.approx([1.0, 1.0, 0.1, 0.1])
    per_epoch = Schedule(kind="exponential", warmup_fraction=0.0, milestones=(), gamma=0.9)  # 0.9^epoch
    assert [lr_factor(s, 100, per_epoch, steps_per_epoch=7) for s in (0, 6, 7, 13, 14, 99)] == pytest.approx(
        [1.0, 1.0, 0.9, 0.9, 0.81, 0.9**14]
    )


def _pixels(n: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_cifar_augmentation_acts_on_pixels_and_is_a_pure_function_of_seed_and_step() -> None:
    pixels, labels = _pixels(), torch.arange(32) % 10
    mean, std = (
        torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1),
        torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1),
    )
    data = ClassifierData((pixels - mean) / std, labels, pixels[:4], labels[:4], mean, std)
    plain = TensorBatches(data.train_x, labels, batch_size=16, seed=3)
    batches = AugmentedBatches(plain, data, seed=5)
    x, y = batches(4)
    assert torch.equal(y, plain(4)[1])
    assert torch.equal(x, batches(4)[0]) and not torch.equal(x, batches(5)[0])  # per step, reproducible
    # the same augmentation applied to the raw pixels by hand, then normalised
    generator = make_generator(5, "nero-augment", 4)
    raw = plain(4)[0] * std + mean
    raw = augment.random_rotation(augment.horizontal_flip(augment.random_crop(raw, 4, generator), generator),
                                  15.0, generator)  # fmt: skip
    assert torch.allclose(x, (raw - mean) / std, atol=1e-5)
    # padding and the corners of a rotation are black pixels (0 in pixel units), never the channel mean
    back = x * std + mean
    assert back.min() > -1e-5 and back.max() < 1 + 1e-5 and (back.abs() < 1e-6).any()


# ---------------------------------------------------------------------------------------------- runs


def test_tiny_sweep_records_every_lr_and_resumes(tmp_path: Path) -> None:
    results = study_results("nero", TINY, tmp_path)
    spec = results.one(SweepRun, task="mlp", optimizer="nero", seed_index=0)
    ctx = context(results, spec)
    output = study.execute(spec, ctx)
    assert set(output.metrics["per_lr"]) == {"1e-02", "1e+00"}
    assert output.metrics["best_lr"] in (1.0e-2, 1.0)
    assert set(output.history["lr"]) == {1.0e-2, 1.0}
    for entry in output.metrics["per_lr"].values():  # the fit is measured on the training set
        assert entry["diverged"] or 0.0 <= entry["train_accuracy"] <= 1.0
    assert (ctx.run_dir / "lr1e-02" / "checkpoint.pt").exists()
    again = study.execute(spec, ctx)  # finished checkpoints: same numbers at once
    assert again.metrics["per_lr"] == output.metrics["per_lr"]


def test_nero_with_both_constraints_is_the_nero_sweep(tmp_path: Path) -> None:
    """The ablation reads Nero with both constraints from the Nero sweep: the two runs are identical."""
    overrides = {**TINY, "lrs": [1.0e-2], "ablation": {"task": "mlp", "settings": ["both"], "lrs": [1.0e-2]}}
    results = study_results("nero", overrides, tmp_path)
    sweep, ablation = results.one(SweepRun, optimizer="nero"), results.one(AblationRun, setting="both")
    first = study.execute(sweep, context(results, sweep)).metrics["per_lr"]
    second = study.execute(ablation, context(results, ablation)).metrics["per_lr"]
    assert first == second


def test_a_changed_run_does_not_resume_its_stale_lr_checkpoints(tmp_path: Path) -> None:
    """The CLI's fingerprint check reaches the lr checkpoints one level below the run directory."""
    short = {**TINY, "lrs": [1.0e-2]}
    longer = {**short, "mlp": {**TINY["mlp"], "steps": 8}}
    first = study_results("nero", short, tmp_path / "a")
    spec = first.one(SweepRun, task="mlp", optimizer="nero")
    ctx = context(first, spec)
    ctx.run_dir.mkdir(parents=True)
    assert not discard_stale_checkpoint(ctx.run_dir, "short")
    done = study.execute(spec, ctx)
    assert (ctx.run_dir / "lr1e-02" / "checkpoint.pt").exists()
    assert not discard_stale_checkpoint(ctx.run_dir, "short")  # same fingerprint: kept
    assert study.execute(spec, ctx).metrics == done.metrics
    assert discard_stale_checkpoint(ctx.run_dir, "longer")  # what the CLI does after a config change
    long_spec = study_results("nero", longer, tmp_path / "a").one(SweepRun, task="mlp", optimizer="nero")
    rerun = study.execute(long_spec, ctx)
    fresh_results = study_results("nero", longer, tmp_path / "b")
    fresh = study.execute(long_spec, context(fresh_results, long_spec))
    assert (
        rerun.metrics["per_lr"] == fresh.metrics["per_lr"] and rerun.metrics["per_lr"]["1e-02"]["steps"] == 8
    )


def test_memory_table_matches_closed_form(tmp_path: Path) -> None:
    overrides = {**TINY, "tasks": ["mlp", "cnn"], "cnn": {"channels": [4], "hidden": 8, "lrs": NO_GRIDS}}
    results = study_results("nero", overrides, tmp_path)
    spec = results.one(MemoryRun)
    output = study.execute(spec, context(results, spec))
    table = output.history.set_index(["task", "optimizer"])
    for task in ("mlp", "cnn"):
        assert table.loc[(task, "nero"), "state_numel"] == table.loc[(task, "nero"), "nero_expected_numel"]
        assert table.loc[(task, "adam"), "state_numel"] == 2 * table.loc[(task, "adam"), "params"]
        assert table.loc[(task, "sgd"), "state_numel"] == 0
    assert list(table.reset_index()["model"].unique()) == ["mlp", "tiny_vgg"]


# -------------------------------------------------------------------------------------------- claims

GRID = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0]  # half-decade steps
GRIDS = {name: GRID for name in ("nero", "sgd", "adam")}
CLAIMS_CONFIG: dict[str, Any] = {
    "tasks": ["mlp", "cnn", "lstm"],
    "optimizers": ["nero", "sgd", "adam"],
    "seeds": 3,
    "mlp": {"lrs": GRIDS},
    "cnn": {"lrs": GRIDS},
    "lstm": {"lrs": GRIDS},
    "ablation": {"task": "cnn", "settings": ["none"], "lrs": [3e-3, 1e-2, 3e-2, 1e-1]},
}
SHIFT = (0.0, 0.2, -0.15)  # a seed effect every arm shares (same init and batch order): pairing removes it
TRAIN_GAP = 0.05  # fake train accuracy: the test accuracy without the seed effect plus this, at most 1
KINDS = {
    "deep_mlp_nero_trains": "reproduction",
    "deep_mlp_sgd_adam_fail": "reproduction",
    "lr_window_cnn": "reproduction",
    "lr_window_lstm": "reproduction",
    "sgd_best_lr_varies": "reproduction",
    "adam_best_lr_varies": "reproduction",
    "ablation_both_constraints_help": "reproduction",
    "nero_state_one_per_neuron": "check",
}
PAPER_KINDS = {
    **KINDS,
    "nero_best_lr_near_default": "reproduction",
    "nero_default_vs_tuned_cnn": "reproduction",
    "nero_default_vs_tuned_lstm": "reproduction",
}
X = None  # diverged on every seed

# Scores per (task, arm), one per lr of GRID: a number (plus the seed's SHIFT in accuracy points / 10, or in
# nats for the language model, whose scores are minus losses), a list (one value per seed; None = that seed
# diverged) or None (diverged on every seed). Accuracies are fractions; chance is 0.1, twice chance 0.2; the
# language model (vocabulary 2000) is above twice chance below a loss of log(1000) = 6.91. The ablation's
# "none" is on its four lrs; its "both" is the Nero sweep of the cnn on those lrs.
GOOD: dict[tuple[str, str], list[Any]] = {
    ("mlp", "nero"): [0.6, 0.8, 0.92, 0.85, 0.7, X, X, X],  # best 0.01, train accuracy 0.97
    ("mlp", "sgd"): [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, X],  # train accuracy 0.15 everywhere
    ("mlp", "adam"): [0.1, 0.12, 0.1, 0.1, X, X, X, X],  # at most 0.17
    ("cnn", "nero"): [0.5, 0.7, 0.8, 0.79, 0.785, 0.6, 0.4, X],  # best 0.01, window 3
    ("cnn", "sgd"): [0.3, 0.4, 0.5, 0.7, 0.81, 0.6, X, X],  # best 0.1, window 1
    ("cnn", "adam"): [0.7, 0.8, 0.79, 0.6, 0.2, X, X, X],  # best 0.003, window 2
    ("lstm", "nero"): [-6.0, -5.4, -5.0, -5.1, -5.2, -5.6, -6.5, -7.0],  # best 0.01, window 3
    ("lstm", "sgd"): [-7.5, -7.3, -7.0, -6.5, -6.0, -5.6, -5.1, -5.5],  # best 1.0: 2 steps from 0.1
    ("lstm", "adam"): [-5.8, -5.6, -5.4, -5.05, -5.4, -6.0, X, X],  # best 0.03: 2 steps from 0.003
    ("cnn", "none"): [0.5, 0.6, 0.65, 0.62],  # best 0.03; both: 0.8 at 0.01, 15 points more
}


def _seed_value(value: Any, seed: int, lm: bool) -> float | None:
    if isinstance(value, list):
        return value[seed]
    if value is None:
        return None
    return value + (SHIFT[seed] if lm else SHIFT[seed] / 10)


def _write_sweep(results: Results, spec: Any, scores: list[Any]) -> None:
    """A sweep's (or ablation setting's) metrics.json and history.csv, as pipeline.nero.sweep writes them."""
    lm = spec.task == "lstm"
    per_lr, score_map, rows = {}, {}, []
    for lr, value in zip(spec.lrs, scores, strict=True):
        key, score = lr_key(lr), _seed_value(value, spec.seed_index, lm)
        entry: dict[str, Any] = {"lr": lr, "diverged": float(score is None)}
        if score is not None:
            entry["valid_loss" if lm else "test_accuracy"] = -score if lm else score
            if not lm:
                base = value[spec.seed_index] if isinstance(value, list) else value
                entry["train_accuracy"] = min(1.0, base + TRAIN_GAP)
        per_lr[key], score_map[key] = entry, score
        rows += [{"step": step, "train_loss": 2.0 / step, "lr": lr} for step in (1, 2)]
    finite = {k: v for k, v in score_map.items() if v is not None}
    best = max(finite, key=finite.get) if finite else None
    metrics = {"task": spec.task, "optimizer": spec.optimizer, "seed_index": spec.seed_index,
               "per_lr": per_lr, "scores": score_map, "best_lr": per_lr[best]["lr"] if best else None,
               "score_name": "neg_valid_loss" if lm else "test_accuracy"}  # fmt: skip
    record_run(results.run_dir(spec), metrics, pd.DataFrame(rows))


def _memory_rows(results: Results, wrong: bool = False) -> list[dict[str, Any]]:
    rows = []
    for task in results.section["tasks"]:
        params, neurons = 1000, 40
        for opt, numel in (("nero", neurons), ("sgd", 0), ("adam", 2 * params)):
            numel += int(wrong and opt == "nero")
            rows.append({"task": task, "model": task, "optimizer": opt, "params": params,
                         "state_numel": numel, "state_bytes": 4 * numel, "state_per_param": numel / params,
                         "nero_expected_numel": neurons})  # fmt: skip
    return rows


def _results(tmp_path: Path, scores: dict[tuple[str, str], list[Any]], seeds: int = 3,
             wrong_memory: bool = False, **overrides: Any) -> Results:  # fmt: skip
    """Fake results of CLAIMS_CONFIG (``seeds`` seeds, plus ``overrides``) with ``scores``."""
    results = study_results("nero", {**CLAIMS_CONFIG, "seeds": seeds, **overrides}, tmp_path)
    for spec in results.select(SweepRun):
        _write_sweep(results, spec, scores[(spec.task, spec.optimizer)])
    for spec in results.select(AblationRun):
        _write_sweep(results, spec, scores[(spec.task, spec.setting)])
    record_run(results.run_dir(results.one(MemoryRun)), {"memory": _memory_rows(results, wrong_memory)})
    return results


def _claims(results: Results) -> dict[str, Any]:
    return {c.claim_id: c for c in claims_of.claims(results)}


def _with(**changes: list[Any]) -> dict[tuple[str, str], list[Any]]:
    """GOOD with some arms replaced: ``cnn__nero=[...]``."""
    table = dict(GOOD)
    for name, scores in changes.items():
        task, arm = name.split("__")
        table[(task, arm)] = scores
    return table


def test_claims_have_their_kinds_paper_sources_and_figures(tmp_path: Path) -> None:
    from analysis import nero as figures

    for default_lr_claims, kinds in ((False, KINDS), (True, PAPER_KINDS)):
        results = _results(tmp_path / str(default_lr_claims), GOOD, default_lr_claims=default_lr_claims)
        claims = _claims(results)
        assert {c: claims[c].kind for c in claims} == kinds
        for claim in claims.values():
            assert claim.kind != "reproduction" or (claim.paper_value and claim.paper_source), claim.claim_id
            assert claim.evidence.startswith("figures/smoke/nero/") and claim.evidence.endswith(".png")
            assert Path(claim.evidence).stem in figures.CAPTIONS, claim.claim_id
            assert "nero.md" not in claim.claim + claim.note + claim.paper_source
            assert claim.kind == "check" or claim.note, claim.claim_id  # why it may not hold at this scale


def test_claims_hold_when_every_seed_is_on_the_claimed_side(tmp_path: Path) -> None:
    claims = _claims(_results(tmp_path, GOOD, default_lr_claims=True))
    assert {c.claim_id: c.verdict for c in claims.values()} == dict.fromkeys(PAPER_KINDS, "holds")
    trains = claims["deep_mlp_nero_trains"]
    assert (trains.estimate, trains.ci_low, trains.ci_high, trains.n) == pytest.approx((0.97, 0.97, 0.97, 3))
    assert "depth 30" in trains.claim and "here 0.01" in trains.claim
    fail = claims["deep_mlp_sgd_adam_fail"]
    assert fail.estimate == pytest.approx(0.17) and fail.threshold == pytest.approx(0.2)
    assert "SGD 0/8, Adam 0/8" in fail.claim
    # the seed effect shifts every lr of an arm alike: every resample gives the same windows and best lrs
    assert (
        claims["lr_window_cnn"].estimate == 1.0 and "Nero 3, SGD 1, Adam 2" in claims["lr_window_cnn"].claim
    )
    assert (
        claims["lr_window_lstm"].estimate == 2.0 and "Nero 3, SGD 1, Adam 1" in claims["lr_window_lstm"].claim
    )
    assert (claims["lr_window_cnn"].ci_low, claims["lr_window_cnn"].ci_high) == (1.0, 1.0)
    for opt in ("sgd", "adam"):
        spread = claims[f"{opt}_best_lr_varies"]
        assert (spread.estimate, spread.threshold) == (2.0, 2.0)  # two half-decade steps = one decade
    assert "CNN 0.1, LSTM language model 1" in claims["sgd_best_lr_varies"].claim
    ablation = claims["ablation_both_constraints_help"]
    assert ablation.estimate == pytest.approx(15.0) and "here 0.01 and 0.03" in ablation.claim
    assert claims["nero_state_one_per_neuron"].estimate == 0.0
    # paper scale
    assert claims["nero_best_lr_near_default"].estimate == 1.0  # best lr 0.01 on cnn and lstm
    assert claims["nero_default_vs_tuned_cnn"].estimate == pytest.approx(1.0)  # SGD 0.81 at 0.1 vs 0.80
    assert "SGD at lr 0.1" in claims["nero_default_vs_tuned_cnn"].claim
    assert claims["nero_default_vs_tuned_lstm"].estimate == pytest.approx(5.0 / 5.05, rel=1e-3)  # losses
    assert claims["lr_window_cnn"].method.startswith("statistic over seeds")
    assert claims["ablation_both_constraints_help"].method.startswith("paired difference")


def test_paper_scale_claims_are_not_emitted_by_default(tmp_path: Path) -> None:
    assert section("nero")["default_lr_claims"] is False
    ids = set(_claims(_results(tmp_path, GOOD)))
    assert ids == set(KINDS) and not ids & {"nero_best_lr_near_default", "nero_default_vs_tuned_cnn"}


BAD = _with(
    mlp__nero=[0.5, 0.55, 0.6, 0.55, 0.5, X, X, X],  # train accuracy 0.65 at its best: < 0.95
    mlp__adam=[0.1, 0.5, 0.3, 0.1, X, X, X, X],  # train accuracy 0.55 at 0.003: > twice chance
    cnn__nero=[0.5, 0.6, 0.7, 0.8, 0.7, 0.6, 0.4, X],  # window 1 against Adam's 2; both 10 points below none
    lstm__sgd=[-7.5, -7.3, -7.0, -6.5, -5.1, -5.6, -6.0, -6.5],  # best 0.1 on both tasks: 0 steps
    lstm__adam=[-5.8, -5.6, -5.05, -5.2, -5.6, -6.0, X, X],  # best 0.01: 1 step from 0.003; window 2
    lstm__nero=[-6.0, -5.6, -5.5, -5.0, -5.6, -6.0, -6.5, -7.0],  # window 1
    cnn__none=[0.7, 0.85, 0.9, 0.8],
)


def test_claims_fail_when_every_seed_is_on_the_other_side(tmp_path: Path) -> None:
    claims = _claims(_results(tmp_path, BAD, wrong_memory=True))
    assert {c.claim_id: c.verdict for c in claims.values()} == dict.fromkeys(KINDS, "fails")
    assert claims["nero_state_one_per_neuron"].estimate == 3.0  # one wrong table per task
    assert claims["lr_window_cnn"].estimate == -1.0 and claims["sgd_best_lr_varies"].estimate == 0.0


def test_claims_are_inconclusive_when_seeds_straddle_the_threshold(tmp_path: Path) -> None:
    straddle = _with(
        mlp__nero=[0.6, 0.8, [0.99, 0.90, 0.95], 0.85, 0.7, X, X, X],  # train 1.0, 0.95, 1.0
        cnn__none=[0.5, 0.6, [0.72, 0.85, 0.76], 0.62],  # both gains 8, -3, 2.5 points
        cnn__sgd=[0.3, 0.4, 0.5, 0.7, 0.81, [0.6, 0.95, 0.6], X, X],  # best 0.3 when seed 1 dominates
    )
    claims = _claims(_results(tmp_path, straddle))
    for claim_id in ("deep_mlp_nero_trains", "ablation_both_constraints_help"):
        claim = claims[claim_id]
        assert claim.verdict == "inconclusive" and claim.ci_low < claim.threshold < claim.ci_high, claim_id
    # the seed-mean best lr of SGD on the cnn is 0.1 (2 steps from 1.0), but resamples that draw seed 1 at
    # least twice move it to 0.3 (1 step)
    spread = claims["sgd_best_lr_varies"]
    assert spread.estimate == 2.0 and spread.ci_low == 1.0 and spread.verdict == "inconclusive"


def test_one_seed_leaves_every_stochastic_claim_inconclusive(tmp_path: Path) -> None:
    claims = _claims(_results(tmp_path, GOOD, seeds=1))
    for claim in claims.values():
        expected = "holds" if claim.kind == "check" else "inconclusive"
        assert claim.verdict == expected, claim.claim_id
        assert claim.n == 1
    assert claims["deep_mlp_nero_trains"].estimate == pytest.approx(0.97)


def test_an_optimum_at_the_edge_of_its_grid_gives_no_estimate(tmp_path: Path) -> None:
    edge = _with(
        cnn__sgd=[0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.78, 0.81],  # still rising at the last lr, 3.0
        lstm__adam=[-5.0, -5.6, -5.4, -5.3, -5.4, -6.0, X, X],  # best at the first lr; window reaches it
        cnn__none=[0.5, 0.6, 0.65, 0.7],
    )
    claims = _claims(_results(tmp_path, edge))
    for claim_id, why in (
        ("sgd_best_lr_varies", "CNN: the optimum is at the edge of the grid (lr 3)"),
        ("adam_best_lr_varies", "LSTM language model: the optimum is at the edge of the grid (lr 0.001)"),
        ("lr_window_cnn", "SGD: the window reaches the edge of the grid"),
        ("lr_window_lstm", "Adam: the window reaches the edge of the grid"),
        ("ablation_both_constraints_help", "no constraints: the optimum is at the edge of the grid (lr 0.1)"),
    ):
        claim = claims[claim_id]
        assert np.isnan(claim.estimate) and claim.verdict == "inconclusive" and why in claim.method, claim_id


def test_a_best_lr_is_never_an_lr_that_diverged_on_any_seed(tmp_path: Path) -> None:
    diverged = _with(cnn__nero=[0.5, 0.7, [0.95, None, 0.95], 0.79, 0.785, 0.6, 0.4, X])
    results = _results(tmp_path, diverged, default_lr_claims=True)
    arm = claims_of.sweep_arms(results)["cnn"]["nero"]
    assert arm.best_lr() == 0.03 and np.isnan(arm.means()[2])
    assert arm.window() == 2.0  # 0.03 and 0.1; the diverged 0.01 is not in the window
    claims = _claims(results)
    assert claims["nero_best_lr_near_default"].estimate == pytest.approx(3.0)
    # Nero at 0.01 diverged on seed 1: that pair is excluded from the comparison, and the method says so
    default = claims["nero_default_vs_tuned_cnn"]
    assert default.n == 2 and "1 missing or diverged excluded" in default.method


def test_the_deep_mlp_claim_picks_neros_lr_by_train_accuracy(tmp_path: Path) -> None:
    """Fig. 3 (right) is about training: Nero's best lr there is the argmax of the train accuracy."""
    # test accuracy best at 0.01; fake train accuracy (test + 0.05, at most 1) tied at 1.0 on 0.003 and 0.01,
    # so the argmax of the train accuracy is the first of them, 0.003
    fits = _with(mlp__nero=[0.6, [0.96, 0.96, 0.96], [0.99, 0.99, 0.99], 0.85, 0.7, X, X, X])
    results = _results(tmp_path, fits)
    arm = claims_of.sweep_arms(results)["mlp"]["nero"]
    assert arm.best_lr() == 0.01 and list(arm.train[0, 1:3]) == pytest.approx([1.0, 1.0])
    claim = _claims(results)["deep_mlp_nero_trains"]
    assert "here 0.003" in claim.claim and claim.estimate == pytest.approx(1.0)


def test_a_baseline_that_diverged_on_one_seed_still_counts_against_the_deep_mlp_claim(tmp_path: Path) -> None:
    partial = _with(mlp__adam=[0.1, [0.6, None, 0.6], 0.1, 0.1, X, X, X, X])  # trains on seeds 0 and 2
    claim = _claims(_results(tmp_path, partial))["deep_mlp_sgd_adam_fail"]
    # the seed mean over the seeds that finished; a resample of the diverged seed alone is still possible
    assert claim.estimate == pytest.approx(0.65) and claim.ci_high == pytest.approx(0.65)
    assert claim.verdict != "holds"


def test_no_best_lr_claim_holds_on_an_argmax_over_runs_at_chance(tmp_path: Path) -> None:
    chance = _with(
        mlp__nero=[0.12, 0.13, 0.14, 0.11, 0.1, X, X, X],  # never above twice chance (0.2), train too
        cnn__nero=[0.1, 0.15, 0.1, 0.1, 0.1, 0.1, 0.1, X],
        cnn__none=[0.1, 0.1, 0.15, 0.1],
        cnn__sgd=[0.12, 0.1, 0.1, 0.1, 0.1, 0.1, X, X],
    )
    claims = _claims(_results(tmp_path, chance, default_lr_claims=True))
    for claim_id in ("nero_best_lr_near_default", "sgd_best_lr_varies", "deep_mlp_nero_trains",
                     "ablation_both_constraints_help", "lr_window_cnn"):  # fmt: skip
        assert claims[claim_id].verdict != "holds", claim_id
        assert np.isnan(claims[claim_id].estimate), claim_id
    assert "CNN 0/8" in claims["nero_best_lr_near_default"].claim
    assert "Nero 0/8" in claims["deep_mlp_nero_trains"].claim
    assert "Nero: no lr above twice chance" in claims["deep_mlp_nero_trains"].method
    assert "SGD: no lr above twice chance" in claims["lr_window_cnn"].method


def test_windows_against_a_hand_count(tmp_path: Path) -> None:
    arm = claims_of.Arm(tuple(GRID), np.array([[0.5, 0.7, 0.8, 0.79, 0.785, 0.6, 0.4, np.nan]] * 2), 0.2)
    assert list(arm.good()) == [False, False, True, True, True, False, False, False] and arm.window() == 3.0
    lm = claims_of.Arm((0.1, 1.0, 10.0), np.array([[-5.3, -5.0, -5.26]]), -6.9, lm=True)
    assert list(lm.good()) == [False, True, False]  # 5.26 > 1.05 x 5.0 = 5.25
    assert claims_of.grid_step(GRID) == 0.5 and math.isnan(claims_of.grid_step([0.1, 0.3, 10.0]))


def test_twice_chance_of_the_language_model_is_half_the_vocabulary_in_perplexity(tmp_path: Path) -> None:
    results = _results(tmp_path, GOOD)
    arm = claims_of.sweep_arms(results)["lstm"]["sgd"]
    assert arm.floor == pytest.approx(-np.log(1000.0))  # vocab_size 2000
    assert arm.above_chance() == (5, 8)  # losses 6.5 down to 5.1 (plus the seed shifts) are below 6.91
    assert claims_of.sweep_arms(results)["cnn"]["sgd"].floor == pytest.approx(0.2)


def test_figures_draw_several_seeds_and_diverged_lrs(tmp_path: Path) -> None:
    from analysis import nero as figures

    diverged = _with(cnn__nero=[0.5, 0.7, [0.95, None, 0.95], 0.79, 0.785, 0.6, 0.4, X])
    results = _results(tmp_path / "results", diverged)
    out = tmp_path / "figures"
    figures.plot(results, out)
    for stem in figures.CAPTIONS:
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").stat().st_size > 0
    assert list(figures.CAPTIONS) == ["lr_sweep", "lr_window", "deep_mlp", "curves", "ablation", "memory"]


# ------------------------------------------------------------------------------- end to end, figures


def test_tiny_study_end_to_end_claims_and_figures(tmp_path: Path) -> None:
    """Every run of a tiny config (sweeps, a one-setting ablation, memory), its claims and its figures."""
    overrides = {
        **TINY,
        "tasks": ["mlp", "cnn"],
        "lrs": [1.0e-2, 1.0e-1, 1.0],
        "cnn": {
            "channels": [4],
            "hidden": 8,
            "train_size": 256,
            "test_size": 64,
            "steps": 4,
            "lrs": NO_GRIDS,
        },
        "ablation": {"task": "mlp", "settings": ["none"], "lrs": [1e-2, 1e-1, 1.0]},
    }
    results = execute_all("nero", overrides, tmp_path / "results")
    assert len(results.finished()) == 6 + 1 + 1
    ids = {c.claim_id for c in claims_of.claims(results)}
    assert {"deep_mlp_nero_trains", "deep_mlp_sgd_adam_fail", "lr_window_cnn",
            "ablation_both_constraints_help"} <= ids  # fmt: skip
    from analysis import nero as figures

    out = tmp_path / "figures"
    figures.plot(results, out)
    for stem in figures.CAPTIONS:
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").stat().st_size > 0
