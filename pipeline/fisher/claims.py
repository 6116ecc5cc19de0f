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

**The fit gate.** The paper's comparison of learning rates and penalties presupposes that every arm fits
its training set: otherwise a test-accuracy gap mixes under-fitting with generalisation. Every claim about
final test accuracy therefore reads the final train accuracy (on the labels trained on) of every run of
its arms: when one of them is below :data:`FIT_ACCURACY` (or diverged, or recorded none), the claim keeps
its point estimate but its interval is withheld, so the verdict is ``inconclusive``, and its note names
the arms that did not fit (:func:`fit_gate`). The memorisation claim is gated in the same way on the
noisy-label arm without the penalty, which must have fitted its flipped labels (memorised them) for a
slower memorisation under the penalty to mean anything; the penalised arm is exempt, since not fitting
them is the effect. The Tr F claims compare the early phase and are not gated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from pipeline.core.claims import Claim, ClaimSet
from pipeline.core.stats import Estimate, bootstrap, paired_difference, paired_log_ratio, spearman_interval
from pipeline.fisher.runs import FisherRun, seeds
from pipeline.results import Results

STUDY = "fisher"
CLEAN_ARMS = ("small", "large", "small_fp", "small_gp", "small_gpx", "small_gpr")
FIT_ACCURACY = 0.99  # train accuracy every arm must reach for a comparison of generalisation
ARM_NAMES = {
    "small": "small lr",
    "large": "large lr",
    "small_fp": "small lr + Fisher penalty",
    "small_gp": "small lr + gradient-norm penalty",
    "small_gpx": "small lr + input-gradient penalty",
    "small_gpr": "small lr + random-label penalty",
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
    "gpx": (
        "the improvement is specific to penalising curvature in parameter space: the input-gradient-norm "
        "control (GPx) improves the small-lr baseline less than the Fisher penalty (recalled Table 1 "
        "columns GPx and FP, unconfirmed; no number is used)"
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
        self.counts = {exp["name"]: seeds(results.section, exp) for exp in results.section["experiments"]}
        self.metrics: dict[tuple[str, str, int], dict[str, Any] | None] = {}
        for spec in results.select(FisherRun):
            finished = results.metrics_path(spec).exists()
            key = (spec.experiment, spec.arm, spec.seed_index)
            self.metrics[key] = results.metrics(spec) if finished else None

    def seeds(self, name: str) -> int:
        """Seeds of experiment ``name``."""
        return self.counts[name]

    def values(self, name: str, arm: str, key: str, scale: float = 1.0) -> list[float]:
        """``key`` of arm ``arm`` for seed 0 … seeds−1 (NaN where missing or diverged), times ``scale``."""
        return [scale * _number(self.metrics.get((name, arm, k)), key) for k in range(self.seeds(name))]

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


def fit_failures(runs: Runs, name: str, arms: Sequence[str]) -> list[str]:
    """The arms of ``arms`` with a finished run that did not fit its training set: final train accuracy on
    the labels trained on below :data:`FIT_ACCURACY`, diverged, or none recorded (unfinished runs are left
    to the estimates, which exclude them)."""
    failures = []
    for arm in arms:
        finished = [m for k in range(runs.seeds(name)) if (m := runs.metrics.get((name, arm, k))) is not None]
        diverged = sum(bool(m.get("diverged", 0.0)) for m in finished)
        fits = [_number(m, "fit_accuracy") for m in finished if not m.get("diverged", 0.0)]
        low = [v for v in fits if not math.isfinite(v) or v < FIT_ACCURACY]
        if not (diverged or low):
            continue
        parts = []
        if diverged:
            parts.append(f"{diverged} diverged")
        finite = [v for v in fits if math.isfinite(v)]
        if any(math.isfinite(v) for v in low):
            below = sum(math.isfinite(v) for v in low)
            parts.append(f"{below} of {len(finished)} below, lowest {100 * min(finite):.1f}%")
        if any(not math.isfinite(v) for v in low):
            parts.append("no train accuracy recorded")
        failures.append(f"{ARM_NAMES[arm]} ({'; '.join(parts)})")
    return failures


def fit_gate(
    estimate: Estimate, runs: Runs, name: str, arms: Sequence[str], what: str = ""
) -> tuple[Estimate, str]:
    """(``estimate``, "") when every finished run of ``arms`` fits its training set; otherwise the point
    estimate with its interval withheld (so the verdict is inconclusive) and a sentence naming the arms
    that do not fit. ``what`` replaces the default description of the requirement."""
    failures = fit_failures(runs, name, arms)
    if not failures:
        return estimate, ""
    requirement = what or (
        f"every arm to fit its training set (train accuracy ≥ {100 * FIT_ACCURACY:.0f}%), since otherwise a "
        "test-accuracy difference mixes under-fitting with generalisation"
    )
    gated = replace(
        estimate,
        low=math.nan,
        high=math.nan,
        method=f"{estimate.method}; interval withheld: not every arm fits its training set",
    )
    return (
        gated,
        f"Inconclusive by the fit gate: the claim needs {requirement}; not fitted: {', '.join(failures)}.",
    )


def _note(*parts: str) -> str:
    return " ".join(part for part in parts if part)


# --------------------------------------------------------------------------------------------- claims


def notes(exp: dict[str, Any], seeds: int) -> dict[str, str]:
    """Why each claim of experiment ``exp`` may not hold at its scale (from the design, not the data)."""
    setting = f"{exp['epochs']} epochs of plain SGD (batch {exp['batch_size']}) on {exp['dataset']}"
    penalty = f"every {exp['penalty_every']} step(s)" if exp["penalty_every"] > 1 else "every step"
    return {
        "explosion": (
            f"Two fixed lrs ({exp['lr_small']:g}, {exp['lr_large']:g}); the peak is the maximum of a "
            f"sampled estimator (one label per example on {exp['trace_examples']} examples, every "
            f"{exp['trace_every']} steps) over the first {exp['trace_until']} steps, a noisy maximum; the "
            f"factor 2 is this study's reading of an 'explosion', not a number of the paper; {seeds} seeds."
        ),
        "small_lr": (
            f"Both lrs are fixed, not tuned; {setting}, sized for every arm to fit its training set (train "
            f"accuracy ≥ {100 * FIT_ACCURACY:.0f}%, checked); the gap is a few points of a "
            f"{exp['test_size'] or 'full'}-example test set against the seed-to-seed noise over {seeds} "
            "seeds."
        ),
        "closes_gap": (
            f"A ratio of two paired differences over {seeds} seeds: undefined (inconclusive) whenever a "
            f"bootstrap resample has no positive small-vs-large gap; one fixed weight α={exp['alpha_fp']:g} "
            f"applied {penalty}, not tuned per setting as in the paper; the penalty also slows fitting, and "
            f"an arm below {100 * FIT_ACCURACY:.0f}% train accuracy makes the claim inconclusive."
        ),
        "lowers_trace": (
            f"One fixed, untuned weight α={exp['alpha_fp']:g} applied {penalty}; the peak is a noisy "
            f"maximum of a sampled estimator over {seeds} seeds."
        ),
        "correlation": (
            f"The runs are the clean-label arms times {seeds} seeds, not independent settings: runs of one "
            "seed share an initialisation and data order, so the Fisher-z interval (which assumes "
            "independent pairs) is optimistic, and the rank correlation rests on the few between-arm "
            f"differences. Every arm must reach {100 * FIT_ACCURACY:.0f}% train accuracy."
        ),
        "memorisation": (
            "Learning speed is the time-averaged train accuracy of each subset over the evaluations of the "
            f"whole run ({exp['epochs']} epochs on {exp['train_size'] or 'all'} examples with "
            f"{exp['noise_fraction']:.0%} flipped labels, lr {exp['noise_lr']:g}), at one fixed weight "
            f"α={exp['alpha_fp']:g}; it is measured only if the arm without the penalty memorises, i.e. fits "
            f"its flipped labels too ({100 * FIT_ACCURACY:.0f}% train accuracy); {seeds} seeds."
        ),
        "gpx": (
            f"Each penalty has one fixed weight (FP α={exp['alpha_fp']:g}, GPx α={exp['alpha_gpx']:g}), not "
            "tuned per penalty as in the paper, so a weaker GPx may reflect its weight; "
            f"{seeds} seeds; both arms must reach {100 * FIT_ACCURACY:.0f}% train accuracy."
        ),
    }


def _gated(claims: ClaimSet, runs: Runs, name: str, arms: Sequence[str], estimate: Estimate,
           design: str, what: str = "", **claim: Any) -> None:  # fmt: skip
    """Add a reproduction whose estimate passes :func:`fit_gate` on ``arms`` (note: design + gate)."""
    estimate, gate = fit_gate(estimate, runs, name, arms, what)
    claims.reproduction(estimate=estimate, note=_note(design, gate), **claim)


def _claims_for(claims: ClaimSet, runs: Runs, exp: dict[str, Any]) -> None:
    name, arms = exp["name"], set(exp["arms"])
    clean = [arm for arm in CLEAN_ARMS if arm in arms]
    why = notes(exp, runs.seeds(name))
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
        _gated(
            claims,
            runs,
            name,
            ["small", "large"],
            paired_difference(runs.accuracy(name, "large"), runs.accuracy(name, "small")),
            why["small_lr"],
            claim_id=f"small_lr_worse_{name}",
            text=f"{name}: the small lr generalises worse: test accuracy(large lr) − test accuracy(small "
            "lr), percentage points, paired per seed, both arms fitted.",
            comparison=">",
            threshold=0.0,
            figure="accuracy",
            paper_value=PAPER["small_lr"],
            paper_source=f"{ABSTRACT}; Table 1 (recalled, unconfirmed)",
        )
    if {"small", "large", "small_fp"} <= arms:
        _gated(
            claims,
            runs,
            name,
            ["small", "large", "small_fp"],
            gap_fraction(
                runs.accuracy(name, "small"), runs.accuracy(name, "large"), runs.accuracy(name, "small_fp")
            ),
            why["closes_gap"],
            claim_id=f"fp_closes_gap_{name}",
            text=f"{name}: the Fisher penalty (α={exp['alpha_fp']:g}) at the small lr closes at least half "
            "of the test-accuracy gap to the large lr: mean(acc(small+FP) − acc(small)) / mean(acc(large) − "
            "acc(small)) over seeds (NaN when there is no gap), every arm fitted.",
            comparison=">=",
            threshold=0.5,
            figure="accuracy",
            paper_value=PAPER["closes_gap"],
            paper_source=f"{ABSTRACT}; Table 1 (recalled, unconfirmed)",
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
        _gated(
            claims,
            runs,
            name,
            clean,
            trace_accuracy_spearman(runs, name, clean),
            why["correlation"],
            claim_id=f"early_trace_predicts_accuracy_{name}",
            text=f"{name}: early peak Tr F and final test accuracy are negatively correlated over the "
            f"clean-label runs ({', '.join(ARM_NAMES[a] for a in clean)}; Spearman ρ), every arm fitted.",
            comparison="<",
            threshold=0.0,
            figure="trace_vs_accuracy",
            paper_value=PAPER["correlation"],
            paper_source=ABSTRACT,
        )
    if {"small_fp", "small_gpx"} <= arms:
        _gated(
            claims,
            runs,
            name,
            ["small_fp", "small_gpx"],
            paired_difference(runs.accuracy(name, "small_fp"), runs.accuracy(name, "small_gpx")),
            why["gpx"],
            claim_id=f"fp_beats_gpx_{name}",
            text=f"{name}: at the small lr the Fisher penalty generalises better than the input-gradient "
            "control GPx: test accuracy(small+FP) − test accuracy(small+GPx), percentage points, paired per "
            "seed, both arms fitted.",
            comparison=">",
            threshold=0.0,
            figure="accuracy",
            paper_value=PAPER["gpx"],
            paper_source="Table 1 (recalled, unconfirmed)",
        )
    if {"noisy", "noisy_fp"} <= arms:
        noisy_drop, clean_drop = memorisation_drops(runs, name)
        _gated(
            claims,
            runs,
            name,
            ["noisy"],
            paired_difference(noisy_drop, clean_drop),
            why["memorisation"],
            what=(
                "the arm without the penalty to memorise, i.e. fit its training set including the flipped "
                f"labels (train accuracy ≥ {100 * FIT_ACCURACY:.0f}%), so that a slower fit of the flipped "
                "labels under the penalty is a slower memorisation"
            ),
            claim_id=f"fp_limits_memorisation_{name}",
            text=f"{name}: with {exp['noise_fraction']:.0%} noisy labels, the Fisher penalty slows the "
            "fitting of noisy examples more than of clean ones: drop in time-averaged noisy-subset train "
            "accuracy minus drop in clean-subset train accuracy (percentage points, paired per seed), "
            "measured where the arm without the penalty memorises its noisy labels.",
            comparison=">",
            threshold=0.0,
            figure="memorisation",
            paper_value=PAPER["memorisation"],
            paper_source=ABSTRACT,
        )


def claims(results: Results) -> list[Claim]:
    """The paper's claims per experiment (config order), verdicts computed from the intervals."""
    runs = Runs(results)
    out = ClaimSet(results)
    for exp in results.section["experiments"]:
        _claims_for(out, runs, exp)
    return out.rows
