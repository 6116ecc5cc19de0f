"""Figures of the consensus study, drawn only from its stored runs (pipeline.results.Results).

Runs and metrics: pipeline/consensus/runs.py and training.py (papers/consensus.md §2.4, §5). Accuracies are
the mean test accuracy of the local models. Runs are drawn in the order of their ids (as the figures always
were), and only the finished ones.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis.style import save
from pipeline.consensus.runs import PhaseRun, QuadraticRun, ScaleRun
from pipeline.core.study import RunSpec
from pipeline.results import Results

CAPTIONS: dict[str, str] = {
    "accuracy_vs_n": (
        "Final test accuracy (mean of the local models; dots: seeds, line: mean) against the number of "
        "workers n for centralized SGDm-N (all-reduce) and ring DSGDm-N. Look for: the ring falling further "
        "below all-reduce as n grows (the spectral gap ρ of the ring shrinks like 1/n²)."
    ),
    "xi_curves": (
        "Consensus distance Ξ_t over training (seed 0) for the dec-phase-k runs, with consensus control "
        "(dashed: Ξ ≤ fraction·Ξ_ref in the decentralized phase) and the uncontrolled ring; grey lines mark "
        "the lr decays. Look for: Ξ = 0 in all-reduce phases, the drop of Ξ at each decay, and the "
        "controlled runs held below their targets."
    ),
    "phase_control": (
        "Accuracy difference to all-reduce (points, mean over seeds) of training decentralized only in phase "
        "k (rows), uncontrolled or with Ξ controlled to a fraction of its uncontrolled level (columns). Look "
        "for: the largest loss in phase 1, recovered by control, and little effect of the last phase."
    ),
    "quadratic": (
        "Quadratic toy (ring, n = 16): stationary E Ξ² from the closed form (line) and from simulation "
        "(dots, ± 2 standard errors) against the gossip rounds per step; left, Ξ²_t of the simulation. "
        "Look for: dots on the line, and E Ξ² falling with more gossip."
    ),
}


def _finished(results: Results, spec_type: type[RunSpec], **fields: object) -> list[RunSpec]:
    """The finished runs of ``spec_type`` matching ``fields``, in the order of their ids."""
    return sorted(results.finished(results.select(spec_type, **fields)), key=lambda spec: spec.id)


def _accuracy_vs_n(results: Results, out: Path) -> None:
    rows = []
    for spec in _finished(results, ScaleRun):
        m = results.metrics(spec)
        label = "all-reduce SGDm-N" if spec.algorithm == "allreduce" else "ring DSGDm-N"
        rows.append(
            {"n": spec.n_workers, "method": label, "accuracy": 100 * m.get("test_local_accuracy", np.nan)}
        )
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    frame = pd.DataFrame(rows)
    if not frame.empty:
        sns.lineplot(frame, x="n", y="accuracy", hue="method", marker="o", errorbar=None, ax=ax)
        sns.stripplot(
            frame,
            x="n",
            y="accuracy",
            hue="method",
            native_scale=True,
            legend=False,
            alpha=0.5,
            ax=ax,
            size=4,
        )
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(frame["n"].unique()), [str(n) for n in sorted(frame["n"].unique())])
    ax.set(xlabel="workers n", ylabel="test accuracy (%)")
    save(fig, out, "accuracy_vs_n")


def _xi_curves(results: Results, out: Path) -> None:
    frames = []
    boundaries: list[int] = []
    seed0 = [
        *_finished(results, PhaseRun, seed_index=0),
        *_finished(results, ScaleRun, algorithm="ring", seed_index=0),
    ]
    for spec in seed0:
        history = results.history(spec)
        if isinstance(spec, PhaseRun):
            history["setting"] = [f"dec-phase-{spec.phase} {arm}" for arm in history["arm"]]
        else:
            history["setting"] = f"ring n={spec.n_workers} uncontrolled"
            boundaries = [round(f * spec.training.steps) for f in spec.training.milestones]
        frames.append(history)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    if frames:
        frame = pd.concat(frames, ignore_index=True).dropna(subset=["train_xi_sq"])
        frame["xi"] = np.sqrt(frame["train_xi_sq"])
        frame["controlled"] = frame["setting"].str.contains("ctrl")
        sns.lineplot(frame, x="step", y="xi", hue="setting", style="controlled", ax=ax, linewidth=0.9)
        for b in boundaries:
            ax.axvline(b, color="grey", lw=0.8, ls=":")
        ax.legend(fontsize=6, ncol=2)
    ax.set(xlabel="step", ylabel="consensus distance Ξ")
    save(fig, out, "xi_curves")


def _phase_control(results: Results, out: Path) -> None:
    allreduce: dict[int, list[float]] = {}
    for spec in _finished(results, ScaleRun, algorithm="allreduce"):
        allreduce.setdefault(spec.n_workers, []).append(
            results.metrics(spec).get("test_local_accuracy", np.nan)
        )
    rows = []
    for spec in _finished(results, PhaseRun):
        reference = np.mean(allreduce.get(spec.n_workers, [np.nan]))
        for arm, m in results.metrics(spec)["arms"].items():
            column = "uncontrolled" if arm == "dec" else f"Ξ ≤ {arm.removeprefix('ctrl')}·Ξ_ref"
            delta = 100 * (m.get("test_local_accuracy", np.nan) - reference)
            rows.append({"phase": f"dec-phase-{spec.phase}", "control": column, "delta": delta})
    fig, ax = plt.subplots(figsize=(5.0, 3.0))
    frame = pd.DataFrame(rows)
    if not frame.empty:
        table = frame.pivot_table(index="phase", columns="control", values="delta", aggfunc="mean")
        table = table[["uncontrolled", *[c for c in table.columns if c != "uncontrolled"]]]
        sns.heatmap(
            table,
            annot=True,
            fmt=".2f",
            cmap="RdBu",
            center=0.0,
            ax=ax,
            cbar_kws={"label": "acc − acc(all-reduce) (points)"},
        )
    ax.set(xlabel="", ylabel="")
    save(fig, out, "phase_control")


def _quadratic(results: Results, out: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.0, 3.2))
    for spec in _finished(results, QuadraticRun):
        records = pd.DataFrame(results.metrics(spec)["records"])
        history = results.history(spec)
        sns.lineplot(history, x="step", y="xi_sq", hue="gossip_rounds", ax=left, palette="viridis", lw=0.8)
        left.set(yscale="log", xlabel="step", ylabel="Ξ²_t (mean over chains)")
        right.plot(records["gossip_rounds"], records["closed_form"], "-", label="closed form")
        right.errorbar(
            records["gossip_rounds"],
            records["simulated"],
            yerr=2 * records["simulated_stderr"],
            fmt="o",
            label="simulation",
        )
        right.plot(
            records["gossip_rounds"], records["closed_form_b_averaged"], ":", label="closed form, b-averaged"
        )
        right.set(xscale="log", yscale="log", xlabel="gossip rounds per step", ylabel="stationary E Ξ²")
        right.set_xticks(records["gossip_rounds"], [str(r) for r in records["gossip_rounds"]])
        right.legend(fontsize=7)
    save(fig, out, "quadratic")


def plot(results: Results, out: Path) -> None:
    """Draw every figure in :data:`CAPTIONS` from the study's finished runs into ``out``."""
    out = Path(out)
    _accuracy_vs_n(results, out)
    _xi_curves(results, out)
    _phase_control(results, out)
    _quadratic(results, out)
