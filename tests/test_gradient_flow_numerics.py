"""Numerical methods of the gradient_flow study against independent computations (docs/gradient_flow.md)."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from pipeline.gradient_flow import descent, matrix, scalar

RTOL, ATOL = 1e-13, 1e-16
WINDOW = (1e-9, 1e-4)


# --------------------------------------------------------------------------------------------- scalar


@pytest.mark.parametrize("lam", [-3.0, -0.5, 0.0, 0.5, 2.0, 10.0])
def test_init_fixed_product(lam: float) -> None:
    u0, v0 = scalar.init_fixed_product(lam, 0.0025)
    assert u0 > 0 and v0 > 0
    assert abs(u0**2 - v0**2 - lam) <= 1e-14 * (1 + abs(lam))
    assert abs(u0 * v0 - 0.0025) <= 1e-17


def _flow(lam: float, w0: float = 0.0025, t_max: float = 20.0, points: int = 801) -> scalar.ScalarFlow:
    t = np.linspace(0.0, t_max, points)
    u0, v0 = scalar.init_fixed_product(lam, w0)
    return scalar.integrate(u0, v0, 1.0, t, rtol=RTOL, atol=ATOL, tolerance=1e-3)


@pytest.mark.parametrize("lam", [-1.5, 0.0, 0.5, 2.0])
def test_scalar_closed_form_matches_ode_and_conserves(lam: float) -> None:
    flow = _flow(lam, w0=0.01)
    closed = scalar.closed_form_residual(flow.t, 0.01, lam, 1.0)
    assert np.max(np.abs((1.0 - closed) - flow.w) / flow.w) < 1e-8
    assert flow.conservation_error().max() < 1e-12


def test_logistic_matches_ode_and_implicit_form() -> None:
    flow = _flow(0.0)
    logistic = scalar.logistic_residual(flow.t, 0.0025, 1.0)
    assert np.max(np.abs((1.0 - logistic) - flow.w) / flow.w) < 1e-8
    implicit = scalar.closed_form_residual(flow.t, 0.0025, 0.0, 1.0)
    assert np.max(np.abs(implicit - logistic) / logistic) < 1e-12


@pytest.mark.parametrize("lam", [-2.0, 0.0, 1.3])
def test_potential_derivative_by_finite_differences(lam: float) -> None:
    y, h = 1.0, 1e-6
    for w in (0.05, 0.4, 0.9):
        numeric = (scalar.potential(w + h, lam, y) - scalar.potential(w - h, lam, y)) / (2 * h)
        exact = 1.0 / ((y - w) * np.sqrt(lam**2 + 4 * w**2))
        assert abs(numeric - exact) / exact < 1e-7


@pytest.mark.parametrize("lam", [-2.0, 0.0, 0.5, 1.0, 3.0])
def test_scalar_rate_and_time_to_tolerance(lam: float) -> None:
    flow = _flow(lam)
    rate = scalar.fit_rate(flow.t, flow.residual, WINDOW)
    assert abs(rate / scalar.predicted_rate(lam, 1.0) - 1) < 1e-3
    closed = scalar.closed_form_time_to_tolerance(0.0025, lam, 1.0, 1e-3)
    assert abs(flow.time_to_tolerance - closed) / closed < 1e-8


def test_time_to_tolerance_decreases_with_imbalance() -> None:
    times = [
        scalar.closed_form_time_to_tolerance(0.0025, lam, 1.0, 1e-3) for lam in (0.0, 0.5, 1.0, 2.0, 3.0)
    ]
    assert all(a > b for a, b in itertools.pairwise(times))


def test_fit_window_excludes_transient_and_noise_floor() -> None:
    t = np.linspace(0.0, 30.0, 3001)
    rng = np.random.default_rng(0)
    err = 0.5 * np.exp(-2.5 * t) * (1 + 50 * np.exp(-5 * t)) + 1e-13 * rng.standard_normal(t.size)
    assert abs(scalar.fit_rate(t, err, WINDOW) - 2.5) < 1e-3
    # The fit-window trap (docs/gradient_flow.md §3): a window reaching into the noise floor or the
    # transient gives a wrong rate.
    assert abs(scalar.fit_rate(t, err, (1e-16, 10.0)) - 2.5) > 0.1
    assert np.isnan(scalar.fit_rate(t[:5], err[:5], WINDOW))


# --------------------------------------------------------------------------------------------- matrix


@pytest.mark.parametrize("lam", [-2.0, -0.5, 0.0, 0.7, 3.0])
@pytest.mark.parametrize(("m", "n", "k"), [(3, 3, 3), (4, 3, 3), (5, 4, 2)])
def test_balanced_init_is_exact(lam: float, m: int, n: int, k: int) -> None:
    rng = np.random.default_rng(7)
    target = matrix.make_target([1.5, 0.5][: min(m, n, k)], m, n, rng)
    U0, V0 = matrix.balanced_init(m, n, k, lam, 0.1, rng, target.Y)
    assert np.abs(matrix.imbalance(U0, V0) - lam * np.eye(k)).max() <= 1e-12
    if m == n == k:
        assert np.linalg.det(U0 @ V0.T) * np.linalg.det(target.Y) >= 0


@pytest.mark.parametrize("lam", [-1.0, 0.0, 0.7])
@pytest.mark.parametrize(
    ("m", "n", "sigma"), [(3, 3, [2.0, 1.0, 0.5]), (4, 3, [1.0, 0.5]), (2, 5, [1.0, 0.0])]
)
def test_flow_matrix_spectrum(lam: float, m: int, n: int, sigma: list[float]) -> None:
    target = matrix.make_target(sigma, m, n, np.random.default_rng(3))
    eig = np.linalg.eigvalsh(matrix.flow_matrix(target.Y, lam))
    expected = np.sort(
        np.concatenate(
            [
                np.sqrt(lam**2 / 4 + np.square(sigma)),
                -np.sqrt(lam**2 / 4 + np.square(sigma)),
                [lam / 2] * (m - len(sigma)),
                [-lam / 2] * (n - len(sigma)),
            ]
        )
    )
    assert np.allclose(eig, expected, atol=1e-13)
    assert np.allclose(matrix.predicted_spectrum(np.array(sigma), lam, m, n), expected, atol=1e-15)


def _matrix_case(sigma: list[float], lam: float, m: int = 3, n: int = 3, k: int = 3, t_max: float = 30.0):
    rng = np.random.default_rng(11)
    target = matrix.make_target(sigma, m, n, rng)
    U0, V0 = matrix.balanced_init(m, n, k, lam, 0.1, rng, target.Y)
    t = np.linspace(0.0, t_max, 301)
    U, V = matrix.integrate(target.Y, U0, V0, t, rtol=RTOL, atol=ATOL)
    return target, U0, V0, t, U, V


@pytest.mark.parametrize(
    ("sigma", "lam", "m", "n", "k"),
    [
        ([2.0, 1.0, 0.5], 0.7, 3, 3, 3),
        ([2.0, 1.0, 0.5], -1.0, 3, 3, 3),
        ([1.0, 0.5, 0.0], 0.0, 3, 3, 3),  # singular F
        ([1.5, 0.5, 0.2], 0.7, 4, 3, 3),  # unmatched row: eigenvalue λ/2
        ([1.0, 0.5], 2.0, 4, 4, 2),
    ],
)
def test_riccati_closed_form_matches_flow(sigma: list[float], lam: float, m: int, n: int, k: int) -> None:
    target, U0, V0, t, U, V = _matrix_case(sigma, lam, m, n, k)
    Z = np.concatenate([U, V], axis=1)
    P_ode = Z @ np.swapaxes(Z, 1, 2)
    P_closed = matrix.riccati_closed_form(matrix.flow_matrix(target.Y, lam), np.vstack([U0, V0]), t)
    rel = np.linalg.norm(P_closed - P_ode, axis=(1, 2)) / np.linalg.norm(P_ode, axis=(1, 2))
    assert rel.max() < 1e-8
    Q0 = matrix.imbalance(U0, V0)
    assert np.abs(matrix.imbalance(U, V) - Q0).max() / (1 + np.abs(Q0).max()) < 1e-12


def test_riccati_stable_form_equals_naive_formula_at_short_times() -> None:
    rng = np.random.default_rng(5)
    target = matrix.make_target([2.0, 1.0, 0.0], 3, 4, rng)
    U0, V0 = matrix.balanced_init(3, 4, 3, 0.4, 0.3, rng)
    F, Z0 = matrix.flow_matrix(target.Y, 0.4), np.vstack([U0, V0])
    ts = np.array([0.0, 0.1, 0.5, 1.0, 2.0])
    stable = matrix.riccati_closed_form(F, Z0, ts)
    for P, s in zip(stable, ts, strict=True):
        naive = matrix.riccati_closed_form_naive(F, Z0, float(s))
        assert np.abs(P - naive).max() < 1e-11 * max(1.0, np.abs(naive).max())


def test_riccati_closed_form_solves_the_riccati_equation() -> None:
    """Central differences of the closed form against FP + PF − P² (singular F included)."""
    rng = np.random.default_rng(2)
    target = matrix.make_target([1.0, 0.5, 0.0], 3, 3, rng)
    U0, V0 = matrix.balanced_init(3, 3, 3, 0.0, 0.5, rng, target.Y)
    F, Z0, h = matrix.flow_matrix(target.Y, 0.0), np.vstack([U0, V0]), 1e-4
    for s in (0.5, 3.0, 12.0):
        P_minus, P, P_plus = matrix.riccati_closed_form(F, Z0, np.array([s - h, s, s + h]))
        derivative = (P_plus - P_minus) / (2 * h)
        assert np.abs(derivative - (F @ P + P @ F - P @ P)).max() < 1e-7


@pytest.mark.parametrize("lam", [-1.0, 0.7, 2.0])
def test_per_mode_rates(lam: float) -> None:
    target, *_, t, U, V = _matrix_case([2.0, 1.0, 0.5], lam, t_max=40.0)
    residuals = matrix.mode_residuals(target, U, V)
    fitted = np.array([scalar.fit_rate(t, residuals[:, i], WINDOW) for i in range(3)])
    assert np.allclose(fitted, scalar.predicted_rate(lam, target.sigma), rtol=1e-2)


def test_square_balanced_orientation_trap() -> None:
    """λ = 0, square: det(U0V0ᵀ)·det Y < 0 leaves a mode at the saddle; the oriented init converges."""
    rng = np.random.default_rng(0)
    target = matrix.make_target([1.0, 0.7, 0.5], 3, 3, rng)
    U0, V0 = matrix.balanced_init(3, 3, 3, 0.0, 0.1, rng, target.Y)
    t = np.linspace(0.0, 60.0, 61)
    U, V = matrix.integrate(target.Y, U0, V0, t, rtol=1e-10, atol=1e-14)
    assert np.linalg.norm(target.Y - U[-1] @ V[-1].T) < 1e-6
    U_bad = U0.copy()
    U_bad[0] = -U_bad[0]
    assert np.linalg.det(U_bad @ V0.T) * np.linalg.det(target.Y) < 0
    U, V = matrix.integrate(target.Y, U_bad, V0, t, rtol=1e-10, atol=1e-14)
    assert np.linalg.norm(target.Y - U[-1] @ V[-1].T) > 0.1


# -------------------------------------------------------------------------------------------- descent


@pytest.mark.parametrize("lam", [-2.0, 0.0, 1.0, 3.0])
def test_scalar_descent_recursion_every_step(lam: float) -> None:
    u, v = descent.scalar_descent(*scalar.init_fixed_product(lam, 0.0025), 1.0, 0.05, 300)
    assert descent.scalar_recursion_deviation(u, v, 1.0, 0.05).max() <= 1e-12
    predicted = descent.scalar_product_prediction(u, v, 1.0, 0.05)
    assert np.abs((u**2 - v**2) - predicted).max() <= 1e-12 * (1 + abs(lam))
    r = 1.0 - u[:-1] * v[:-1]
    lam_k = u**2 - v**2
    assert np.all(np.abs(lam_k[1:]) <= np.abs(lam_k[:-1]) + 1e-15)
    assert np.all(0.05 * np.abs(r) < 1)


def test_scalar_descent_recursion_in_exact_arithmetic() -> None:
    """With rationals the §2.5 identity holds with zero deviation (independent of float rounding)."""
    u, v, y, eta = Fraction(3, 2), Fraction(1, 3), Fraction(1), Fraction(1, 10)
    for _ in range(5):
        r = y - u * v
        lam = u * u - v * v
        u, v = u + eta * r * v, v + eta * r * u
        assert u * u - v * v == (1 - eta**2 * r**2) * lam


@pytest.mark.parametrize("lam", [-1.0, 0.0, 2.0])
def test_matrix_descent_recursion_every_step(lam: float) -> None:
    rng = np.random.default_rng(4)
    target = matrix.make_target([2.0, 1.0], 4, 3, rng)
    U0, V0 = matrix.balanced_init(4, 3, 2, lam, 0.3, rng)
    U, V = descent.matrix_descent(target.Y, U0, V0, 0.05, 200)
    assert descent.matrix_recursion_deviation(U, V, target.Y, 0.05).max() <= 1e-12
    # the step changes the imbalance by exactly the η² term, so it is O(η²) and not zero
    step = descent.matrix_recursion_step(U[0], V[0], target.Y, 0.05)
    assert 0 < np.abs(step).max() < 0.05**2 * 100


def test_matrix_descent_identity_with_generic_gradient() -> None:
    """§2.5 for any G, not only the square loss: W1' = W1 − ηGW2ᵀ, W2' = W2 − ηW1ᵀG."""
    rng = np.random.default_rng(9)
    W1, W2, G, eta = (
        rng.standard_normal((3, 2)),
        rng.standard_normal((2, 4)),
        rng.standard_normal((3, 4)),
        0.3,
    )
    W1n, W2n = W1 - eta * G @ W2.T, W2 - eta * W1.T @ G
    change = (W1n.T @ W1n - W2n @ W2n.T) - (W1.T @ W1 - W2 @ W2.T)
    expected = eta**2 * (W2 @ G.T @ G @ W2.T - W1.T @ G @ G.T @ W1)
    assert np.abs(change - expected).max() < 1e-13
