"""The consensus study: the run table (typed specs, per-run re-runs), a tiny execution of every run kind,
claims computed from numbers (a bad number breaks its claim) and figures from stored records only
(papers/consensus.md §2.4, §5)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.records import execute_all, record_run, study_results

from pipeline import studies
from pipeline.consensus import claims as claims_of
from pipeline.consensus.runs import PhaseRun, QuadraticRun, ScaleRun
from pipeline.consensus.training import run_seed
from pipeline.core.config import ConfigError, section
from pipeline.core.seeding import derive_seed
from pipeline.results import Results


def _runs(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    return studies.runs("consensus", section("consensus", overrides))


def _changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {run for run in before if run in after and before[run] != after[run]}


# ------------------------------------------------------------------------------------------ run table


def test_runs_are_typed_specs_with_todays_ids() -> None:
    table = _runs()
    scale = [f"scale_{a}_n{n}_s{i}" for n in (8, 16, 32) for a in ("allreduce", "ring") for i in range(3)]
    phase = [f"phase{k}_n16_s{i}" for k in (1, 2, 3) for i in range(3)]
    assert list(table) == [*scale, *phase, "quadratic"]
    assert {type(spec) for spec in table.values()} == {ScaleRun, PhaseRun, QuadraticRun}
    assert "pipeline/decentralized/runner.py" in studies.code_paths("consensus")
    assert studies.has_theory("consensus")
    assert studies.datasets("consensus", section("consensus")) == ["mnist1d"]
    fractions = {spec.phase: spec.control_fractions for spec in table.values() if isinstance(spec, PhaseRun)}
    assert fractions == {1: (0.5, 0.25), 2: (), 3: (0.5, 0.25)}  # control arms only in control_phases
    ring = table["scale_ring_n32_s2"]
    assert (ring.algorithm, ring.n_workers, ring.seed_index, ring.training.steps) == ("ring", 32, 2, 300)


def test_spec_json_round_trips() -> None:
    for spec in _runs().values():
        assert studies.spec_from_dict("consensus", json.loads(json.dumps(spec.to_dict()))) == spec


def test_changing_phase_workers_changes_only_phase_specs() -> None:
    base, after = _runs(), _runs({"phase_workers": 32})
    phase = {run for run, spec in base.items() if isinstance(spec, PhaseRun)}
    assert set(base) - set(after) == phase  # their ids name n
    assert set(after) - set(base) == {run.replace("_n16_", "_n32_") for run in phase}
    assert all(after[run] == spec for run, spec in base.items() if run not in phase)


def test_adding_a_seed_adds_only_its_specs() -> None:
    base, after = _runs({"seeds": 3}), _runs({"seeds": 4})
    added = set(after) - set(base)
    assert added == {run for run, spec in after.items() if getattr(spec, "seed_index", None) == 3}
    assert len(added) == 3 * 2 + 3
    assert all(after[run] == spec for run, spec in base.items())


def test_changing_one_key_changes_exactly_the_specs_that_read_it() -> None:
    base = _runs()
    assert _changed(base, _runs({"quadratic": {"chains": 128}})) == {"quadratic"}
    controlled = {run for run, spec in base.items() if isinstance(spec, PhaseRun) and spec.phase in (1, 3)}
    assert _changed(base, _runs({"control_fractions": [0.5]})) == controlled
    assert _changed(base, _runs({"control_phases": [1]})) == {r for r in controlled if r.startswith("phase3")}
    assert _changed(base, _runs({"lr": 0.05})) == set(base) - {"quadratic"}


def test_relations_between_keys_are_checked() -> None:
    with pytest.raises(ConfigError, match="control_phases"):
        _runs({"control_phases": [1, 4]})
    with pytest.raises(ConfigError, match="control_phases"):
        _runs({"milestones": [0.5], "control_phases": [1, 3]})
    with pytest.raises(ConfigError, match="control_phases"):
        section("consensus", {"control_phases": [1, 1]})  # the schema: distinct phases
    with pytest.raises(ConfigError, match="n_workers"):
        section("consensus", {"n_workers": [8, 8]})


# ------------------------------------------------------------------------------- a tiny run of each kind

TINY: dict[str, Any] = {
    "dataset": "digits",
    "model": {"name": "small_cnn", "width": 2},
    "n_workers": [2, 4],
    "phase_workers": 4,
    "steps": 8,
    "seeds": 1,
    "control_phases": [1],
    "control_fractions": [0.5],
    "max_rounds": 4,
    "eval_every": 0,
    "checkpoint_every": 4,
    "quadratic": {"n_workers": 8, "gossip_rounds": [1, 2], "steps": 300, "burn_in": 50, "chains": 8},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Results:
    torch.set_num_threads(1)
    return execute_all("consensus", TINY, tmp_path_factory.mktemp("consensus"))


def test_tiny_runs_record_their_arms(tiny: Results) -> None:
    seed = derive_seed(0, "consensus", 0) % 2**31
    assert run_seed(0, 0) == seed
    ring = tiny.metrics(tiny.one(ScaleRun, algorithm="ring", n_workers=4))
    assert (ring["algorithm"], ring["n_workers"], ring["seed"], ring["steps"]) == ("dsgdm_n", 4, seed, 8)
    assert {"xi_mean_phase1", "xi_mean_phase3", "gossip_rounds_mean_phase1"} <= set(ring)
    allreduce = tiny.metrics(tiny.one(ScaleRun, algorithm="allreduce", n_workers=2))
    assert allreduce["algorithm"] == "allreduce_sgdm_n" and allreduce["xi_mean_phase1"] == pytest.approx(0.0)
    phase1 = tiny.metrics(tiny.one(PhaseRun, phase=1))
    assert set(phase1["arms"]) == {"dec", "ctrl0.5"} and phase1["seed"] == seed
    assert phase1["xi_reference"] == phase1["arms"]["dec"]["xi_mean_phase1"] > 0
    assert phase1["arms"]["ctrl0.5"]["target_xi"] == pytest.approx(0.5 * phase1["xi_reference"])
    assert phase1["arms"]["ctrl0.5"]["gossip_rounds_mean_phase1"] > 1  # control gossips more
    assert set(tiny.metrics(tiny.one(PhaseRun, phase=2))["arms"]) == {"dec"}
    history = tiny.history(tiny.one(PhaseRun, phase=1))
    assert set(history["arm"]) == {"dec", "ctrl0.5"} and len(history) == 2 * 8
    assert (tiny.run_dir(tiny.one(PhaseRun, phase=1)) / "ctrl0.5.pt").exists()
    quadratic = tiny.metrics(tiny.one(QuadraticRun))
    assert [r["gossip_rounds"] for r in quadratic["records"]] == [1, 2]
    assert quadratic["records"][0]["closed_form"] > quadratic["records"][1]["closed_form"]
    theory = tiny.theory
    assert theory["spectral_gaps"].keys() == {"ring_n2", "ring_n4", "ring_n16"}


def test_claims_and_figures_of_the_tiny_runs(tiny: Results, tmp_path: Path) -> None:
    from analysis import consensus as figures

    rows = claims_of.claims(tiny)
    assert [row.claim_id for row in rows] == CLAIM_IDS
    measured = {row.claim_id: row.measured for row in rows}
    accuracy = {
        (spec.algorithm, spec.n_workers): tiny.metrics(spec)["test_local_accuracy"]
        for spec in tiny.select(ScaleRun)
    }
    gaps = [accuracy[("allreduce", n)] - accuracy[("ring", n)] for n in (2, 4)]
    assert measured["gap_grows_with_n"] == pytest.approx(gaps[1] - gaps[0])
    figures.plot(tiny, tmp_path)
    for stem in figures.CAPTIONS:
        assert (tmp_path / f"{stem}.png").stat().st_size > 0


# ------------------------------------------------------------------------------------ claims from numbers

CLAIM_CFG: dict[str, Any] = {"n_workers": [4, 8, 16], "phase_workers": 8, "seeds": 2, "steps": 40}
CLAIM_IDS = [
    "gap_grows_with_n",
    "phase1_control_recovers_half",
    "control_first_beats_last",
    "phase1_gap_exceeds_phase3",
    "xi_drops_at_lr_decay",
    "quadratic_closed_form_matches",
    "quadratic_more_gossip_less_xi",
]
RING = {4: 0.88, 8: 0.85, 16: 0.80}  # all-reduce: 0.90 at every n
ARMS = {
    1: {"dec": 0.80, "ctrl0.5": 0.84, "ctrl0.25": 0.87},
    2: {"dec": 0.86},
    3: {"dec": 0.89, "ctrl0.5": 0.89},
}
ARMS[3]["ctrl0.25"] = 0.895


def _xi_history(steps: int = 40) -> pd.DataFrame:
    step = np.arange(1, steps + 1)
    xi_sq = np.where(step <= 20, 1.0, np.where(step <= 30, 1e-2, 1e-4))  # Ξ drops ×10 at each decay
    return pd.DataFrame({"step": step, "train_xi_sq": xi_sq, "train_gossip_rounds": 1.0})


def _write(
    root: Path, ring: dict[int, float] = RING, quadratic_error: float = 0.01, **overrides: Any
) -> Results:
    """Fake records of every run of CLAIM_CFG (with ``overrides``): the numbers claims and figures read."""
    results = study_results("consensus", {**CLAIM_CFG, **overrides}, root)
    for spec in results:
        if isinstance(spec, ScaleRun):
            accuracy = 0.90 if spec.algorithm == "allreduce" else ring[spec.n_workers]
            metrics = {"test_local_accuracy": accuracy + 0.001 * spec.seed_index, "n_workers": spec.n_workers}
            history = _xi_history().assign(arm=spec.algorithm)
        elif isinstance(spec, PhaseRun):
            arms = {arm: {"test_local_accuracy": value} for arm, value in ARMS[spec.phase].items()}
            metrics = {"n_workers": spec.n_workers, "phase": spec.phase, "arms": arms, "xi_reference": 1.0}
            history = pd.concat([_xi_history().assign(arm=arm) for arm in arms], ignore_index=True)
        else:
            records = [
                {
                    "gossip_rounds": rounds,
                    "closed_form": 1.0 / rounds,
                    "closed_form_b_averaged": 1.1 / rounds,
                    "simulated": (1.0 + quadratic_error) / rounds,
                    "simulated_stderr": 0.01,
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


def test_claims_hold_on_good_numbers(tmp_path: Path) -> None:
    rows = claims_of.claims(_write(tmp_path))
    assert [row.claim_id for row in rows] == CLAIM_IDS
    assert all(row.study == "consensus" and row.scale == "smoke" for row in rows)
    assert all(row.evidence.startswith("figures/smoke/consensus/") for row in rows)
    failing = [(row.claim_id, row.measured) for row in rows if not row.holds]
    assert not failing, failing
    measured = {row.claim_id: row.measured for row in rows}
    assert measured["gap_grows_with_n"] == pytest.approx(0.03)  # gaps 0.02, 0.05, 0.10
    assert measured["phase1_control_recovers_half"] == pytest.approx(0.07 / (0.9005 - 0.80))
    assert measured["control_first_beats_last"] == pytest.approx(0.07 - 0.005)
    assert measured["xi_drops_at_lr_decay"] == pytest.approx(0.1)
    assert "n = [4, 8, 16]" in rows[0].claim and "0.25·Ξ_ref" in rows[1].claim


@pytest.mark.parametrize(
    ("change", "claim_id"),
    [
        ({"ring": {4: 0.80, 8: 0.85, 16: 0.80}}, "gap_grows_with_n"),
        ({"quadratic_error": 0.2}, "quadratic_closed_form_matches"),
    ],
)
def test_a_bad_number_breaks_its_claim(tmp_path: Path, change: dict[str, Any], claim_id: str) -> None:
    verdicts = {row.claim_id: row.holds for row in claims_of.claims(_write(tmp_path, **change))}
    assert verdicts.pop(claim_id) is False
    assert all(verdicts.values()), verdicts


def test_without_an_all_reduce_run_of_phase_workers_the_phase_claims_cannot_hold(tmp_path: Path) -> None:
    """phase_workers outside n_workers: no all-reduce reference and no ring Ξ curve at that n (NaN)."""
    rows = {row.claim_id: row for row in claims_of.claims(_write(tmp_path, phase_workers=6))}
    for claim_id in ("phase1_control_recovers_half", "xi_drops_at_lr_decay"):
        assert math.isnan(rows[claim_id].measured) and rows[claim_id].holds is False
    assert rows["control_first_beats_last"].holds


def test_figures_from_records_only(tmp_path: Path) -> None:
    from analysis import consensus as figures

    results = _write(tmp_path)
    out = tmp_path / "figures"
    figures.plot(results, out)
    for stem in figures.CAPTIONS:
        assert (out / f"{stem}.png").stat().st_size > 0
        assert (out / f"{stem}.pdf").stat().st_size > 0
