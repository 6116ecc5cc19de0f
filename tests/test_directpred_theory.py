"""directpred sympy theory and float64 flows: each identity against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.directpred import linear, theory


def test_every_symbolic_check_passes() -> None:
    result = theory.run_all()
    failing = [name for name, check in result["checks"].items() if not check["passes"]]
    assert failing == []


def test_reference_values() -> None:
    """Eqn 16 at τ=1, σ²=0.5, η=0.05 → p*₋ = 0.05445, p*₊ = 0.61222, η_crit = 1/6."""
    values = theory.numbers(1.0, 0.5, 0.05, 1.0)
    assert values["p_minus"] == pytest.approx(0.05445, abs=1e-5)
    assert values["p_plus"] == pytest.approx(0.61222, abs=1e-5)
    assert values["eta_crit"] == pytest.approx(1 / 6)
    assert theory.numbers(1.0, 0.5, 0.04, 1.0)["s_plus"] == pytest.approx(0.38928, abs=1e-5)
    assert math.isnan(theory.numbers(1.0, 0.5, 0.2, 1.0)["p_plus"])


def test_slopes_match_finite_differences_and_stability() -> None:
    """dṗ/dp on the parabola by central differences; p*₊ stable (< 0), p*₋ unstable (> 0)."""
    tau, sigma2, eta = 1.0, 0.5, 0.04
    values = theory.numbers(tau, sigma2, eta, 1.0)

    def pdot(p: float) -> float:
        return p * p * (tau - (1 + sigma2) * p) - eta * p

    for key in ("minus", "plus"):
        p, h = values[f"p_{key}"], 1e-6
        assert (pdot(p + h) - pdot(p - h)) / (2 * h) == pytest.approx(values[f"slope_{key}"], abs=1e-8)
    assert values["slope_plus"] < 0 < values["slope_minus"]


def test_jacobian_eigenvalues_numerically() -> None:
    """Eigenvalues of a finite-difference Jacobian of (ṗ, ṡ) at p*₊ are {−2η, slope₊}."""
    sigma2, eta, alpha_p = 0.5, 0.04, 1.0
    rhs = linear.decoupled_rhs(sigma2, eta, alpha_p, None)
    values = theory.numbers(1.0, sigma2, eta, alpha_p)
    point = np.array([values["p_plus"], values["s_plus"], 1.0])
    jac = np.zeros((2, 2))
    for k in range(2):
        step = np.zeros(3)
        step[k] = 1e-6
        jac[:, k] = (rhs(0, point + step) - rhs(0, point - step))[:2] / 2e-6
    assert np.sort(np.linalg.eigvals(jac).real) == pytest.approx(np.sort(values["jacobian_plus"]), abs=1e-7)


def _fd_grad(fn, matrix: np.ndarray, h: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(matrix)
    for index in np.ndindex(matrix.shape):
        plus, minus = matrix.copy(), matrix.copy()
        plus[index] += h
        minus[index] -= h
        grad[index] = (fn(plus) - fn(minus)) / (2 * h)
    return grad


def test_flow_is_minus_gradient_of_the_loss() -> None:
    """Lemma 1 (η = 0): Ẇ_p = −∂J/∂W_p, Ẇ = −∂J/∂W with the target held fixed (stop-gradient)."""
    rng = np.random.default_rng(0)
    n1, n2 = 5, 3
    W, Wp, Wa = rng.normal(size=(n2, n1)), rng.normal(size=(n2, n2)), rng.normal(size=(n2, n1))
    A = rng.normal(size=(n1, n1))
    X, Xp = A @ A.T, 0.3 * np.eye(n1)
    cfg = linear.LinearConfig(n1=n1, n2=n2, eta=0.0, symmetric=False)
    dW, dWp = linear.flows(W, Wp, Wa, X, Xp, cfg)
    assert dWp == pytest.approx(-_fd_grad(lambda M: linear.loss(W, M, Wa, X, Xp), Wp), abs=1e-6)
    assert dW == pytest.approx(-_fd_grad(lambda M: linear.loss(M, Wp, Wa, X, Xp), W), abs=1e-6)


def test_no_stop_gradient_flow_is_theorem_2() -> None:
    """Without stop-gradient, Ẇ = −∂J(W, W_a = W)/∂W = −(W_pᵀW_p + I)WX' − W̃_pᵀW̃_pWX − ηW."""
    rng = np.random.default_rng(1)
    n1, n2, eta = 4, 3, 0.1
    W, Wp = rng.normal(size=(n2, n1)), rng.normal(size=(n2, n2))
    X, Xp = np.eye(n1) * 1.3, np.eye(n1) * 0.4
    cfg = linear.LinearConfig(n1=n1, n2=n2, eta=eta, stop_grad=False, symmetric=False)
    dW, _ = linear.flows(W, Wp, W, X, Xp, cfg)

    def full_loss(M: np.ndarray) -> float:  # J with the target branch also differentiated, plus ½‖Wx2‖² term
        return linear.loss(M, Wp, M, X, Xp) + 0.5 * np.trace(M @ (X + Xp) @ M.T)

    fd = -_fd_grad(full_loss, W) - eta * W
    assert dW == pytest.approx(fd, abs=1e-6)
    Wt = Wp - np.eye(n2)
    assert dW == pytest.approx(-(Wp.T @ Wp + np.eye(n2)) @ W @ Xp - Wt.T @ Wt @ W @ X - eta * W, abs=1e-12)


def test_theorem_1_balance_along_the_unsymmetrised_flow() -> None:
    """WWᵀ − α_p⁻¹W_pᵀW_p − e^{−2ηt}C stays at the Euler error level, which shrinks linearly with dt."""
    errors = []
    for dt in (0.004, 0.002):
        cfg = linear.LinearConfig(n1=6, n2=4, dt=dt, steps=int(4 / dt), symmetric=False, record_every=50)
        errors.append(max(linear.simulate(cfg, seed=3).balance))
    assert errors[0] < 1e-2
    assert errors[0] / errors[1] == pytest.approx(2.0, rel=0.1)


def test_invariant_eqn_14_along_the_decoupled_ode() -> None:
    t = np.linspace(0, 50, 101)
    y = linear.decoupled(0.3, 0.8, t, sigma2=0.5, eta=0.04, alpha_p=2.0)
    c = 0.8 - 0.3**2 / 2.0
    assert y[:, 1] - y[:, 0] ** 2 / 2.0 == pytest.approx(np.exp(-2 * 0.04 * t) * c, abs=1e-8)


def test_eigenvalues_reach_p_plus_and_collapse_above_threshold() -> None:
    cfg = linear.LinearConfig(n1=8, n2=4, steps=6000, dt=0.02)
    trace = linear.simulate(cfg, seed=0)
    alive = trace.s[-1] > 1e-6
    assert alive.any()
    assert np.abs(trace.p[-1][alive] - theory.p_plus_value(1.0, 0.5, 0.04)).max() < 1e-3
    collapsed = linear.simulate(linear.LinearConfig(n1=8, n2=4, steps=6000, dt=0.02, eta=0.3), seed=0)
    assert collapsed.s[-1].max() < 1e-6
