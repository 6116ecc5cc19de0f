"""The gradient_flow study's claims, computed from the stored runs and theory.json (see runs.py).

Equations derived from the model (paper §3-§4): conservation of UᵀU − VᵀV, the scalar implicit closed
form, the Riccati closed form for λ-balanced starts, the rates sqrt(λ² + 4σ²), and the exact imbalance
recursion of finite-step gradient descent.
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.core.claims import Claim, claim_maker
from pipeline.gradient_flow.runs import DescentRun, MatrixFlowRun, ScalarFlowRun
from pipeline.results import Results

STUDY = "gradient_flow"


def _failed_checks(obj: dict[str, Any]) -> int:
    """Number of failing checks in a theory.json (accepts the dict of :func:`theory` or a wrapper)."""
    if "checks" in obj:
        return sum(not check["passes"] for check in obj["checks"].values())
    for key in ("theory", "metrics", "result"):
        if isinstance(obj.get(key), dict):
            return _failed_checks(obj[key])
    raise ValueError("theory.json holds no 'checks'")


def _measured(value: Any) -> float:
    """A stored number; JSON null (how non-finite values are written) becomes NaN, which never holds."""
    return math.nan if value is None else float(value)


def _worst(*values: float) -> float:
    """Max that propagates NaN (Python's max silently drops it when it is not first)."""
    return math.nan if any(math.isnan(v) for v in values) else max(values)


def claims(results: Results) -> list[Claim]:
    """The study's claims, each with a verdict computed from the stored metrics by make_claim."""
    scalar_spec = results.one(ScalarFlowRun)
    sc, mx, gd = (results.metrics(results.one(kind)) for kind in (ScalarFlowRun, MatrixFlowRun, DescentRun))
    failed = _failed_checks(results.theory)

    claim = claim_maker(STUDY, results.scale)
    matrix_record = results.file_path(results.one(MatrixFlowRun))

    out = [
        claim(
            "conservation",
            "The flow conserves the imbalance UᵀU − VᵀV (max relative error over the grid, "
            "scalar and matrix).",
            _worst(_measured(sc["conservation_rel_err_max"]), _measured(mx["conservation_rel_err_max"])),
            "<= 1e-08",
            results.figure_path("conservation"),
        ),
        claim(
            "closed_form_scalar",
            "The scalar implicit closed form t = G(w) − G(w0) (and the logistic at "
            "λ = 0) matches the integrated flow (max relative error in w).",
            _measured(sc["closed_form_rel_err_max"]),
            "<= 1e-06",
            results.figure_path("residual_closed_form"),
        ),
        claim(
            "closed_form_riccati",
            "For λ-balanced init, P = ZZᵀ equals the Riccati closed form "
            "e^{Ft}Z0 N(t)⁻¹ Z0ᵀe^{Ft} (max relative Frobenius error over the grid).",
            _measured(mx["riccati_rel_err_max"]),
            "<= 1e-06",
            results.figure_path("riccati_error"),
        ),
        claim(
            "rate_scalar",
            "The scalar residual |y − w| decays at rate sqrt(λ² + 4y²) (max relative error "
            "of the fitted rate over λ).",
            _measured(sc["rate_rel_err_max"]),
            "<= 0.02",
            results.figure_path("rates"),
        ),
        claim(
            "rate_matrix_modes",
            "Mode i of Y converges at rate sqrt(λ² + 4σ_i²) for λ-balanced init with "
            "λ ≠ 0 (max relative error over modes, λ and spectra).",
            _measured(mx["rate_rel_err_max"]),
            "<= 0.02",
            results.figure_path("rates"),
        ),
        claim(
            "spectrum_of_F",
            "The spectrum of F is ±sqrt(λ²/4 + σ_i²) (± λ/2 for unmatched dimensions) "
            "(max error relative to max(1, |μ|)).",
            _measured(mx["spectrum_err_max"]),
            "<= 1e-10",
            matrix_record,
        ),
        claim(
            "acceleration",
            "At a fixed initial product, the time to reach |y − w| < tolerance strictly "
            "decreases with |λ| (number of violating pairs).",
            _measured(sc["acceleration_violations"]),
            "== 0",
            results.figure_path("residual_closed_form"),
        ),
        claim(
            "descent_recursion",
            "Gradient descent changes the imbalance exactly as η²(W2GᵀGW2ᵀ − W1ᵀGGᵀW1) "
            "(scalar: λ' = (1 − η²r²)λ); max deviation per step relative to 1 + |Q|.",
            _measured(gd["recursion_dev_max"]),
            "<= 1e-12",
            results.figure_path("descent_imbalance"),
        ),
        claim(
            "theory",
            "The sympy checks of the conservation law, closed forms, Riccati equation and GD "
            "recursion all pass (number of failing checks).",
            failed,
            "== 0",
            results.file_path(name="theory.json"),
        ),
    ]
    if scalar_spec.y > 0.5:
        out.append(
            claim(
                "overparameterised_faster",
                "For y > 1/2 the overparameterised rate exceeds the rate 1 "
                "of Ẇ = Y − W (min over λ of fitted rate / fitted linear rate).",
                _measured(sc["rate_over_linear_min"]),
                "> 1.0",
                results.figure_path("rates"),
            )
        )
    return out
