"""The sympy checks of the gradient_flow study (docs/gradient_flow.md §2, §6): they pass and can fail."""

from __future__ import annotations

import json

import sympy as sp

from pipeline.core.config import section
from pipeline.gradient_flow import study
from pipeline.gradient_flow import theory as symbolic

REQUIRED = {
    "imbalance_conserved_2x2x2",
    "imbalance_conserved_2x2x3",
    "scalar_lambda_conserved",
    "scalar_wdot_factorisation",
    "scalar_sum_of_squares_identity",
    "scalar_potential_derivative",
    "scalar_linearised_rate",
    "riccati_scalar",
    "riccati_poly_3x3_k2",
    "riccati_poly_singular_3x3_k2",
    "riccati_general_numeric",
    "stacked_riccati_flow_2x2x2",
    "residual_flow_2x2x2",
    "residual_energy_2x2x2",
    "sylvester_modes_2x2",
    "square_gram_spectra_2x2",
    "rate_bound_algebra",
    "imbalanced_init_identity_2x2",
    "descent_scalar_recursion",
    "descent_matrix_recursion_2x2x3",
}


def test_theory_all_checks_pass_and_serialise() -> None:
    result = study.theory(section("gradient_flow"))
    assert set(result["checks"]) >= REQUIRED
    assert result["failed"] == [], result["failed"]
    assert result["all_pass"] is True
    for name, check in result["checks"].items():
        assert set(check) >= {"expression", "residual", "passes", "method", "section"}, name
        assert isinstance(check["expression"], str) and check["passes"] is True
    json.loads(json.dumps(result, allow_nan=False))


def test_result_reports_a_nonzero_residual_as_failing() -> None:
    x = sp.Symbol("x", real=True)
    assert symbolic._result("x", x, "2.3")["passes"] is False
    assert symbolic._result("m", sp.Matrix([0, x**2 + 1]), "2.3")["passes"] is False
    assert symbolic._result("0", sp.Integer(0), "2.3")["passes"] is True


def test_wrong_riccati_sign_is_detected() -> None:
    """The scalar closed form does not solve ṗ = 2fp + p², so the same machinery must flag it."""
    f, z = sp.symbols("f z", real=True, nonzero=True)
    p = sp.exp(2 * f * symbolic.t) * z**2 / (1 + z**2 * (sp.exp(2 * f * symbolic.t) - 1) / (2 * f))
    right = sp.simplify(sp.diff(p, symbolic.t) - (2 * f * p - p**2))
    wrong = sp.simplify(sp.diff(p, symbolic.t) - (2 * f * p + p**2))
    assert symbolic._result("right", right, "2.4")["passes"] is True
    assert symbolic._result("wrong", wrong, "2.4")["passes"] is False


def test_wrong_descent_identity_is_detected() -> None:
    """Dropping the η² term of §2.5 leaves a nonzero residual."""
    u, v, y, eta = sp.symbols("u v y eta", real=True)
    r = y - u * v
    u1, v1 = u + eta * r * v, v + eta * r * u
    residual = sp.expand((u1**2 - v1**2) - (u**2 - v**2))
    assert symbolic._result("wrong", residual, "2.5")["passes"] is False


def test_wrong_residual_flow_is_detected() -> None:
    """Dropping the RVVᵀ term of Ṙ = −UUᵀR − RVVᵀ (§2.6) leaves a nonzero residual."""
    f = symbolic._factor_flow(2, 2, 2)
    U, R = f["U"], f["R"]
    wrong = (R.diff(symbolic.t).subs(f["flow"]) + U * U.T * R).applyfunc(sp.expand)
    assert symbolic._result("wrong", wrong, "2.6")["passes"] is False


def test_wrong_rate_bound_is_detected() -> None:
    """sqrt(λ² + σ²) is not the rate attained at Q = λI (the bound has 4σ²)."""
    lam = sp.Symbol("lambda", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    a = (lam + sp.sqrt(lam**2 + 4 * sigma**2)) / 2
    wrong = sp.simplify(a + (a - lam) - sp.sqrt(lam**2 + sigma**2))
    assert symbolic._result("wrong", wrong, "2.6")["passes"] is False
