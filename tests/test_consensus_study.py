"""The consensus study: the run table (typed specs, per-run re-runs), a tiny execution of every run kind,
claims computed from per-seed numbers (verdicts from their intervals: holds, inconclusive, fails) and
figures from stored records only."""

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
from helpers.records import execute_all, record_run, study_results

from pipeline import studies
from pipeline.consensus import claims as claims_of
from pipeline.consensus.runs import PhaseRun, QuadraticRun, ScaleRun
from pipeline.consensus.training import run_seed
from pipeline.core.claims import Claim
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

    rows = {row.claim_id: row for row in claims_of.claims(tiny)}
    assert list(rows) == CLAIM_IDS
    accuracy = {
        (spec.algorithm, spec.n_workers): tiny.metrics(spec)["test_local_accuracy"]
        for spec in tiny.select(ScaleRun)
    }
    gaps = [accuracy[("allreduce", n)] - accuracy[("ring", n)] for n in (2, 4)]
    growth = rows["gap_grows_with_n"]
    assert growth.estimate == pytest.approx(100 * (gaps[1] - gaps[0])) and growth.n == 1
    assert growth.verdict == "inconclusive"  # one seed: no interval
    assert rows["quadratic_more_gossip_less_xi"].verdict == "holds"
    figures.plot(tiny, tmp_path)
    for stem in figures.CAPTIONS:
        assert (tmp_path / f"{stem}.png").stat().st_size > 0


# ------------------------------------------------------------------------------------ claims from numbers

CLAIM_CFG: dict[str, Any] = {"n_workers": [4, 8, 16], "phase_workers": 8, "seeds": 3, "steps": 40}
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
ARMS = {
    1: {"dec": [0.80, 0.81, 0.79], "ctrl0.5": [0.84, 0.85, 0.83], "ctrl0.25": [0.87, 0.875, 0.865]},
    2: {"dec": [0.86, 0.861, 0.859]},
    3: {"dec": [0.89, 0.891, 0.889], "ctrl0.5": [0.89, 0.891, 0.889], "ctrl0.25": [0.895, 0.896, 0.894]},
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
    arms: dict[int, dict[str, list[float]]] = ARMS,
    xi_drop: list[float] = XI_DROP,
    quadratic_error: float = 0.01,
    quadratic_stderr: float = 1e-4,
    diverged: tuple[str, ...] = (),
    **overrides: Any,
) -> Results:
    """Fake records of every run of CLAIM_CFG (with ``overrides``): the numbers claims and figures read.

    A run whose id is in ``diverged`` is recorded as diverged (no test accuracy)."""
    results = study_results("consensus", {**CLAIM_CFG, **overrides}, root)
    for spec in results:
        if isinstance(spec, ScaleRun):
            s = spec.seed_index
            accuracy = ALLREDUCE if spec.algorithm == "allreduce" else ring[spec.n_workers][s]
            metrics: dict[str, Any] = {"test_local_accuracy": accuracy, "n_workers": spec.n_workers}
            if spec.id in diverged:
                metrics = {"diverged": 1.0, "diverged_at_step": 5.0, "n_workers": spec.n_workers}
            history = _xi_history(xi_drop[s]).assign(arm=spec.algorithm)
        elif isinstance(spec, PhaseRun):
            values = {arm: {"test_local_accuracy": v[spec.seed_index]} for arm, v in arms[spec.phase].items()}
            for arm in values:
                if arm != "dec":
                    values[arm]["target_xi"] = float(arm.removeprefix("ctrl"))
            metrics = {"n_workers": spec.n_workers, "phase": spec.phase, "arms": values, "xi_reference": 1.0}
            history = pd.concat([_xi_history(0.1).assign(arm=arm) for arm in values], ignore_index=True)
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
    assert rows["control_first_beats_last"].estimate == pytest.approx(7.0 - 0.5)
    assert rows["phase1_gap_exceeds_phase3"].estimate == pytest.approx(9.0)
    assert rows["xi_drops_at_lr_decay"].estimate == pytest.approx(np.exp(np.mean(np.log(XI_DROP))))
    assert rows["quadratic_closed_form_matches"].estimate == pytest.approx(0.01)
    assert rows["quadratic_more_gossip_less_xi"].estimate == 0
    assert (
        "n = 16" in rows["gap_grows_with_n"].claim
        and "0.25·Ξ_ref" in rows["phase1_control_recovers_half"].claim
    )
    for row in rows.values():
        assert row.ci_low <= row.estimate <= row.ci_high, row
        assert row.evidence.startswith("figures/smoke/consensus/")
        assert Path(row.evidence).stem in figures.CAPTIONS
        if row.kind == "reproduction":
            assert row.paper_value and row.paper_source and row.note
        assert "papers/" not in row.paper_source + row.note + row.claim and "§" not in row.paper_source


STRADDLE = {
    "gap_grows_with_n": {"ring": {**RING, 16: [0.90, 0.86, 0.89]}},  # growth −2, +2.1, −1.1 points
    "phase1_control_recovers_half": {
        "arms": {**ARMS, 1: {**ARMS[1], "ctrl0.25": [0.87, 0.81, 0.835]}}  # recovered 0.7, 0.0, 0.45
    },
    "control_first_beats_last": {
        "arms": {**ARMS, 1: {**ARMS[1], "ctrl0.25": [0.83, 0.80, 0.80]}}  # gain1 − gain3 = 2.5, −1.5, 0.5
    },
    "phase1_gap_exceeds_phase3": {
        "arms": {**ARMS, 3: {**ARMS[3], "dec": [0.82, 0.79, 0.80]}}  # 2, −2, 1 points
    },
    "xi_drops_at_lr_decay": {"xi_drop": [0.3, 0.7, 0.5]},
    "quadratic_closed_form_matches": {"quadratic_error": 0.04, "quadratic_stderr": 0.01},
}
OTHER_SIDE = {
    "gap_grows_with_n": {"ring": {**RING, 16: [0.895, 0.90, 0.897]}},  # the gap shrinks on every seed
    "phase1_control_recovers_half": {"arms": {**ARMS, 1: {**ARMS[1], "ctrl0.25": [0.81, 0.815, 0.805]}}},
    "control_first_beats_last": {"arms": {**ARMS, 3: {**ARMS[3], "ctrl0.25": [0.99, 0.991, 0.989]}}},
    "phase1_gap_exceeds_phase3": {"arms": {**ARMS, 3: {**ARMS[3], "dec": [0.70, 0.71, 0.69]}}},
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


def test_without_an_all_reduce_run_of_phase_workers_the_phase_claims_are_inconclusive(tmp_path: Path) -> None:
    """phase_workers outside n_workers: no all-reduce reference and no ring Ξ curve at that n (NaN)."""
    rows = _rows(tmp_path, phase_workers=6)
    for claim_id in ("phase1_control_recovers_half", "xi_drops_at_lr_decay"):
        assert math.isnan(rows[claim_id].estimate) and rows[claim_id].verdict == "inconclusive"
    assert rows["control_first_beats_last"].verdict == "holds"


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
    for raw in ("ctrl0.25", "ctrl0.5", "dsgdm_n", "allreduce_sgdm_n", "scale_ring"):
        assert raw not in everything, raw
    entries = {t for stem in texts for t in texts[stem]}
    assert not entries & {"controlled", "setting", "True", "False", "arm"}  # no raw seaborn legend
    assert {"Ξ ≤ 0.5·Ξ_ref", "Ξ ≤ 0.25·Ξ_ref", "uncontrolled"} <= set(texts["xi_curves"])
    assert style.ACCURACY_LABEL in texts["accuracy_vs_n"]
