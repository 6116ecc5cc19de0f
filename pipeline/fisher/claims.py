"""The fisher study's claims (fisher.md §5), computed from the stored runs (see runs.py).

Each claim compares seed means of per-run metrics between arms of one experiment; per-seed values stay
in each run's metrics.json. Runs are selected by spec field (experiment, arm).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from scipy import stats

from pipeline.core.claims import Claim, claim_maker
from pipeline.fisher.runs import FisherRun
from pipeline.results import Results

STUDY = "fisher"


def collect(results: Results) -> pd.DataFrame:
    """One row per run the config lists (config order): experiment, arm, seed and the run's metrics."""
    rows = [
        {"experiment": spec.experiment, "arm": spec.arm, "seed": spec.seed_index, **results.metrics(spec)}
        for spec in results.select(FisherRun)
    ]
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


def _claims_for(frame: pd.DataFrame, exp: dict[str, Any], claim: Any, figure: Any) -> list[Claim]:
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
                figure("trace_curves"),
            )
        )
        out.append(
            claim(
                f"small_lr_worse_{name}",
                f"{name}: the small lr generalises worse: test accuracy(large) − test accuracy(small) "
                "(seed means).",
                acc["large"] - acc["small"],
                "> 0.0",
                figure("test_accuracy"),
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
                figure("test_accuracy"),
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
                figure("trace_curves"),
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
                figure("trace_vs_accuracy"),
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
                figure("memorisation"),
            )
        )
    return out


def claims(results: Results) -> list[Claim]:
    """The paper's claims per experiment (config order), verdicts computed from the stored metrics."""
    frame = collect(results)
    claim = claim_maker(STUDY, results.scale)
    return [
        row
        for exp in results.section["experiments"]
        for row in _claims_for(frame, exp, claim, results.figure_path)
    ]
