"""The fisher study: runs ``<experiment>_<arm>_s<k>``, and the claims (fisher.md §5, issue 6 item 5).

Each experiment (a dataset, a model and its learning rates, see :mod:`pipeline.fisher.experiment`) runs
its arms for ``seeds`` seeds; seed k of every arm shares the initialisation and data order (paired). The
claims compare seed means of the per-run metrics; per-seed values stay in each run's metrics.json.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.core.claims import Claim, make_claim
from pipeline.core.records import read_metrics
from pipeline.fisher import experiment
from pipeline.studies import RunContext, RunOutput

STUDY = "fisher"
FIG = "figures/fisher"

EXPERIMENT_DEFAULTS: dict[str, Any] = {
    "name": "mnist1d",
    "dataset": "mnist1d",
    "model": "cnn1d",
    "width": 32,
    "train_size": 0,
    "test_size": 0,
    "batch_size": 64,
    "epochs": 40,
    "momentum": 0.0,
    "lr_small": 0.03,
    "lr_large": 0.3,
    "alpha_fp": 0.05,
    "alpha_gp": 0.05,
    "penalty_every": 2,
    "noise_fraction": 0.25,
    "noise_lr": 0.3,
    "arms": ["small", "large", "small_fp", "small_gp", "noisy", "noisy_fp"],
    "trace_examples": 256,
    "trace_every": 25,
    "trace_until": 1000,
    "eval_every": 250,
}

DEFAULTS: dict[str, Any] = {
    "seeds": 3,
    "checkpoint_every": 500,
    "experiments": [
        dict(EXPERIMENT_DEFAULTS),
        {
            **EXPERIMENT_DEFAULTS,
            "name": "fmnist",
            "dataset": "fashion_mnist",
            "model": "mlp",
            "width": 64,
            "train_size": 4000,
            "test_size": 2000,
            "epochs": 20,
            "lr_small": 0.02,
            "lr_large": 0.2,
            "trace_until": 500,
            "arms": ["small", "large", "small_fp"],
        },
    ],
}


# ----------------------------------------------------------------------------------------------- config


def resolve(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """The study config with :data:`DEFAULTS` filled in (each experiment from :data:`EXPERIMENT_DEFAULTS`)."""
    out = copy.deepcopy(DEFAULTS)
    out.update({key: value for key, value in (cfg or {}).items() if key != "experiments"})
    if cfg and "experiments" in cfg:
        out["experiments"] = [{**EXPERIMENT_DEFAULTS, **exp} for exp in cfg["experiments"]]
    _validate(out)
    return out


def _validate(cfg: dict[str, Any]) -> None:
    names = [exp["name"] for exp in cfg["experiments"]]
    if len(set(names)) != len(names):
        raise ValueError(f"fisher: experiment names must be unique, got {names}")
    for exp in cfg["experiments"]:
        unknown = set(exp["arms"]) - set(experiment.ARMS)
        if unknown:
            raise ValueError(f"fisher.{exp['name']}: unknown arms {sorted(unknown)}")
        if not 0.0 <= exp["noise_fraction"] < 1.0:
            raise ValueError(f"fisher.{exp['name']}: noise_fraction must be in [0, 1)")
        if exp["trace_examples"] < 1 or exp["trace_every"] < 1 or exp["eval_every"] < 1:
            raise ValueError(f"fisher.{exp['name']}: trace_examples, trace_every, eval_every must be >= 1")
    if cfg["seeds"] < 1:
        raise ValueError("fisher: seeds must be >= 1")


def _experiment(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    for exp in cfg["experiments"]:
        if exp["name"] == name:
            return exp
    raise KeyError(f"fisher: no experiment {name!r}")


def run_id(name: str, arm: str, seed_index: int) -> str:
    return f"{name}_{arm}_s{seed_index}"


def parse_run_id(run: str) -> tuple[str, str, int]:
    """``"mnist1d_small_fp_s2"`` -> ``("mnist1d", "small_fp", 2)`` (experiment names hold no arm suffix)."""
    head, _, seed = run.rpartition("_s")
    for arm in sorted(experiment.ARMS, key=len, reverse=True):
        if head.endswith("_" + arm):
            return head[: -len(arm) - 1], arm, int(seed)
    raise ValueError(f"fisher: cannot parse run id {run!r}")


def run_ids(cfg: dict[str, Any]) -> list[str]:
    """Every (experiment, arm, seed) of the config."""
    cfg = resolve(cfg)
    return [
        run_id(exp["name"], arm, k)
        for exp in cfg["experiments"]
        for arm in exp["arms"]
        for k in range(cfg["seeds"])
    ]


def datasets(cfg: dict[str, Any]) -> list[str]:
    """The prepared datasets the experiments read."""
    return sorted({exp["dataset"] for exp in resolve(cfg)["experiments"]})


def execute(run_id: str, ctx: RunContext) -> RunOutput:
    """Train one arm of one experiment for one seed (see :func:`pipeline.fisher.experiment.run`)."""
    cfg = resolve(ctx.cfg)
    name, arm, seed_index = parse_run_id(run_id)
    metrics, history = experiment.run(
        _experiment(cfg, name),
        arm,
        seed_index,
        ctx.seed,
        ctx.device,
        Path(ctx.run_dir),
        ctx.extras.get("data_root", "data/raw"),
        cfg["checkpoint_every"],
    )
    return RunOutput(metrics=metrics, history=history)


# ----------------------------------------------------------------------------------------------- claims


def collect(cfg: dict[str, Any], results_dir: Path) -> pd.DataFrame:
    """One row per run with the metrics the claims read (NaN where a run diverged or lacks a value)."""
    cfg = resolve(cfg)
    rows = []
    for run in run_ids(cfg):
        name, arm, seed_index = parse_run_id(run)
        metrics = read_metrics(Path(results_dir) / STUDY / run / "metrics.json")
        rows.append({"experiment": name, "arm": arm, "seed": seed_index, **metrics})
    return pd.DataFrame(rows)


def _mean(frame: pd.DataFrame, name: str, arm: str, key: str) -> float:
    """Seed mean of ``key`` for ``arm``; NaN when any seed lacks it (e.g. diverged)."""
    values = frame.loc[(frame["experiment"] == name) & (frame["arm"] == arm)]
    if key not in values or values.empty or values[key].isna().any():
        return math.nan
    return float(values[key].astype(float).mean())


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 and math.isfinite(num) and math.isfinite(den) else math.nan


def memorisation_gap(frame: pd.DataFrame, name: str) -> float:
    """(drop in noisy-subset fit caused by FP) − (drop in clean-subset fit), fits averaged over training."""

    def drop(key: str) -> float:
        return _mean(frame, name, "noisy", key) - _mean(frame, name, "noisy_fp", key)

    return drop("noisy_fit_mean") - drop("clean_fit_mean")


def trace_accuracy_spearman(frame: pd.DataFrame, name: str) -> float:
    """Spearman correlation of early peak Tr F with final test accuracy over the clean-label runs."""
    rows = frame[(frame["experiment"] == name) & ~frame["arm"].str.startswith("noisy")]
    rows = rows[["trace_peak_early", "test_accuracy"]].dropna() if "test_accuracy" in rows else rows[[]]
    if len(rows) < 3 or rows.nunique().min() < 2:  # undefined for a constant column
        return math.nan
    return float(stats.spearmanr(rows["trace_peak_early"], rows["test_accuracy"]).statistic)


def _claims_for(frame: pd.DataFrame, exp: dict[str, Any], claim: Any) -> list[Claim]:
    name, arms = exp["name"], set(exp["arms"])
    acc = {arm: _mean(frame, name, arm, "test_accuracy") for arm in arms}
    peak = {arm: _mean(frame, name, arm, "trace_peak_early") for arm in arms}
    out = []
    if {"small", "large"} <= arms:
        out.append(
            claim(
                f"fisher_explosion_{name}",
                f"{name}: the early peak of Tr F (first {exp['trace_until']} steps) at the small lr "
                f"{exp['lr_small']:g} is at least twice that at the large lr {exp['lr_large']:g} "
                "(ratio of seed means).",
                _ratio(peak["small"], peak["large"]),
                ">= 2.0",
                "trace_curves",
            )
        )
        out.append(
            claim(
                f"small_lr_worse_{name}",
                f"{name}: the small lr generalises worse: test accuracy(large) − test accuracy(small) "
                "(seed means).",
                acc["large"] - acc["small"],
                "> 0.0",
                "test_accuracy",
            )
        )
    if {"small", "large", "small_fp"} <= arms:
        out.append(
            claim(
                f"fp_closes_gap_{name}",
                f"{name}: the Fisher penalty (α={exp['alpha_fp']:g}) at the small lr closes at least "
                "half of the "
                "test-accuracy gap to the large lr: (acc(small+FP) − acc(small)) / (acc(large) − "
                "acc(small)), "
                "seed means (NaN when there is no gap).",
                _ratio(acc["small_fp"] - acc["small"], acc["large"] - acc["small"]),
                ">= 0.5",
                "test_accuracy",
            )
        )
    if {"small", "small_fp"} <= arms:
        out.append(
            claim(
                f"fp_lowers_trace_{name}",
                f"{name}: the Fisher penalty lowers the early peak of Tr F at the small lr: "
                "peak(small+FP) / peak(small), seed means.",
                _ratio(peak["small_fp"], peak["small"]),
                "< 1.0",
                "trace_curves",
            )
        )
    if {"small", "large"} <= arms:
        out.append(
            claim(
                f"early_trace_predicts_accuracy_{name}",
                f"{name}: early peak Tr F and final test accuracy are negatively correlated over all "
                "clean-label "
                "runs (Spearman).",
                trace_accuracy_spearman(frame, name),
                "< 0.0",
                "trace_vs_accuracy",
            )
        )
    if {"noisy", "noisy_fp"} <= arms:
        out.append(
            claim(
                f"fp_limits_memorisation_{name}",
                f"{name}: with {exp['noise_fraction']:.0%} noisy labels, the Fisher penalty slows the "
                "fitting of "
                "noisy examples more than of clean ones: drop in time-averaged noisy-subset train "
                "accuracy minus "
                "drop in clean-subset train accuracy (seed means).",
                memorisation_gap(frame, name),
                "> 0.0",
                "memorisation",
            )
        )
    return out


def claims(cfg: dict[str, Any], ctx: RunContext) -> list[Claim]:
    """The paper's claims per experiment, verdicts computed from the stored metrics."""
    cfg = resolve(cfg)
    frame = collect(cfg, Path(ctx.results_dir))

    def claim(claim_id: str, text: str, measured: float, comparison: str, figure: str) -> Claim:
        return make_claim(
            study=STUDY,
            claim_id=claim_id,
            claim=text,
            measured=float(np.float64(measured)),
            comparison=comparison,
            scale=ctx.scale,
            evidence=f"{FIG}/{figure}.png",
            paper_value="",
        )

    return [row for exp in cfg["experiments"] for row in _claims_for(frame, exp, claim)]
