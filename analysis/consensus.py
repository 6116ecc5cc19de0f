"""Figures of the consensus study, drawn only from its stored runs (pipeline.results.Results).

Runs and metrics: pipeline/consensus/runs.py and training.py. Accuracies are the mean test accuracy of the
local models, in percent, read per seed with the claims' own readers (pipeline/consensus/claims.py), so a
figure shows exactly the numbers its claims are computed from; a missing or diverged run is left out.
Every panel with seeds shows each seed (small dots) and the mean with its 95% t-interval, or the mean
curve over seeds with the range of the seeds as a band.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import NullFormatter

from analysis import style
from pipeline.consensus import claims as readers
from pipeline.consensus.runs import PhaseRun, QuadraticRun, ScaleRun, fraction_label, phases
from pipeline.core.stats import mean_interval
from pipeline.results import Results

CAPTIONS: dict[str, str] = {
    "accuracy_vs_n": (
        "Left: final test accuracy (%, mean over the local models) of centralized SGDm-N (all-reduce) and "
        "ring DSGDm-N against the number of workers n; dots are seeds, markers the mean. Right: the gap "
        "acc(all-reduce) − acc(ring) of each seed (both runs of a seed share the initialisation and data "
        "order), with its mean and 95% t-interval. The claim compares the gap at the largest and the "
        "smallest n."
    ),
    "phase_control": (
        "Accuracy difference (points) of each dec-phase-k run to the all-reduce run of the same seed "
        "(n = phase_workers): the ring is used only in phase k, uncontrolled or with Ξ held at a fraction "
        "of its uncontrolled phase mean Ξ_ref by extra gossip. Dots are seeds, markers the mean with its "
        "95% t-interval; the dashed line is all-reduce. Phases without control arms show only the "
        "uncontrolled run."
    ),
    "xi_curves": (
        "Consensus distance Ξ_t over training, mean over seeds (band: range of the seeds). First panel: "
        "uncontrolled ring DSGDm-N for each n (log scale); grey lines are the lr decays (×0.1) and the "
        "shaded spans the windows before and after each decay whose mean Ξ the decay claim compares (at "
        "n = phase_workers). Other panels: dec-phase-k runs (linear scale; Ξ = 0 in the all-reduce "
        "phases), uncontrolled and controlled, with each control target (thin line, mean over seeds) "
        "over the controlled phase."
    ),
    "quadratic": (
        "Quadratic toy on a ring: left, Ξ²_t of the simulation (mean over chains) for each number of gossip "
        "rounds per step; right, the stationary E Ξ² from the closed form for this draw of b (line), from "
        "simulation (markers, 95% interval from the standard error over chains) and the closed form "
        "averaged over b (dotted), against the gossip rounds per step."
    ),
}

ARM_MARKERS = ("^", "v", "D", "P")
ARM_LINES = ("--", ":", "-.", (0, (5, 1, 1, 1)))
CONTROL_PALETTE = sns.color_palette("flare", 4)


def _arm_style(arm: str, fractions: list[float]) -> dict[str, Any]:
    """Label, colour, marker and line style of a dec-phase arm; control arms by rank of their fraction
    (loosest first), so every figure draws an arm the same way."""
    if arm == "dec":
        return {"label": "uncontrolled", "color": style.color("ring"), "marker": "o", "linestyle": "-"}
    order = sorted(fractions, reverse=True)
    fraction = float(arm.removeprefix("ctrl"))
    rank = order.index(fraction) if fraction in order else len(order)
    rank = min(rank, len(ARM_MARKERS) - 1)
    return {
        "label": f"Ξ ≤ {fraction:g}·Ξ_ref",
        "color": CONTROL_PALETTE[rank],
        "marker": ARM_MARKERS[rank],
        "linestyle": ARM_LINES[rank],
    }


def _arms(section: dict[str, Any]) -> list[str]:
    return ["dec", *(fraction_label(f) for f in sorted(section["control_fractions"], reverse=True))]


def _seeds_and_interval(
    ax: plt.Axes, x: float, values: list[float], color: Any, marker: str, label: str | None
) -> None:
    """Per-seed dots at ``x`` and their mean with its 95% t-interval (no bar with fewer than 2 seeds)."""
    finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    ax.scatter(np.full(finite.size, x), finite, s=12, color=color, alpha=0.5, linewidths=0)
    estimate = mean_interval(list(finite))
    if not np.isfinite(estimate.value):
        return
    low, high = estimate.low, estimate.high
    yerr = [[estimate.value - low], [high - estimate.value]] if np.isfinite(low) else None
    ax.errorbar(
        [x],
        [estimate.value],
        yerr=yerr,
        color=color,
        marker=marker,
        markersize=6,
        capsize=3,
        linestyle="none",
        label=label,
    )


def _accuracy_vs_n(results: Results, out: Path) -> None:
    ns = sorted(results.section["n_workers"])
    x = np.log2(ns)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.6, 3.3))
    for algorithm, offset in (("allreduce", -0.05), ("ring", 0.05)):
        values = [readers.scale_accuracy(results, algorithm, n) for n in ns]
        style.seed_points(left, x, values, algorithm, offset=offset)
    left.set(xlabel="workers n", ylabel=style.ACCURACY_LABEL, title="final accuracy (ring vs all-reduce)")
    left.legend(fontsize=7)
    for xi, n in zip(x, ns, strict=True):
        _seeds_and_interval(
            right,
            xi,
            list(readers.gaps(results, n)),
            style.color("ring"),
            style.marker("ring"),
            "mean, 95% t-interval" if n == ns[0] else None,
        )
    right.axhline(0.0, color="grey", lw=0.8, ls="--")
    right.set(xlabel="workers n", ylabel="acc(all-reduce) − acc(ring) (points)", title="gap per seed")
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.set_xticks(x, [str(n) for n in ns])
    style.save(fig, out, "accuracy_vs_n")


def _phase_control(results: Results, out: Path) -> None:
    section = results.section
    allreduce = np.asarray(readers.scale_accuracy(results, "allreduce", section["phase_workers"]))
    ks, arms = phases(section), _arms(section)
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    width = 0.5 / max(1, len(arms) - 1)
    for j, arm in enumerate(arms):
        look = _arm_style(arm, section["control_fractions"])
        for k in ks:
            delta = list(np.asarray(readers.phase_accuracy(results, k, arm)) - allreduce)
            label = look["label"] if k == ks[0] else None
            _seeds_and_interval(
                ax, k + (j - (len(arms) - 1) / 2) * width, delta, look["color"], look["marker"], label
            )
    ax.axhline(0.0, color=style.color("allreduce"), lw=0.8, ls="--", label="all-reduce (same seed)")
    ax.set_xticks(ks, [f"dec-phase-{k}" for k in ks])
    ax.set(
        xlabel=f"phase trained on the ring (n = {section['phase_workers']}), all-reduce elsewhere",
        ylabel="acc − acc(all-reduce) (points)",
    )
    ax.legend(fontsize=7)
    style.save(fig, out, "phase_control")


def _xi_frame(results: Results, spec: ScaleRun | PhaseRun) -> pd.DataFrame:
    history = results.history(spec).dropna(subset=["train_xi_sq"])
    if "arm" not in history:
        history["arm"] = "run"
    return history.assign(xi=np.sqrt(history["train_xi_sq"]), seed=spec.seed_index)


def _mean_curve(ax: plt.Axes, frame: pd.DataFrame, **line: Any) -> None:
    """Mean Ξ over seeds at each step, with the seeds' range as a band."""
    grouped = frame.groupby("step")["xi"]
    mean, low, high = grouped.mean(), grouped.min(), grouped.max()
    ax.plot(mean.index, mean.to_numpy(), lw=1.0, **line)
    ax.fill_between(mean.index, low.to_numpy(), high.to_numpy(), color=line.get("color"), alpha=0.15, lw=0)


def _xi_curves(results: Results, out: Path) -> None:
    section = results.section
    ks = phases(section)
    steps = section["steps"]
    boundaries = [round(f * steps) for f in section["milestones"]]
    ncols = 2
    nrows = int(np.ceil((1 + len(ks)) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(9.0, 3.0 * nrows), squeeze=False)
    flat = list(axes.flat)
    ring = flat[0]
    ns = sorted(section["n_workers"])
    colours = sns.color_palette("crest", len(ns))
    for n, colour in zip(ns, colours, strict=True):
        specs = results.finished(results.select(ScaleRun, algorithm="ring", n_workers=n))
        if specs:
            frame = pd.concat([_xi_frame(results, s) for s in specs], ignore_index=True)
            _mean_curve(ring, frame, color=colour, label=f"n = {n}")
    if results.finished(results.select(ScaleRun, algorithm="ring")):
        ring.set_yscale("log")
    for boundary, w in readers.decay_windows(steps, tuple(section["milestones"])):
        ring.axvspan(boundary - w, boundary, color="grey", alpha=0.08, lw=0)
        ring.axvspan(boundary, boundary + w, color="grey", alpha=0.16, lw=0)
    ring.set(title="uncontrolled ring DSGDm-N", xlabel="step", ylabel="consensus distance Ξ")
    edges = [0, *boundaries, steps]
    for ax, k in zip(flat[1:], ks, strict=False):
        specs = results.finished(results.select(PhaseRun, phase=k))
        frames = [_xi_frame(results, s) for s in specs]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"arm": []})
        for arm in _arms(section):
            if arm not in set(frame["arm"]):
                continue
            look = _arm_style(arm, section["control_fractions"])
            _mean_curve(
                ax,
                frame[frame["arm"] == arm],
                color=look["color"],
                linestyle=look["linestyle"],
                label=look["label"],
            )
            targets = [results.metrics(s)["arms"].get(arm, {}).get("target_xi") for s in specs]
            targets = [t for t in targets if t is not None]
            if targets:
                ax.hlines(np.mean(targets), edges[k - 1], edges[k], color=look["color"], lw=0.8, alpha=0.8)
        ax.set(
            title=f"dec-phase-{k} (n = {section['phase_workers']})",
            xlabel="step",
            ylabel="consensus distance Ξ",
        )
    for ax in flat[: 1 + len(ks)]:
        for boundary in boundaries:
            ax.axvline(boundary, color="grey", lw=0.8, ls=":")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    for ax in flat[1 + len(ks) :]:
        ax.set_axis_off()
    style.save(fig, out, "xi_curves")


def _quadratic(results: Results, out: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.6, 3.3))
    spec = results.one(QuadraticRun)
    if results.finished([spec]):
        records = pd.DataFrame(results.metrics(spec)["records"])
        history = results.history(spec)
        rounds = sorted(history["gossip_rounds"].unique())
        colours = dict(zip(rounds, sns.color_palette("viridis", len(rounds)), strict=True))
        for r in rounds:
            part = history[history["gossip_rounds"] == r]
            left.plot(part["step"], part["xi_sq"], color=colours[r], lw=0.8, label=f"{r:g}")
        left.set_yscale("log")
        left.legend(title="gossip rounds per step", fontsize=7, title_fontsize=7)
        x = records["gossip_rounds"]
        right.plot(x, records["closed_form"], "-", color="black", label="closed form (this draw of b)")
        right.errorbar(
            x,
            records["simulated"],
            yerr=1.96 * records["simulated_stderr"],
            fmt="o",
            color=style.color("ring"),
            capsize=3,
            label="simulation, 95% interval",
        )
        right.plot(
            x, records["closed_form_b_averaged"], ":", color="grey", label="closed form, averaged over b"
        )
        right.set(xscale="log", yscale="log")
        right.set_xticks(x, [str(r) for r in x])
        right.xaxis.set_minor_formatter(NullFormatter())
        right.legend(fontsize=7)
    left.set(xlabel="step", ylabel="Ξ²_t (mean over chains)", title="simulation")
    right.set(xlabel="gossip rounds per step", ylabel="stationary E Ξ²", title="closed form vs simulation")
    style.save(fig, out, "quadratic")


def plot(results: Results, out: Path) -> None:
    """Draw every figure in :data:`CAPTIONS` from the study's finished runs into ``out``."""
    out = Path(out)
    _accuracy_vs_n(results, out)
    _phase_control(results, out)
    _xi_curves(results, out)
    _quadratic(results, out)
