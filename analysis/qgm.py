"""Figures of the qgm study, drawn only from its stored runs (pipeline.results.Results; qgm.md §4-5).

Runs and metrics: pipeline/qgm/runs.py and training.py. "local" accuracy is the mean test accuracy of the
workers' own models (what the paper reports); "averaged" is the test accuracy of the average model x̄.
Runs are read in the order of their ids (as the figures always were), and only the finished ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from analysis.style import save
from pipeline.qgm.runs import QgmRun
from pipeline.results import Results

CAPTIONS: dict[str, str] = {
    "accuracy_vs_alpha": (
        "Final test accuracy against the Dirichlet concentration alpha (log axis; smaller = more "
        "heterogeneous) per method on the ring; left: mean over the local models (the paper's number), "
        "right: the averaged model x̄. Lines: mean over seeds, bands: seed range. All-reduce SGDm-N is the "
        "reference. Look for: QG-DSGDm-N above DSGDm-N at small alpha, and all methods together at "
        "alpha = 10."
    ),
    "accuracy_table": (
        "The paper's main table as a heat map: mean test accuracy (%, mean of local models, mean over seeds) "
        "per method (rows) and alpha (columns); the same numbers are in accuracy_table.csv. Look for: the "
        "DSGDm-N row falling fastest as alpha falls and the QG-DSGDm-N row staying closer to all-reduce."
    ),
    "xi_curves": (
        "Consensus distance Ξ²_t = (1/n) Σ‖x_i − x̄‖² over training (seed 0, running mean over 10 steps, log "
        "scale), one panel per alpha, one line per decentralized method; lr decays ×0.1 at the grey lines. "
        "Look for: QG-DSGDm-N below DSGDm-N under heterogeneity (local momentum drives the models apart)."
    ),
    "partitions": (
        "Per-worker class histograms of the Dirichlet partition (seed 0) for each alpha: rows are workers, "
        "colours classes. Look for: near-uniform rows at alpha = 10 and one or two classes per worker at "
        "alpha = 0.1."
    ),
}

METHOD_ORDER = ["allreduce_sgdm_n", "dsgd", "dsgdm_n", "qg_dsgdm_n", "d2", "gradient_tracking"]


Run = tuple[QgmRun, dict[str, Any]]  # a finished run: its spec and its metrics


def _load(results: Results) -> list[Run]:
    finished = sorted(results.finished(results.select(QgmRun)), key=lambda spec: spec.id)
    return [(spec, results.metrics(spec)) for spec in finished]


def _order(methods: set[str]) -> list[str]:
    return [m for m in METHOD_ORDER if m in methods]


def _accuracy_frame(runs: list[Run]) -> pd.DataFrame:
    rows = []
    for spec, m in runs:
        for kind, key in (("local", "test_local_accuracy"), ("averaged", "test_avg_accuracy")):
            rows.append(
                {
                    "method": spec.method,
                    "alpha": spec.alpha,
                    "seed": spec.seed_index,
                    "model": kind,
                    "accuracy": 100 * m.get(key, np.nan),
                }
            )
    return pd.DataFrame(rows, columns=["method", "alpha", "seed", "model", "accuracy"])


def _accuracy_vs_alpha(frame: pd.DataFrame, out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.4), sharey=True)
    order = _order(set(frame["method"]))
    for ax, kind in zip(axes, ("local", "averaged"), strict=True):
        part = frame[frame["model"] == kind]
        if len(part):
            sns.lineplot(
                part, x="alpha", y="accuracy", hue="method", hue_order=order, marker="o",
                errorbar=("pi", 100), ax=ax, legend=kind == "local",
            )  # fmt: skip
            ax.set_xscale("log")
        ax.set(xlabel="Dirichlet alpha", ylabel="test accuracy (%)", title=f"{kind} model(s)")
    save(fig, out, "accuracy_vs_alpha")


def _accuracy_table(frame: pd.DataFrame, out: Path) -> None:
    local = frame[frame["model"] == "local"]
    fig, ax = plt.subplots(figsize=(4.8, 3.0))
    if len(local):
        table = local.pivot_table(index="method", columns="alpha", values="accuracy", aggfunc="mean")
        table = table.reindex(index=_order(set(table.index)), columns=sorted(table.columns, reverse=True))
        out.mkdir(parents=True, exist_ok=True)
        table.round(2).to_csv(out / "accuracy_table.csv")
        sns.heatmap(table, annot=True, fmt=".1f", cmap="viridis", cbar_kws={"label": "accuracy (%)"}, ax=ax)
        ax.set_xticklabels([f"{a:g}" for a in table.columns])
    ax.set(xlabel="Dirichlet alpha", ylabel="")
    save(fig, out, "accuracy_table")


def _xi_curves(results: Results, runs: list[Run], out: Path) -> None:
    frames = []
    for spec, _ in runs:
        if spec.seed_index == 0 and spec.method != "allreduce_sgdm_n":
            h = results.history(spec).dropna(subset=["train_xi_sq"])
            h["xi_sq"] = h["train_xi_sq"].rolling(10, min_periods=1).mean()
            frames.append(h.assign(method=spec.method, alpha=spec.alpha))
    alphas = sorted({f["alpha"].iloc[0] for f in frames}, reverse=True)
    fig, axes = plt.subplots(1, max(1, len(alphas)), figsize=(3.2 * max(1, len(alphas)), 3.2), squeeze=False)
    for i, (ax, alpha) in enumerate(zip(axes[0], alphas, strict=False)):
        frame = pd.concat([f for f in frames if f["alpha"].iloc[0] == alpha], ignore_index=True)
        sns.lineplot(
            frame, x="step", y="xi_sq", hue="method", hue_order=_order(set(frame["method"])), ax=ax, lw=0.8,
            legend=i == 0,
        )  # fmt: skip
        positive = frame["xi_sq"] > 0
        if positive.any():
            ax.set_yscale("log")
        for lr_step in np.flatnonzero(np.diff(frame.drop_duplicates("step")["train_lr"].to_numpy()) < 0):
            ax.axvline(frame.drop_duplicates("step")["step"].iloc[lr_step + 1], color="grey", lw=0.6, ls=":")
        ax.set(xlabel="step", ylabel="consensus distance Ξ²", title=f"alpha = {alpha:g}")
    save(fig, out, "xi_curves")


def _partitions(runs: list[Run], out: Path) -> None:
    parts = {}
    for spec, m in runs:
        if spec.seed_index == 0 and spec.alpha not in parts:
            parts[spec.alpha] = np.asarray(m["class_counts"], dtype=float)
    alphas = sorted(parts, reverse=True)
    fig, axes = plt.subplots(1, max(1, len(alphas)), figsize=(3.0 * max(1, len(alphas)), 3.2), squeeze=False)
    for ax, alpha in zip(axes[0], alphas, strict=False):
        counts = parts[alpha]
        left = np.zeros(len(counts))
        colours = sns.color_palette("tab10", counts.shape[1])
        for c in range(counts.shape[1]):
            ax.barh(np.arange(len(counts)), counts[:, c], left=left, color=colours[c], height=0.9)
            left += counts[:, c]
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.invert_yaxis()
        ax.set(title=f"alpha = {alpha:g}", xlabel="samples (colour = class)", ylabel="worker")
    save(fig, out, "partitions")


def plot(results: Results, out: Path) -> None:
    """Draw every figure in :data:`CAPTIONS` from the study's finished runs into ``out``."""
    out = Path(out)
    runs = _load(results)
    frame = _accuracy_frame(runs)
    _accuracy_vs_alpha(frame, out)
    _accuracy_table(frame, out)
    _xi_curves(results, runs, out)
    _partitions(runs, out)
