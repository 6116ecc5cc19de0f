"""Figures of the selfish_rnn study, drawn only from its stored runs (pipeline.results.Results).

Nothing here trains: validation curves, the switch epochs, test perplexities, parameter counts and per-gate
densities all come from the runs (pipeline/selfish_rnn/experiment.py); the per-seed values and paired
estimates are the ones the claims use (pipeline/selfish_rnn/claims.py). Methods: docs/selfish_rnn.md.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from analysis import style
from pipeline.core.stats import Estimate, paired_difference, paired_log_ratio
from pipeline.results import Results
from pipeline.selfish_rnn.claims import per_seed
from pipeline.selfish_rnn.runs import SelfishRun

METHOD_ORDER = ["dense", "static", "set", "selfish"]
OPTIMIZER_ORDER = ["sgd", "sntasgd"]
GATE_NAMES = {"i": "input gate", "f": "forget gate", "g": "cell gate", "o": "output gate"}
_GATE_PALETTE = sns.color_palette("colorblind", 10)
GATE_COLORS = dict(zip(GATE_NAMES, [_GATE_PALETTE[i] for i in (0, 1, 3, 9)], strict=True))
PPL_LABEL = "test perplexity"

CAPTIONS: dict[str, str] = {
    "val_curves": (
        "Validation perplexity per epoch for dense, static sparse, SET and Selfish-RNN: thin lines are single"
        " seeds, thick lines their mean; left SGD, right SNT-ASGD. In the SNT-ASGD panel the epoch at which "
        "the non-monotone trigger switched a run to averaging is marked by a dotted vertical line in the "
        "method's colour (from then on validation uses the averaged weights); a run without a line never "
        "switched."
    ),
    "ppl_table": (
        "Test perplexity (on the best-validation weights) per method and optimiser: small dots are single "
        "seeds, a grey line joins the SGD and SNT-ASGD runs of one seed (they share the initialisation), the "
        "large marker and the number are the mean over seeds; the axis labels give each method's mean count "
        "of usable weights (non-zero mask entries plus dense biases) at the end of training. Diverged or "
        "missing runs are left out."
    ),
    "paired_gaps": (
        "The paired quantities the comparative claims test, per seed (small dots) with their mean and 95% "
        "t-interval (bar; no bar with fewer than 2 pairs). Left: test perplexity of SGD minus SNT-ASGD for "
        "each sparse method (in the method's colour), and of static sparse minus Selfish-RNN for each "
        "optimiser (in the optimiser's colour); the claims say > 0, above the line. Right: test perplexity of"
        " Selfish-RNN divided by that of the dense model trained with the same optimiser (geometric mean; the"
        " claim says <= 1, below the line)."
    ),
    "gate_share": (
        "Share of each LSTM matrix's non-zero weights held by each gate (input, forget, cell, output) at "
        "every epoch end: thin lines are single runs (every seed and optimiser), thick lines their mean; top "
        "row Selfish-RNN (one budget per stacked matrix, so gates compete), bottom row SET (a fixed budget "
        "per gate). The grey line marks an equal share of 1/4."
    ),
}


def _load(results: Results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics (one row per finished run) and histories (epoch rows, tagged with the run's spec fields)."""
    metrics, histories = results.frame(SelfishRun), []
    for spec in results.finished(results.select(SelfishRun)):
        history = results.history(spec)
        if "epoch" not in history:
            continue
        history = history[history["epoch"].notna()].copy()
        for key in ("method", "optimizer", "seed_index"):
            history[key] = getattr(spec, key)
        histories.append(history)
    return metrics, pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()


def _methods(results: Results) -> list[str]:
    return [m for m in METHOD_ORDER if m in results.section["methods"]]


def _optimizers(results: Results) -> list[str]:
    return [o for o in OPTIMIZER_ORDER if o in results.section["optimizers"]]


def _empty(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


# ---------------------------------------------------------------------------------------- val_curves


def _val_curves(results: Results, metrics: pd.DataFrame, history: pd.DataFrame, out: Path) -> None:
    optimizers = _optimizers(results)
    fig, axes = plt.subplots(
        1, len(optimizers), figsize=(5.2 * len(optimizers), 3.8), sharey=True, squeeze=False
    )
    for ax, optimizer in zip(axes[0], optimizers, strict=True):
        part = history[history["optimizer"] == optimizer] if not history.empty else history
        for method in _methods(results):
            runs = part[part["method"] == method] if not part.empty else part
            if runs.empty:
                continue
            color = style.color(method)
            finite = runs[np.isfinite(runs["val_ppl"])]
            for _, seed_run in finite.groupby("seed_index"):
                ax.plot(seed_run["epoch"], seed_run["val_ppl"], color=color, alpha=0.35, linewidth=0.8)
            curve = finite.groupby("epoch")["val_ppl"].mean()
            ax.plot(
                curve.index,
                curve.values,
                color=color,
                marker=style.marker(method),
                markevery=max(1, len(curve) // 6),
                linewidth=1.8,
                label=style.label(method),
            )
            switched = metrics[(metrics["method"] == method) & (metrics["optimizer"] == optimizer)]
            for epoch in switched.get("switch_epoch", pd.Series(dtype=float)):
                if epoch is not None and np.isfinite(epoch) and epoch > 0:
                    ax.axvline(epoch, color=color, linestyle=":", linewidth=1.2)
        title = style.label(optimizer)
        ax.set_title(f"{title} (dotted: switch to averaging)" if optimizer == "sntasgd" else title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("validation perplexity")
        ax.yaxis.set_tick_params(labelleft=True)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    style.save(fig, out, "val_curves")


# ----------------------------------------------------------------------------------------- ppl_table


def _ppl_table(results: Results, metrics: pd.DataFrame, out: Path) -> None:
    methods, optimizers = _methods(results), _optimizers(results)
    spread = np.linspace(-0.18, 0.18, len(optimizers)) if len(optimizers) > 1 else [0.0]
    offsets = dict(zip(optimizers, spread, strict=True))
    fig, ax = plt.subplots(figsize=(1.7 * len(methods) + 2.6, 4.2))
    x = np.arange(len(methods), dtype=float)
    values = {o: [per_seed(results, "test_ppl", m, o) for m in methods] for o in optimizers}
    if len(optimizers) > 1:  # join the runs of one seed across optimisers (paired by initialisation)
        first, last = optimizers[0], optimizers[-1]
        for i in range(len(methods)):
            for a, b in zip(values[first][i], values[last][i], strict=True):
                if math.isfinite(a) and math.isfinite(b):
                    ax.plot([x[i] + offsets[first], x[i] + offsets[last]], [a, b], color="0.6", linewidth=0.7)
    for optimizer in optimizers:
        style.seed_points(ax, x, values[optimizer], optimizer, offset=offsets[optimizer], connect=False)
        for xi, seeds in zip(x, values[optimizer], strict=True):
            finite = [v for v in seeds if math.isfinite(v)]
            if finite:
                ax.annotate(
                    f"{np.mean(finite):.1f}",
                    (xi + offsets[optimizer], np.mean(finite)),
                    xytext=(6, 0),
                    textcoords="offset points",
                    fontsize=7,
                    va="center",
                    color=style.color(optimizer),
                )
    params = metrics.groupby("method")["parameters"].mean() if "parameters" in metrics else pd.Series()
    ax.set_xticks(x)
    ax.set_xticklabels([_method_tick(m, params) for m in methods])
    ax.set_xlim(-0.6, len(methods) - 0.4)
    ax.set_ylabel(PPL_LABEL)
    ax.set_title("test perplexity per seed (dots) and mean (markers)")
    ax.legend(fontsize=8)
    style.save(fig, out, "ppl_table")


def _method_tick(method: str, params: pd.Series) -> str:
    """The method's label and its mean count of usable weights (when known)."""
    count = params.get(method, math.nan)
    return f"{style.label(method)}\n{int(count):,} weights" if np.isfinite(count) else style.label(method)


# --------------------------------------------------------------------------------------- paired_gaps


def _interval(ax: plt.Axes, x: float, estimate: Estimate, method: str) -> None:
    if estimate.n >= 2 and math.isfinite(estimate.low) and math.isfinite(estimate.high):
        ax.errorbar(
            [x],
            [estimate.value],
            yerr=[[estimate.value - estimate.low], [estimate.high - estimate.value]],
            color=style.color(method),
            capsize=4,
            linewidth=1.4,
            fmt="none",
        )


def _paired_gaps(results: Results, out: Path) -> None:
    methods, optimizers = _methods(results), _optimizers(results)
    differences: list[tuple[str, str, list[float], list[float]]] = []  # label, style method, a, b
    if {"sgd", "sntasgd"} <= set(optimizers):
        for method in [m for m in methods if m != "dense"]:
            differences.append(
                (
                    f"{style.label(method)}:\n{style.label('sgd')}\n− {style.label('sntasgd')}",
                    method,
                    per_seed(results, "test_ppl", method, "sgd"),
                    per_seed(results, "test_ppl", method, "sntasgd"),
                )
            )
    if {"static", "selfish"} <= set(methods):
        for optimizer in optimizers:
            differences.append(
                (
                    f"{style.label(optimizer)}:\n{style.label('static')}\n− {style.label('selfish')}",
                    optimizer,
                    per_seed(results, "test_ppl", "static", optimizer),
                    per_seed(results, "test_ppl", "selfish", optimizer),
                )
            )
    ratios = (
        [
            (
                style.label(optimizer),
                optimizer,
                per_seed(results, "test_ppl", "selfish", optimizer),
                per_seed(results, "test_ppl", "dense", optimizer),
            )
            for optimizer in optimizers
        ]
        if {"dense", "selfish"} <= set(methods)
        else []
    )
    widths = [max(len(differences), 1) * 1.4 + 1.2, max(len(ratios), 1) * 1.2 + 1.4]
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(sum(widths), 4.4), gridspec_kw={"width_ratios": widths}, squeeze=True
    )
    if differences:
        for i, (_, method, a, b) in enumerate(differences):
            gaps = [p - q for p, q in zip(a, b, strict=True)]
            style.seed_points(left, [i], [gaps], method, connect=False)
            _interval(left, i, paired_difference(a, b), method)
        left.axhline(0.0, color="0.3", linewidth=0.9)
        left.set_xticks(range(len(differences)))
        left.set_xticklabels([label for label, *_ in differences], fontsize=7)
        left.set_xlim(-0.6, len(differences) - 0.4)
        left.set_ylabel("paired test perplexity difference")
        left.set_title("differences (claimed: > 0)")
    else:
        _empty(left, "no paired difference in this config")
    if ratios:
        for i, (_, optimizer, a, b) in enumerate(ratios):
            per = [
                p / q if math.isfinite(p) and math.isfinite(q) and q > 0 else math.nan
                for p, q in zip(a, b, strict=True)
            ]
            style.seed_points(right, [i], [per], optimizer, connect=False)
            _interval(right, i, paired_log_ratio(a, b), optimizer)
        right.axhline(1.0, color="0.3", linewidth=0.9)
        right.set_xticks(range(len(ratios)))
        right.set_xticklabels([label for label, *_ in ratios], fontsize=8)
        right.set_xlim(-0.6, len(ratios) - 0.4)
        right.set_ylabel(f"test perplexity ratio {style.label('selfish')} / {style.label('dense')}")
        right.set_title("same optimiser (claimed: <= 1)")
    else:
        _empty(right, "no Selfish-RNN / dense pair in this config")
    style.save(fig, out, "paired_gaps")


# ---------------------------------------------------------------------------------------- gate_share


def _matrix_key(name: str) -> tuple[int, int]:
    """Order LSTM matrices by layer, input-to-hidden before hidden-to-hidden."""
    found = re.search(r"weight_(ih|hh)_l(\d+)", name)
    return (int(found.group(2)), 0 if found.group(1) == "ih" else 1) if found else (1 << 30, 0)


def _matrix_label(name: str) -> str:
    found = re.search(r"weight_(ih|hh)_l(\d+)", name)
    if not found:
        return name
    kind = "input-to-hidden" if found.group(1) == "ih" else "hidden-to-hidden"
    return f"layer {int(found.group(2)) + 1}, {kind}"


def _gate_share(results: Results, history: pd.DataFrame, out: Path) -> None:
    gate_columns = [c for c in history.columns if c.startswith("gate_")]
    matrices = sorted({c[len("gate_") : -2] for c in gate_columns}, key=_matrix_key)
    methods = [m for m in ("selfish", "set") if m in results.section["methods"]]
    rows, cols = max(len(methods), 1), max(len(matrices), 1)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.0 * rows), sharey=True, squeeze=False)
    if not methods or not matrices:
        _empty(axes[0][0], "no dynamic sparse run with LSTM gate statistics")
        style.save(fig, out, "gate_share")
        return
    for row, method in zip(axes, methods, strict=True):
        part = history[history["method"] == method]
        for ax, matrix in zip(row, matrices, strict=True):
            columns = [f"gate_{matrix}_{g}" for g in GATE_NAMES]
            if not part.empty:
                shares = part[columns].div(part[columns].sum(axis=1), axis=0)
                shares[["epoch", "seed_index"]] = part[["epoch", "seed_index"]]
                shares["optimizer"] = part["optimizer"]
                for _, seed_run in shares.groupby(["optimizer", "seed_index"]):
                    for gate, column in zip(GATE_NAMES, columns, strict=True):
                        ax.plot(
                            seed_run["epoch"],
                            seed_run[column],
                            color=GATE_COLORS[gate],
                            alpha=0.35,
                            linewidth=0.7,
                        )
                mean = shares.drop(columns=["seed_index", "optimizer"]).groupby("epoch").mean()
                for gate, column in zip(GATE_NAMES, columns, strict=True):
                    ax.plot(
                        mean.index,
                        mean[column],
                        color=GATE_COLORS[gate],
                        linewidth=1.6,
                        label=GATE_NAMES[gate],
                    )
            ax.axhline(0.25, color="grey", linewidth=0.8)
            ax.set_title(f"{style.label(method)}: {_matrix_label(matrix)}", fontsize=8)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel("gate's share of non-zeros")
            ax.yaxis.set_tick_params(labelleft=True)
    axes[0][-1].legend(fontsize=6)
    style.save(fig, out, "gate_share")


def plot(results: Results, out: Path) -> None:
    """Write every figure in :data:`CAPTIONS` from the study's finished runs into ``out``."""
    metrics, history = _load(results)
    out = Path(out)
    _val_curves(results, metrics, history, out)
    _ppl_table(results, metrics, out)
    _paired_gaps(results, out)
    _gate_share(results, history, out)
