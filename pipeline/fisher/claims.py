"""The fisher study's claims, computed from the stored runs (see runs.py and docs/fisher.md).

Seed k of every arm of an experiment shares the initialisation and the data order, so every comparison
between arms is paired per seed: a difference of per-seed values (:func:`~pipeline.core.stats.
paired_difference`), a geometric-mean ratio of per-seed Tr F peaks (:func:`~pipeline.core.stats.
paired_log_ratio`), or, for the fraction of the small-vs-large-lr gap the Fisher penalty closes (a ratio of
two paired differences, not a mean), a percentile bootstrap over seeds. The correlation of early Tr F with
final test accuracy is a Spearman ρ over the clean-label runs. Missing and diverged runs are excluded from
every estimate (the interval method says how many). Accuracies enter the claims in percentage points.

Every claim is a ``reproduction`` of a statement of the paper's abstract (the paper's tables and figures
could not be checked, so no number of the paper is used as a target). The thresholds are the direction
the abstract states, read as "at least twice" for an "explosion" and "at least half" for "mitigates"; the
rule for each is in docs/fisher.md.

The paper's comparison of learning rates presupposes that every arm fits its training set; a claim
about final test accuracy says in its note which arms do not (train accuracy below :data:`FIT_ACCURACY`).
That fit check only annotates: the verdict is always decided from the interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from pipeline.core.claims import Claim, ClaimSet
from pipeline.core.stats import Estimate, bootstrap, paired_difference, paired_log_ratio, spearman_interval
from pipeline.fisher.runs import FisherRun
from pipeline.results import Results

STUDY = "fisher"
CLEAN_ARMS = ("small", "large", "small_fp", "small_gp")
FIT_ACCURACY = 0.99  # train accuracy every arm must reach for a comparison of generalisation
ARM_NAMES = {
    "small": "small lr",
    "large": "large lr",
    "small_fp": "small lr + Fisher penalty",
    "small_gp": "small lr + gradient-norm penalty",
    "noisy": "noisy labels",
    "noisy_fp": "noisy labels + Fisher penalty",
}

ABSTRACT = "abstract"
PAPER = {
    "explosion": (
        "a small learning rate steers the trajectory towards regions of increasing curvature; poor "
        "generalisation coincides with Tr F attaining a large value early in training ('catastrophic "
        "Fisher explosion'); no number is used (the paper's Tr F curves, recalled as Fig. 1, are "
        "unconfirmed)"
    ),
    "small_lr": (
        "the choice of the learning rate strongly influences generalisation, and the small learning rate "
        "drifts towards high curvature, which coincides with poor generalisation (small-lr vs tuned-lr "
        "baselines of the recalled Table 1, unconfirmed)"
    ),
    "closes_gap": (
        "explicitly penalising Tr F can significantly improve generalisation (recalled Table 1: small lr "
        "with the Fisher penalty recovers much of the tuned-lr accuracy, unconfirmed)"
    ),
    "lowers_trace": (
        "SGD implicitly penalises Tr F from the start of training; the Fisher penalty does so explicitly "
        "(recalled Tr F curves with the penalty, unconfirmed)"
    ),
    "correlation": (
        "poor final generalisation coincides with Tr F attaining a large value early in training "
        "(recalled correlation plot of early Tr F against final accuracy, unconfirmed)"
    ),
    "memorisation": (
        "penalising Tr F limits memorisation: it reduces the learning speed of examples with noisy labels "
        "more than that of examples with clean labels (recalled CIFAR-100 noisy-label runs, unconfirmed)"
    ),
}


# ------------------------------------------------------------------------------------ per-seed values


def _usable(metrics: dict[str, Any] | None) -> bool:
    return metrics is not None and not bool(metrics.get("diverged", 0.0))


def _number(metrics: dict[str, Any] | None, key: str) -> float:
    """``metrics[key]`` as a float; NaN for a missing or diverged run or a missing key."""
    if not _usable(metrics) or metrics.get(key) is None:
        return math.nan
    value = float(metrics[key])
    return value if math.isfinite(value) else math.nan


class Runs:
    """The stored metrics of one study, per (experiment, arm, seed index); None where not finished."""

    def __init__(self, results: Results) -> None:
        self.seeds = int(results.section["seeds"])
        self.metrics: dict[tuple[str, str, int], dict[str, Any] | None] = {}
        for spec in results.select(FisherRun):
            finished = results.metrics_path(spec).exists()
            key = (spec.experiment, spec.arm, spec.seed_index)
            self.metrics[key] = results.metrics(spec) if finished else None

    def values(self, name: str, arm: str, key: str, scale: float = 1.0) -> list[float]:
        """``key`` of arm ``arm`` for seed 0 … seeds−1 (NaN where missing or diverged), times ``scale``."""
        return [scale * _number(self.metrics.get((name, arm, k)), key) for k in range(self.seeds)]

    def accuracy(self, name: str, arm: str) -> list[float]:
        """Final test accuracy in percent, per seed."""
        return self.values(name, arm, "test_accuracy", 100.0)

    def peak(self, name: str, arm: str) -> list[float]:
        """Early peak of Tr F, per seed."""
        return self.values(name, arm, "trace_peak_early")


# ------------------------------------------------------------------------------------------ estimates


def _with_exclusions(estimate: Estimate, excluded: int) -> Estimate:
    if not excluded:
        return estimate
    return replace(estimate, method=f"{estimate.method}; {excluded} missing or diverged excluded")


def gap_fraction(small: Sequence[float], large: Sequence[float], fp: Sequence[float]) -> Estimate:
    """(acc(small+FP) − acc(small)) / (acc(large) − acc(small)) from per-seed accuracies, with a percentile
    bootstrap over the seeds all three arms have; the ratio is NaN (so the verdict inconclusive) when the
    mean gap of a (re)sample is not positive."""
    rows = np.column_stack([np.asarray(v, dtype=float) for v in (small, large, fp)])
    keep = np.isfinite(rows).all(axis=1)
    triples = [tuple(row) for row in rows[keep]]

    def fraction(sample: list[object]) -> float:
        if not sample:
            return math.nan
        s, lg, f = np.asarray(sample, dtype=float).T
        gap = float(np.mean(lg - s))
        return float(np.mean(f - s)) / gap if gap > 0 else math.nan

    return _with_exclusions(bootstrap(triples, fraction), int((~keep).sum()))


def memorisation_drops(runs: Runs, name: str) -> tuple[list[float], list[float]]:
    """Per seed: (drop in time-averaged noisy-subset fit caused by FP, the same drop on the clean subset)."""
    noisy = np.subtract(
        runs.values(name, "noisy", "noisy_fit_mean"), runs.values(name, "noisy_fp", "noisy_fit_mean")
    )
    clean = np.subtract(
        runs.values(name, "noisy", "clean_fit_mean"), runs.values(name, "noisy_fp", "clean_fit_mean")
    )
    return list(100.0 * noisy), list(100.0 * clean)


def trace_accuracy_spearman(runs: Runs, name: str, arms: Sequence[str]) -> Estimate:
    """Spearman ρ of early peak Tr F with final test accuracy over every clean-label run of ``name``."""
    peaks = [v for arm in arms for v in runs.peak(name, arm)]
    accuracies = [v for arm in arms for v in runs.accuracy(name, arm)]
    excluded = sum(
        not (math.isfinite(p) and math.isfinite(a)) for p, a in zip(peaks, accuracies, strict=True)
    )
    estimate = spearman_interval(peaks, accuracies)
    return _with_exclusions(replace(estimate, method=f"{estimate.method} over runs"), excluded)


def fit_check(runs: Runs, name: str, arms: Sequence[str]) -> str:
    """A sentence saying which of ``arms`` have a finished run below :data:`FIT_ACCURACY` train accuracy
    (on the labels trained on), or that train accuracy was not recorded; "" when every arm fits."""
    short, unknown = [], []
    for arm in arms:
        fits = [v for v in runs.values(name, arm, "fit_accuracy") if math.isfinite(v)]
        if not fits:
            unknown.append(ARM_NAMES[arm])
        elif min(fits) < FIT_ACCURACY:
            short.append(f"{ARM_NAMES[arm]} (lowest {100 * min(fits):.1f}%)")
    parts = []
    if short:
        parts.append(
            f"Fit check: the comparison presupposes every arm fits its training set (train accuracy ≥ "
            f"{100 * FIT_ACCURACY:.0f}%); these arms do not: {', '.join(short)}, so the test-accuracy "
            "difference mixes under-fitting with generalisation."
        )
    if unknown:
        parts.append(f"Fit check: no train accuracy recorded for {', '.join(unknown)}.")
    return " ".join(parts)


def _note(design: str, fit: str = "") -> str:
    return f"{design} {fit}".strip()


# --------------------------------------------------------------------------------------------- claims


def notes(exp: dict[str, Any], seeds: int) -> dict[str, str]:
    """Why each claim of experiment ``exp`` may not hold at its scale (from the design, not the data)."""
    setting = f"{exp['epochs']} epochs of a small {exp['model']} on {exp['dataset']}"
    return {
        "explosion": (
            f"Fixed lrs and {setting}; the peak is the maximum of a sampled estimator (one "
            f"label per example on {exp['trace_examples']} examples) over the first {exp['trace_until']} "
            "steps, so it is a noisy maximum; the factor 2 is this study's reading of an 'explosion', not "
            f"a number of the paper; {seeds} seed(s) give a wide interval."
        ),
        "small_lr": (
            f"Both lrs are fixed, not tuned, and the budget is short ({setting}), so the gap may be a "
            f"few points against the seed-to-seed noise over {seeds} seed(s)."
        ),
        "closes_gap": (
            f"A ratio of two paired differences over {seeds} seed(s): it is undefined (inconclusive) "
            "whenever a bootstrap resample has no positive small-vs-large gap, and the penalty weight and "
            "frequency are fixed, not tuned per setting."
        ),
        "lowers_trace": (
            f"The penalty is applied every {exp['penalty_every']} steps with a fixed, untuned weight "
            f"α={exp['alpha_fp']:g}, and the peak is a noisy maximum of a sampled estimator over {seeds} "
            "seed(s)."
        ),
        "correlation": (
            f"The runs are the clean-label arms times {seeds} seed(s), not independent settings: runs of "
            "one seed share an initialisation and data order, so the Fisher-z interval (which assumes "
            "independent pairs) is optimistic, and the rank correlation is driven by the few between-arm "
            "differences."
        ),
        "memorisation": (
            "Learning speed is proxied by the time-averaged train accuracy of each subset over the "
            f"evaluation points, at a fixed untuned penalty weight α={exp['alpha_fp']:g}, over {seeds} "
            "seed(s)."
        ),
    }


def _claims_for(claims: ClaimSet, runs: Runs, exp: dict[str, Any]) -> None:
    name, arms = exp["name"], set(exp["arms"])
    clean = [arm for arm in CLEAN_ARMS if arm in arms]
    why = notes(exp, runs.seeds)
    if {"small", "large"} <= arms:
        claims.reproduction(
            f"fisher_explosion_{name}",
            f"{name}: the early peak of Tr F (first {exp['trace_until']} steps) at the small lr "
            f"{exp['lr_small']:g} is at least twice that at the large lr {exp['lr_large']:g} "
            "(geometric-mean ratio of per-seed peaks, small / large).",
            paired_log_ratio(runs.peak(name, "small"), runs.peak(name, "large")),
            ">=",
            2.0,
            figure="trace_curves",
            paper_value=PAPER["explosion"],
            paper_source=ABSTRACT,
            note=why["explosion"],
        )
        claims.reproduction(
            f"small_lr_worse_{name}",
            f"{name}: the small lr generalises worse: test accuracy(large lr) − test accuracy(small lr), "
            "percentage points, paired per seed.",
            paired_difference(runs.accuracy(name, "large"), runs.accuracy(name, "small")),
            ">",
            0.0,
            figure="accuracy",
            paper_value=PAPER["small_lr"],
            paper_source=f"{ABSTRACT}; Table 1 (recalled, unconfirmed)",
            note=_note(why["small_lr"], fit_check(runs, name, ["small", "large"])),
        )
    if {"small", "large", "small_fp"} <= arms:
        claims.reproduction(
            f"fp_closes_gap_{name}",
            f"{name}: the Fisher penalty (α={exp['alpha_fp']:g}) at the small lr closes at least half of "
            "the test-accuracy gap to the large lr: mean(acc(small+FP) − acc(small)) / mean(acc(large) − "
            "acc(small)) over seeds (NaN when there is no gap).",
            gap_fraction(
                runs.accuracy(name, "small"), runs.accuracy(name, "large"), runs.accuracy(name, "small_fp")
            ),
            ">=",
            0.5,
            figure="accuracy",
            paper_value=PAPER["closes_gap"],
            paper_source=f"{ABSTRACT}; Table 1 (recalled, unconfirmed)",
            note=_note(why["closes_gap"], fit_check(runs, name, ["small", "large", "small_fp"])),
        )
    if {"small", "small_fp"} <= arms:
        claims.reproduction(
            f"fp_lowers_trace_{name}",
            f"{name}: the Fisher penalty lowers the early peak of Tr F at the small lr: geometric-mean ratio "
            "of per-seed peaks, (small lr + FP) / small lr.",
            paired_log_ratio(runs.peak(name, "small_fp"), runs.peak(name, "small")),
            "<",
            1.0,
            figure="trace_curves",
            paper_value=PAPER["lowers_trace"],
            paper_source=ABSTRACT,
            note=why["lowers_trace"],
        )
    if {"small", "large"} <= arms:
        claims.reproduction(
            f"early_trace_predicts_accuracy_{name}",
            f"{name}: early peak Tr F and final test accuracy are negatively correlated over the clean-label "
            f"runs ({', '.join(ARM_NAMES[a] for a in clean)}; Spearman ρ).",
            trace_accuracy_spearman(runs, name, clean),
            "<",
            0.0,
            figure="trace_vs_accuracy",
            paper_value=PAPER["correlation"],
            paper_source=ABSTRACT,
            note=_note(why["correlation"], fit_check(runs, name, clean)),
        )
    if {"noisy", "noisy_fp"} <= arms:
        noisy_drop, clean_drop = memorisation_drops(runs, name)
        claims.reproduction(
            f"fp_limits_memorisation_{name}",
            f"{name}: with {exp['noise_fraction']:.0%} noisy labels, the Fisher penalty slows the fitting of "
            "noisy examples more than of clean ones: drop in time-averaged noisy-subset train accuracy "
            "minus drop in clean-subset train accuracy (percentage points, paired per seed).",
            paired_difference(noisy_drop, clean_drop),
            ">",
            0.0,
            figure="memorisation",
            paper_value=PAPER["memorisation"],
            paper_source=ABSTRACT,
            note=why["memorisation"],
        )


def claims(results: Results) -> list[Claim]:
    """The paper's claims per experiment (config order), verdicts computed from the intervals."""
    runs = Runs(results)
    out = ClaimSet(results)
    for exp in results.section["experiments"]:
        _claims_for(out, runs, exp)
    return out.rows
