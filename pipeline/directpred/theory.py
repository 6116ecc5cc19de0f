"""Symbolic (sympy) analysis of the linear BYOL/SimSiam eigen-dynamics (the paper's Lemma 1 and Eqns 7-17).

Per eigenmode (Eqns 11-13): ṗ = α_p s [τ − (1+σ²)p] − ηp, ṡ = 2ps [τ − (1+σ²)p] − 2ηs,
τ̇ = β(1 − τ) − τṡ/(2s). :func:`run_all` returns every check as ``{"expression", "residual", "passes",
"section"}`` (``residual`` is what sympy simplified the quantity that must vanish to), plus the fixed points,
the collapse threshold, the slopes and the (p, s) Jacobian eigenvalues as formulas and as numbers at the
configured (τ, σ², η, α_p).
"""

from __future__ import annotations

import math
from typing import Any

import sympy as sp

p, s, tau, t = sp.symbols("p s tau t", real=True)
sigma2, eta, alpha_p, beta = sp.symbols("sigma2 eta alpha_p beta", positive=True)


def p_dot(p_: Any = p, s_: Any = s) -> sp.Expr:
    """ṗ_j of Eqn 11 (symmetric predictor, X = I, X' = σ²I, W_a = τW)."""
    return alpha_p * s_ * (tau - (1 + sigma2) * p_) - eta * p_


def s_dot(p_: Any = p, s_: Any = s) -> sp.Expr:
    """ṡ_j of Eqn 12."""
    return 2 * p_ * s_ * (tau - (1 + sigma2) * p_) - 2 * eta * s_


def tau_dot() -> sp.Expr:
    """τ̇ of Eqn 13 (EMA target under Assumption 1)."""
    return beta * (1 - tau) - tau * s_dot() / (2 * s)


def fixed_points() -> tuple[sp.Expr, sp.Expr]:
    """(p*₋, p*₊) = [τ ∓ sqrt(τ² − 4η(1+σ²))] / (2(1+σ²)) on the invariant parabola (Eqn 16)."""
    root = sp.sqrt(tau**2 - 4 * eta * (1 + sigma2))
    return (tau - root) / (2 * (1 + sigma2)), (tau + root) / (2 * (1 + sigma2))


def eta_critical() -> sp.Expr:
    """The collapse threshold η_crit = τ² / (4(1+σ²)): above it only p* = 0 remains."""
    return tau**2 / (4 * (1 + sigma2))


def slope_formula(sign: int) -> sp.Expr:
    """dṗ/dp on the parabola at p*₊ (sign = +1) or p*₋ (sign = −1).

    Equals (4η(1+σ²) − τ² ∓ τ sqrt(τ² − 4η(1+σ²))) / (2(1+σ²)) (derived here, not printed in the paper):
    the sign pairing is fixed by sympy (check ``slope_plus``) and by the stability of p*₊.
    """
    root = sp.sqrt(tau**2 - 4 * eta * (1 + sigma2))
    return (4 * eta * (1 + sigma2) - tau**2 - sign * tau * root) / (2 * (1 + sigma2))


def _check(expression: str, residual: Any, section: str) -> dict[str, Any]:
    simplified = sp.simplify(residual)
    if isinstance(simplified, sp.MatrixBase):
        passes = all(sp.simplify(entry) == 0 for entry in simplified)
    else:
        passes = simplified == 0
    return {"expression": expression, "residual": str(simplified), "passes": bool(passes), "section": section}


def _parabola_p_dot() -> sp.Expr:
    return sp.expand(p_dot(p, p**2 / alpha_p))


def checks() -> dict[str, dict[str, Any]]:
    """Every symbolic identity the study relies on; each must simplify to 0."""
    p_minus, p_plus = fixed_points()
    invariant = s - p**2 / alpha_p
    d_invariant = s_dot() - 2 * p * p_dot() / alpha_p
    on_parabola = _parabola_p_dot()
    factorised = -(1 + sigma2) * p * (p - p_minus) * (p - p_plus)
    slope = sp.diff(on_parabola, p)
    delta = p * (tau - (1 + sigma2) * p) - eta
    k_eig = (1 + sigma2) * (alpha_p / 2 * s + p**2 - tau / (1 + sigma2) * p) + sp.Rational(3, 2) * eta
    discriminant = tau**2 - 4 * eta * (1 + sigma2)
    return {
        "invariant_eqn14": _check(
            "d/dt(s - p^2/alpha_p) + 2 eta (s - p^2/alpha_p)", d_invariant + 2 * eta * invariant, "Eqn 14"
        ),
        "parabola_factorisation_eqn16": _check(
            "p_dot(p, p^2/alpha_p) + (1+sigma2) p (p - p*-)(p - p*+)", on_parabola - factorised, "Eqn 16"
        ),
        "fixed_point_minus": _check("p_dot on parabola at p*-", on_parabola.subs(p, p_minus), "Eqn 16"),
        "fixed_point_plus": _check("p_dot on parabola at p*+", on_parabola.subs(p, p_plus), "Eqn 16"),
        "threshold_is_discriminant": _check(
            "tau^2 - 4 eta (1+sigma2) - 4 (1+sigma2)(eta_crit - eta)",
            discriminant - 4 * (1 + sigma2) * (eta_critical() - eta),
            "Eqn 16",
        ),
        "slope_minus": _check(
            "d p_dot/dp at p*- minus stated slope", slope.subs(p, p_minus) - slope_formula(-1), "Eqn 16"
        ),
        "slope_plus": _check(
            "d p_dot/dp at p*+ minus stated slope", slope.subs(p, p_plus) - slope_formula(1), "Eqn 16"
        ),
        "alignment_condition_eqn17": _check(
            "k_j - (1/2[alpha_p(1+sigma2)s + eta] - Delta_j)",
            k_eig - (sp.Rational(1, 2) * (alpha_p * (1 + sigma2) * s + eta) - delta),
            "Eqn 17, Theorem 3",
        ),
        "tau_dot_at_one": _check(
            "tau_dot(tau=1) + s_dot/(2s)",
            tau_dot().subs(tau, 1) + s_dot().subs(tau, 1) / (2 * s),
            "Eqn 13",
        ),
        **_jacobian_checks(),
        "lemma1_gradient": lemma1_gradient(),
    }


def jacobian() -> sp.Matrix:
    """Jacobian of (ṗ, ṡ) with respect to (p, s) at fixed τ."""
    return sp.Matrix([p_dot(), s_dot()]).jacobian(sp.Matrix([p, s]))


def _jacobian_checks() -> dict[str, dict[str, Any]]:
    """Eigenvalues of the (p, s) Jacobian: {−2η, −η} at the origin, {−2η, slope±} at (p*±, p*±²/α_p)."""
    jac = jacobian()
    out: dict[str, dict[str, Any]] = {}
    at_origin = jac.subs({p: 0, s: 0})
    lam = sp.Symbol("lam")
    char = sp.expand((at_origin - lam * sp.eye(2)).det())
    out["jacobian_origin"] = _check(
        "charpoly at (0,0) - (lam+eta)(lam+2 eta)",
        char - sp.expand((lam + eta) * (lam + 2 * eta)),
        "Eqns 11-12",
    )
    for name, point, sign in zip(("minus", "plus"), fixed_points(), (-1, 1), strict=True):
        at_point = jac.subs({p: point, s: point**2 / alpha_p})
        char = (at_point - lam * sp.eye(2)).det()
        expected = (lam + 2 * eta) * (lam - slope_formula(sign))
        out[f"jacobian_{name}"] = _check(
            f"charpoly at p*{'-' if sign < 0 else '+'} - (lam+2 eta)(lam - slope)",
            sp.expand(char - expected),
            "Eqns 11-12",
        )
    return out


def lemma1_gradient(n: int = 2) -> dict[str, Any]:
    """Lemma 1: −∂J/∂W_p and −∂J/∂W of J = ½E‖W_p W x1 − W_a x2‖² equal the stated flows (η = 0, α_p = 1).

    With independent views, E[x1 x1ᵀ] = X + X' and E[x2 x1ᵀ] = X, so
    J = ½tr(W_pWΣWᵀW_pᵀ) − tr(W_aXWᵀW_pᵀ) + c.
    """

    def mat(name: str, symmetric: bool = False) -> sp.Matrix:
        m = sp.Matrix(
            n, n, lambda i, j: sp.Symbol(f"{name}{min(i, j)}{max(i, j)}" if symmetric else f"{name}{i}{j}")
        )
        return m

    W, Wp, Wa, X, Xp = mat("w"), mat("q"), mat("a"), mat("x", True), mat("y", True)
    sigma = X + Xp
    loss = sp.Rational(1, 2) * (Wp * W * sigma * W.T * Wp.T).trace() - (Wa * X * W.T * Wp.T).trace()
    inner = -Wp * W * sigma + Wa * X
    grad_wp = sp.Matrix(n, n, lambda i, j: -sp.diff(loss, Wp[i, j])) - inner * W.T
    grad_w = sp.Matrix(n, n, lambda i, j: -sp.diff(loss, W[i, j])) - Wp.T * inner
    return _check(
        "-dJ/dW_p - (-W_pW(X+X') + W_aX)W^T and -dJ/dW - W_p^T(...)",
        grad_wp.col_join(grad_w).applyfunc(sp.expand),
        "Lemma 1",
    )


def numbers(tau_: float, sigma2_: float, eta_: float, alpha_p_: float) -> dict[str, float]:
    """Fixed points, threshold, slopes and Jacobian eigenvalues at numeric parameters (NaN where none)."""
    values = {tau: tau_, sigma2: sigma2_, eta: eta_, alpha_p: alpha_p_}
    crit = float(eta_critical().subs(values))
    out = {"eta_crit": crit, "p_zero": 0.0, "jacobian_origin": [-2 * eta_, -eta_]}
    if eta_ > crit:
        return {**out, "p_minus": math.nan, "p_plus": math.nan, "s_plus": math.nan}
    p_minus, p_plus = (float(x.subs(values)) for x in fixed_points())
    slopes = [float(slope_formula(sign).subs(values)) for sign in (-1, 1)]
    return {
        **out,
        "p_minus": p_minus,
        "p_plus": p_plus,
        "s_plus": p_plus**2 / alpha_p_,
        "slope_minus": slopes[0],
        "slope_plus": slopes[1],
        "jacobian_minus": [-2 * eta_, slopes[0]],
        "jacobian_plus": [-2 * eta_, slopes[1]],
    }


def p_plus_value(tau_: float, sigma2_: float, eta_: float) -> float:
    """p*₊ in floating point (NaN above the threshold); what simulations are compared with."""
    disc = tau_**2 - 4 * eta_ * (1 + sigma2_)
    return math.nan if disc < 0 else (tau_ + math.sqrt(disc)) / (2 * (1 + sigma2_))


def eta_critical_value(tau_: float, sigma2_: float) -> float:
    """η_crit = τ²/(4(1+σ²)) in floating point."""
    return tau_**2 / (4 * (1 + sigma2_))


def run_all(
    tau_: float = 1.0, sigma2_: float = 0.5, eta_: float = 0.04, alpha_p_: float = 1.0
) -> dict[str, Any]:
    """All checks, the formulas as text, and their values at the given parameters."""
    p_minus, p_plus = fixed_points()
    jac = jacobian()
    return {
        "checks": checks(),
        "formulas": {
            "p_dot": str(p_dot()),
            "s_dot": str(s_dot()),
            "tau_dot": str(sp.simplify(tau_dot())),
            "invariant": "s - p**2/alpha_p = exp(-2*eta*t) * c",
            "p_dot_on_parabola": str(sp.factor(_parabola_p_dot())),
            "p_minus": str(p_minus),
            "p_plus": str(p_plus),
            "eta_crit": str(eta_critical()),
            "slope_minus": str(slope_formula(-1)),
            "slope_plus": str(slope_formula(1)),
            "jacobian": str(jac.tolist()),
        },
        "parameters": {"tau": tau_, "sigma2": sigma2_, "eta": eta_, "alpha_p": alpha_p_},
        "values": numbers(tau_, sigma2_, eta_, alpha_p_),
        "reference_eta_0.05": numbers(tau_, sigma2_, 0.05, alpha_p_),
    }
