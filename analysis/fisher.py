"""Figures of the fisher study, drawn only from its stored runs (pipeline.results.Results).

Tr F against the training step per arm (the paper's Tr F curves), train and test accuracy per arm (its
comparison of learning rates and penalties), early Tr F against final test accuracy (its correlation of
the two) and the fit of noisy and clean training labels (its memorisation experiment). Arms are drawn
with the colours, markers and labels of :mod:`analysis.style`; experiments are panels in config order.
Nothing is trained here.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.lines import Line2D

from analysis import style
from pipeline.core.stats import mean_interval
from pipeline.fisher.runs import FisherRun
from pipeline.results import Results

# reading order: baselines, then the Fisher penalty, then its controls
CLEAN_ARMS = ("small", "large", "small_fp", "small_gp", "small_gpx", "small_gpr")
NOISY_ARMS = ("noisy", "noisy_fp")
FIT_ACCURACY = 99.0  # percent: the train accuracy every arm should reach for a comparison of generalisation

CAPTIONS: dict[str, str] = {
    "trace_curves": (
        "Tr F (labels sampled from the model, on a fixed training subset; per example, log scale) against "
        "the training step, one panel per experiment: thin lines are single seeds, thick lines their mean, "
        "markers each seed's early peak (the number the Tr F claims compare); the shaded region is the "
        "early phase over which the peak is taken. The claims ask whether the small lr peaks at least "
        "twice as high as the large lr (the Fisher explosion) and whether the Fisher penalty lowers the "
        "small-lr peak."
    ),
    "accuracy": (
        "Top: final test accuracy (filled markers) and train accuracy on the labels trained on (open "
        "markers), side by side per clean-label arm, one column per experiment: small dots are single "
        "seeds, large markers their mean with a 95% t-interval (clipped at 101%). The dotted line is the "
        "99% train accuracy every arm must reach (the fit gate: a claim with an arm below it is "
        "inconclusive); the dashed line is half-way between the small-lr and large-lr mean test "
        "accuracies, the level the Fisher penalty should reach to close half of the gap. Bottom: train "
        "accuracy (solid) and test accuracy (dashed) against the training step, mean over seeds per arm, "
        "so that when (and whether) each arm fits its training set is visible."
    ),
    "trace_vs_accuracy": (
        "Early peak of Tr F (log scale) against final test accuracy, one marker per clean-label run "
        "(colour and marker = arm), one panel per experiment. The claim is a negative Spearman correlation "
        "over these runs; runs of one arm differ only in their seed, so the points cluster by arm."
    ),
    "memorisation": (
        "Train accuracy on the training examples whose labels were flipped (solid; fitting them is "
        "memorisation) and on the clean ones (dashed), against the step, with and without the Fisher "
        "penalty, one panel per experiment that runs the noisy-label arms: thin lines are single seeds, "
        "thick lines their mean. The claim compares how much the penalty lowers the time-averaged fit of "
        "the noisy subset with how much it lowers that of the clean subset."
    ),
}


# ------------------------------------------------------------------------------------------------ data


def load(results: Results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row of metrics per finished run, all history rows with experiment/arm/seed columns), in config
    order (experiments, then arms, then seeds)."""
    rows, histories = [], []
    for spec in results.finished(results.select(FisherRun)):
        key = {"experiment": spec.experiment, "arm": spec.arm, "seed": spec.seed_index}
        rows.append({**results.metrics(spec), **key})
        histories.append(results.history(spec).assign(**key))
    if not rows:
        raise FileNotFoundError(f"no finished fisher runs under {results.outputs.study_dir(results.study)}")
    metrics = pd.DataFrame(rows)
    for column in ("test_accuracy", "fit_accuracy", "trace_peak_early", "trace_peak_step"):
        if column not in metrics:  # e.g. every run diverged before its first evaluation
            metrics[column] = math.nan
    if "diverged" not in metrics:
        metrics["diverged"] = 0.0
    metrics["diverged"] = metrics["diverged"].fillna(0.0).astype(bool)
    return metrics, pd.concat(histories, ignore_index=True)


def _experiments(results: Results, metrics: pd.DataFrame, arms: Sequence[str]) -> list[str]:
    """Experiments (config order) with a finished run of one of ``arms``."""
    present = set(metrics.loc[metrics["arm"].isin(arms), "experiment"])
    return [exp["name"] for exp in results.section["experiments"] if exp["name"] in present]


def _panels(count: int, width: float = 4.8, height: float = 3.8) -> tuple[plt.Figure, list[plt.Axes]]:
    fig, axes = plt.subplots(1, max(count, 1), figsize=(width * max(count, 1), height), squeeze=False)
    return fig, list(axes[0])


def _seed_curves(
    ax: plt.Axes,
    frame: pd.DataFrame,
    column: str,
    arm: str,
    *,
    linestyle: str = "-",
    label: str | None = None,
    scale: float = 1.0,
) -> None:
    """Thin per-seed lines of ``column`` against the step and their mean (thick), in the arm's colour."""
    data = frame[["step", column, "seed"]].dropna()
    if data.empty:
        return
    color = style.color(arm)
    for _, seed in data.groupby("seed"):
        ax.plot(
            seed["step"], scale * seed[column], color=color, alpha=0.3, linewidth=0.7, linestyle=linestyle
        )
    mean = data.groupby("step")[column].mean()
    ax.plot(
        mean.index,
        scale * mean.values,
        color=color,
        linewidth=1.8,
        linestyle=linestyle,
        label=style.label(arm) if label is None else label,
    )


def _size(arm: str, base: float) -> float:
    """Scatter size of the arm's marker: stars and pluses drawn larger, to read as large as the others."""
    return base * (2.0 if style.marker(arm) in {"*", "P", "X"} else 1.0)


def _log_ticks(axis: object) -> None:
    """Plain numbers at 1, 2 and 5 times powers of ten, no minor labels (labels never overprint, whatever
    the range the data spans)."""
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(ticker.LogLocator(base=10, subs=tuple(range(1, 10))))
    axis.set_minor_formatter(ticker.NullFormatter())


def _empty(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


# --------------------------------------------------------------------------------------------- figures


def _trace_curves(results: Results, metrics: pd.DataFrame, history: pd.DataFrame, out: Path) -> None:
    names = _experiments(results, metrics, CLEAN_ARMS)
    fig, axes = _panels(len(names), width=5.2)
    until = {exp["name"]: exp["trace_until"] for exp in results.section["experiments"]}
    for ax, name in zip(axes, names, strict=False):
        for arm in CLEAN_ARMS:
            runs = history[(history["experiment"] == name) & (history["arm"] == arm)]
            if runs.empty or "fisher_trace" not in runs:
                continue
            _seed_curves(ax, runs, "fisher_trace", arm)
            peaks = metrics[(metrics["experiment"] == name) & (metrics["arm"] == arm)]
            ax.scatter(
                peaks["trace_peak_step"],
                peaks["trace_peak_early"],
                color=style.color(arm),
                marker=style.marker(arm),
                s=_size(arm, 45.0),
                zorder=3,
                edgecolors="white",
                linewidths=0.5,
            )
        ax.axvspan(0, until[name], color="grey", alpha=0.1, linewidth=0, label="early phase (peak window)")
        ax.set_yscale("log")
        _log_ticks(ax.yaxis)
        ax.set(xlabel="training step", ylabel="Tr F per example (log scale)", title=name)
        ax.legend(fontsize=7, loc="best")
    if not names:
        _empty(axes[0], "no clean-label runs in this config")
    style.save(fig, out, "trace_curves")


def _interval(ax: plt.Axes, x: float, values: Sequence[float], arm: str, filled: bool) -> None:
    """Per-seed dots and the mean with its 95% t-interval at ``x`` (filled or open marker)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return
    color = style.color(arm)
    ax.scatter(np.full(len(finite), x), finite, s=10, color=color, alpha=0.45, linewidths=0, zorder=2)
    estimate = mean_interval(finite)
    low = estimate.value - estimate.low if math.isfinite(estimate.low) else 0.0
    high = estimate.high - estimate.value if math.isfinite(estimate.high) else 0.0
    ax.errorbar(
        [x],
        [estimate.value],
        yerr=[[low], [high]],
        color=color,
        marker=style.marker(arm),
        markersize=7,
        markerfacecolor=color if filled else "white",
        capsize=3,
        linewidth=1.2,
        zorder=3,
    )


def _accuracy_curves(ax: plt.Axes, history: pd.DataFrame, name: str) -> None:
    """Mean train (solid) and test (dashed) accuracy against the step per clean-label arm."""
    for arm in CLEAN_ARMS:
        runs = history[(history["experiment"] == name) & (history["arm"] == arm)]
        for column, linestyle in (("fit_accuracy", "-"), ("test_accuracy", "--")):
            if runs.empty or column not in runs:
                continue
            mean = runs[["step", column]].dropna().groupby("step")[column].mean()
            label = style.label(arm) if column == "fit_accuracy" else None
            ax.plot(mean.index, 100.0 * mean.values, color=style.color(arm), linestyle=linestyle,
                    linewidth=1.3, label=label)  # fmt: skip
    ax.axhline(FIT_ACCURACY, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="training step", ylabel="accuracy (%): train solid, test dashed", ylim=(0, 102))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="lower right")


def _accuracy(results: Results, metrics: pd.DataFrame, history: pd.DataFrame, out: Path) -> None:
    names = _experiments(results, metrics, CLEAN_ARMS)
    ok = metrics[~metrics["diverged"]]
    columns = max(len(names), 1)
    fig, grid = plt.subplots(2, columns, figsize=(5.0 * columns, 8.0), squeeze=False)
    axes = list(grid[0])
    for ax, name in zip(axes, names, strict=False):
        data = ok[(ok["experiment"] == name) & ok["arm"].isin(CLEAN_ARMS)]
        arms = [arm for arm in CLEAN_ARMS if arm in set(data["arm"])]
        test_means = {}
        for i, arm in enumerate(arms):
            rows = data[data["arm"] == arm]
            test = list(style.percent(rows["test_accuracy"].astype(float).to_numpy()))
            test_means[arm] = float(np.nanmean(test)) if test else math.nan
            _interval(ax, i - 0.15, test, arm, filled=True)
            _interval(
                ax,
                i + 0.15,
                list(style.percent(rows["fit_accuracy"].astype(float).to_numpy())),
                arm,
                filled=False,
            )
        ax.axhline(FIT_ACCURACY, color="grey", linestyle=":", linewidth=1)
        if {"small", "large"} <= set(test_means):
            halfway = (test_means["small"] + test_means["large"]) / 2
            ax.axhline(halfway, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(arms)), [textwrap.fill(style.label(a), 14) for a in arms], fontsize=7)
        ax.set_xlim(-0.6, len(arms) - 0.4)
        low = np.nanmin(style.percent(data[["test_accuracy", "fit_accuracy"]].astype(float).to_numpy()))
        ax.set_ylim(max(0.0, low - 8.0) if np.isfinite(low) else 0.0, 101.0)  # intervals past 100% clipped
        ax.set(ylabel="accuracy (%)", title=name)
    if names:
        handles = [
            Line2D([], [], color="grey", marker="o", linestyle="none", label="test"),
            Line2D(
                [],
                [],
                color="grey",
                marker="o",
                markerfacecolor="white",
                linestyle="none",
                label="train (labels trained on)",
            ),
            Line2D([], [], color="grey", linestyle=":", label=f"{FIT_ACCURACY:g}% train (fit check)"),
            Line2D([], [], color="grey", linestyle="--", label="half-way small → large lr (test)"),
        ]
        axes[0].legend(handles=handles, fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(0.0, -0.2))
    for ax, name in zip(grid[1], names, strict=False):
        _accuracy_curves(ax, history, name)
    if not names:
        _empty(axes[0], "no clean-label runs in this config")
        grid[1][0].set_visible(False)
    style.save(fig, out, "accuracy")


def _trace_vs_accuracy(results: Results, metrics: pd.DataFrame, out: Path) -> None:
    names = _experiments(results, metrics, CLEAN_ARMS)
    ok = metrics[~metrics["diverged"]]
    fig, axes = _panels(len(names))
    for ax, name in zip(axes, names, strict=False):
        data = ok[(ok["experiment"] == name) & ok["arm"].isin(CLEAN_ARMS)]
        for arm in CLEAN_ARMS:
            rows = data[data["arm"] == arm]
            if rows.empty:
                continue
            ax.scatter(
                rows["trace_peak_early"],
                style.percent(rows["test_accuracy"].astype(float).to_numpy()),
                color=style.color(arm),
                marker=style.marker(arm),
                s=_size(arm, 36.0),
                label=style.label(arm),
            )
        ax.set_xscale("log")
        _log_ticks(ax.xaxis)
        ax.set(xlabel="early peak of Tr F (log scale)", ylabel=style.ACCURACY_LABEL, title=name)
        ax.legend(fontsize=7, loc="best")
    if not names:
        _empty(axes[0], "no clean-label runs in this config")
    style.save(fig, out, "trace_vs_accuracy")


def _memorisation(results: Results, metrics: pd.DataFrame, history: pd.DataFrame, out: Path) -> None:
    names = _experiments(results, metrics, NOISY_ARMS)
    fig, axes = _panels(len(names), width=5.6, height=4.0)
    for ax, name in zip(axes, names, strict=False):
        for arm in NOISY_ARMS:
            runs = history[(history["experiment"] == name) & (history["arm"] == arm)]
            if runs.empty or "noisy_fit" not in runs:
                continue
            _seed_curves(ax, runs, "noisy_fit", arm, label=f"{style.label(arm)}: noisy subset", scale=100.0)
            _seed_curves(
                ax,
                runs,
                "clean_fit",
                arm,
                linestyle="--",
                label=f"{style.label(arm)}: clean subset",
                scale=100.0,
            )
        ax.set(xlabel="training step", ylabel="train accuracy on the trained labels (%)", ylim=(0, 102))
        ax.set_title(name)
        ax.legend(fontsize=7, loc="best")
    if not names:
        _empty(axes[0], "no noisy-label runs in this config")
    style.save(fig, out, "memorisation")


def plot(results: Results, out: Path) -> None:
    """Draw every figure in :data:`CAPTIONS` from the study's finished runs into ``out``."""
    out = Path(out)
    metrics, history = load(results)
    _trace_curves(results, metrics, history, out)
    _accuracy(results, metrics, history, out)
    _trace_vs_accuracy(results, metrics, out)
    _memorisation(results, metrics, history, out)
