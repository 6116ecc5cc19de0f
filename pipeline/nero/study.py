"""The nero study (nero.md; issue 5): lr sweeps of Nero, SGD, SGD+momentum, Adam and LAMB on three tasks,
the constraint ablation, optimiser-state memory, and the claims computed from them.

Runs (see :func:`run_ids`):

- ``sweep_<task>_<optimizer>_s<i>``: every learning rate of ``lrs`` for one task, optimiser and seed index,
  each trained from the same initialisation and batch order (the seed depends on task and seed index only);
  each lr is a resumable engine run in ``<run_dir>/lr<lr>/``;
- ``ablation_<setting>_s<i>``: Nero with the constraints ``none``, ``mean``, ``norm`` or ``both`` (Fig. 1
  analogue) over ``ablation.lrs`` on ``ablation.task``;
- ``memory``: optimiser-state size of every optimiser on every task's model after one step (§5 item 6).

metrics.json of a sweep holds ``per_lr`` (lr string -> final metrics), the ``score`` used to rank learning
rates (test accuracy for classifiers, validation loss for the language model) and ``best_lr``; history.csv
holds every lr's curve with an ``lr`` column. Diverged learning rates are kept with ``diverged_at_step``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline.core.claims import Claim, claim_maker
from pipeline.core.config import with_defaults
from pipeline.core.records import read_metrics
from pipeline.core.seeding import derive_seed
from pipeline.nero.memory import memory_table
from pipeline.nero.tasks import ABLATION, OPTIMIZERS, classifier_data, language_data
from pipeline.nero.train import train_classifier, train_language_model
from pipeline.studies import RunContext, RunOutput

STUDY = "nero"
DEFAULT_LR = 0.01
CLASSIFIER_TASKS = ("mlp", "cnn", "resnet")
LANGUAGE_TASKS = ("lstm",)

DEFAULTS: dict[str, Any] = {
    "tasks": ["mlp", "cnn", "lstm"],
    "optimizers": list(OPTIMIZERS),
    "lrs": [1.0e-4, 3.0e-4, 1.0e-3, 3.0e-3, 1.0e-2, 3.0e-2, 1.0e-1, 3.0e-1, 1.0],
    "seeds": 1,
    "nero_beta": 0.999,
    "sgd_momentum": 0.9,
    "baseline_beta1": 0.9,
    "sgd_grad_clip": 0.0,
    "schedule": {"kind": "cosine", "warmup_fraction": 0.0, "milestones": [0.5, 0.75, 0.9], "gamma": 0.2},
    "eval_points": 4,
    "log_points": 20,
    "checkpoint_every": 100,
    "mlp": {
        "dataset": "digits", "model": "mlp", "depth": 20, "width": 64, "activation": "relu_sqrt2",
        "channels": [], "hidden": 0, "conv_bias": True,
        "train_size": 0, "test_size": 0, "batch_size": 64, "steps": 300,
    },
    "cnn": {
        "dataset": "fashion_mnist", "model": "tiny_vgg", "depth": 0, "width": 0, "activation": "relu",
        "channels": [8, 16, 32], "hidden": 32, "conv_bias": True,
        "train_size": 4096, "test_size": 2000, "batch_size": 64, "steps": 150,
    },
    "resnet": {
        "dataset": "cifar10", "model": "resnet18_cifar", "depth": 0, "width": 0, "activation": "relu",
        "channels": [], "hidden": 0, "conv_bias": False,
        "train_size": 0, "test_size": 0, "batch_size": 128, "steps": 1000,
    },
    "lstm": {
        "dataset": "kjv", "vocab_size": 2000, "train_tokens": 100000, "valid_tokens": 20000,
        "emsize": 64, "nhid": 64, "nlayers": 1, "dropout": 0.0,
        "bptt": 20, "batch_size": 16, "eval_batch_size": 10, "steps": 200,
    },
    "ablation": {
        "task": "cnn", "settings": ["none", "mean", "norm", "both"], "lrs": [3.0e-3, 1.0e-2, 3.0e-2, 1.0e-1],
    },
}  # fmt: skip


# ----------------------------------------------------------------------------------------------- config


def resolve(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """The study's config with :data:`DEFAULTS` filled in (one level of nesting), validated."""
    out = with_defaults(DEFAULTS, cfg)
    _validate(out)
    return out


def _validate(cfg: dict[str, Any]) -> None:
    for task in cfg["tasks"]:
        if task not in CLASSIFIER_TASKS + LANGUAGE_TASKS:
            raise ValueError(f"nero.tasks: unknown task {task!r}")
    for name in cfg["optimizers"]:
        if name not in OPTIMIZERS:
            raise ValueError(f"nero.optimizers: unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    if cfg["ablation"]["task"] not in CLASSIFIER_TASKS:
        raise ValueError(f"nero.ablation.task must be a classifier task, got {cfg['ablation']['task']!r}")
    for setting in cfg["ablation"]["settings"]:
        if setting not in ABLATION:
            raise ValueError(f"nero.ablation.settings: unknown {setting!r}; known: {', '.join(ABLATION)}")
    if any(not lr > 0 for lr in [*cfg["lrs"], *cfg["ablation"]["lrs"]]):
        raise ValueError("nero: learning rates must be > 0")


def datasets(cfg: dict[str, Any]) -> list[str]:
    """Prepared datasets the runs read: the dataset of every enabled task and of the ablation."""
    resolved = resolve(cfg)
    names = [resolved[task]["dataset"] for task in resolved["tasks"]]
    if resolved["ablation"]["settings"]:
        names.append(resolved[resolved["ablation"]["task"]]["dataset"])
    return sorted(set(names))


def lr_key(lr: float) -> str:
    """The string naming a learning rate in run directories and metrics (``1e-02``-style)."""
    return f"{lr:.0e}" if float(f"{lr:.0e}") == lr else repr(float(lr))


# ------------------------------------------------------------------------------------------------- runs


def run_ids(cfg: dict[str, Any]) -> list[str]:
    """Sweeps (task × optimiser × seed), the ablation settings (× seed) and ``memory``."""
    cfg = resolve(cfg)
    seeds = range(cfg["seeds"])
    ids = [f"sweep_{t}_{o}_s{s}" for t in cfg["tasks"] for o in cfg["optimizers"] for s in seeds]
    ids += [f"ablation_{a}_s{s}" for a in cfg["ablation"]["settings"] for s in seeds]
    return [*ids, "memory"]


def _parse(run_id: str) -> tuple[str, str, str, int]:
    """``(kind, task, optimizer, seed index)`` of a sweep or ablation id."""
    parts = run_id.split("_")
    if parts[0] == "sweep" and len(parts) == 4:
        return "sweep", parts[1], parts[2], int(parts[3][1:])
    if parts[0] == "ablation" and len(parts) == 3:
        return "ablation", "", f"nero_{parts[1]}", int(parts[2][1:])
    raise KeyError(f"nero: unknown run id {run_id!r}")


def score_of(task: str, metrics: dict[str, float]) -> float:
    """The ranking score of one lr: test accuracy (classifiers) or -validation loss (LM); nan if diverged."""
    if metrics.get("diverged", 0.0):
        return math.nan
    value = metrics["valid_loss"] if task in LANGUAGE_TASKS else metrics["test_accuracy"]
    return -value if task in LANGUAGE_TASKS else value


def _sweep(task: str, optimizer: str, lrs: list[float], seed_index: int, ctx: RunContext) -> RunOutput:
    cfg = resolve(ctx.cfg)
    task_cfg = cfg[task]
    seed = derive_seed(ctx.seed, "nero", task, seed_index)
    data_root = ctx.extras.get("data_root", "data/raw")
    if task in LANGUAGE_TASKS:
        data = language_data(task_cfg, data_root)
        trainer = train_language_model
    else:
        data = classifier_data(task_cfg, data_root, ctx.seed)
        trainer = train_classifier
    per_lr, frames = {}, []
    for lr in lrs:
        run_dir = Path(ctx.run_dir) / f"lr{lr_key(lr)}"
        run_dir.mkdir(parents=True, exist_ok=True)
        metrics, history = trainer(task_cfg, data, optimizer, lr, seed, cfg, run_dir, ctx.device)
        per_lr[lr_key(lr)] = {"lr": lr, **metrics}
        frames.append(history.assign(lr=lr))
    scores = {key: score_of(task, m) for key, m in per_lr.items()}
    finite = {key: s for key, s in scores.items() if np.isfinite(s)}
    best = max(finite, key=finite.get) if finite else None
    metrics = {
        "task": task,
        "optimizer": optimizer,
        "seed_index": seed_index,
        "run_seed": seed,
        "score_name": "neg_valid_loss" if task in LANGUAGE_TASKS else "test_accuracy",
        "per_lr": per_lr,
        "scores": scores,
        "best_lr": per_lr[best]["lr"] if best else None,
        "best_score": finite[best] if best else None,
        "diverged_lrs": [m["lr"] for m in per_lr.values() if m.get("diverged")],
    }
    return RunOutput(metrics=metrics, history=pd.concat(frames, ignore_index=True))


def execute(run_id: str, ctx: RunContext) -> RunOutput:
    """Execute one sweep, ablation setting or the memory table."""
    cfg = resolve(ctx.cfg)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if run_id == "memory":
        table = memory_table(cfg, [t for t in cfg["tasks"]], cfg["optimizers"])
        return RunOutput(metrics={"memory": table.to_dict(orient="records")}, history=table)
    kind, task, optimizer, seed_index = _parse(run_id)
    if kind == "ablation":
        task = cfg["ablation"]["task"]
        return _sweep(task, optimizer, cfg["ablation"]["lrs"], seed_index, ctx)
    return _sweep(task, optimizer, cfg["lrs"], seed_index, ctx)


# ----------------------------------------------------------------------------------------------- claims


def _sweep_metrics(base: Path, task: str, optimizer: str, seeds: int, prefix: str = "sweep") -> list[dict]:
    name = f"{prefix}_{task}_{optimizer}" if prefix == "sweep" else f"{prefix}_{optimizer}"
    return [read_metrics(base / f"{name}_s{s}" / "metrics.json") for s in range(seeds)]


def mean_scores(runs: list[dict]) -> dict[float, float]:
    """lr -> score averaged over seeds (nan when any seed diverged at that lr)."""
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


def _table(cfg: dict[str, Any], base: Path) -> dict[str, dict[str, dict[float, float]]]:
    """task -> optimiser -> lr -> seed-mean score."""
    return {
        task: {opt: mean_scores(_sweep_metrics(base, task, opt, cfg["seeds"])) for opt in cfg["optimizers"]}
        for task in cfg["tasks"]
    }


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


def claims(cfg: dict[str, Any], ctx: RunContext) -> list[Claim]:
    """The issue's claims (plus the sheet's ablation criterion), computed from the stored sweeps."""
    cfg = resolve(cfg)
    base = Path(ctx.results_dir) / STUDY
    table = _table(cfg, base)

    claim = claim_maker(STUDY, ctx.scale, evidence_format=f"figures/{STUDY}/{{}}.png")

    rows: list[Claim] = []
    tasks = cfg["tasks"]
    off_mlp = [t for t in tasks if t != "mlp"]
    if "nero" in cfg["optimizers"] and off_mlp:
        factors = [
            max(best(table[t]["nero"])[0] / DEFAULT_LR, DEFAULT_LR / best(table[t]["nero"])[0])
            for t in off_mlp
        ]
        rows.append(claim(
            "nero_best_lr_near_default",
            f"Nero's best lr is within a factor of 3 of 0.01 on every task except the deep MLP "
            f"({', '.join(off_mlp)}); measured: the largest factor",
            max(factors), "<= 3", "lr_sweep",
        ))  # fmt: skip
    for task in tasks:
        if "nero" not in cfg["optimizers"] or len(cfg["optimizers"]) < 2:
            continue
        lm = task in LANGUAGE_TASKS
        rows.append(claim(
            f"nero_default_vs_tuned_{task}",
            f"{task}: Nero at lr 0.01 is within "
            + ("5% relative validation loss" if lm else "2 test-accuracy points")
            + " of the best-tuned baseline (SGD, SGD+momentum, Adam, LAMB over the whole grid); measured: "
            + ("relative loss excess" if lm else "points behind"),
            default_lr_gap(task, table), "<= 0.05" if lm else "<= 2", "lr_sweep",
        ))  # fmt: skip
    for opt in ("sgd", "adam"):
        if opt in cfg["optimizers"] and len(tasks) >= 2:
            rows.append(claim(
                f"{opt}_best_lr_varies",
                f"The best lr of {opt.upper()} varies by at least 10x across tasks;"
                " measured: max/min best lr",
                lr_spread(table, opt), ">= 10", "lr_sweep",
            ))  # fmt: skip
    if "mlp" in tasks and {"nero", "sgd", "adam"} <= set(cfg["optimizers"]):
        others = max(best(table["mlp"][o])[1] for o in ("sgd", "adam"))
        rows.append(claim(
            "deep_mlp_nero_beats_sgd_adam",
            f"Deep MLP (depth {cfg['mlp']['depth']}, no normalisation): Nero's best run beats the best runs "
            "of SGD and Adam over their whole sweeps by at least 10 test-accuracy points; measured: margin",
            100.0 * (best(table["mlp"]["nero"])[1] - others), ">= 10", "lr_sweep",
        ))  # fmt: skip
    memory = pd.DataFrame(read_metrics(base / "memory" / "metrics.json")["memory"])
    cnn = memory[memory.task == "cnn"].set_index("optimizer")
    if {"nero", "adam"} <= set(cnn.index):
        rows.append(claim(
            "nero_state_vs_adam_cnn",
            "Nero's optimiser state is at most 5% of Adam's on the CNN; measured: state entries ratio",
            cnn.loc["nero", "state_numel"] / cnn.loc["adam", "state_numel"], "<= 0.05", "memory",
        ))  # fmt: skip
    settings = cfg["ablation"]["settings"]
    if {"none", "both"} <= set(settings):
        ablation = {
            s: best(mean_scores(_sweep_metrics(base, "", s, cfg["seeds"], "ablation")))[1] for s in settings
        }
        rows.append(claim(
            "ablation_both_constraints_help",
            f"Ablation on {cfg['ablation']['task']} (nero.md §5 item 4): Nero with both constraints is at "
            "least as accurate as without constraints, each at its best lr; measured: points gained",
            100.0 * (ablation["both"] - ablation["none"]), ">= 0", "ablation",
        ))  # fmt: skip
    return rows
