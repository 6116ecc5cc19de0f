"""The nero study's claims (issue 5, plus the sheet's ablation criterion), computed from the stored sweeps,
the ablation and the memory table (see runs.py).

Scores are averaged over seeds per learning rate (nan where any seed diverged); an optimiser's best lr is
the argmax of those means.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.claims import Claim, claim_maker
from pipeline.nero.runs import LANGUAGE_TASKS, AblationRun, MemoryRun, SweepRun
from pipeline.results import Results

STUDY = "nero"
DEFAULT_LR = 0.01


def mean_scores(runs: list[dict[str, Any]]) -> dict[float, float]:
    """lr -> score averaged over seeds (nan when any seed diverged at that lr), from sweep metrics."""
    out = {}
    for key, entry in runs[0]["per_lr"].items():
        values = [np.nan if run["scores"][key] is None else run["scores"][key] for run in runs]
        out[float(entry["lr"])] = float(np.mean(values))
    return out


def best(scores: dict[float, float]) -> tuple[float, float]:
    """(best lr, its score) of seed-mean scores; (nan, nan) when every lr diverged."""
    finite = {lr: s for lr, s in scores.items() if np.isfinite(s)}
    if not finite:
        return math.nan, math.nan
    lr = max(finite, key=finite.get)
    return lr, finite[lr]


def lr_spread(table: dict[str, dict[str, dict[float, float]]], optimizer: str) -> float:
    """max / min over tasks of an optimiser's best lr (nan if any task has no finite run)."""
    lrs = [best(table[task][optimizer])[0] for task in table]
    return max(lrs) / min(lrs) if lrs and all(np.isfinite(lrs)) else math.nan


def default_lr_gap(task: str, table: dict[str, dict[str, dict[float, float]]]) -> float:
    """Nero at lr 0.01 against the best-tuned baseline: accuracy points behind (classifiers) or relative
    loss excess (language model); positive = Nero worse."""
    nero = table[task]["nero"].get(DEFAULT_LR, math.nan)
    baseline = max(best(scores)[1] for opt, scores in table[task].items() if opt != "nero")
    if task in LANGUAGE_TASKS:  # scores are negative losses
        return (-nero - (-baseline)) / (-baseline)
    return 100.0 * (baseline - nero)


def _seed_means(results: Results, specs: list[Any]) -> dict[float, float]:
    return mean_scores([results.metrics(spec) for spec in sorted(specs, key=lambda s: s.seed_index)])


def score_table(results: Results) -> dict[str, dict[str, dict[float, float]]]:
    """task -> optimiser -> lr -> seed-mean score, over the sweeps the config lists (config order)."""
    sweeps = results.select(SweepRun)
    tasks = list(dict.fromkeys(spec.task for spec in sweeps))
    optimizers = list(dict.fromkeys(spec.optimizer for spec in sweeps))
    return {
        task: {
            opt: _seed_means(results, results.select(SweepRun, task=task, optimizer=opt))
            for opt in optimizers
        }
        for task in tasks
    }


def claims(results: Results) -> list[Claim]:
    """The issue's claims (plus the sheet's ablation criterion), computed from the stored sweeps."""
    table = score_table(results)
    tasks = list(table)
    optimizers = list(table[tasks[0]]) if tasks else []
    claim = claim_maker(STUDY, results.scale)
    lr_sweep = results.figure_path("lr_sweep")

    rows: list[Claim] = []
    off_mlp = [t for t in tasks if t != "mlp"]
    if "nero" in optimizers and off_mlp:
        factors = [
            max(best(table[t]["nero"])[0] / DEFAULT_LR, DEFAULT_LR / best(table[t]["nero"])[0])
            for t in off_mlp
        ]
        rows.append(claim(
            "nero_best_lr_near_default",
            f"Nero's best lr is within a factor of 3 of 0.01 on every task except the deep MLP "
            f"({', '.join(off_mlp)}); measured: the largest factor",
            max(factors), "<= 3", lr_sweep,
        ))  # fmt: skip
    for task in tasks:
        if "nero" not in optimizers or len(optimizers) < 2:
            continue
        lm = task in LANGUAGE_TASKS
        rows.append(claim(
            f"nero_default_vs_tuned_{task}",
            f"{task}: Nero at lr 0.01 is within "
            + ("5% relative validation loss" if lm else "2 test-accuracy points")
            + " of the best-tuned baseline (SGD, SGD+momentum, Adam, LAMB over the whole grid); measured: "
            + ("relative loss excess" if lm else "points behind"),
            default_lr_gap(task, table), "<= 0.05" if lm else "<= 2", lr_sweep,
        ))  # fmt: skip
    for opt in ("sgd", "adam"):
        if opt in optimizers and len(tasks) >= 2:
            rows.append(claim(
                f"{opt}_best_lr_varies",
                f"The best lr of {opt.upper()} varies by at least 10x across tasks;"
                " measured: max/min best lr",
                lr_spread(table, opt), ">= 10", lr_sweep,
            ))  # fmt: skip
    if "mlp" in tasks and {"nero", "sgd", "adam"} <= set(optimizers):
        depth = results.select(SweepRun, task="mlp")[0].settings.net.depth
        others = max(best(table["mlp"][o])[1] for o in ("sgd", "adam"))
        rows.append(claim(
            "deep_mlp_nero_beats_sgd_adam",
            f"Deep MLP (depth {depth}, no normalisation): Nero's best run beats the best runs "
            "of SGD and Adam over their whole sweeps by at least 10 test-accuracy points; measured: margin",
            100.0 * (best(table["mlp"]["nero"])[1] - others), ">= 10", lr_sweep,
        ))  # fmt: skip
    memory = pd.DataFrame(results.metrics(results.one(MemoryRun))["memory"])
    cnn = memory[memory.task == "cnn"].set_index("optimizer")
    if {"nero", "adam"} <= set(cnn.index):
        rows.append(claim(
            "nero_state_vs_adam_cnn",
            "Nero's optimiser state is at most 5% of Adam's on the CNN; measured: state entries ratio",
            cnn.loc["nero", "state_numel"] / cnn.loc["adam", "state_numel"], "<= 0.05",
            results.figure_path("memory"),
        ))  # fmt: skip
    ablation_runs = results.select(AblationRun)
    settings = list(dict.fromkeys(spec.setting for spec in ablation_runs))
    if {"none", "both"} <= set(settings):
        ablation = {
            s: best(_seed_means(results, results.select(AblationRun, setting=s)))[1] for s in settings
        }
        rows.append(claim(
            "ablation_both_constraints_help",
            f"Ablation on {ablation_runs[0].task} (nero.md §5 item 4): Nero with both constraints is at "
            "least as accurate as without constraints, each at its best lr; measured: points gained",
            100.0 * (ablation["both"] - ablation["none"]), ">= 0", results.figure_path("ablation"),
        ))  # fmt: skip
    return rows
