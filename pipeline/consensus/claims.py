"""The consensus study's claims, computed from seed means of the stored runs (see runs.py).

Accuracies are ``test_local_accuracy`` (mean over the local models). The phase claims compare the arms of
the dec-phase-k runs with the all-reduce run of the same n (``phase_workers``).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from pipeline.consensus.runs import ALGORITHMS, PhaseRun, QuadraticRun, ScaleRun, fraction_label, phases
from pipeline.core.claims import Claim, claim_maker
from pipeline.results import Results

STUDY = "consensus"
ACCURACY = "test_local_accuracy"


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def summarise(results: Results) -> dict[str, Any]:
    """Seed means of the accuracies the claims use: ``scale[(algorithm, n)]``, ``phase[(k, arm)]``."""
    section = results.section
    out: dict[str, Any] = {"scale": {}, "phase": {}}
    for n in section["n_workers"]:
        for algorithm in ALGORITHMS:
            specs = results.select(ScaleRun, algorithm=algorithm, n_workers=n)
            out["scale"][(algorithm, n)] = _mean([results.metrics(s).get(ACCURACY, math.nan) for s in specs])
    for k in phases(section):
        runs = [results.metrics(s) for s in results.select(PhaseRun, phase=k)]
        for arm in runs[0]["arms"]:
            out["phase"][(k, arm)] = _mean([r["arms"][arm].get(ACCURACY, math.nan) for r in runs])
    out["allreduce_N"] = out["scale"].get(("allreduce", section["phase_workers"]), math.nan)
    return out


def decay_drop(results: Results, window: int = 100) -> float:
    """Max over decays and seeds of mean Ξ after / before an lr decay (uncontrolled ring, phase_workers)."""
    ratios = []
    for spec in results.select(ScaleRun, algorithm="ring", n_workers=results.section["phase_workers"]):
        steps = spec.training.steps
        boundaries = [round(f * steps) for f in spec.training.milestones]
        history = results.history(spec)
        xi = np.sqrt(history.dropna(subset=["train_xi_sq"]).set_index("step")["train_xi_sq"])
        for boundary in boundaries:
            w = min(window, boundary // 2, (steps - boundary) // 2 if boundary < steps else window)
            before = xi[(xi.index > boundary - w) & (xi.index <= boundary)].mean()
            after = xi[(xi.index > boundary) & (xi.index <= boundary + w)].mean()
            ratios.append(after / before)
    return float(np.max(ratios)) if ratios else math.nan


def claims(results: Results) -> list[Claim]:
    """The issue's claims (consensus.md §2.4, §5), each with a verdict computed from the stored metrics."""
    section = results.section
    s = summarise(results)
    N = section["phase_workers"]
    ns = sorted(section["n_workers"])
    gaps = [s["scale"][("allreduce", n)] - s["scale"][("ring", n)] for n in ns]
    growth = min(b - a for a, b in itertools.pairwise(gaps)) if len(gaps) > 1 else math.nan
    fraction = min(section["control_fractions"])
    tightest = fraction_label(fraction)
    ar = s["allreduce_N"]

    def gain(k: int) -> float:
        return s["phase"].get((k, tightest), math.nan) - s["phase"].get((k, "dec"), math.nan)

    first, last = min(section["control_phases"]), max(section["control_phases"])
    gap1 = ar - s["phase"].get((1, "dec"), math.nan)
    recovered = gain(first) / gap1 if gap1 > 0 else math.nan
    q = results.metrics(results.one(QuadraticRun))
    decreasing = all(
        a["closed_form"] > b["closed_form"] and a["simulated"] > b["simulated"]
        for a, b in zip(q["records"], q["records"][1:], strict=False)
    )
    claim = claim_maker(STUDY, results.scale)
    return [
        claim(
            "gap_grows_with_n",
            f"the gap acc(all-reduce) − acc(ring D-SGD) grows with n over n = {ns} (measured: the "
            "smallest increase between consecutive n, in accuracy points ×1)",
            growth,
            "> 0",
            results.figure_path("accuracy_vs_n"),
        ),
        claim(
            "phase1_control_recovers_half",
            f"controlling Ξ in phase {first} to {fraction:g}·Ξ_ref recovers at least "
            f"half of the dec-phase-{first} gap to all-reduce (n = {N}; fraction recovered)",
            recovered,
            ">= 0.5",
            results.figure_path("phase_control"),
        ),
        claim(
            "control_first_beats_last",
            f"controlling Ξ in phase {first} gains more accuracy than controlling it in phase {last} "
            "(gain difference, accuracy ×1)",
            gain(first) - gain(last),
            "> 0",
            results.figure_path("phase_control"),
        ),
        claim(
            "phase1_gap_exceeds_phase3",
            "decentralized training only in phase 1 costs more accuracy than only in the last phase "
            "(acc(dec-phase-last) − acc(dec-phase-1))",
            s["phase"].get((phases(section)[-1], "dec"), math.nan) - s["phase"].get((1, "dec"), math.nan),
            "> 0",
            results.figure_path("phase_control"),
        ),
        claim(
            "xi_drops_at_lr_decay",
            "Ξ drops at each lr decay: mean Ξ after / before each decay (worst decay, worst seed)",
            decay_drop(results),
            "< 0.5",
            results.figure_path("xi_curves"),
        ),
        claim(
            "quadratic_closed_form_matches",
            "the stationary E Ξ² of the quadratic toy matches simulation (max relative error over the "
            "number of gossip rounds)",
            q["max_rel_error"],
            "<= 0.05",
            results.figure_path("quadratic"),
        ),
        claim(
            "quadratic_more_gossip_less_xi",
            "E Ξ² strictly decreases with the number of gossip rounds (closed form and simulation)",
            decreasing,
            "== True",
            results.figure_path("quadratic"),
        ),
    ]
