"""The qgm study's claims (issue 8 §4; qgm.md §5), computed from seed means of the stored metrics.

Accuracies are ``test_local_accuracy`` (mean over the local models), in fractions (×100 = points).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from pipeline.core.claims import Claim, claim_maker
from pipeline.qgm.runs import QgmRun, alpha_label
from pipeline.results import Results

STUDY = "qgm"
ACCURACY = "test_local_accuracy"


def seed_values(results: Results, method: str, alpha: float, key: str) -> list[float]:
    """``key`` of every seed of (method, alpha), in seed order (NaN where it is missing or null)."""
    values = []
    for spec in results.select(QgmRun, method=method, alpha=alpha):
        value = results.metrics(spec).get(key)
        values.append(math.nan if value is None else float(value))
    return values


def seed_mean(results: Results, method: str, alpha: float, key: str) -> float:
    return float(np.mean(seed_values(results, method, alpha, key)))


def claims(results: Results) -> list[Claim]:
    """QGM against DSGDm-N at the smallest and middle alpha, the growth of its advantage as alpha falls,
    the agreement of all methods near IID, and the consensus distance at the smallest alpha."""
    section = results.section

    def adv(alpha: float) -> float:
        """acc(QG-DSGDm-N) − acc(DSGDm-N) at ``alpha`` (fraction, ×100 = points)."""
        return seed_mean(results, "qg_dsgdm_n", alpha, ACCURACY) - seed_mean(
            results, "dsgdm_n", alpha, ACCURACY
        )

    falling = sorted(section["alphas"], reverse=True)
    lo, hi = falling[-1], falling[0]
    mid = falling[len(falling) // 2]
    growth = min((adv(b) - adv(a) for a, b in itertools.pairwise(falling)), default=math.nan)
    at_hi = [seed_mean(results, m, hi, ACCURACY) for m in section["methods"]]
    xi_ratio = seed_mean(results, "qg_dsgdm_n", lo, "xi_sq_mean") / seed_mean(
        results, "dsgdm_n", lo, "xi_sq_mean"
    )
    claim = claim_maker(STUDY, results.scale)
    rows = [
        claim(
            f"qgm_beats_dsgdm_alpha{alpha_label(alpha)}",
            f"QG-DSGDm-N beats DSGDm-N at alpha = {alpha:g} (measured: acc(QGM) − acc(DSGDm-N), mean of "
            "local models, mean over seeds, fraction)",
            adv(alpha),
            "> 0",
            results.figure_path("accuracy_vs_alpha"),
        )
        for alpha in dict.fromkeys([lo, mid])
    ]
    rows += [
        claim(
            "qgm_advantage_grows_with_heterogeneity",
            f"the advantage acc(QGM) − acc(DSGDm-N) grows as alpha falls over alpha = {falling} "
            "(measured: the smallest increase between consecutive alphas, fraction)",
            growth,
            "> 0",
            results.figure_path("accuracy_vs_alpha"),
        ),
        claim(
            "near_iid_methods_agree",
            f"at alpha = {hi:g} the methods {section['methods']} are within 1 point of each other "
            "(measured: max − min of the seed-mean accuracies, fraction)",
            max(at_hi) - min(at_hi),
            "<= 0.01",
            results.figure_path("accuracy_vs_alpha"),
        ),
        claim(
            "qgm_lowers_consensus_distance",
            f"QGM lowers the consensus distance relative to DSGDm-N at alpha = {lo:g} (measured: mean over "
            "training of Ξ²(QGM) / Ξ²(DSGDm-N), seed means)",
            xi_ratio,
            "< 1",
            results.figure_path("xi_curves"),
        ),
    ]
    return rows
