"""Figures of the consensus study, drawn only from its stored runs (pipeline.results.Results).

Runs and metrics: pipeline/consensus/runs.py and training.py. Accuracies are a run's score (the mean test
accuracy of the local models over its last evaluations), in percent, read per seed with the claims' own
readers (pipeline/consensus/claims.py), so a figure shows exactly the numbers its claims are computed
from; a missing or diverged run is left out. Every panel with seeds shows each seed (small dots) and the
mean with its 95% t-interval, or the mean curve over seeds with the range of the seeds as a band.
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
from pipeline.consensus.runs import UNCONTROLLED, PhaseRun, QuadraticRun, ScaleRun, TuneRun, phases
from pipeline.core.stats import mean_interval
from pipeline.results import Results

CAPTIONS: dict[str, str] = {
    "accuracy_vs_n": (
        "Left: test accuracy (%, mean over the local models and over the last evaluations of a run) of "
        "centralized SGDm-N (all-reduce) and ring DSGDm-N against the number of workers n, both at the lr "
        "tuned for all-reduce at that n; dots are seeds, markers the mean with its 95% t-interval. Right: "
        "the gap acc(all-reduce) − acc(ring) of each seed (both runs of a seed share the initialisation "
        "and data order), with its mean and 95% t-interval. The claim compares the gap at the largest and "
        "the smallest n."
    ),
    "lr_tuning": (
        "Learning-rate tuning of all-reduce SGDm-N at each n on seed index 0: the score on the held-out "
        "validation split (mean local accuracy over the last evaluations) of every lr of the grid; the "
        "ringed marker is the lr every run of that n trains at (the ring included). A choice at an end of "
        "the grid means the optimum may lie outside it."
    ),
    "phase_control": (
        "Accuracy difference (points) of each dec-phase-k run to the all-reduce run of the same seed "
        "(n = phase_workers): the ring is used only in phase k, uncontrolled or with Ξ held at a fraction "
        "of Ξ_max (the largest Ξ of the uncontrolled run in that phase) by extra gossip. Dots are seeds, "
        "markers the mean with its 95% t-interval; the dashed line is all-reduce. Phases without control "
        "arms show only the uncontrolled run."
    ),
    "phase_table": (
        "The dec-phase-k × target table. Left: mean accuracy difference to all-reduce of the same seed "
        "(points) ± the half-width of its 95% paired t-interval, per phase (rows) and Ξ target (columns; "
        "Ξ_max = uncontrolled). Right: the gossip cost, mean gossip rounds per step within the "
        "decentralized phase (1 = plain ring D-SGD). Also in phase_table.csv."
    ),
    "xi_curves": (
        "Consensus distance Ξ_t over training, mean over seeds (band: range of the seeds). First panel: "
        "uncontrolled ring DSGDm-N for each n (log scale); grey dotted lines are the lr decays (×0.1) and "
        "the shaded spans, at n = phase_workers, the windows whose mean Ξ the decay claim compares (the "
        "second half of the phase before and after each decay, past the transient). Other panels: "
        "dec-phase-k runs (Ξ = 0 in the all-reduce phases), uncontrolled and controlled, with each control "
        "target (thin line, mean over seeds) over the controlled phase."
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
    if arm == UNCONTROLLED:
        return {"label": "uncontrolled", "color": style.color("ring"), "marker": "o", "linestyle": "-"}
    order = sorted(fractions, reverse=True)
    fraction = float(arm.removeprefix("ctrl"))
    rank = order.index(fraction) if fraction in order else len(order)
    rank = min(rank, len(ARM_MARKERS) - 1)
    return {
        "label": f"Ξ ≤ {fraction:g}·Ξ_max",
        "color": CONTROL_PALETTE[rank],
        "marker": ARM_MARKERS[rank],
        "linestyle": ARM_LINES[rank],
    }


def _all_arms(section: dict[str, Any]) -> list[str]:
    """Every arm some phase has: uncontrolled, then the control fractions, loosest first."""
    return (
        readers.arms({**section, "control_phases": [1]}, 1) if section["control_phases"] else [UNCONTROLLED]
    )


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
    for algorithm, offset in (("allreduce", -0.06), ("ring", 0.06)):
        for i, n in enumerate(ns):
            _seeds_and_interval(
                left,
                x[i] + offset,
                readers.scale_accuracy(results, algorithm, n),
                style.color(algorithm),
                style.marker(algorithm),
                style.label(algorithm) if i == 0 else None,
            )
    left.set(xlabel="workers n", ylabel=style.ACCURACY_LABEL, title="accuracy (ring vs all-reduce)")
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


def _lr_tuning(results: Results, out: Path) -> None:
    ns = sorted(results.section["n_workers"])
    colours = dict(zip(ns, sns.color_palette("crest", len(ns)), strict=True))
    fig, ax = plt.subplots(figsize=(5.2, 3.3))
    for n in ns:
        trials = results.finished(results.select(TuneRun, n_workers=n))
        if not trials:
            continue
        lrs = [t.lr for t in trials]
        scores = [readers.accuracy(results.metrics(t), readers.VALIDATION) for t in trials]
        ax.plot(lrs, scores, marker=style.marker("allreduce"), color=colours[n], lw=1.0, label=f"n = {n}")
        chosen = results.finished(results.select(ScaleRun, algorithm="allreduce", n_workers=n, seed_index=0))
        if chosen:
            lr = results.metrics(chosen[0]).get("lr")
            if lr in lrs:
                ax.scatter([lr], [scores[lrs.index(lr)]], s=90, facecolors="none", edgecolors=colours[n])
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    grid = sorted({t.lr for t in results.select(TuneRun)})
    if grid:
        ax.set_xticks(grid, [f"{lr:g}" for lr in grid], fontsize=7)
    ax.set(xlabel="peak learning rate", ylabel="validation accuracy (%)", title="all-reduce SGDm-N, seed 0")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    style.save(fig, out, "lr_tuning")


def _phase_control(results: Results, out: Path) -> None:
    section = results.section
    allreduce = np.asarray(readers.scale_accuracy(results, "allreduce", section["phase_workers"]))
    ks, arms = phases(section), _all_arms(section)
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


def _phase_table(results: Results, out: Path) -> None:
    section = results.section
    allreduce = np.asarray(readers.scale_accuracy(results, "allreduce", section["phase_workers"]))
    ks, arms = phases(section), _all_arms(section)
    columns = ["Ξ_max (uncontrolled)" if a == UNCONTROLLED else _arm_style(a, section["control_fractions"])[
        "label"].removeprefix("Ξ ≤ ") for a in arms]  # fmt: skip
    index = [f"dec-phase-{k}" for k in ks]
    means = pd.DataFrame(np.nan, index=index, columns=columns)
    notes = pd.DataFrame("", index=index, columns=columns)
    rounds = pd.DataFrame(np.nan, index=index, columns=columns)
    rows = []
    for k, row in zip(ks, index, strict=True):
        for arm, column in zip(arms, columns, strict=True):
            if arm not in readers.arms(section, k):
                continue
            estimate = mean_interval(list(np.asarray(readers.phase_accuracy(results, k, arm)) - allreduce))
            cost = mean_interval(readers.phase_metric(results, k, arm, f"gossip_rounds_mean_phase{k}"))
            half = (estimate.high - estimate.low) / 2
            means.loc[row, column], rounds.loc[row, column] = estimate.value, cost.value
            if np.isfinite(estimate.value):
                notes.loc[row, column] = f"{estimate.value:+.2f}" + (
                    f"\n±{half:.2f}" if np.isfinite(half) else ""
                )
            rows.append({"phase": k, "target": column, "delta_points": estimate.value, "ci_half_width": half,
                         "n": estimate.n, "gossip_rounds_per_step": cost.value})  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "phase_table.csv", index=False)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.4, 0.6 * len(ks) + 1.9))
    if means.notna().any().any():
        limit = max(1.0, float(np.nanmax(np.abs(means.to_numpy()))))
        label = {"label": "acc − acc(all-reduce) (points)"}
        sns.heatmap(means, annot=notes.to_numpy(), fmt="", cmap="RdBu", vmin=-limit, vmax=limit, ax=left,
                    cbar_kws=label, annot_kws={"fontsize": 7})  # fmt: skip
    if rounds.notna().any().any():
        sns.heatmap(rounds, annot=True, fmt=".2g", cmap="Greys", ax=right, vmin=0,
                    cbar_kws={"label": "gossip rounds per step"}, annot_kws={"fontsize": 7})  # fmt: skip
    for ax, title in ((left, "accuracy vs all-reduce, 95% CI"), (right, "gossip cost in the phase")):
        ax.set(title=title, xlabel="Ξ target", ylabel="")
        ax.set_xticks(np.arange(len(columns)) + 0.5, columns, fontsize=7, rotation=0)
        ax.set_yticks(np.arange(len(index)) + 0.5, index, rotation=0)
    style.save(fig, out, "phase_table")


def _xi_frame(results: Results, spec: ScaleRun | PhaseRun) -> pd.DataFrame:
    history = results.history(spec).dropna(subset=["train_xi_sq"])
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
    N = section["phase_workers"]
    steps = section["steps"]
    reference = results.finished(results.select(ScaleRun, algorithm="ring", n_workers=N))
    if reference:
        metrics = results.metrics(reference[0])
        steps = int(metrics.get("steps", steps))
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
    for before, after in readers.decay_windows(steps, boundaries):
        ring.axvspan(before[0], before[1], color="grey", alpha=0.08, lw=0)
        ring.axvspan(after[0], after[1], color="grey", alpha=0.16, lw=0)
    ring.set(
        title=f"uncontrolled {section['topology']} DSGDm-N", xlabel="step", ylabel="consensus distance Ξ"
    )
    edges = [0, *boundaries, steps]
    for ax, k in zip(flat[1:], ks, strict=False):
        for arm in readers.arms(section, k):
            specs = results.finished(results.select(PhaseRun, phase=k, arm=arm))
            if not specs:
                continue
            look = _arm_style(arm, section["control_fractions"])
            frame = pd.concat([_xi_frame(results, s) for s in specs], ignore_index=True)
            _mean_curve(ax, frame, color=look["color"], linestyle=look["linestyle"], label=look["label"])
            targets = [results.metrics(s).get("target_xi") for s in specs]
            targets = [t for t in targets if t is not None]
            if targets:
                ax.hlines(np.mean(targets), edges[k - 1], edges[k], color=look["color"], lw=0.8, alpha=0.8)
        ax.set(title=f"dec-phase-{k} (n = {N})", xlabel="step", ylabel="consensus distance Ξ")
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
    _lr_tuning(results, out)
    _phase_control(results, out)
    _phase_table(results, out)
    _xi_curves(results, out)
    _quadratic(results, out)
