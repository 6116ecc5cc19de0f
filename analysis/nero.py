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
from pipeline.core import stats
from pipeline.nero.claims import (
    DEFAULT_LR,
    FIT,
    LOSS_MARGIN,
    PAPER_BEST_LR,
    POINTS_MARGIN,
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
        "seeds, the marked line their mean and the band their range; a learning rate that diverged on any "
        "seed is a cross on the bottom edge (top edge for the loss) and leaves a gap in the line. Each "
        "optimiser is drawn over its own grid on the task. Grey lines: chance and twice chance (a best "
        "learning rate is only taken above twice chance, and only inside its grid). Dotted vertical: Nero's "
        "default 0.01. Hollow markers on the top edge: the paper's best learning rate of each optimiser on "
        "the paper's counterpart of the task (VGG-11 and ResNet-18 on CIFAR-10 in Fig. 6, the WikiText-2 "
        "Transformer in Fig. 7). The claims table says which of the paper's statements hold at this scale."
    ),
    "lr_window": (
        "The learning-rate window of every optimiser on every task of the lr comparison: how many "
        "learning rates of its grid reach within 2 test-accuracy points (within 5% of the validation loss "
        "for the language model) of its best seed-mean score, with the 95% percentile-bootstrap interval "
        "over seeds. A hollow marker at 0 means no window: the optimiser never rose above twice chance, or "
        "its window reached the edge of its grid."
    ),
    "deep_mlp": (
        "The deep MLP without normalisation (the Fig. 3-right protocol): train accuracy in percent against "
        "learning rate for every optimiser (dots seeds, line the mean, band the range; crosses mark "
        "learning rates that diverged on a seed). Grey lines: chance and twice chance; the dash-dotted line "
        "is the 95% fit that Nero must reach, the dotted one the twice-chance ceiling that SGD and Adam "
        "must stay under."
    ),
    "curves": (
        "Training loss against step of every optimiser at its best learning rate (solid; the argmax of the "
        "seed-mean score over learning rates that did not diverge) and of Nero at its default 0.01 "
        "(dashed): the mean over seeds, shaded between the lowest and highest seed where there are several."
    ),
    "ablation": (
        "Constraint ablation (the Fig. 1 protocol): test accuracy in percent against learning rate for Nero "
        "with no constraint, zero mean only, unit norm only and both (the Nero sweep of the task where the "
        "ablation does not run both). Dots are seeds, the line their mean, the band their range; crosses "
        "mark learning rates that diverged on any seed; grey lines are chance and twice chance."
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


def _draw_arm(ax: plt.Axes, task: str, arm: Arm, method: str, slot: int = 0, train: bool = False) -> None:
    """Per-seed dots, the seed-mean line and the band of the seeds' range of one arm (its train accuracy
    with ``train``); crosses where any seed diverged, on the bottom edge (top for the loss), one row per arm
    (``slot``) so that arms diverging at the same lr stay apart."""
    raw = arm.train if train and arm.train is not None else arm.scores
    values = style.percent(raw) if train else _natural(task, raw)
    lrs = np.asarray(arm.lrs, dtype=float)
    diverged = ~np.isfinite(values).all(axis=0)
    per_lr = [[] if diverged[j] else list(values[:, j]) for j in range(len(lrs))]
    style.seed_points(ax, list(lrs), per_lr, method)  # the mean line breaks where an lr diverged
    color = style.color(method)
    if values.shape[0] > 1:  # the band between the lowest and highest seed, broken where an lr diverged
        low = np.where(diverged, np.nan, values.min(axis=0, initial=np.inf, where=np.isfinite(values)))
        high = np.where(diverged, np.nan, values.max(axis=0, initial=-np.inf, where=np.isfinite(values)))
        ax.fill_between(lrs, low, high, color=color, alpha=0.15, linewidth=0)
    for j in np.flatnonzero(diverged):  # seeds that did finish at an lr another seed diverged at
        finite = values[np.isfinite(values[:, j]), j]
        ax.scatter(np.full(finite.size, lrs[j]), finite, s=10, color=color, alpha=0.45, linewidths=0)
    if diverged.any():
        edge = 0.97 - 0.05 * slot if task in LANGUAGE_TASKS else 0.03 + 0.05 * slot
        ax.scatter(lrs[diverged], np.full(int(diverged.sum()), edge), transform=ax.get_xaxis_transform(),
                   marker="x", color=color, s=50, linewidths=1.8, zorder=5, clip_on=False)  # fmt: skip


def _chance_lines(ax: plt.Axes, task: str, arm: Arm, train: bool = False) -> None:
    """Chance and twice chance in the drawn units."""
    if task in LANGUAGE_TASKS and not train:
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


def _extra_handles(paper: bool, fit: bool = False) -> list[Line2D]:
    """The reference lines' legend entries; ``fit``: the dash-dotted line is the fit line (deep MLP), not
    Nero's default lr."""
    reference = f"{FIT:.0%} fit (train accuracy)" if fit else "Nero's default lr 0.01"
    handles = [
        Line2D([], [], ls="--", **CHANCE_STYLE, label="chance"),
        Line2D([], [], ls=":", **CHANCE_STYLE, label="twice chance"),
        Line2D([], [], color="0.3", lw=0.8, ls="-.", label=reference),
        Line2D([], [], ls="none", marker="x", mew=1.8, color="0.3", label="diverged (any seed), on the edge"),
    ]
    if paper:
        handles.append(Line2D([], [], ls="none", marker="o", mfc="none", color="0.3",
                              label="paper's best lr (Figs. 6-7), above the frame"))  # fmt: skip
    return handles


def _legend(
    slot: plt.Axes, source: plt.Axes, paper: bool = False, fit: bool = False, lines: bool = True
) -> None:
    """The methods of ``source`` and (``lines``) the reference lines, drawn in the empty axes ``slot``."""
    handles, labels = source.get_legend_handles_labels()
    extra = _extra_handles(paper, fit) if lines else []
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
            index = arm.argmax(trained=False)
            lr = arm.lrs[index] if index is not None else math.nan
            if math.isfinite(lr):
                label = f"{style.label(method)}, best lr {lr:g}"
                _draw_curve(ax, _curve(results, specs, lr), method, label)
            if method == "nero" and DEFAULT_LR in arm.lrs and lr != DEFAULT_LR:
                _draw_curve(ax, _curve(results, specs, DEFAULT_LR), method, "Nero, default lr 0.01", "--")
        ax.set(xlabel="step", ylabel="training loss", yscale="log")
        ax.set_title(_task_title(results, task), fontsize=9)
        ax.legend(fontsize=7)
    style.save(fig, out, "curves")


def _window_interval(arm: Arm) -> tuple[float, float, float]:
    """The window over all seeds and its bootstrap interval over seeds (as the claims compute it)."""
    estimate = stats.bootstrap(list(range(arm.seeds)), arm.window)
    return estimate.value, estimate.low, estimate.high


def _plot_window(table: dict[str, dict[str, Arm]], out: Path) -> None:
    tasks = [task for task in table if task != "mlp"]
    fig, axes = _panels(len(tasks), legend=True, width=3.2)
    for ax, task in zip(axes, tasks, strict=False):
        arms = table[task]
        for k, (method, arm) in enumerate(arms.items()):
            value, low, high = _window_interval(arm)
            color, marker = style.color(method), style.marker(method)
            if math.isfinite(value):
                err = [[value - low], [high - value]] if math.isfinite(low) else None
                ax.errorbar([k], [value], yerr=err, marker=marker, color=color, capsize=4, ms=8,
                            label=style.label(method))  # fmt: skip
            else:
                ax.scatter([k], [0], marker=marker, facecolors="none", edgecolors=color, s=60,
                           label=f"{style.label(method)} (no window)")  # fmt: skip
        ax.set_xticks(range(len(arms)), [style.label(m) for m in arms], fontsize=8)
        ax.set_xlim(-0.6, len(arms) - 0.4)
        margin = (
            f"{LOSS_MARGIN - 1:.0%} of the loss"
            if task in LANGUAGE_TASKS
            else f"{100 * POINTS_MARGIN:g} points"
        )
        ax.set(ylabel=f"lrs within {margin} of the best", ylim=(-0.3, None))
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_title(TASK_NAMES[task], fontsize=9)
    if tasks:
        _legend(axes[-1], axes[0], lines=False)
    style.save(fig, out, "lr_window")


def _plot_deep_mlp(results: Results, table: dict[str, dict[str, Arm]], out: Path) -> None:
    fig, (ax, legend) = plt.subplots(1, 2, figsize=(6.4, 3.4), gridspec_kw={"width_ratios": [1.0, 0.6]})
    legend.axis("off")
    arms = table.get("mlp", {})
    if arms:
        for slot, (method, arm) in enumerate(arms.items()):
            _draw_arm(ax, "mlp", arm, method, slot, train=True)
        first = next(iter(arms.values()))
        _chance_lines(ax, "mlp", first, train=True)
        ax.axhline(style.percent(FIT), color="0.3", lw=0.8, ls="-.")
        lrs = sorted({lr for arm in arms.values() for lr in arm.lrs})
        ax.set_xscale("log")
        ax.set_xlim(lrs[0] / 1.6, lrs[-1] * 1.6)
        ax.set(xlabel="learning rate", ylabel="train accuracy (%)", ylim=(0, 100))
        ax.set_title(_task_title(results, "mlp"), fontsize=9)
        _legend(legend, ax, fit=True)
    style.save(fig, out, "deep_mlp")


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
    _plot_window(table, out)
    _plot_deep_mlp(results, table, out)
    _plot_curves(results, table, out)
    _plot_ablation(results, out)
    _plot_memory(results, out)
