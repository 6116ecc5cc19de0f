"""The consensus study: the run table (typed specs, what each run reads and needs, per-run re-runs), the
warm-up and lr/epoch rules at every scale, a tiny execution of every run kind (tuning, reuse, phase
snapshots, control), claims computed from per-seed numbers (verdicts from their intervals: holds,
inconclusive, fails) and figures from stored records only."""

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
from pipeline.consensus import claims as claims_of
from pipeline.consensus import study, training
from pipeline.consensus.runs import PhaseRun, QuadraticRun, ScaleRun, TuneRun, lr_grid
from pipeline.core.claims import Claim
from pipeline.core.config import ConfigError, section
from pipeline.core.seeding import derive_seed
from pipeline.decentralized.runner import make_schedule
from pipeline.results import Results

REPO = Path(__file__).resolve().parents[1]


def _runs(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    return studies.runs("consensus", section("consensus", overrides))


def _changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {run for run in before if run in after and before[run] != after[run]}


def _paper() -> dict[str, Any]:
    return section("consensus", yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["consensus"])


# ------------------------------------------------------------------------------------------ run table

ARMS = {1: ("dec", "ctrl0.25"), 2: ("dec", "ctrl0.25"), 3: ("dec",)}


def test_runs_are_typed_specs_with_derived_ids() -> None:
    table = _runs()
    tune = [
        f"tune_allreduce_n{n}_lr{lr}" for n in (8, 16, 32) for lr in ("0.02", "0.04", "0.08", "0.16", "0.32")
    ]
    scale = [f"scale_{a}_n{n}_s{i}" for n in (8, 16, 32) for a in ("allreduce", "ring") for i in range(5)]
    phase = [f"phase{k}_{arm}_n16_s{i}" for k, arms in ARMS.items() for arm in arms for i in range(5)]
    assert list(table) == [*tune, *scale, *phase, "quadratic"]
    assert {type(spec) for spec in table.values()} == {TuneRun, ScaleRun, PhaseRun, QuadraticRun}
    assert {"pipeline/decentralized/runner.py", "pipeline/decentralized/tuning.py"} <= set(
        studies.code_paths("consensus")
    )
    assert studies.has_theory("consensus")
    assert studies.datasets("consensus", section("consensus")) == ["mnist1d_large"]
    ring = table["scale_ring_n32_s2"]
    assert (ring.algorithm, ring.n_workers, ring.seed_index, ring.training.steps) == ("ring", 32, 2, 1000)
    assert ring.lrs == (0.02, 0.04, 0.08, 0.16, 0.32)
    snapshots = {run for run, spec in table.items() if getattr(spec, "snapshots", False)}
    assert snapshots == {run for run in [*tune, *scale] if "_n16_" in run}  # the phase runs start there
    controlled = {run: spec.max_rounds for run, spec in table.items() if isinstance(spec, PhaseRun)}
    assert {run for run, rounds in controlled.items() if rounds is not None} == {
        run for run in phase if "_ctrl" in run
    }


def test_every_run_needs_what_it_reads_and_comes_after_it() -> None:
    table = _runs()
    assert table["scale_ring_n32_s2"].needs() == tuple(
        f"tune_allreduce_n32_lr{lr}" for lr in ("0.02", "0.04", "0.08", "0.16", "0.32")
    )
    assert table["phase1_dec_n16_s2"].needs() == ("scale_ring_n16_s2", "scale_allreduce_n16_s2")
    assert table["phase1_ctrl0.25_n16_s2"].needs() == ("phase1_dec_n16_s2", "scale_allreduce_n16_s2")
    assert table["phase2_ctrl0.25_n16_s1"].needs() == ("scale_allreduce_n16_s1", "phase2_dec_n16_s1")
    assert table["phase3_dec_n16_s0"].needs() == ("scale_allreduce_n16_s0",)
    order = list(table)
    for run, spec in table.items():
        assert all(order.index(need) < order.index(run) for need in spec.needs()), run


def test_spec_json_round_trips() -> None:
    for overrides in ({}, {"warmup_from": 0.0, "lr_scaling": "linear", "epochs": 3.0}):
        for spec in _runs(overrides).values():
            assert studies.spec_from_dict("consensus", json.loads(json.dumps(spec.to_dict()))) == spec


def test_adding_a_seed_leaves_existing_specs_equal() -> None:
    base, after = _runs({"seeds": 3}), _runs({"seeds": 4})
    added = set(after) - set(base)
    assert added == {run for run, spec in after.items() if getattr(spec, "seed_index", None) == 3}
    assert len(added) == 3 * 2 + 5  # a scale run of each (n, algorithm), a phase run of each arm
    assert all(after[run] == spec for run, spec in base.items())


def test_changing_one_key_changes_exactly_the_specs_that_read_it() -> None:
    base = _runs()
    phase = {run for run, spec in base.items() if isinstance(spec, PhaseRun)}
    training_runs = set(base) - {"quadratic"}
    assert _changed(base, _runs({"quadratic": {"chains": 128}})) == {"quadratic"}
    assert _changed(base, _runs({"max_rounds": 20})) == {run for run in phase if "_ctrl" in run}
    assert _changed(base, _runs({"momentum": 0.5})) == training_runs
    fewer = _runs({"control_fractions": [0.5]})  # the ctrl0.25 arms go, nothing else changes
    assert set(base) - set(fewer) == {run for run in phase if "_ctrl0.25_" in run} and not _changed(
        base, fewer
    )
    middle = _runs({"control_phases": [1]})
    assert set(base) - set(middle) == {run for run in phase if run.startswith("phase2_ctrl")}
    grid = _runs(
        {"lrs": [0.04, 0.08, 0.16, 0.32]}
    )  # the grid: its tuning runs, every run that reads the choice
    assert set(base) - set(grid) == {f"tune_allreduce_n{n}_lr0.02" for n in (8, 16, 32)}
    assert _changed(base, grid) == {
        run for run, spec in base.items() if isinstance(spec, ScaleRun | PhaseRun)
    }
    moved = _runs({"phase_workers": 32})
    assert set(base) - set(moved) == phase  # their ids name n
    snapshots = {
        run
        for run, spec in base.items()
        if isinstance(spec, TuneRun | ScaleRun) and spec.n_workers in (16, 32)
    }
    assert _changed(base, moved) == snapshots  # the snapshots move from n = 16 to n = 32


def test_relations_between_keys_are_checked() -> None:
    with pytest.raises(ConfigError, match="control_phases"):
        _runs({"control_phases": [1, 4]})
    with pytest.raises(ConfigError, match="control_phases"):
        _runs({"milestones": [0.5], "control_phases": [1, 3]})
    with pytest.raises(ConfigError, match="control_phases"):
        section("consensus", {"control_phases": [1, 1]})  # the schema: distinct phases
    with pytest.raises(ConfigError, match="n_workers"):
        section("consensus", {"n_workers": [8, 8]})
    with pytest.raises(ConfigError, match="phase_workers"):
        _runs({"phase_workers": 12})
    with pytest.raises(ConfigError, match="lrs"):
        _runs({"lrs": [0.05, 0.05]})


# ------------------------------------------------------------------ warm-up, lr and epochs at every scale


@pytest.mark.parametrize("scale", ["default", "paper"])
def test_the_schedule_starts_at_the_configured_warmup_lr(scale: str) -> None:
    """The engine spec of every training run forwards warmup_from (lr(step 0) is the configured start) and
    grad_clip."""
    cfg = section("consensus") if scale == "default" else _paper()
    shape = (40,) if scale == "default" else (3, 32, 32)
    for spec in studies.runs("consensus", cfg).values():
        if isinstance(spec, QuadraticRun):
            continue
        steps = training.resolve_steps(spec.training, spec.n_workers, 50_000)
        lr = spec.lr if isinstance(spec, TuneRun) else spec.lrs[-1]
        engine = training.engine_spec(spec.training, spec.n_workers, lr, steps, shape)
        schedule = make_schedule(engine)
        assert schedule.lr_at(0) == cfg["warmup_from"]
        assert engine["grad_clip"] == cfg["grad_clip"]  # clipped at default scale, never at paper scale
        warmup = round(cfg["warmup_fraction"] * steps)
        assert warmup > 0 and schedule.lr_at(warmup) == pytest.approx(lr)
    no_ramp = _runs({"warmup_from": 0.0})["tune_allreduce_n8_lr0.02"]
    engine = training.engine_spec(no_ramp.training, 8, 0.1, 1200, (40,))
    assert engine["warmup_from"] is None and make_schedule(engine).lr_at(0) == 0.1


def test_paper_scale_follows_the_papers_lr_rule_and_epochs() -> None:
    """lr 0.05·n (0.8, 1.6, 3.2 for n = 16, 32, 64; no MNIST-1D value), 300 epochs of batch 32 per worker
    on the 50,000 CIFAR-10 images (fewer steps for larger n), a 5-epoch warm-up from 0.1."""
    cfg = _paper()
    assert {n: lr_grid(cfg, n) for n in cfg["n_workers"]} == {16: (0.8,), 32: (1.6,), 64: (3.2,)}
    table = studies.runs("consensus", cfg)
    tune = {spec.n_workers: spec for spec in table.values() if isinstance(spec, TuneRun)}
    steps = {n: training.resolve_steps(spec.training, n, 50_000) for n, spec in tune.items()}
    assert steps == {16: 300 * 97, 32: 300 * 48, 64: 300 * 24}
    assert round(cfg["warmup_fraction"] * steps[16]) == 5 * 97
    t = tune[16].training
    assert (t.dataset, t.normalise, t.augment, t.model["name"], t.model["groups"]) == (
        "cifar10",
        "cifar10",
        "crop_flip",
        "resnet20",
        2,
    )
    assert (t.momentum, t.weight_decay, t.batch_size, t.milestones) == (0.9, 1e-4, 32, (0.5, 0.75))
    assert t.grad_clip == 0  # the papers do not clip gradients
    assert sorted(cfg["control_phases"]) == [1, 2, 3]


# ------------------------------------------------------------------------------- a tiny run of each kind

TINY: dict[str, Any] = {
    "dataset": "digits",
    "valid_size": 200,
    "model": {"name": "small_cnn", "width": 2},
    "n_workers": [2, 4],
    "phase_workers": 4,
    "lrs": [0.05, 0.2],
    "warmup_fraction": 0.25,
    "warmup_from": 0.01,
    "steps": 8,
    "seeds": 2,
    "control_phases": [1],
    "control_fractions": [0.5],
    "max_rounds": 4,
    "eval_every": 4,
    "score_evals": 2,
    "checkpoint_every": 4,
    "quadratic": {"n_workers": 8, "gossip_rounds": [1, 2], "steps": 300, "burn_in": 50, "chains": 8},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Results:
    torch.set_num_threads(1)
    return execute_all("consensus", TINY, tmp_path_factory.mktemp("consensus"))


def _by_id(results: Results, run: str) -> dict[str, Any]:
    (spec,) = [spec for spec in results if spec.id == run]
    return results.metrics(spec)


def _history(results: Results, run: str) -> pd.DataFrame:
    (spec,) = [spec for spec in results if spec.id == run]
    return results.history(spec)


def test_tiny_tuning_chooses_on_validation_and_reuses_the_first_seed(tiny: Results) -> None:
    scores = {
        lr: _by_id(tiny, f"tune_allreduce_n4_lr{lr:g}")["score_valid_local_accuracy"] for lr in (0.05, 0.2)
    }
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    best = max(scores, key=lambda lr: (scores[lr], -list(scores).index(lr)))
    first = _by_id(tiny, "scale_allreduce_n4_s0")
    assert first["lr"] == best and first["reused"] == f"tune_allreduce_n4_lr{best:g}"
    assert first["score_test_local_accuracy"] == _by_id(tiny, first["reused"])["score_test_local_accuracy"]
    assert first["lr_scores"] == {f"{lr:g}": s for lr, s in scores.items()}
    run_dir = tiny.run_dir(next(s for s in tiny if s.id == "scale_allreduce_n4_s0"))
    assert (run_dir / "train_phase2.pt").exists() and (run_dir / "train_phase3.pt").exists()
    second = _by_id(tiny, "scale_allreduce_n4_s1")
    assert second["lr"] == best and "reused" not in second and second["seed"] == training.run_seed(0, 1)
    ring = _by_id(tiny, "scale_ring_n4_s0")
    assert (ring["algorithm"], ring["lr"], ring["seed"]) == (
        "dsgdm_n",
        best,
        derive_seed(0, "consensus", 0) % 2**31,
    )
    assert ring["xi_mean_phase1"] > 0 and first["xi_mean_phase1"] == pytest.approx(0.0)
    assert "score_valid_local_accuracy" not in ring  # only tuning runs evaluate the validation split
    for run in ("tune_allreduce_n2_lr0.05", "scale_ring_n4_s0", "scale_allreduce_n4_s1"):
        history = _history(tiny, run)
        assert history["train_lr"].iloc[0] == 0.01  # the configured warm-up start, at every run
        assert history.loc[history["step"] == 3, "train_lr"].item() == pytest.approx(_by_id(tiny, run)["lr"])


def test_tiny_phase_runs_start_from_their_parents_and_control_gossips(tiny: Results) -> None:
    ring, allreduce = _history(tiny, "scale_ring_n4_s0"), _history(tiny, "scale_allreduce_n4_s0")
    dec1 = _history(tiny, "phase1_dec_n4_s0")
    assert _by_id(tiny, "phase1_dec_n4_s0")["started_from"] == "scale_ring_n4_s0"
    assert np.array_equal(dec1["train_loss"].iloc[:4], ring["train_loss"].iloc[:4])  # the ring up to phase 2
    assert (dec1["train_xi_sq"].iloc[4:] == 0).all()  # all-reduce after phase 1
    dec2 = _history(tiny, "phase2_dec_n4_s1")
    assert _by_id(tiny, "phase2_dec_n4_s1")["started_from"] == "scale_allreduce_n4_s1"
    assert np.array_equal(
        dec2["train_loss"].iloc[:4], _history(tiny, "scale_allreduce_n4_s1")["train_loss"].iloc[:4]
    )
    assert (dec2["train_xi_sq"].iloc[:4] == 0).all() and (dec2["train_xi_sq"].iloc[4:6] > 0).all()
    assert _by_id(tiny, "phase3_dec_n4_s0")["started_from"] == "scale_allreduce_n4_s0"
    assert len(allreduce) == 8
    ctrl = _by_id(tiny, "phase1_ctrl0.5_n4_s0")
    dec = _by_id(tiny, "phase1_dec_n4_s0")
    assert ctrl["started_from"] == "initialisation" and ctrl["reference_run"] == "phase1_dec_n4_s0"
    assert ctrl["xi_reference"] == dec["xi_max_phase1"] > 0
    assert ctrl["target_xi"] == pytest.approx(0.5 * dec["xi_max_phase1"])
    history = _history(tiny, "phase1_ctrl0.5_n4_s0")
    phase1 = history[history["step"] <= 4]
    held = (np.sqrt(phase1["train_xi_sq"]) <= ctrl["target_xi"] * (1 + 1e-6)) | (
        phase1["train_gossip_rounds"] == 4
    )
    assert held.all()  # every step of the phase ends at the target or at max_rounds
    assert ctrl["gossip_rounds_mean_phase1"] > dec["gossip_rounds_mean_phase1"] == 1.0


def test_tiny_quadratic_theory_claims_and_figures(tiny: Results, tmp_path: Path) -> None:
    from analysis import consensus as figures

    quadratic = tiny.metrics(tiny.one(QuadraticRun))
    assert [r["gossip_rounds"] for r in quadratic["records"]] == [1, 2]
    assert quadratic["records"][0]["closed_form"] > quadratic["records"][1]["closed_form"]
    assert tiny.theory["spectral_gaps"].keys() == {"ring_n2", "ring_n4", "ring_n16"}
    rows = {row.claim_id: row for row in claims_of.claims(tiny)}
    assert list(rows) == CLAIM_IDS
    gaps = [
        _by_id(tiny, f"scale_allreduce_n{n}_s{i}")["score_test_local_accuracy"]
        - _by_id(tiny, f"scale_ring_n{n}_s{i}")["score_test_local_accuracy"]
        for i in range(2)
        for n in (4, 2)
    ]
    growth = rows["gap_grows_with_n"]
    assert growth.estimate == pytest.approx(100 * np.mean([gaps[0] - gaps[1], gaps[2] - gaps[3]]))
    assert growth.n == 2 and growth.verdict == "inconclusive"  # fewer than 3 seeds
    assert rows["quadratic_more_gossip_less_xi"].verdict == "holds"
    figures.plot(tiny, tmp_path)
    for stem in figures.CAPTIONS:
        assert (tmp_path / f"{stem}.png").stat().st_size > 0
    with pytest.raises(TypeError):
        study.execute(object(), context(tiny, tiny.one(QuadraticRun)))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ claims from numbers

CLAIM_CFG: dict[str, Any] = {
    "n_workers": [4, 8, 16],
    "phase_workers": 8,
    "seeds": 3,
    "steps": 40,
    "control_fractions": [0.5, 0.25],
}
CLAIM_IDS = [
    "gap_grows_with_n",
    "phase1_control_recovers_half",
    "control_first_beats_last",
    "phase1_gap_exceeds_phase3",
    "xi_drops_at_lr_decay",
    "quadratic_closed_form_matches",
    "quadratic_more_gossip_less_xi",
]
KINDS = {claim_id: "reproduction" for claim_id in CLAIM_IDS[:5]} | {
    "quadratic_closed_form_matches": "check",
    "quadratic_more_gossip_less_xi": "check",
}
ALLREDUCE = 0.90  # every n and seed
RING = {4: [0.88, 0.881, 0.879], 8: [0.85, 0.852, 0.848], 16: [0.80, 0.79, 0.81]}  # per seed
PHASE_ARMS = {
    1: {"dec": [0.80, 0.81, 0.79], "ctrl0.5": [0.84, 0.85, 0.83], "ctrl0.25": [0.87, 0.88, 0.86]},
    2: {"dec": [0.86, 0.861, 0.859], "ctrl0.5": [0.862, 0.863, 0.861], "ctrl0.25": [0.865, 0.866, 0.864]},
    3: {"dec": [0.89, 0.891, 0.889]},
}
XI_DROP = [0.1, 0.12, 0.08]  # Ξ after / before each decay, per seed


def _xi_history(drop: float, steps: int = 40) -> pd.DataFrame:
    """Ξ² piecewise constant: 1 in phase 1, then ×drop² at each decay (steps 20 and 30 of 40)."""
    step = np.arange(1, steps + 1)
    xi_sq = np.where(step <= 20, 1.0, np.where(step <= 30, drop**2, drop**4))
    return pd.DataFrame({"step": step, "train_xi_sq": xi_sq, "train_gossip_rounds": 1.0})


def _write(
    root: Path,
    ring: dict[int, list[float]] = RING,
    arms: dict[int, dict[str, list[float]]] = PHASE_ARMS,
    xi_drop: list[float] = XI_DROP,
    quadratic_error: float = 0.01,
    quadratic_stderr: float = 1e-4,
    diverged: tuple[str, ...] = (),
    **overrides: Any,
) -> Results:
    """Fake records of every run of CLAIM_CFG (with ``overrides``): the numbers claims and figures read.

    A run whose id is in ``diverged`` is recorded as diverged (no score)."""
    results = study_results("consensus", {**CLAIM_CFG, **overrides}, root)
    for spec in results:
        metrics: dict[str, Any]
        if isinstance(spec, TuneRun):
            metrics = {"score_valid_local_accuracy": 0.9 - abs(spec.lr - 0.05), "lr": spec.lr}
            history = _xi_history(1.0).assign(train_xi_sq=0.0)
        elif isinstance(spec, ScaleRun):
            s = spec.seed_index
            accuracy = ALLREDUCE if spec.algorithm == "allreduce" else ring[spec.n_workers][s]
            metrics = {"score_test_local_accuracy": accuracy, "n_workers": spec.n_workers, "lr": 0.05}
            metrics |= {"steps": 40, "boundaries": [20, 30]}
            if spec.id in diverged:
                metrics = {"diverged": 1.0, "diverged_at_step": 5.0, "n_workers": spec.n_workers}
            history = _xi_history(xi_drop[s])
        elif isinstance(spec, PhaseRun):
            metrics = {
                "score_test_local_accuracy": arms[spec.phase][spec.arm][spec.seed_index],
                f"gossip_rounds_mean_phase{spec.phase}": 1.0
                if spec.fraction is None
                else 1.0 / spec.fraction,
            }
            if spec.fraction is not None:
                metrics["target_xi"] = spec.fraction
            history = _xi_history(0.1)
        else:
            records = [
                {
                    "gossip_rounds": rounds,
                    "closed_form": 1.0 / rounds,
                    "closed_form_b_averaged": 1.1 / rounds,
                    "simulated": (1.0 + quadratic_error) / rounds,
                    "simulated_stderr": quadratic_stderr / rounds,
                }
                for rounds in (1, 2, 4, 8)
            ]
            metrics = {"records": records, "max_rel_error": quadratic_error}
            step = np.arange(1, 11)
            history = pd.concat(
                [pd.DataFrame({"gossip_rounds": r, "step": step, "xi_sq": 1.0 / r}) for r in (1, 2, 4, 8)]
            )
        record_run(results.run_dir(spec), metrics, history, config={"spec": spec.to_dict()})
    return results


def _rows(root: Path, **change: Any) -> dict[str, Claim]:
    return {row.claim_id: row for row in claims_of.claims(_write(root, **change))}


def test_claims_hold_on_good_numbers(tmp_path: Path) -> None:
    from analysis import consensus as figures

    rows = _rows(tmp_path)
    assert list(rows) == CLAIM_IDS
    assert {claim_id: row.kind for claim_id, row in rows.items()} == KINDS
    assert all(row.study == "consensus" and row.scale == "smoke" for row in rows.values())
    not_holding = [
        (row.claim_id, row.verdict, row.estimate) for row in rows.values() if row.verdict != "holds"
    ]
    assert not not_holding, not_holding
    assert all(row.n == 3 for claim_id, row in rows.items() if KINDS[claim_id] == "reproduction")
    assert rows["gap_grows_with_n"].estimate == pytest.approx(np.mean([8.0, 9.1, 6.9]))
    assert rows["phase1_control_recovers_half"].estimate == pytest.approx(7.0 / 10.0)
    assert rows["control_first_beats_last"].estimate == pytest.approx(7.0 - 0.5)  # phase 1 vs phase 2
    assert rows["phase1_gap_exceeds_phase3"].estimate == pytest.approx(9.0)
    assert rows["xi_drops_at_lr_decay"].estimate == pytest.approx(np.exp(np.mean(np.log(XI_DROP))))
    assert rows["quadratic_closed_form_matches"].estimate == pytest.approx(0.01)
    assert rows["quadratic_more_gossip_less_xi"].estimate == 0
    assert "n = 16" in rows["gap_grows_with_n"].claim
    assert "0.25·Ξ_max" in rows["phase1_control_recovers_half"].claim
    assert "phase 2" in rows["control_first_beats_last"].claim
    for row in rows.values():
        assert row.ci_low <= row.estimate <= row.ci_high, row
        assert row.evidence.startswith("figures/smoke/consensus/")
        assert Path(row.evidence).stem in figures.CAPTIONS
        if row.kind == "reproduction":
            assert row.paper_value and row.paper_source and row.note
        assert "papers/" not in row.paper_source + row.note + row.claim and "§" not in row.paper_source


def test_the_decay_windows_are_past_the_transient() -> None:
    """The second half of each phase: a Ξ spike right after a decay does not enter the comparison."""
    assert claims_of.decay_windows(40, [20, 30]) == [((11, 20), (26, 30)), ((26, 30), (36, 40))]
    assert claims_of.phase_spans(1200, [600, 900]) == [(1, 600), (601, 900), (901, 1200)]


STRADDLE = {
    "gap_grows_with_n": {"ring": {**RING, 16: [0.90, 0.86, 0.89]}},  # growth −2, +2.1, −1.1 points
    "phase1_control_recovers_half": {
        "arms": {**PHASE_ARMS, 1: {**PHASE_ARMS[1], "ctrl0.25": [0.87, 0.81, 0.835]}}  # 0.7, 0.0, 0.45
    },
    "control_first_beats_last": {
        "arms": {**PHASE_ARMS, 1: {**PHASE_ARMS[1], "ctrl0.25": [0.83, 0.80, 0.80]}}  # 2.5, −1.5, 0.5
    },
    "phase1_gap_exceeds_phase3": {
        "arms": {**PHASE_ARMS, 3: {"dec": [0.82, 0.79, 0.80]}}  # 2, −2, 1 points
    },
    "xi_drops_at_lr_decay": {"xi_drop": [0.3, 0.7, 0.5]},
    "quadratic_closed_form_matches": {"quadratic_error": 0.04, "quadratic_stderr": 0.01},
}
OTHER_SIDE = {
    "gap_grows_with_n": {"ring": {**RING, 16: [0.895, 0.90, 0.897]}},  # the gap shrinks on every seed
    "phase1_control_recovers_half": {
        "arms": {**PHASE_ARMS, 1: {**PHASE_ARMS[1], "ctrl0.25": [0.81, 0.815, 0.805]}}
    },
    "control_first_beats_last": {
        "arms": {**PHASE_ARMS, 2: {**PHASE_ARMS[2], "ctrl0.25": [0.99, 0.991, 0.989]}}
    },
    "phase1_gap_exceeds_phase3": {"arms": {**PHASE_ARMS, 3: {"dec": [0.70, 0.71, 0.69]}}},
    "xi_drops_at_lr_decay": {"xi_drop": [0.9, 0.95, 0.85]},
    "quadratic_closed_form_matches": {"quadratic_error": 0.2},
}
COUPLED = {  # claims that read the numbers a scenario changes
    "phase1_control_recovers_half": {"control_first_beats_last"},
    "control_first_beats_last": {"phase1_control_recovers_half"},
    "phase1_gap_exceeds_phase3": {"control_first_beats_last"},
}


def _others_hold(rows: dict[str, Claim], claim_id: str) -> None:
    others = {k: row.verdict for k, row in rows.items() if k not in COUPLED.get(claim_id, set())}
    assert set(others.values()) == {"holds"}, others


@pytest.mark.parametrize("claim_id", list(STRADDLE))
def test_an_interval_across_the_threshold_is_inconclusive(tmp_path: Path, claim_id: str) -> None:
    rows = _rows(tmp_path, **STRADDLE[claim_id])
    row = rows.pop(claim_id)
    assert row.verdict == "inconclusive", row
    assert row.ci_low < row.threshold < row.ci_high or math.isnan(row.ci_low)
    _others_hold(rows, claim_id)


@pytest.mark.parametrize("claim_id", list(OTHER_SIDE))
def test_an_interval_on_the_other_side_fails(tmp_path: Path, claim_id: str) -> None:
    rows = _rows(tmp_path, **OTHER_SIDE[claim_id])
    assert rows.pop(claim_id).verdict == "fails"
    _others_hold(rows, claim_id)


def test_a_quadratic_that_does_not_fall_with_gossip_fails_its_check(tmp_path: Path) -> None:
    results = _write(tmp_path)
    path = results.metrics_path(results.one(QuadraticRun))
    record = json.loads(path.read_text())
    record["metrics"]["records"][-1]["simulated"] = 1.0  # more gossip, larger simulated E Ξ²
    path.write_text(json.dumps(record))
    rows = {row.claim_id: row for row in claims_of.claims(results)}
    assert rows["quadratic_more_gossip_less_xi"].estimate == 1
    assert rows["quadratic_more_gossip_less_xi"].verdict == "fails"


def test_fewer_than_three_seeds_are_inconclusive(tmp_path: Path) -> None:
    rows = _rows(tmp_path, seeds=2)
    for claim_id in CLAIM_IDS[:5]:
        assert rows[claim_id].n == 2 and rows[claim_id].verdict == "inconclusive", rows[claim_id]
    assert rows["quadratic_closed_form_matches"].verdict == "holds"  # an interval over chains, not seeds


def test_a_diverged_run_is_excluded_and_said_so(tmp_path: Path) -> None:
    rows = _rows(tmp_path, diverged=("scale_ring_n16_s2",))
    growth = rows["gap_grows_with_n"]
    assert growth.n == 2 and growth.verdict == "inconclusive"
    assert "1 missing or diverged excluded" in growth.method
    assert rows["phase1_control_recovers_half"].verdict == "holds"  # phase runs are unaffected


def test_one_control_phase_leaves_the_phase_comparison_undefined(tmp_path: Path) -> None:
    rows = _rows(tmp_path, control_phases=[1])
    assert math.isnan(rows["control_first_beats_last"].estimate)
    assert rows["control_first_beats_last"].verdict == "inconclusive"
    assert rows["phase1_control_recovers_half"].verdict == "holds"


def test_figures_from_records_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from analysis import consensus as figures
    from analysis import style

    texts: dict[str, list[str]] = {}
    save = style.save

    def recording_save(fig: Any, out: Path, stem: str) -> None:
        texts[stem] = [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]
        save(fig, out, stem)

    monkeypatch.setattr(style, "save", recording_save)
    results = _write(tmp_path)
    out = tmp_path / "figures"
    figures.plot(results, out)
    assert list(texts) == list(figures.CAPTIONS)
    for stem in figures.CAPTIONS:
        assert (out / f"{stem}.png").stat().st_size > 0
        assert (out / f"{stem}.pdf").stat().st_size > 0
    everything = " ".join(t for stem in texts for t in texts[stem])
    for raw in ("ctrl0.25", "ctrl0.5", "dsgdm_n", "allreduce_sgdm_n", "scale_ring", "tune_"):
        assert raw not in everything, raw
    assert {"Ξ ≤ 0.5·Ξ_max", "Ξ ≤ 0.25·Ξ_max", "uncontrolled"} <= set(texts["xi_curves"])
    assert style.ACCURACY_LABEL in texts["accuracy_vs_n"]
    table = pd.read_csv(out / "phase_table.csv")
    phase1 = table[(table["phase"] == 1) & (table["target"] == "0.25·Ξ_max")].iloc[0]
    assert phase1["delta_points"] == pytest.approx(-3.0) and phase1[
        "gossip_rounds_per_step"
    ] == pytest.approx(4.0)


def test_a_reference_without_the_phase_fails_except_in_a_step_limited_check(tmp_path: Path) -> None:
    from pipeline.core.engine import step_limit
    from pipeline.core.study import RunContext

    (tmp_path / "ref").mkdir()
    record = {"metrics": {"xi_max_phase1": 0.5, "xi_max_phase3": None}}  # NaN is written as null
    (tmp_path / "ref" / "metrics.json").write_text(json.dumps(record))
    ctx = RunContext("consensus", 0, "paper", "cpu", tmp_path / "ctrl", tmp_path, tmp_path)
    assert training._phase_xi_max(ctx, "ref", 1) == 0.5
    with pytest.raises(RuntimeError, match="no Ξ in phase 3"):
        training._phase_xi_max(ctx, "ref", 3)
    with step_limit(2):
        assert math.isnan(training._phase_xi_max(ctx, "ref", 3))
