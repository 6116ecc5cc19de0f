"""Figures of the fisher study, drawn only from its stored runs (pipeline.results.Results).

Tr F curves (fisher.md §4 "Fig. 1-style"), test accuracy per arm ("Table 1-style"), early Tr F against
final accuracy ("Correlation") and memorisation of noisy labels ("Noisy labels"). Nothing is trained here.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from analysis.style import save
from pipeline.fisher.runs import FisherRun
from pipeline.results import Results

ARM_LABELS = {
    "small": "small lr",
    "large": "large lr",
    "small_fp": "small lr + FP",
    "small_gp": "small lr + GP",
    "noisy": "noisy labels",
    "noisy_fp": "noisy labels + FP",
}
CLEAN_ARMS = ("small", "large", "small_fp", "small_gp")

CAPTIONS: dict[str, str] = {
    "trace_curves": (
        "Tr F (labels sampled from the model, fixed 256-example training subset; log scale) against the "
        "training step, one panel per experiment; lines are seed means, bands the min-max over seeds; the "
        "shaded region is the early phase over which the peak is taken. Look for: a higher early peak at the "
        "small lr (the Fisher explosion), and a lower one when the small lr is trained with the Fisher "
        "penalty (FP) or the gradient-norm control (GP)."
    ),
    "test_accuracy": (
        "Final test accuracy per arm and experiment: bars are seed means, dots single seeds. Look for: "
        "large lr "
        "above small lr, and small lr + FP recovering at least half of that gap (the dashed line marks the "
        "half-way point between small and large lr)."
    ),
    "trace_vs_accuracy": (
        "Early peak Tr F (log scale) against final test accuracy, one dot per clean-label run, colour = arm. "
        "Look for: a negative trend (the higher the early Fisher peak, the worse the final accuracy)."
    ),
    "memorisation": (
        "Training accuracy on the examples whose labels were flipped (noisy, fit to the wrong label) "
        "and on the "
        "clean ones, against the step, with and without the Fisher penalty; seed means with min-max bands. "
        "Look for: FP delaying the fit of the noisy examples much more than that of the clean ones."
    ),
}


def load(results: Results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row of metrics per finished run, all history rows with experiment/arm/seed columns).

    Runs come in the order of their ids (the order the figures' panels and legends have always had)."""
    rows, histories = [], []
    for spec in sorted(results.finished(results.select(FisherRun)), key=lambda s: s.id):
        key = {"experiment": spec.experiment, "arm": spec.arm, "seed": spec.seed_index}
        rows.append({**key, **results.metrics(spec)})
        histories.append(results.history(spec).assign(**key))
    if not rows:
        raise FileNotFoundError(f"no finished fisher runs under {results.outputs.study_dir(results.study)}")
    return pd.DataFrame(rows), pd.concat(histories, ignore_index=True)


def _curve(ax: plt.Axes, frame: pd.DataFrame, column: str, label: str, **style: object) -> None:
    data = frame[["step", column, "seed"]].dropna()
    if data.empty:
        return
    grouped = data.groupby("step")[column]
    mean, low, high = grouped.mean(), grouped.min(), grouped.max()
    (line,) = ax.plot(mean.index, mean.values, label=label, **style)
    ax.fill_between(mean.index, low.values, high.values, color=line.get_color(), alpha=0.2, linewidth=0)


def _trace_curves(metrics: pd.DataFrame, history: pd.DataFrame, out: Path) -> None:
    names = list(dict.fromkeys(metrics["experiment"]))
    fig, axes = plt.subplots(1, len(names), figsize=(5.0 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for arm in CLEAN_ARMS:
            subset = history[(history["experiment"] == name) & (history["arm"] == arm)]
            _curve(ax, subset, "fisher_trace", ARM_LABELS[arm])
        rows = metrics[metrics["experiment"] == name]
        until = rows["trace_until"].max() if "trace_until" in rows else rows["trace_peak_step"].max()
        ax.axvspan(0, max(float(until), 1.0), color="grey", alpha=0.08)
        ax.set(yscale="log", xlabel="step", ylabel="Tr F (per example)", title=name)
        ax.legend(fontsize=7)
    save(fig, out, "trace_curves")


def _test_accuracy(metrics: pd.DataFrame, out: Path) -> None:
    clean = metrics[metrics["arm"].isin(CLEAN_ARMS)].copy()
    clean["arm"] = clean["arm"].map(ARM_LABELS)
    order = [ARM_LABELS[a] for a in CLEAN_ARMS if ARM_LABELS[a] in set(clean["arm"])]
    names = list(dict.fromkeys(clean["experiment"]))
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        data = clean[clean["experiment"] == name]
        sns.barplot(data=data, x="arm", y="test_accuracy", order=order, errorbar=None, ax=ax, alpha=0.6)
        sns.stripplot(data=data, x="arm", y="test_accuracy", order=order, color="black", size=4, ax=ax)
        means = data.groupby("arm")["test_accuracy"].mean()
        if {"small lr", "large lr"} <= set(means.index):
            ax.axhline((means["small lr"] + means["large lr"]) / 2, linestyle="--", color="grey", linewidth=1)
        low = data["test_accuracy"].min()
        ax.set(
            ylim=(max(0.0, low - 0.05), min(1.0, data["test_accuracy"].max() + 0.02)),
            title=name,
            xlabel="",
            ylabel="test accuracy",
        )
        ax.tick_params(axis="x", labelrotation=20)
    save(fig, out, "test_accuracy")


def _trace_vs_accuracy(metrics: pd.DataFrame, out: Path) -> None:
    clean = metrics[metrics["arm"].isin(CLEAN_ARMS)].assign(arm=lambda f: f["arm"].map(ARM_LABELS))
    names = list(dict.fromkeys(clean["experiment"]))
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        data = clean[clean["experiment"] == name]
        sns.scatterplot(data=data, x="trace_peak_early", y="test_accuracy", hue="arm", ax=ax)
        ax.set(xscale="log", xlabel="early peak Tr F", ylabel="test accuracy", title=name)
        ax.legend(fontsize=7)
    save(fig, out, "trace_vs_accuracy")


def _memorisation(history: pd.DataFrame, out: Path) -> None:
    noisy = history[history["arm"].isin(["noisy", "noisy_fp"])]
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    if noisy.empty or "noisy_fit" not in noisy:
        ax.text(0.5, 0.5, "no noisy-label runs in this config", ha="center", va="center")
    else:
        palette = sns.color_palette("colorblind")
        for (name, arm), frame in noisy.groupby(["experiment", "arm"]):
            color = palette[0] if arm == "noisy" else palette[1]
            _curve(ax, frame, "noisy_fit", f"{name} {ARM_LABELS[arm]}: noisy subset", color=color)
            _curve(
                ax, frame, "clean_fit", f"{name} {ARM_LABELS[arm]}: clean subset", color=color, linestyle="--"
            )
        ax.legend(fontsize=7)
    ax.set(xlabel="step", ylabel="train accuracy (on the labels trained on)", ylim=(0, 1.02))
    save(fig, out, "memorisation")


def plot(results: Results, out: Path) -> None:
    """Draw every figure in :data:`CAPTIONS` from the study's finished runs into ``out``."""
    out = Path(out)
    metrics, history = load(results)
    _trace_curves(metrics, history, out)
    _test_accuracy(metrics, out)
    _trace_vs_accuracy(metrics, out)
    _memorisation(history, out)
