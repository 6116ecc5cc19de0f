"""Figures of the nero study, drawn only from its stored runs (read through pipeline.results.Results).

Nothing here trains: the sweeps, the ablation and the memory table come from the runs (pipeline/nero/sweep.py,
memory.py). Scores, best learning rates and the twice-chance line are those of the claims
(:mod:`pipeline.nero.claims`), so a figure shows exactly what a claim read. Tasks, optimisers and ablation
settings are drawn in config order; every method has its fixed style (:mod:`analysis.style`).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from analysis import style
from pipeline.nero.claims import (
    DEFAULT_LR,
    PAPER_BEST_LR,
    TASK_NAMES,
    Arm,
    ablation_arms,
    sweep_arms,
)
from pipeline.nero.runs import LANGUAGE_TASKS, AblationRun, MemoryRun, SweepRun
from pipeline.results import Results

CAPTIONS: dict[str, str] = {
    "lr_sweep": (
        "Final score against learning rate for every optimiser and task (the Figs. 6-7 protocol): test "
        "accuracy in percent for the classifiers, validation loss for the language model. Small dots are "
        "seeds, the marked line their mean; a learning rate that diverged on any seed is a cross on the "
        "bottom edge (top edge for the loss) and leaves a gap in the line. Grey lines: chance and twice "
        "chance (a best learning rate is only taken above twice chance). Dotted vertical: Nero's default "
        "0.01. Hollow markers on the top edge: the paper's best learning rate of each optimiser on the "
        "paper's counterpart of the task (VGG-11 and ResNet-18 on CIFAR-10 in Fig. 6, the WikiText-2 "
        "Transformer in Fig. 7). The claims table says which of the paper's statements hold at this scale."
    ),
    "curves": (
        "Training loss against step of every optimiser at its best learning rate (solid; the argmax of the "
        "seed-mean score over learning rates that did not diverge) and of Nero at its default 0.01 "
        "(dashed): the mean over seeds, shaded between the lowest and highest seed where there are several."
    ),
    "ablation": (
        "Constraint ablation (the Fig. 1 protocol): test accuracy in percent against learning rate for Nero "
        "with no constraint, zero mean only, unit norm only and both. Dots are seeds, the line their mean; "
        "crosses mark learning rates that diverged on any seed; grey lines are chance and twice chance."
    ),
    "memory": (
        "Optimiser-state entries per parameter (step counters excluded; log scale) of every optimiser on "
        "every task's model after one step. Nero keeps one entry per neuron, SGD with momentum one per "
        "parameter, Adam and LAMB two; plain SGD keeps none and has no bar on the log axis."
    ),
}

CHANCE_STYLE = {"color": "0.45", "lw": 0.8}
MODEL_NAMES = {"tiny_vgg": "small VGG, no BN", "vgg11": "VGG-11, no BN", "resnet18_cifar": "ResNet-18"}
DATASET_NAMES = {"digits": "sklearn digits", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
                 "kjv": "KJV Bible", "ptb": "PTB", "wikitext2": "WikiText-2"}  # fmt: skip


def _natural(task: str, scores: np.ndarray) -> np.ndarray:
    """Scores in the units drawn: accuracy in percent, or the validation loss (minus the score)."""
    return -scores if task in LANGUAGE_TASKS else style.percent(scores)


def _draw_arm(ax: plt.Axes, task: str, arm: Arm, method: str, slot: int = 0) -> None:
    """Per-seed dots and the seed-mean line of one arm; crosses where any seed diverged, on the bottom edge
    (top for the loss), one row per arm (``slot``) so that arms diverging at the same lr stay apart."""
    values = _natural(task, arm.scores)
    lrs = np.asarray(arm.lrs, dtype=float)
    diverged = ~np.isfinite(values).all(axis=0)
    per_lr = [[] if diverged[j] else list(values[:, j]) for j in range(len(lrs))]
    style.seed_points(ax, list(lrs), per_lr, method)  # the mean line breaks where an lr diverged
    color = style.color(method)
    for j in np.flatnonzero(diverged):  # seeds that did finish at an lr another seed diverged at
        finite = values[np.isfinite(values[:, j]), j]
        ax.scatter(np.full(finite.size, lrs[j]), finite, s=10, color=color, alpha=0.45, linewidths=0)
    if diverged.any():
        edge = 0.97 - 0.05 * slot if task in LANGUAGE_TASKS else 0.03 + 0.05 * slot
        ax.scatter(lrs[diverged], np.full(int(diverged.sum()), edge), transform=ax.get_xaxis_transform(),
                   marker="x", color=color, s=50, linewidths=1.8, zorder=5, clip_on=False)  # fmt: skip


def _chance_lines(ax: plt.Axes, task: str, arm: Arm) -> None:
    """Chance and twice chance in the drawn units."""
    if task in LANGUAGE_TASKS:
        twice = -arm.floor  # log(V / 2)
        chance = twice + math.log(2.0)  # log V
    else:
        twice = style.percent(arm.floor)
        chance = twice / 2
    ax.axhline(chance, ls="--", **CHANCE_STYLE)
    ax.axhline(twice, ls=":", **CHANCE_STYLE)


def _sweep_axis(ax: plt.Axes, task: str, arms: dict[str, Arm], paper: dict[str, float]) -> None:
    for slot, (method, arm) in enumerate(arms.items()):
        _draw_arm(ax, task, arm, method, slot)
    first = next(iter(arms.values()))
    _chance_lines(ax, task, first)
    ax.axvline(DEFAULT_LR, color="0.3", lw=0.8, ls="-.")
    lrs = sorted({lr for arm in arms.values() for lr in arm.lrs})
    for method, lr in paper.items():  # just above the frame, where they cannot hide a point or a cross
        if method in arms and lrs[0] <= lr <= lrs[-1]:
            ax.scatter([lr], [1.03], transform=ax.get_xaxis_transform(), marker=style.marker(method),
                       facecolors="none", edgecolors=style.color(method), s=40, zorder=6,
                       clip_on=False)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlim(lrs[0] / 1.6, lrs[-1] * 1.6)  # every lr of the grid, also one that diverged on every seed
    ax.set_xlabel("learning rate")
    if task in LANGUAGE_TASKS:
        ax.set_ylabel("validation loss (nats)")
    else:
        ax.set_ylabel(style.ACCURACY_LABEL)
        ax.set_ylim(0, 100)


def _extra_handles(paper: bool) -> list[Line2D]:
    handles = [
        Line2D([], [], ls="--", **CHANCE_STYLE, label="chance"),
        Line2D([], [], ls=":", **CHANCE_STYLE, label="twice chance"),
        Line2D([], [], color="0.3", lw=0.8, ls="-.", label="Nero's default lr 0.01"),
        Line2D([], [], ls="none", marker="x", mew=1.8, color="0.3", label="diverged (any seed), on the edge"),
    ]
    if paper:
        handles.append(Line2D([], [], ls="none", marker="o", mfc="none", color="0.3",
                              label="paper's best lr (Figs. 6-7), above the frame"))  # fmt: skip
    return handles


def _legend(slot: plt.Axes, source: plt.Axes, paper: bool = False) -> None:
    """The methods of ``source`` and the reference lines, drawn in the empty axes ``slot``."""
    handles, labels = source.get_legend_handles_labels()
    extra = _extra_handles(paper)
    slot.axis("off")
    slot.legend(handles + extra, labels + [h.get_label() for h in extra], loc="center left", frameon=False,
                fontsize=8)  # fmt: skip


def _task_title(results: Results, task: str) -> str:
    spec = results.select(SweepRun, task=task)[0]
    if task in LANGUAGE_TASKS:
        return f"{TASK_NAMES[task]} ({DATASET_NAMES.get(spec.settings.dataset, spec.settings.dataset)})"
    net = spec.settings.net
    model = f"{net.depth} layers, no BN" if net.model == "mlp" else MODEL_NAMES.get(net.model, net.model)
    return f"{TASK_NAMES[task]}: {model} ({DATASET_NAMES.get(net.dataset, net.dataset)})"


def _panels(
    count: int, legend: bool, width: float = 4.0, height: float = 3.4
) -> tuple[plt.Figure, list[plt.Axes]]:
    """``count`` panels in a row, plus a narrower empty one on the right for the legend."""
    count = max(1, count)
    ratios = [1.0] * count + ([0.55] if legend else [])
    fig, axes = plt.subplots(1, len(ratios), figsize=(width * sum(ratios), height), squeeze=False,
                             gridspec_kw={"width_ratios": ratios})  # fmt: skip
    return fig, list(axes[0])


def _plot_sweep(results: Results, table: dict[str, dict[str, Arm]], out: Path) -> None:
    fig, axes = _panels(len(table), legend=True)
    for ax, (task, arms) in zip(axes, table.items(), strict=False):
        _sweep_axis(ax, task, arms, PAPER_BEST_LR.get(task, {}))
        ax.set_title(_task_title(results, task), fontsize=9, pad=10)
    _legend(axes[-1], axes[0], paper=any(task in PAPER_BEST_LR for task in table))
    style.save(fig, out, "lr_sweep")


def _curve(results: Results, specs: list[SweepRun], lr: float) -> pd.DataFrame:
    """Training loss against step at ``lr``: mean, min and max over the finished seeds."""
    frames = []
    for spec in results.finished(specs):
        history = results.history(spec).dropna(subset=["train_loss"])
        rows = history[np.isclose(history["lr"], lr)]
        frames.append(rows.set_index("step")["train_loss"].rename(spec.seed_index))
    if not frames:
        return pd.DataFrame(columns=["mean", "low", "high"])
    wide = pd.concat(frames, axis=1)
    return pd.DataFrame({"mean": wide.mean(axis=1), "low": wide.min(axis=1), "high": wide.max(axis=1)})


def _draw_curve(ax: plt.Axes, frame: pd.DataFrame, method: str, label: str, ls: str = "-") -> None:
    if frame.empty:
        return
    color = style.color(method)
    ax.plot(frame.index, frame["mean"], color=color, ls=ls, label=label)
    if (frame["high"] > frame["low"]).any():
        ax.fill_between(frame.index, frame["low"], frame["high"], color=color, alpha=0.15, linewidth=0)


def _plot_curves(results: Results, table: dict[str, dict[str, Arm]], out: Path) -> None:
    fig, axes = _panels(len(table), legend=False)
    for ax, (task, arms) in zip(axes, table.items(), strict=False):
        for method, arm in arms.items():
            specs = results.select(SweepRun, task=task, optimizer=method)
            lr = arm.best_lr(trained=False)
            if math.isfinite(lr):
                label = f"{style.label(method)}, best lr {lr:g}"
                _draw_curve(ax, _curve(results, specs, lr), method, label)
            if method == "nero" and DEFAULT_LR in arm.lrs and lr != DEFAULT_LR:
                _draw_curve(ax, _curve(results, specs, DEFAULT_LR), method, "Nero, default lr 0.01", "--")
        ax.set(xlabel="step", ylabel="training loss", yscale="log")
        ax.set_title(_task_title(results, task), fontsize=9)
        ax.legend(fontsize=7)
    style.save(fig, out, "curves")


def _plot_ablation(results: Results, out: Path) -> None:
    arms = ablation_arms(results)
    fig, (ax, legend) = plt.subplots(1, 2, figsize=(6.4, 3.4), gridspec_kw={"width_ratios": [1.0, 0.6]})
    legend.axis("off")
    if arms:
        task = results.select(AblationRun)[0].task
        for slot, (setting, arm) in enumerate(arms.items()):
            _draw_arm(ax, task, arm, setting, slot)
        _chance_lines(ax, task, next(iter(arms.values())))
        lrs = sorted({lr for arm in arms.values() for lr in arm.lrs})
        ax.axvline(DEFAULT_LR, color="0.3", lw=0.8, ls="-.")
        ax.set_xscale("log")
        ax.set_xlim(lrs[0] / 1.6, lrs[-1] * 1.6)
        ax.set(xlabel="learning rate", ylabel=style.ACCURACY_LABEL, ylim=(0, 100))
        ax.set_title(f"Nero constraint ablation, {_task_title(results, task)}", fontsize=9)
        _legend(legend, ax)
    style.save(fig, out, "ablation")


def _plot_memory(results: Results, out: Path) -> None:
    table = pd.DataFrame(results.metrics(results.one(MemoryRun))["memory"])
    tasks = list(dict.fromkeys(table["task"]))
    methods = list(dict.fromkeys(table["optimizer"]))
    fig, ax = plt.subplots(figsize=(1.2 + 1.6 * len(tasks), 3.4))
    width = 0.8 / max(1, len(methods))
    for k, method in enumerate(methods):
        rows = table[table["optimizer"] == method].set_index("task").reindex(tasks)
        values = rows["state_per_param"].to_numpy(dtype=float)
        x = np.arange(len(tasks)) + (k - (len(methods) - 1) / 2) * width
        drawn = values > 0
        label = style.label(method) + ("" if drawn.any() else " (no state)")
        ax.bar(x[drawn], values[drawn], width=width, color=style.color(method), label=label)
    ax.set_xticks(np.arange(len(tasks)), [TASK_NAMES.get(t, t) for t in tasks])
    ax.set(yscale="log", ylabel="state entries per parameter")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    style.save(fig, out, "memory")


def plot(results: Results, out: Path) -> None:
    """Write every figure of :data:`CAPTIONS` from the study's finished runs into ``out``."""
    out = Path(out)
    table = sweep_arms(results)
    _plot_sweep(results, table, out)
    _plot_curves(results, table, out)
    _plot_ablation(results, out)
    _plot_memory(results, out)
