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
from pipeline.core.stats import Estimate, mean_interval, paired_difference, paired_log_ratio
from pipeline.results import Results
from pipeline.selfish_rnn.claims import CORPUS_LABELS, per_seed
from pipeline.selfish_rnn.runs import SelfishRun

METHOD_ORDER = ["dense", "static", "set", "selfish"]
OPTIMIZER_ORDER = ["sgd", "sntasgd"]
GATE_NAMES = {"i": "input gate", "f": "forget gate", "g": "cell gate", "o": "output gate"}
_GATE_PALETTE = sns.color_palette("colorblind", 10)
GATE_COLORS = dict(zip(GATE_NAMES, [_GATE_PALETTE[i] for i in (0, 1, 3, 9)], strict=True))
PPL_LABEL = "test perplexity"

CAPTIONS: dict[str, str] = {
    "val_curves": (
        "Validation perplexity per epoch for every method: thin lines are single seeds, thick lines their "
        "mean; left SGD, right SNT-ASGD (one row per corpus). In the SNT-ASGD panel the epoch at which the "
        "non-monotone trigger switched a run to averaging is marked by a dotted vertical line in the "
        "method's colour (from then on validation uses the averaged weights); a run without a line never "
        "switched. A forked SGD run shares its SNT-ASGD run's curve up to that epoch."
    ),
    "ppl_table": (
        "Perplexity table (one block per corpus): per method its count of usable weights at the end of "
        "training (non-zero mask entries plus dense biases; in brackets the share of the dense model's "
        "count), then per optimiser the validation and test perplexity of the best-validation weights as "
        "mean ± half-width of the 95% t-interval over seeds (n seeds in brackets; diverged or missing runs "
        "left out), and the mean epoch of the SNT-ASGD switch (with how many runs switched). The numbers "
        "are also in ppl_table.csv."
    ),
    "paired_gaps": (
        "The paired quantities the comparative claims test, per seed (small dots) with their mean and 95% "
        "t-interval (bar; no bar with fewer than 2 pairs), one row per corpus. Left: test perplexity of SGD "
        "minus SNT-ASGD for each sparse method (in the method's colour), and of static sparse minus "
        "Selfish-RNN for each optimiser (in the optimiser's colour); the claims say > 0, above the line. "
        "Right: test perplexity of Selfish-RNN divided by that of the dense model trained with the same "
        "optimiser (like for like, in the optimiser's colour) and, last, the paper's comparison, "
        "Selfish-RNN with SNT-ASGD over dense with SGD (in Selfish-RNN's colour); geometric means, the "
        "claims say <= 1, below the line."
    ),
    "gate_share": (
        "Share of each LSTM matrix's non-zero weights held by each gate (input, forget, cell, output) at "
        "every epoch end: thin lines are single runs (every seed and optimiser), thick lines their mean; "
        "one row per corpus and dynamic method: Selfish-RNN (one budget per stacked matrix, so gates "
        "compete) and SET when it runs (a fixed budget per gate). The grey line marks an equal share of 1/4."
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
        for key in ("corpus", "method", "optimizer", "seed_index"):
            history[key] = getattr(spec, key)
        histories.append(history)
    return metrics, pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()


def _methods(results: Results) -> list[str]:
    return [m for m in METHOD_ORDER if m in results.section["methods"]]


def _optimizers(results: Results) -> list[str]:
    return [o for o in OPTIMIZER_ORDER if o in results.section["optimizers"]]


def _corpora(results: Results) -> list[str]:
    return list(results.section["corpora"])


def _corpus_title(results: Results, corpus: str, title: str) -> str:
    """``title``, prefixed by the corpus when the config has several."""
    return f"{CORPUS_LABELS[corpus]}: {title}" if len(_corpora(results)) > 1 else title


def _empty(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _part(frame: pd.DataFrame, **fields: object) -> pd.DataFrame:
    """Rows of ``frame`` whose columns equal ``fields`` (``frame`` itself when it is empty)."""
    if frame.empty:
        return frame
    keep = np.ones(len(frame), dtype=bool)
    for key, value in fields.items():
        keep &= (frame[key] == value).to_numpy()
    return frame[keep]


# ---------------------------------------------------------------------------------------- val_curves


def _val_curves(results: Results, metrics: pd.DataFrame, history: pd.DataFrame, out: Path) -> None:
    optimizers, corpora = _optimizers(results), _corpora(results)
    fig, axes = plt.subplots(
        len(corpora),
        len(optimizers),
        figsize=(5.2 * len(optimizers), 3.8 * len(corpora)),
        sharey="row",
        squeeze=False,
    )
    for row, corpus in zip(axes, corpora, strict=True):
        for ax, optimizer in zip(row, optimizers, strict=True):
            part = _part(history, corpus=corpus, optimizer=optimizer)
            for method in _methods(results):
                runs = _part(part, method=method)
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
                switched = _part(metrics, corpus=corpus, method=method, optimizer=optimizer)
                for epoch in switched.get("switch_epoch", pd.Series(dtype=float)):
                    if epoch is not None and np.isfinite(epoch) and epoch > 0:
                        ax.axvline(epoch, color=color, linestyle=":", linewidth=1.2)
            title = style.label(optimizer)
            title = f"{title} (dotted: switch to averaging)" if optimizer == "sntasgd" else title
            ax.set_title(_corpus_title(results, corpus, title))
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel("validation perplexity")
            ax.yaxis.set_tick_params(labelleft=True)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
    style.save(fig, out, "val_curves")


# ----------------------------------------------------------------------------------------- ppl_table


def _cell(values: list[float]) -> tuple[str, float, float, int]:
    """'mean ± half-width (n)' of a 95% t-interval over seeds, with the numbers."""
    estimate = mean_interval(values)
    if not math.isfinite(estimate.value):
        return "–", math.nan, math.nan, estimate.n
    half = (estimate.high - estimate.low) / 2
    text = f"{estimate.value:.1f}" + (f" ± {half:.1f}" if math.isfinite(half) else "") + f" ({estimate.n})"
    return text, estimate.value, half, estimate.n


def _switch_cell(metrics: pd.DataFrame, corpus: str, method: str) -> tuple[str, float, int, int]:
    runs = _part(metrics, corpus=corpus, method=method, optimizer="sntasgd")
    epochs = [float(e) for e in runs.get("switch_epoch", pd.Series(dtype=float)) if e is not None]
    fired = [e for e in epochs if np.isfinite(e) and e > 0]
    if not epochs:
        return "–", math.nan, 0, 0
    mean = float(np.mean(fired)) if fired else math.nan
    text = (f"{mean:.1f}" if fired else "never") + f" ({len(fired)}/{len(epochs)})"
    return text, mean, len(fired), len(epochs)


def _parameter_cell(metrics: pd.DataFrame, corpus: str, method: str) -> tuple[str, float]:
    runs = _part(metrics, corpus=corpus, method=method)
    if runs.empty or "parameters" not in runs:
        return "–", math.nan
    count = float(runs["parameters"].mean())
    dense = float(runs["dense_parameters"].mean()) if "dense_parameters" in runs else math.nan
    share = f" ({100 * count / dense:.0f}%)" if math.isfinite(dense) and dense > 0 else ""
    return f"{round(count):,}{share}", count


def _ppl_table(results: Results, metrics: pd.DataFrame, out: Path) -> None:
    methods, optimizers, corpora = _methods(results), _optimizers(results), _corpora(results)
    header = ["method", "weights"]
    for optimizer in optimizers:
        header += [f"{style.label(optimizer)}\nval ppl", f"{style.label(optimizer)}\ntest ppl"]
    if "sntasgd" in optimizers:
        header.append(f"{style.label('sntasgd')}\nswitch epoch")
    cells, records, row_labels = [], [], []
    for corpus in corpora:
        for method in methods:
            text, count = _parameter_cell(metrics, corpus, method)
            row = [style.label(method), text]
            record: dict[str, object] = {"corpus": corpus, "method": method, "parameters": count}
            for optimizer in optimizers:
                for column, key in (("best_val_ppl", "val"), ("test_ppl", "test")):
                    cell, mean, half, n = _cell(per_seed(results, column, method, optimizer, corpus))
                    row.append(cell)
                    record |= {f"{optimizer}_{key}_ppl": mean, f"{optimizer}_{key}_half": half}
                    record[f"{optimizer}_n"] = n
            if "sntasgd" in optimizers:
                cell, mean, fired, total = _switch_cell(metrics, corpus, method)
                row.append(cell)
                record |= {"switch_epoch": mean, "switched": fired, "sntasgd_runs": total}
            cells.append(row)
            records.append(record)
            row_labels.append(CORPUS_LABELS[corpus])
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(records).to_csv(out / "ppl_table.csv", index=False, float_format="%.4g")
    several = len(corpora) > 1
    fig, ax = plt.subplots(figsize=(1.55 * len(header) + (1.0 if several else 0.0), 0.42 * len(cells) + 1.3))
    ax.axis("off")
    ax.set_xticks([])
    ax.set_yticks([])
    table = ax.table(
        cellText=cells or [["–"] * len(header)],
        colLabels=header,
        rowLabels=row_labels if several and cells else None,
        loc="center",
        cellLoc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1.0, 1.9)
    for (row, column), cell in table.get_celld().items():
        if row == 0:
            cell.set_text_props(weight="bold")
            cell.set_height(cell.get_height() * 1.4)
        elif column == 0 and cells:
            cell.get_text().set_color(style.color(methods[(row - 1) % len(methods)]))
    ax.set_title("test and validation perplexity (mean ± 95% half-width, n seeds)", fontsize=9)
    style.save(fig, out, "ppl_table")


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


def _differences(results: Results, corpus: str) -> list[tuple[str, str, list[float], list[float]]]:
    """(label, style key, a, b) of every paired difference a − b the claims test on ``corpus``."""
    methods, optimizers = _methods(results), _optimizers(results)
    out = []
    if {"sgd", "sntasgd"} <= set(optimizers):
        for method in [m for m in methods if m != "dense"]:
            out.append(
                (
                    f"{style.label(method)}:\n{style.label('sgd')}\n− {style.label('sntasgd')}",
                    method,
                    per_seed(results, "test_ppl", method, "sgd", corpus),
                    per_seed(results, "test_ppl", method, "sntasgd", corpus),
                )
            )
    if {"static", "selfish"} <= set(methods):
        for optimizer in optimizers:
            out.append(
                (
                    f"{style.label(optimizer)}:\n{style.label('static')}\n− {style.label('selfish')}",
                    optimizer,
                    per_seed(results, "test_ppl", "static", optimizer, corpus),
                    per_seed(results, "test_ppl", "selfish", optimizer, corpus),
                )
            )
    return out


def _ratios(results: Results, corpus: str) -> list[tuple[str, str, list[float], list[float]]]:
    """(label, style key, a, b) of every paired ratio a / b the claims test on ``corpus``."""
    methods, optimizers = _methods(results), _optimizers(results)
    if not {"dense", "selfish"} <= set(methods):
        return []
    out = [
        (
            f"{style.label(optimizer)}\n(like for like)",
            optimizer,
            per_seed(results, "test_ppl", "selfish", optimizer, corpus),
            per_seed(results, "test_ppl", "dense", optimizer, corpus),
        )
        for optimizer in optimizers
    ]
    if {"sgd", "sntasgd"} <= set(optimizers):
        out.append(
            (
                f"paper's:\n{style.label('selfish')} {style.label('sntasgd')}\n/ dense {style.label('sgd')}",
                "selfish",
                per_seed(results, "test_ppl", "selfish", "sntasgd", corpus),
                per_seed(results, "test_ppl", "dense", "sgd", corpus),
            )
        )
    return out


def _paired_gaps(results: Results, out: Path) -> None:
    corpora = _corpora(results)
    sample = corpora[0]
    n_diff, n_ratio = len(_differences(results, sample)), len(_ratios(results, sample))
    widths = [max(n_diff, 1) * 1.4 + 1.2, max(n_ratio, 1) * 1.35 + 1.4]
    fig, axes = plt.subplots(
        len(corpora),
        2,
        figsize=(sum(widths), 4.4 * len(corpora)),
        gridspec_kw={"width_ratios": widths},
        squeeze=False,
    )
    for (left, right), corpus in zip(axes, corpora, strict=True):
        differences, ratios = _differences(results, corpus), _ratios(results, corpus)
        if differences:
            for i, (_, key, a, b) in enumerate(differences):
                gaps = [p - q for p, q in zip(a, b, strict=True)]
                style.seed_points(left, [i], [gaps], key, connect=False)
                _interval(left, i, paired_difference(a, b), key)
            left.axhline(0.0, color="0.3", linewidth=0.9)
            left.set_xticks(range(len(differences)))
            left.set_xticklabels([label for label, *_ in differences], fontsize=7)
            left.set_xlim(-0.6, len(differences) - 0.4)
            left.set_ylabel("paired test perplexity difference")
            left.set_title(_corpus_title(results, corpus, "differences (claimed: > 0)"))
        else:
            _empty(left, "no paired difference in this config")
        if ratios:
            for i, (_, key, a, b) in enumerate(ratios):
                per = [
                    p / q if math.isfinite(p) and math.isfinite(q) and q > 0 else math.nan
                    for p, q in zip(a, b, strict=True)
                ]
                style.seed_points(right, [i], [per], key, connect=False)
                _interval(right, i, paired_log_ratio(a, b), key)
            right.axhline(1.0, color="0.3", linewidth=0.9)
            right.set_xticks(range(len(ratios)))
            right.set_xticklabels([label for label, *_ in ratios], fontsize=7)
            right.set_xlim(-0.6, len(ratios) - 0.4)
            right.set_ylabel(f"test perplexity ratio {style.label('selfish')} / {style.label('dense')}")
            right.set_title(_corpus_title(results, corpus, "sparse / dense (claimed: <= 1)"))
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
    panels = [(corpus, method) for corpus in _corpora(results) for method in methods]
    rows, cols = max(len(panels), 1), max(len(matrices), 1)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.0 * rows), sharey=True, squeeze=False)
    if not panels or not matrices:
        _empty(axes[0][0], "no dynamic sparse run with LSTM gate statistics")
        style.save(fig, out, "gate_share")
        return
    for row, (corpus, method) in zip(axes, panels, strict=True):
        part = _part(history, corpus=corpus, method=method)
        for ax, matrix in zip(row, matrices, strict=True):
            columns = [f"gate_{matrix}_{g}" for g in GATE_NAMES]
            if not part.empty and set(columns) <= set(part.columns):
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
            title = f"{style.label(method)}: {_matrix_label(matrix)}"
            ax.set_title(_corpus_title(results, corpus, title), fontsize=8)
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
