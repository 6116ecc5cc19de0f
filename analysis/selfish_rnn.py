"""Figures of the selfish_rnn study, drawn only from its stored runs (pipeline.results.Results).

Nothing here trains: validation curves, the switch epochs, test perplexities, parameter counts and per-gate
densities all come from the runs (pipeline/selfish_rnn/experiment.py). Method: selfish_rnn.md §2.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis.style import save
from pipeline.results import Results
from pipeline.selfish_rnn.runs import SelfishRun

METHOD_ORDER = ["dense", "static", "set", "selfish"]
GATE_NAMES = {"i": "input", "f": "forget", "g": "cell", "o": "output"}

CAPTIONS: dict[str, str] = {
    "val_curves": (
        "Validation perplexity per epoch (mean over seeds, shaded min-max) for dense, static sparse, SET and "
        "Selfish-RNN; left SGD, right SNT-ASGD. In the SNT-ASGD panel the epochs at which the non-monotone "
        "trigger switched each method to averaging are marked with dotted vertical lines (from then on "
        "validation uses the averaged weights). Look for: the drop after the switch, and Selfish below "
        "static sparse."
    ),
    "ppl_table": (
        "Test perplexity (mean over seeds, on the best-validation weights) per method and optimiser, with "
        "the parameter count (non-zero weights incl. dense biases) of each method. Look for: SNT-ASGD "
        "below SGD in every sparse row, Selfish below static, and the gap of the best sparse cell to dense."
    ),
    "gate_share": (
        "Share of the non-zero weights of each LSTM matrix held by each gate (input, forget, cell, output) "
        "over training, mean over seeds; solid Selfish-RNN (one budget for the stacked matrix, so gates "
        "compete), dashed SET (fixed per-gate budgets). Look for: Selfish's shares drifting away from 1/4 "
        "(cell-gate redistribution) while SET's stay at their initial values."
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


def _order(frame: pd.DataFrame) -> list[str]:
    return [m for m in METHOD_ORDER if m in set(frame["method"])]


def _val_curves(metrics: pd.DataFrame, history: pd.DataFrame, out: Path) -> None:
    optimizers = [o for o in ("sgd", "sntasgd") if o in set(history["optimizer"])]
    fig, axes = plt.subplots(
        1, len(optimizers), figsize=(5.2 * len(optimizers), 3.8), sharey=True, squeeze=False
    )
    palette = dict(zip(METHOD_ORDER, sns.color_palette("colorblind", len(METHOD_ORDER)), strict=True))
    for ax, optimizer in zip(axes[0], optimizers, strict=True):
        part = history[history["optimizer"] == optimizer]
        for method in _order(part):
            curve = part[part["method"] == method].groupby("epoch")["val_ppl"].agg(["mean", "min", "max"])
            ax.plot(curve.index, curve["mean"], color=palette[method], label=method)
            ax.fill_between(curve.index, curve["min"], curve["max"], color=palette[method], alpha=0.2)
            runs = metrics[(metrics["method"] == method) & (metrics["optimizer"] == optimizer)]
            for epoch in runs["switch_epoch"]:
                if epoch is not None and epoch > 0:
                    ax.axvline(epoch, color=palette[method], linestyle=":", linewidth=1.2)
        ax.set_title({"sgd": "SGD", "sntasgd": "SNT-ASGD (dotted: switch to averaging)"}[optimizer])
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
        ax.legend()
    axes[0][0].set_ylabel("validation perplexity")
    save(fig, out, "val_curves")


def _ppl_table(metrics: pd.DataFrame, out: Path) -> None:
    methods = _order(metrics)
    optimizers = [o for o in ("sgd", "sntasgd") if o in set(metrics["optimizer"])]
    table = metrics.groupby(["method", "optimizer"])["test_ppl"].agg(["mean", "std"]).reset_index()
    means = table.pivot(index="method", columns="optimizer", values="mean").reindex(
        index=methods, columns=optimizers
    )
    stds = table.pivot(index="method", columns="optimizer", values="std").reindex(
        index=methods, columns=optimizers
    )
    params = metrics.groupby("method")["parameters"].mean().reindex(methods)
    labels = np.array(
        [
            [f"{means.loc[m, o]:.1f} ± {np.nan_to_num(stds.loc[m, o]):.1f}" for o in optimizers]
            for m in methods
        ]
    )
    fig, ax = plt.subplots(figsize=(2.2 * len(optimizers) + 2.4, 0.7 * len(methods) + 1.2))
    sns.heatmap(means, annot=labels, fmt="", cmap="viridis_r", cbar_kws={"label": "test perplexity"}, ax=ax)
    ax.set_yticklabels([f"{m}\n{int(params[m]):,} params" for m in methods], rotation=0)
    ax.set_xticklabels([{"sgd": "SGD", "sntasgd": "SNT-ASGD"}[o] for o in optimizers])
    ax.set_xlabel("optimiser")
    ax.set_ylabel("")
    ax.set_title("test perplexity (mean ± std over seeds)")
    save(fig, out, "ppl_table")


def _gate_share(history: pd.DataFrame, out: Path) -> None:
    gate_columns = [c for c in history.columns if c.startswith("gate_")]
    matrices = sorted({c[len("gate_") : -2] for c in gate_columns})
    fig, axes = plt.subplots(
        1, max(len(matrices), 1), figsize=(3.4 * max(len(matrices), 1), 3.4), sharey=True, squeeze=False
    )
    colors = dict(zip(GATE_NAMES, sns.color_palette("colorblind", 4), strict=True))
    for ax, matrix in zip(axes[0], matrices, strict=False):
        for method, style in (("selfish", "-"), ("set", "--")):
            part = history[history["method"] == method]
            if part.empty:
                continue
            columns = [f"gate_{matrix}_{g}" for g in GATE_NAMES]
            shares = part[columns].div(part[columns].sum(axis=1), axis=0)
            shares["epoch"] = part["epoch"]
            mean = shares.groupby("epoch").mean()
            for gate, column in zip(GATE_NAMES, columns, strict=True):
                label = f"{GATE_NAMES[gate]} ({method})"
                ax.plot(mean.index, mean[column], style, color=colors[gate], label=label)
        ax.axhline(0.25, color="grey", linewidth=0.8)
        ax.set_title(matrix.replace("rnn.", ""))
        ax.set_xlabel("epoch")
    axes[0][0].set_ylabel("share of the matrix's non-zeros")
    axes[0][-1].legend(fontsize=6, ncol=2)
    save(fig, out, "gate_share")


def plot(results: Results, out: Path) -> None:
    """Write every figure in :data:`CAPTIONS` from the study's finished runs into ``out``."""
    metrics, history = _load(results)
    out = Path(out)
    _val_curves(metrics, history, out)
    _ppl_table(metrics, out)
    _gate_share(history, out)
