"""The directpred study's claims, computed from the stored runs and theory.json (see runs.py).

The theory and simulation claims read ``linear_flow``, ``collapse`` and theory.json; the SSL claims are
made per dataset (ids suffixed with the dataset, e.g. ``directpred_vs_linear_stl10``) from the mean over
seeds of its finished BYOL runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline.core.claims import Claim, claim_maker
from pipeline.directpred.runs import CollapseRun, LinearFlowRun, SSLRun
from pipeline.results import Results

STUDY = "directpred"


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _mean(values: list[float]) -> float:
    """Mean that is NaN when a value is missing or the list is empty (so a claim on it cannot hold)."""
    arr = np.array([_number(v) for v in values], dtype=float)
    return float(arr.mean()) if arr.size else math.nan


def _variant_mean(results: Results, dataset: str, variant: str, key: str) -> float:
    """Mean over the finished BYOL runs of ``dataset`` and ``variant`` of the metric ``key``."""
    specs = results.finished(results.select(SSLRun, dataset=dataset, method="byol", variant=variant))
    return _mean([results.metrics(spec).get(key) for spec in specs])


def claims(results: Results) -> list[Claim]:
    """The study's claims; every verdict is computed by make_claim from stored numbers."""
    flow = results.metrics(results.one(LinearFlowRun))
    col = results.metrics(results.one(CollapseRun))
    checks = results.theory["checks"]
    claim = claim_maker(STUDY, results.scale)
    figure = results.figure_path

    out = [
        claim(
            "theory",
            "Sympy: Eqn-14 invariant, Eqn-16 factorisation, fixed points p*±, η_crit, slopes, "
            "(p, s) Jacobian eigenvalues, Eqn 17 ⇔ k_j > 0 and the Lemma-1 gradient all hold "
            "(number of failing checks).",
            sum(not c["passes"] for c in checks.values()),
            "== 0",
            results.file_path(name="theory.json"),
        ),
        claim(
            "fixed_point",
            "Linear-network flow: every surviving eigenvalue of W_p reaches the sympy fixed "
            "point p*₊ (max |p_j − p*₊|).",
            _number(flow["p_err_max"]),
            "<= 1e-3",
            figure("linear_eigenvalues"),
        ),
        claim(
            "commutator_decay",
            "Linear-network flow: ‖[F, W_p]‖/(‖F‖‖W_p‖) falls by at least 6 orders of magnitude (decades).",
            _number(flow["commutator_decades"]),
            ">= 6",
            figure("linear_alignment"),
        ),
        claim(
            "eigen_alignment_linear",
            "Linear-network flow: cos(W_p u_j, u_j) → 1 for every surviving mode (min over modes).",
            _number(flow["cos_min_surviving"]),
            ">= 0.999",
            figure("linear_alignment"),
        ),
        claim(
            "collapse_threshold",
            "Collapse happens exactly on the predicted side of η_crit = τ²/(4(1+σ²)) "
            "(number of swept η whose outcome disagrees).",
            col["threshold_mismatches"],
            "== 0",
            figure("collapse"),
        ),
        claim(
            "collapse_no_stop_grad",
            "Without the stop-gradient (Theorem 2) W collapses: final ‖W‖_F.",
            _number(col["no_stop_grad"]["w_norm_final"]),
            "<= 1e-6",
            figure("collapse"),
        ),
        claim(
            "collapse_no_predictor",
            "Without a predictor (W_p ≡ I) W collapses: final ‖W‖_F.",
            _number(col["no_predictor"]["w_norm_final"]),
            "<= 1e-6",
            figure("collapse"),
        ),
        claim(
            "collapse_weight_decay",
            "With weight decay above η_crit every mode collapses: final max_j s_j.",
            _number(col["weight_decay_above"]["s_max_final"]),
            "<= 1e-6",
            figure("collapse"),
        ),
    ]
    for dataset in dict.fromkeys(spec.dataset for spec in results.select(SSLRun, method="byol")):
        out += _dataset_claims(results, dataset, claim)
    return out


def _dataset_claims(results: Results, dataset: str, claim: Callable[..., Claim]) -> list[Claim]:
    """One dataset's BYOL claims (the dataset has BYOL runs: ``byol`` in its methods and seeds > 0)."""
    specs = results.select(SSLRun, dataset=dataset, method="byol")
    variants = list(dict.fromkeys(spec.variant for spec in specs))
    acc = {v: 100 * _variant_mean(results, dataset, v, "probe_test_accuracy") for v in variants}
    figure = results.figure_path
    out = []
    if {"directpred", "linear"} <= set(acc):
        out.append(
            claim(
                f"directpred_vs_linear_{dataset}",
                f"{dataset}, BYOL probe accuracy: DirectPred minus the SGD-trained linear "
                "predictor, mean over seeds (points; Table 8 direction).",
                acc["directpred"] - acc["linear"],
                ">= 0",
                figure("probe_accuracy"),
                "STL-10 100 ep: 77.86 vs 75.06",
            )
        )
    if {"directpred", "twolayer"} <= set(acc):
        out.append(
            claim(
                f"directpred_vs_twolayer_{dataset}",
                f"{dataset}, BYOL probe accuracy: two-layer predictor minus DirectPred, "
                "mean over seeds (points; within 2).",
                acc["twolayer"] - acc["directpred"],
                "<= 2",
                figure("probe_accuracy"),
                "ImageNet 300 ep: 72.5 vs 72.4",
            )
        )
    if "linear" in variants:
        align = _variant_mean(results, dataset, "linear", "align_cos_top_k")
        out.append(
            claim(
                f"real_encoder_alignment_{dataset}",
                f"{dataset}, real encoder, SGD linear predictor: mean cos(W_p u_j, u_j) over "
                f"the top {specs[0].ssl.align_top_k} eigenvectors of F̂ at the end of training "
                "(mean over seeds).",
                align,
                "> 0.9",
                figure("encoder_alignment"),
            )
        )
    return out
