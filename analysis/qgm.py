"""Figures of the qgm study, drawn only from its stored runs (pipeline.results.Results).

Runs and metrics: pipeline/qgm/runs.py and training.py. "local" accuracy is the mean test accuracy of the
workers' own models (what the paper reports); "averaged" is the test accuracy of the average model x̄; a
run's accuracy is its score, the mean over its last evaluations. Both are in percent and read per seed with
the claims' own reader (pipeline/qgm/claims.py), so a figure shows exactly the numbers its claims are
computed from; a missing or diverged run is left out. Every panel with seeds shows each seed, and the mean
with its 95% t-interval or the seeds' range. All-reduce SGDm-N runs only at ``reference_alphas``; where it
has no run at an alpha, it is drawn as a horizontal reference (its mean and 95% interval).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator, NullFormatter

from analysis import style
from pipeline.core.stats import mean_interval
from pipeline.qgm import claims as readers
from pipeline.qgm.runs import REFERENCE, QgmRun, TuneRun
from pipeline.results import Results

CAPTIONS: dict[str, str] = {
    "partitions": (
        "Per-worker class histograms of the Dirichlet partition of seed 0 for each alpha (smaller alpha = "
        "more heterogeneous): rows are workers, colours classes. Every method of a seed trains on the same "
        "partition."
    ),
    "accuracy_vs_alpha": (
        "Test accuracy (%, mean over a run's last evaluations) against the Dirichlet concentration alpha "
        "(heterogeneity grows to the right) per method on the ring, each method at its lr tuned on the "
        "validation split; left: mean over the local models (the number the paper reports), right: the "
        "averaged model x̄. Dots are seeds, markers the mean over seeds. All-reduce SGDm-N is the "
        "centralized reference (a horizontal line and band, its mean and 95% interval, where it runs at "
        "one alpha only)."
    ),
    "accuracy_curves": (
        "Test accuracy of the averaged model x̄ (%) over training, one panel per alpha, one line per "
        "method at its tuned lr: mean over seeds, band: range of the seeds; the lr decays ×0.1 at the grey "
        "lines."
    ),
    "paired_differences": (
        "The paired differences the claims are computed from (points; the runs of a seed share the "
        "initialisation, batch order and partition). Left: acc(QG-DSGDm-N) − acc(DSGDm-N) at each alpha. "
        "Right: acc(method) − acc(all-reduce SGDm-N) of the same seed for each decentralized method at "
        "the alphas all-reduce runs at; the band is the equivalence margin of the near-IID claim (1 point, "
        "or all-reduce's own 95% half-width where wider). Dots are seeds, markers the mean with its 95% "
        "t-interval."
    ),
    "accuracy_table": (
        "Mean test accuracy (%, mean of the local models over a run's last evaluations) per method (rows) "
        "and alpha (columns), ± the half-width of its 95% t-interval over seeds, each method at its tuned "
        "lr; the means, half-widths and lrs are also in accuracy_table.csv."
    ),
    "xi_curves": (
        "Consensus distance Ξ²_t = (1/n) Σ‖x_i − x̄‖² over training (running mean over 10 steps, log "
        "scale), one panel per alpha, one line per decentralized method: mean over seeds, band: range of "
        "the seeds; the lr decays ×0.1 at the grey lines. The claim compares Ξ² averaged over training "
        "for QG-DSGDm-N and DSGDm-N at the smallest alpha."
    ),
    "lr_tuning": (
        "Learning-rate tuning on seed index 0: the score on the held-out validation split (mean local "
        "accuracy over the last evaluations) of every lr of each method's grid, one panel per alpha; the "
        "ringed marker is the lr every seed of that (method, alpha) trains at. A choice at an end of the "
        "grid means the optimum may lie outside it."
    ),
}

METHOD_ORDER = ["allreduce_sgdm_n", "dsgd", "dsgdm_n", "qg_dsgdm_n", "d2", "gradient_tracking"]


def _methods(results: Results) -> list[str]:
    return [m for m in METHOD_ORDER if m in results.section["methods"]]


def _alphas(results: Results) -> list[float]:
    """The alphas from the most homogeneous to the most heterogeneous."""
    return sorted(results.section["alphas"], reverse=True)


def _alpha_axis(ax: plt.Axes, alphas: list[float]) -> None:
    ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    ax.set_xlabel("Dirichlet alpha (more heterogeneous →)")


def _offsets(count: int, width: float = 0.36) -> list[float]:
    return list(np.linspace(-width / 2, width / 2, count)) if count > 1 else [0.0]


def _seeds_and_interval(ax: plt.Axes, x: float, values: list[float], method: str, label: bool) -> None:
    """Per-seed dots at ``x`` and their mean with its 95% t-interval, in the method's style."""
    finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    ax.scatter(np.full(finite.size, x), finite, s=12, color=style.color(method), alpha=0.5, linewidths=0)
    estimate = mean_interval(list(finite))
    if not np.isfinite(estimate.value):
        return
    yerr = None
    if np.isfinite(estimate.low):
        yerr = [[estimate.value - estimate.low], [estimate.high - estimate.value]]
    ax.errorbar(
        [x],
        [estimate.value],
        yerr=yerr,
        color=style.color(method),
        marker=style.marker(method),
        markersize=6,
        capsize=3,
        linestyle="none",
        label=style.label(method) if label else None,
    )


def _reference_band(ax: plt.Axes, values: list[float], label: bool) -> None:
    """All-reduce's mean (line) and 95% interval (band) across the panel."""
    estimate = mean_interval(values)
    if not np.isfinite(estimate.value):
        return
    colour = style.color(REFERENCE)
    ax.axhline(estimate.value, color=colour, lw=1.0, label=style.label(REFERENCE) if label else None)
    if np.isfinite(estimate.low):
        ax.axhspan(estimate.low, estimate.high, color=colour, alpha=0.1, lw=0)


def _accuracy_vs_alpha(results: Results, out: Path) -> None:
    alphas, methods = _alphas(results), _methods(results)
    reference_alphas = [float(a) for a in results.section["reference_alphas"]]
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.5), sharey=True)
    panels = (("local models", readers.ACCURACY), ("averaged model x̄", "score_test_avg_accuracy"))
    for ax, (title, key) in zip(axes, panels, strict=True):
        for method, offset in zip(methods, _offsets(len(methods)), strict=True):
            values = [[100.0 * v for v in readers.seed_values(results, method, a, key)] for a in alphas]
            if method == REFERENCE and len(reference_alphas) == 1:
                _reference_band(ax, values[alphas.index(reference_alphas[0])], label=True)
                continue
            style.seed_points(ax, range(len(alphas)), values, method, offset=offset)
        _alpha_axis(ax, alphas)
        ax.set(ylabel=style.ACCURACY_LABEL, title=title)
        ax.yaxis.set_tick_params(labelleft=True)
    axes[0].legend(fontsize=7)
    style.save(fig, out, "accuracy_vs_alpha")


def _paired_differences(results: Results, out: Path) -> None:
    alphas, methods = _alphas(results), _methods(results)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.5))
    for i, alpha in enumerate(alphas):
        _seeds_and_interval(left, i, readers.advantage(results, alpha), "qg_dsgdm_n", label=False)
    left.axhline(0.0, color="grey", lw=0.8, ls="--")
    left.set(title="QG-DSGDm-N − DSGDm-N", ylabel="accuracy difference (points)")
    _alpha_axis(left, alphas)
    others = [m for m in methods if m != REFERENCE]
    reference_alphas = [a for a in alphas if a in {float(r) for r in results.section["reference_alphas"]}]
    if REFERENCE in methods and reference_alphas:
        margin = readers.equivalence_margin(readers.accuracy(results, REFERENCE, alphas[0]))
        right.axhspan(-margin, margin, color="grey", alpha=0.12, lw=0, label=f"±{margin:.2g} point margin")
        for method, offset in zip(others, _offsets(len(others)), strict=True):
            for i, alpha in enumerate(alphas):
                if alpha not in reference_alphas:
                    continue
                difference = np.subtract(
                    readers.accuracy(results, method, alpha), readers.accuracy(results, REFERENCE, alpha)
                )
                _seeds_and_interval(
                    right, i + offset, list(difference), method, label=alpha == reference_alphas[0]
                )
        right.axhline(0.0, color=style.color(REFERENCE), lw=0.8, ls="--")
        right.legend(fontsize=7)
    else:
        right.text(0.5, 0.5, "no all-reduce SGDm-N runs", ha="center", va="center", transform=right.transAxes)
    right.set(title=f"method − {style.label(REFERENCE)}", ylabel="accuracy difference (points)")
    _alpha_axis(right, alphas)
    style.save(fig, out, "paired_differences")


def _chosen_lr(results: Results, method: str, alpha: float) -> float:
    """The lr the seeds of (method, alpha) train at (from its seed-0 run; NaN before it ran)."""
    found = results.finished(results.select(QgmRun, method=method, alpha=alpha, seed_index=0))
    return float(results.metrics(found[0]).get("lr", np.nan)) if found else np.nan


def _accuracy_table(results: Results, out: Path) -> None:
    alphas, methods = _alphas(results), _methods(results)
    means = pd.DataFrame(index=methods, columns=alphas, dtype=float)
    notes = pd.DataFrame(index=methods, columns=alphas, dtype=object)
    extra: dict[str, list[float]] = {}
    for method in methods:
        for alpha in alphas:
            estimate = mean_interval(readers.accuracy(results, method, alpha))
            means.loc[method, alpha] = estimate.value
            half = (estimate.high - estimate.low) / 2
            lr = _chosen_lr(results, method, alpha)
            extra.setdefault(f"ci_{alpha:g}", []).append(round(half, 2) if np.isfinite(half) else np.nan)
            extra.setdefault(f"lr_{alpha:g}", []).append(lr)
            notes.loc[method, alpha] = (
                ""
                if not np.isfinite(estimate.value)
                else f"{estimate.value:.1f}"
                + (f" ±{half:.1f}" if np.isfinite(half) else "")
                + (f"\nlr {lr:g}" if np.isfinite(lr) else "")
            )
    out.mkdir(parents=True, exist_ok=True)
    table = means.round(2)
    table.columns = [f"{a:g}" for a in alphas]
    table.insert(0, "label", [style.label(m) for m in methods])
    for key, values in extra.items():
        table[key] = values
    table.to_csv(out / "accuracy_table.csv", index_label="method")
    fig, ax = plt.subplots(figsize=(5.8, 0.6 * len(methods) + 1.4))
    if means.notna().any().any():
        sns.heatmap(
            means,
            annot=notes.to_numpy(),
            fmt="",
            cmap="viridis",
            ax=ax,
            cbar_kws={"label": style.ACCURACY_LABEL},
            annot_kws={"fontsize": 7},
        )
    ax.set_xticks(np.arange(len(alphas)) + 0.5, [f"{a:g}" for a in alphas])
    ax.set_yticks(np.arange(len(methods)) + 0.5, [style.label(m) for m in methods], rotation=0)
    ax.set(xlabel="Dirichlet alpha (more heterogeneous →)", ylabel="method")
    style.save(fig, out, "accuracy_table")


def _decays(history: pd.DataFrame) -> list[float]:
    """Steps at which the logged lr falls (the lr decays)."""
    if "train_lr" not in history:
        return []
    lr = history.dropna(subset=["train_lr"]).drop_duplicates("step")
    return list(lr["step"].to_numpy()[1:][np.diff(lr["train_lr"].to_numpy()) < 0])


def _accuracy_curves(results: Results, out: Path) -> None:
    alphas, methods = _alphas(results), _methods(results)
    fig, axes = plt.subplots(1, len(alphas), figsize=(3.3 * len(alphas), 3.3), squeeze=False, sharey=True)
    for i, (ax, alpha) in enumerate(zip(axes[0], alphas, strict=True)):
        decays: list[float] = []
        for method in methods:
            specs = results.finished(results.select(QgmRun, method=method, alpha=alpha))
            if not specs:
                continue
            frames = []
            for spec in specs:
                history = results.history(spec)
                decays = decays or _decays(history)
                frames.append(history.dropna(subset=["test_avg_accuracy"])[["step", "test_avg_accuracy"]])
            grouped = pd.concat(frames, ignore_index=True).groupby("step")["test_avg_accuracy"]
            mean = 100.0 * grouped.mean()
            ax.plot(mean.index, mean.to_numpy(), color=style.color(method), lw=0.9, label=style.label(method))
            ax.fill_between(mean.index, 100.0 * grouped.min().to_numpy(), 100.0 * grouped.max().to_numpy(),
                            color=style.color(method), alpha=0.15, lw=0)  # fmt: skip
        for step in decays:
            ax.axvline(step, color="grey", lw=0.6, ls=":")
        ax.set(xlabel="step", ylabel="test accuracy of x̄ (%)", title=f"alpha = {alpha:g}")
        ax.yaxis.set_tick_params(labelleft=True)
        if i == 0 and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    style.save(fig, out, "accuracy_curves")


def _lr_tuning(results: Results, out: Path) -> None:
    alphas, methods = _alphas(results), _methods(results)
    fig, axes = plt.subplots(1, len(alphas), figsize=(3.3 * len(alphas), 3.3), squeeze=False, sharey=True)
    grid = sorted({t.lr for t in results.select(TuneRun)})
    for i, (ax, alpha) in enumerate(zip(axes[0], alphas, strict=True)):
        for method in methods:
            trials = results.finished(results.select(TuneRun, method=method, alpha=alpha))
            if not trials:
                continue
            lrs = [t.lr for t in trials]
            scores = [100.0 * v for v in (readers.validation_score(results.metrics(t)) for t in trials)]
            look = {"color": style.color(method), "marker": style.marker(method)}
            ax.plot(lrs, scores, lw=1.0, label=style.label(method), **look)
            lr = _chosen_lr(results, method, alpha)
            if lr in lrs:
                ax.scatter([lr], [scores[lrs.index(lr)]], s=90, facecolors="none", edgecolors=look["color"])
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        if grid:
            ax.set_xticks(grid, [f"{lr:g}" for lr in grid], fontsize=6, rotation=90)
        ax.set(xlabel="peak learning rate", ylabel="validation accuracy (%)", title=f"alpha = {alpha:g}")
        ax.yaxis.set_tick_params(labelleft=True)
        if i == 0 and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    style.save(fig, out, "lr_tuning")


def _xi_curves(results: Results, out: Path) -> None:
    alphas = _alphas(results)
    methods = [m for m in _methods(results) if m != REFERENCE]
    fig, axes = plt.subplots(1, len(alphas), figsize=(3.3 * len(alphas), 3.3), squeeze=False)
    for i, (ax, alpha) in enumerate(zip(axes[0], alphas, strict=True)):
        decays: list[float] = []
        positive = False
        for method in methods:
            specs = results.finished(results.select(QgmRun, method=method, alpha=alpha))
            frames = []
            for spec in specs:
                h = results.history(spec).dropna(subset=["train_xi_sq"])
                frames.append(h.assign(xi_sq=h["train_xi_sq"].rolling(10, min_periods=1).mean()))
                decays = decays or _decays(h)
            if not frames:
                continue
            grouped = pd.concat(frames, ignore_index=True).groupby("step")["xi_sq"]
            mean = grouped.mean()
            ax.plot(mean.index, mean.to_numpy(), color=style.color(method), lw=0.9, label=style.label(method))
            ax.fill_between(
                mean.index,
                grouped.min().to_numpy(),
                grouped.max().to_numpy(),
                color=style.color(method),
                alpha=0.15,
                lw=0,
            )
            positive = positive or bool((mean > 0).any())
        if positive:
            ax.set_yscale("log")
        for step in decays:
            ax.axvline(step, color="grey", lw=0.6, ls=":")
        ax.set(xlabel="step", ylabel="consensus distance Ξ²", title=f"alpha = {alpha:g}")
        if i == 0 and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    style.save(fig, out, "xi_curves")


def _partitions(results: Results, out: Path) -> None:
    parts: dict[float, np.ndarray] = {}
    for spec in results.finished(results.select(QgmRun, seed_index=0)):
        if spec.alpha not in parts:
            parts[spec.alpha] = np.asarray(results.metrics(spec)["class_counts"], dtype=float)
    alphas = [a for a in _alphas(results) if a in parts]
    fig, axes = plt.subplots(1, max(1, len(alphas)), figsize=(3.0 * max(1, len(alphas)), 3.3), squeeze=False)
    for ax, alpha in zip(axes[0], alphas, strict=False):
        counts = parts[alpha]
        left = np.zeros(len(counts))
        colours = sns.color_palette("tab10", counts.shape[1])
        for c in range(counts.shape[1]):
            ax.barh(
                np.arange(len(counts)),
                counts[:, c],
                left=left,
                color=colours[c],
                height=0.9,
                label=f"class {c}",
            )
            left += counts[:, c]
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.invert_yaxis()
        ax.set(title=f"alpha = {alpha:g}", xlabel="training samples (colour = class)", ylabel="worker")
    if alphas:
        axes[0][len(alphas) - 1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    style.save(fig, out, "partitions")


def plot(results: Results, out: Path) -> None:
    """Draw every figure in :data:`CAPTIONS` from the study's finished runs into ``out``."""
    out = Path(out)
    _partitions(results, out)
    _accuracy_vs_alpha(results, out)
    _accuracy_curves(results, out)
    _paired_differences(results, out)
    _accuracy_table(results, out)
    _xi_curves(results, out)
    _lr_tuning(results, out)
