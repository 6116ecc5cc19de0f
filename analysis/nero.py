"""Figures of the nero study, drawn only from its stored runs (pipeline.results.Results; nero.md §4).

Nothing here trains: the sweeps, the ablation and the memory table all come from the runs
(pipeline/nero/sweep.py, memory.py). Runs are drawn in the order of their (task, optimiser, seed) or
(setting, seed), which fixes the panel and colour order.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis.style import save
from pipeline.nero.runs import AblationRun, MemoryRun, SweepRun
from pipeline.results import Results

CAPTIONS: dict[str, str] = {
    "lr_sweep": (
        "Final score against learning rate for every optimiser and task (Figs. 6-7): test accuracy "
        "for the classifiers, validation loss for the language model; the first seed's runs, mean over seeds "
        "drawn as the line. Diverged learning rates are drawn as crosses on the bottom (top for loss) edge. "
        "Look for: Nero's curve peaking at or near 0.01 on every task and its broad plateau, while the "
        "baselines' best learning rates move from task to task; on the deep MLP only Nero trains well."
    ),
    "curves": (
        "Training loss against step for every optimiser at its best learning rate (solid) and Nero at its "
        "default 0.01 (dashed black). Look for: Nero at 0.01 tracking the best-tuned baselines."
    ),
    "ablation": (
        "Constraint ablation (Fig. 1 analogue): test accuracy against learning rate for Nero with no "
        "constraint, zero-mean only, unit-norm only and both. Look for: both constraints at least as good as "
        "none at the best learning rate."
    ),
    "memory": (
        "Optimiser-state entries (step counters excluded) per parameter, log scale, for every optimiser "
        "on every task's model. Look for: Nero about one entry per neuron (a few % of a parameter), SGD with "
        "momentum one and Adam/LAMB two per parameter; plain SGD keeps none (not drawn on the log axis)."
    ),
}


def _sweeps(results: Results) -> list[tuple[dict, pd.DataFrame]]:
    """(metrics, history) of every finished sweep, ordered by task, optimiser and seed index."""
    specs = sorted(
        results.finished(results.select(SweepRun)), key=lambda s: (s.task, s.optimizer, s.seed_index)
    )
    return [(results.metrics(spec), results.history(spec)) for spec in specs]


def _ablations(results: Results) -> list[tuple[dict, pd.DataFrame]]:
    """(metrics, history) of every finished ablation setting, ordered by setting and seed index."""
    specs = sorted(results.finished(results.select(AblationRun)), key=lambda s: (s.setting, s.seed_index))
    return [(results.metrics(spec), results.history(spec)) for spec in specs]


def _points(runs: list[tuple[dict, pd.DataFrame]], group: str) -> pd.DataFrame:
    rows = []
    for metrics, _ in runs:
        lm = metrics["score_name"] == "neg_valid_loss"
        for key, entry in metrics["per_lr"].items():
            score = metrics["scores"][key]
            rows.append(
                {
                    "group": metrics[group] if group in metrics else metrics["optimizer"],
                    "task": metrics["task"],
                    "lr": entry["lr"],
                    "value": np.nan if score is None else (-score if lm else score),
                    "diverged": bool(entry.get("diverged", 0.0)),
                    "lm": lm,
                }
            )
    return pd.DataFrame(rows)


def _sweep_axis(ax: plt.Axes, frame: pd.DataFrame, hue_order: list[str]) -> None:
    palette = dict(zip(hue_order, sns.color_palette("colorblind", len(hue_order)), strict=True))
    means = frame.groupby(["group", "lr"], as_index=False)["value"].mean()
    sns.lineplot(
        means, x="lr", y="value", hue="group", hue_order=hue_order, palette=palette, marker="o", ax=ax
    )
    lm = bool(frame["lm"].iloc[0])
    finite = frame["value"].dropna()
    edge = (finite.max() if lm else 0.0) if len(finite) else 0.0
    bad = frame[frame["diverged"]]
    for name, rows in bad.groupby("group"):
        ax.scatter(rows["lr"], [edge] * len(rows), marker="x", color=palette[name], s=40, zorder=5)
    ax.set_xscale("log")
    ax.set_ylabel("validation loss" if lm else "test accuracy")
    if ax.get_legend() is not None:
        ax.get_legend().set_title(None)
    ax.axvline(0.01, color="grey", lw=0.8, ls=":")


def _plot_sweep(runs: list[tuple[dict, pd.DataFrame]], out: Path) -> None:
    frame = _points(runs, "optimizer")
    tasks = list(dict.fromkeys(frame["task"])) if len(frame) else []
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(4.2 * max(1, len(tasks)), 3.4), squeeze=False)
    order = list(dict.fromkeys(frame["group"])) if len(frame) else []
    for ax, task in zip(axes[0], tasks, strict=False):
        _sweep_axis(ax, frame[frame["task"] == task], order)
        ax.set_title(task)
    save(fig, out, "lr_sweep")


def _plot_curves(sweeps: list[tuple[dict, pd.DataFrame]], out: Path) -> None:
    runs = [(m, h) for m, h in sweeps if m["seed_index"] == 0]
    tasks = list(dict.fromkeys(m["task"] for m, _ in runs))
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(4.2 * max(1, len(tasks)), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=False):
        for metrics, history in runs:
            if metrics["task"] != task:
                continue
            loss = history.dropna(subset=["train_loss"])
            if metrics["best_lr"] is not None:
                rows = loss[np.isclose(loss["lr"], metrics["best_lr"])]
                ax.plot(
                    rows["step"], rows["train_loss"], label=f"{metrics['optimizer']} {metrics['best_lr']:g}"
                )
            if metrics["optimizer"] == "nero":
                rows = loss[np.isclose(loss["lr"], 0.01)]
                ax.plot(rows["step"], rows["train_loss"], "k--", label="nero 0.01")
        ax.set(title=task, xlabel="step", ylabel="train loss", yscale="log")
        ax.legend(fontsize=7)
    save(fig, out, "curves")


def _plot_ablation(runs: list[tuple[dict, pd.DataFrame]], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    if runs:
        frame = _points(runs, "optimizer")
        frame["group"] = frame["group"].str.removeprefix("nero_")
        _sweep_axis(ax, frame, list(dict.fromkeys(frame["group"])))
        ax.set_title(f"Nero constraint ablation ({runs[0][0]['task']})")
    save(fig, out, "ablation")


def _plot_memory(results: Results, out: Path) -> None:
    table = pd.DataFrame(results.metrics(results.one(MemoryRun))["memory"])
    table = table[table["state_numel"] > 0]
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    sns.barplot(table, x="task", y="state_per_param", hue="optimizer", ax=ax)
    ax.set(yscale="log", ylabel="state entries per parameter")
    save(fig, out, "memory")


def plot(results: Results, out: Path) -> None:
    """Write every figure of :data:`CAPTIONS` from the study's finished runs into ``out``."""
    out = Path(out)
    sweeps = _sweeps(results)
    _plot_sweep(sweeps, out)
    _plot_curves(sweeps, out)
    _plot_ablation(_ablations(results), out)
    _plot_memory(results, out)
