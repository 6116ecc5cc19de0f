"""The nero study: the run table (typed specs, ids, per-run keys), a tiny sweep end to end, the memory
table, claims fed good and bad results, and the figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.records import context, execute_all, record_run, study_results

from pipeline import studies
from pipeline.core.config import ConfigError, section
from pipeline.core.fingerprint import discard_stale_checkpoint
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
from pipeline.nero.train import lr_factor
from pipeline.results import Results

TINY: dict[str, Any] = {
    "tasks": ["mlp"],
    "optimizers": ["nero", "sgd", "adam"],
    "lrs": [1.0e-2, 1.0],
    "eval_points": 1,
    "log_points": 2,
    "checkpoint_every": 2,
    "mlp": {"depth": 3, "width": 16, "steps": 4},
    "ablation": {"settings": []},
}


def _table(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    return studies.runs("nero", section("nero", overrides))


TASKS = ("mlp", "cnn", "lstm")
OPTIMIZERS = ("nero", "sgd", "sgdm", "adam", "lamb")


def _sweeps(tasks: Any, optimizers: Any = OPTIMIZERS) -> list[str]:
    """Ids of the seed-0 sweeps of ``tasks`` × ``optimizers`` (default config)."""
    return [f"sweep_{t}_{o}_s0" for t in tasks for o in optimizers]


def _changed(base: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """Ids of the runs whose spec differs (both tables must list the same runs)."""
    assert list(base) == list(other)
    return [run for run in base if base[run] != other[run]]


# ------------------------------------------------------------------------------------------- run table


def test_run_ids_are_the_old_ones_in_config_order() -> None:
    table = _table()
    tasks, optimizers = ["mlp", "cnn", "lstm"], ["nero", "sgd", "sgdm", "adam", "lamb"]
    expected = [f"sweep_{t}_{o}_s0" for t in tasks for o in optimizers]
    expected += [f"ablation_{a}_s0" for a in ("none", "mean", "norm", "both")] + ["memory"]
    assert list(table) == expected
    assert isinstance(table["sweep_mlp_nero_s0"], ClassifierSweepRun)
    assert isinstance(table["sweep_lstm_adam_s0"], LanguageSweepRun)
    assert isinstance(table["ablation_both_s0"], AblationRun) and isinstance(table["memory"], MemoryRun)
    assert all(isinstance(table[run], SweepRun) for run in expected[:15])
    assert table["ablation_mean_s0"].optimizer == "nero_mean" and table["ablation_mean_s0"].task == "cnn"
    assert studies.datasets("nero", section("nero")) == ["digits", "fashion_mnist", "kjv"]
    assert studies.datasets("nero", section("nero", {"tasks": ["mlp"], "ablation": {"settings": []}})) == [
        "digits"
    ]
    assert lr_key(3.0e-4) == "3e-04" and lr_key(1.0) == "1e+00"


@pytest.mark.parametrize(
    "overrides",
    [{}, {"tasks": ["mlp", "cnn", "resnet", "lstm"], "seeds": 2, "ablation": {"task": "mlp"}}, TINY],
)
def test_specs_round_trip_through_json(overrides: dict[str, Any]) -> None:
    for spec in _table(overrides).values():
        assert studies.spec_from_dict("nero", json.loads(json.dumps(spec.to_dict()))) == spec


def test_each_optimiser_spec_holds_only_its_own_hyperparameters() -> None:
    table = _table({"sgd_grad_clip": 0.5})
    assert table["sweep_cnn_nero_s0"].optim == OptimizerSettings(nero_beta=0.999)
    assert table["sweep_cnn_sgd_s0"].optim == OptimizerSettings(sgd_grad_clip=0.5)
    assert table["sweep_cnn_sgdm_s0"].optim == OptimizerSettings(sgd_momentum=0.9, sgd_grad_clip=0.5)
    assert table["sweep_cnn_lamb_s0"].optim == OptimizerSettings(baseline_beta1=0.9)
    assert table["ablation_none_s0"].optim == OptimizerSettings(nero_beta=0.999)
    assert table["memory"].optim == OptimizerSettings(nero_beta=0.999, sgd_momentum=0.9, baseline_beta1=0.9)


def test_changing_cnn_steps_re_runs_exactly_the_cnn_sweeps_and_the_ablation() -> None:
    base = _table()
    changed = _changed(base, _table({"cnn": {"steps": 7}}))
    expected = [run for run, spec in base.items() if isinstance(spec, SweepRun) and spec.task == "cnn"]
    expected += [run for run, spec in base.items() if isinstance(spec, AblationRun)]
    assert len(expected) == 5 + 4 and changed == expected
    # with the ablation on the mlp, cnn.steps no longer touches it
    on_mlp = _table({"ablation": {"task": "mlp"}})
    changed = _changed(on_mlp, _table({"ablation": {"task": "mlp"}, "cnn": {"steps": 7}}))
    assert changed == [f"sweep_cnn_{o}_s0" for o in ("nero", "sgd", "sgdm", "adam", "lamb")]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"nero_beta": 0.99}, [*_sweeps(TASKS, ["nero"]), "ablation", "memory"]),
        ({"sgd_momentum": 0.5}, [*_sweeps(TASKS, ["sgdm"]), "memory"]),
        ({"sgd_grad_clip": 1.0}, _sweeps(TASKS, ["sgd", "sgdm"])),
        ({"lstm": {"bptt": 35}}, _sweeps(["lstm"])),
        ({"lstm": {"nhid": 32}}, [*_sweeps(["lstm"]), "memory"]),
        ({"cnn": {"channels": [4]}}, [*_sweeps(["cnn"]), "ablation", "memory"]),
        ({"cnn": {"train_size": 100}}, [*_sweeps(["cnn"]), "ablation"]),
        ({"mlp": {"depth": 5}}, [*_sweeps(["mlp"]), "memory"]),
        ({"ablation": {"lrs": [0.01]}}, ["ablation"]),
        ({"lrs": [0.01]}, _sweeps(TASKS)),
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
    with pytest.raises(ConfigError, match="optimizers"):
        section("nero", {"optimizers": ["rmsprop"]})
    with pytest.raises(ConfigError, match=r"ablation\.task"):
        section("nero", {"ablation": {"task": "lstm"}})


def test_lr_schedules() -> None:
    cosine = Schedule(kind="cosine", warmup_fraction=0.0, milestones=(), gamma=0.2)
    assert lr_factor(0, 10, cosine) == 1.0 and lr_factor(5, 10, cosine) == pytest.approx(0.5)
    multi = Schedule(kind="multistep", warmup_fraction=0.1, milestones=(0.5, 0.8), gamma=0.2)
    assert lr_factor(0, 100, multi) == pytest.approx(0.1)
    assert [lr_factor(s, 100, multi) for s in (49, 50, 80)] == pytest.approx([1.0, 0.2, 0.04])


# ---------------------------------------------------------------------------------------------- runs


def test_tiny_sweep_records_every_lr_and_resumes(tmp_path: Path) -> None:
    results = study_results("nero", TINY, tmp_path)
    spec = results.one(SweepRun, task="mlp", optimizer="nero", seed_index=0)
    ctx = context(results, spec)
    output = study.execute(spec, ctx)
    assert set(output.metrics["per_lr"]) == {"1e-02", "1e+00"}
    assert output.metrics["best_lr"] in (1.0e-2, 1.0)
    assert set(output.history["lr"]) == {1.0e-2, 1.0}
    assert (ctx.run_dir / "lr1e-02" / "checkpoint.pt").exists()
    again = study.execute(spec, ctx)  # finished checkpoints: same numbers at once
    assert again.metrics["per_lr"] == output.metrics["per_lr"]


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
    overrides = {**TINY, "tasks": ["mlp", "cnn"], "cnn": {"dataset": "digits", "channels": [4], "hidden": 8}}
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


def _write_sweep(results: Results, task: str, opt: str, scores: dict[float, float | None]) -> None:
    lm = task == "lstm"
    per_lr, score_map = {}, {}
    for lr, value in scores.items():
        key = lr_key(lr)
        diverged = value is None
        entry = {"lr": lr, "diverged": float(diverged)}
        if not diverged:
            entry["valid_loss" if lm else "test_accuracy"] = value
        per_lr[key] = entry
        score_map[key] = None if diverged else (-value if lm else value)
    metrics = {"task": task, "optimizer": opt, "seed_index": 0, "per_lr": per_lr, "scores": score_map,
               "score_name": "neg_valid_loss" if lm else "test_accuracy", "best_lr": None}  # fmt: skip
    spec = results.one(SweepRun, task=task, optimizer=opt, seed_index=0)
    record_run(results.run_dir(spec), metrics)


def _claims(tmp_path: Path, nero_mlp: dict, adam_mlp: dict, nero_cnn: dict, adam_cnn: dict, ratio: float):
    overrides = {"tasks": ["mlp", "cnn"], "optimizers": ["nero", "sgd", "adam"], "ablation": {"settings": []}}
    results = study_results("nero", overrides, tmp_path)
    for task, nero, adam in (("mlp", nero_mlp, adam_mlp), ("cnn", nero_cnn, adam_cnn)):
        _write_sweep(results, task, "nero", nero)
        _write_sweep(results, task, "adam", adam)
        _write_sweep(results, task, "sgd", {lr: 0.1 for lr in nero})
    rows = [{"task": "cnn", "optimizer": "nero", "state_numel": ratio * 1000}]
    rows.append({"task": "cnn", "optimizer": "adam", "state_numel": 1000})
    record_run(results.run_dir(results.one(MemoryRun)), {"memory": rows})
    return {c.claim_id: c for c in claims_of.claims(results)}


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
    assert "depth 20" in claims["deep_mlp_nero_beats_sgd_adam"].claim
    assert claims["nero_state_vs_adam_cnn"].holds
    assert claims["nero_state_vs_adam_cnn"].evidence == "figures/smoke/nero/memory.png"
    assert claims["nero_best_lr_near_default"].evidence == "figures/smoke/nero/lr_sweep.png"


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


# ------------------------------------------------------------------------------- end to end, figures


def test_tiny_study_end_to_end_claims_and_figures(tmp_path: Path) -> None:
    """Every run of a tiny config (sweeps, a two-setting ablation, memory), its claims and its figures."""
    overrides = {
        **TINY,
        "lrs": [1.0e-2],
        "ablation": {"task": "mlp", "settings": ["none", "both"], "lrs": [1e-2]},
    }
    results = execute_all("nero", overrides, tmp_path / "results")
    assert len(results.finished()) == 3 + 2 + 1
    ids = {c.claim_id for c in claims_of.claims(results)}
    assert {
        "nero_default_vs_tuned_mlp",
        "deep_mlp_nero_beats_sgd_adam",
        "ablation_both_constraints_help",
    } <= ids
    from analysis import nero as figures

    out = tmp_path / "figures"
    figures.plot(results, out)
    for stem in figures.CAPTIONS:
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").stat().st_size > 0
