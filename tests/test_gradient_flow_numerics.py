"""Numerical methods of the gradient_flow study against independent computations (docs/gradient_flow.md)."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from pipeline.gradient_flow import descent, general, matrix, scalar

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


# ------------------------------------------------------------------------------- general imbalance Q


def _random_symmetric(k: int, rng: np.random.Generator) -> np.ndarray:
    A = rng.standard_normal((k, k))
    return A + A.T


@pytest.mark.parametrize("eigenvalues", [[1.5, 2.0, 3.0], [-3.0, -2.0, -1.5], [-1.0, 0.5, 2.0], [0.0] * 3])
@pytest.mark.parametrize(("m", "n"), [(3, 3), (5, 4)])
def test_imbalanced_init_is_exact(eigenvalues: list[float], m: int, n: int) -> None:
    rng = np.random.default_rng(3)
    Q = general.random_imbalance(eigenvalues, rng)
    assert np.allclose(np.linalg.eigvalsh(Q), sorted(eigenvalues), atol=1e-13)
    G = 0.1 * rng.standard_normal((3, 3))
    U0, V0 = general.imbalanced_init(Q, G.T @ G, m, n, rng)
    assert np.abs(matrix.imbalance(U0, V0) - Q).max() <= 1e-13
    assert U0.shape == (m, 3) and V0.shape == (n, 3)


def test_residual_flow_identity_numerically() -> None:
    """Ṙ = −UUᵀR − RVVᵀ (§2.6) against a central difference of R along the integrated flow."""
    rng = np.random.default_rng(8)
    target = matrix.make_target([2.0, 1.0, 0.5], 3, 3, rng)
    U0, V0 = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    h = 1e-5
    U, V = matrix.integrate(target.Y, U0, V0, np.array([0.3 - h, 0.3, 0.3 + h]), rtol=RTOL, atol=ATOL)
    R = general.residual(target.Y, U, V)
    derivative = (R[2] - R[0]) / (2 * h)
    expected = -(U[1] @ U[1].T @ R[1] + R[1] @ V[1] @ V[1].T)
    assert np.abs(derivative - expected).max() < 1e-7 * (1 + np.abs(expected).max())


def test_sylvester_modes_and_rates() -> None:
    """a_i b_jᵀ are the eigenvectors of R ↦ AR + RB with eigenvalues α_i + β_j (independent: dense
    Kronecker matrix of the operator)."""
    rng = np.random.default_rng(1)
    U, V = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    lin = general.linearise(U, V)
    A, B = U @ U.T, V @ V.T
    operator = np.kron(A, np.eye(3)) + np.kron(np.eye(3), B)  # row-major vec(AR + RB)
    assert np.allclose(
        np.sort(np.linalg.eigvalsh(operator)), np.sort(np.add.outer(lin.alpha, lin.beta).ravel())
    )
    assert lin.rate == pytest.approx(np.linalg.eigvalsh(operator).min(), rel=1e-12)
    mode = np.outer(lin.left[:, 0], lin.right[:, 0])
    assert np.allclose(A @ mode + mode @ B, lin.rate * mode, atol=1e-12)
    assert lin.slowest_mode(mode) == pytest.approx(1.0)


def test_weyl_and_ostrowski_steps() -> None:
    """The two matrix inequalities the bounds rest on (§2.6), on random symmetric and PSD matrices:
    λ_min(M) + λ_min(Q) ≤ λ_min(M + Q) ≤ λ_min(M) + λ_max(Q), and λ_min(N)λ_min(M) ≤ λ_min(N^½ M N^½)."""
    rng = np.random.default_rng(12)
    for _ in range(500):
        k = int(rng.integers(1, 5))
        G, H = rng.standard_normal((k, k)), rng.standard_normal((k, k))
        M, N, Q = G.T @ G, H.T @ H, _random_symmetric(k, rng)
        low, high = np.linalg.eigvalsh(Q)[[0, -1]]
        lam = np.linalg.eigvalsh(M + Q)[0]
        assert np.linalg.eigvalsh(M)[0] + low - 1e-10 <= lam <= np.linalg.eigvalsh(M)[0] + high + 1e-10
        root = H.T  # any factor with root rootᵀ = N has the same spectrum of rootᵀ M root
        product = np.linalg.eigvalsh(root.T @ M @ root)[0]
        assert np.linalg.eigvalsh(N)[0] * np.linalg.eigvalsh(M)[0] <= product + 1e-10 * (1 + product)


def _random_minimisers(count: int, k: int, rng: np.random.Generator):
    """(Y, U, V) with UVᵀ = Y: random square minimisers, widely spread in scale and shape."""
    for _ in range(count):
        sigma = np.sort(rng.uniform(0.05, 2.0, k))[::-1]
        target = matrix.make_target(list(sigma), k, k, rng)
        U = rng.standard_normal((k, k)) @ np.diag(np.exp(rng.uniform(-2, 2, k)))
        V = np.linalg.solve(U, target.Y).T
        yield target, U, V


def test_rate_bounds_at_random_minimisers() -> None:
    """Every minimiser's rate λ_min(UUᵀ) + λ_min(VVᵀ) lies in [q*, sqrt(‖Q‖² + 4σ_min²)] (q* only for a
    definite Q), the upper bound being attained at Q = λI; the bounds are not equalities: neither the
    λI formula with q* nor the balanced rate 2σ_min bounds the rate from below."""
    rng = np.random.default_rng(0)
    naive_violated = slower_than_balanced = 0
    for target, U, V in _random_minimisers(3000, 3, rng):
        q = np.linalg.eigvalsh(matrix.imbalance(U, V))
        rate = general.linearise(U, V).rate
        sigma_min = target.sigma.min()
        assert rate <= general.upper_bound(q, target.sigma) * (1 + 1e-9)
        if general.is_definite(q):
            assert rate >= general.lower_bound(q) * (1 - 1e-9)
            naive_violated += rate < np.sqrt(general.lower_bound(q) ** 2 + 4 * sigma_min**2)
        else:
            assert np.isnan(general.lower_bound(q))
            slower_than_balanced += rate < 2 * sigma_min
    assert naive_violated > 0 and slower_than_balanced > 0
    # Q = λI attains the upper bound: U = Q_o diag(a)^½, V = R_o diag(b)^½ in the singular bases of Y
    target = matrix.make_target([2.0, 1.0, 0.5], 3, 3, rng)
    lam = 1.3
    a = (lam + np.sqrt(lam**2 + 4 * target.sigma**2)) / 2
    U, V = target.left * np.sqrt(a), target.right * np.sqrt(a - lam)
    assert np.allclose(U @ V.T, target.Y) and np.allclose(matrix.imbalance(U, V), lam * np.eye(3))
    assert general.linearise(U, V).rate == pytest.approx(general.upper_bound([lam] * 3, target.sigma))


def _general_flow(eigenvalues: list[float], seed: int, balanced_start: bool = False):
    rng = np.random.default_rng(seed)
    target = matrix.make_target([2.0, 1.0, 0.5], 3, 3, rng)
    G = 0.1 * rng.standard_normal((3, 3))
    Q = general.random_imbalance([0.0] * 3 if balanced_start else eigenvalues, rng)
    U0, V0 = general.imbalanced_init(Q, G.T @ G, 3, 3, rng, target.Y)
    t, U, V = general.integrate_to_floor(
        target.Y, U0, V0, floor=1e-11, t_max=400.0, n_points=801, rtol=RTOL, atol=ATOL
    )
    return target, Q, t, U, V


@pytest.mark.parametrize("eigenvalues", [[1.5, 2.0, 3.0], [-3.0, -2.0, -1.5], [-1.0, 0.5, 2.0]])
def test_general_flow_rate_is_the_linearised_rate(eigenvalues: list[float]) -> None:
    target, Q, t, U, V = _general_flow(eigenvalues, seed=5)
    assert np.abs(matrix.imbalance(U, V) - Q).max() < 1e-12
    R = general.residual(target.Y, U, V)
    assert np.linalg.norm(R[-1]) == pytest.approx(1e-11, rel=1e-3)  # stopped by the event
    lin = general.linearise(U[-1], V[-1])
    fitted = scalar.fit_rate(t, lin.slowest_mode(R), WINDOW)
    assert abs(fitted / lin.rate - 1) < 1e-4
    assert general.upper_bound(eigenvalues, target.sigma) >= lin.rate
    if general.is_definite(eigenvalues):
        assert lin.rate >= general.lower_bound(eigenvalues)


def test_norm_fit_is_biased_by_the_next_mode() -> None:
    """The fit-window trap for a general Q: ‖R‖_F mixes the slowest mode with the next one, so its
    slope is not the rate; the projection on the slowest mode is (§3)."""
    projected, frobenius = [], []
    for seed in range(4):
        target, _, t, U, V = _general_flow([1.5, 2.0, 3.0], seed=seed)
        R = general.residual(target.Y, U, V)
        lin = general.linearise(U[-1], V[-1])
        projected.append(abs(scalar.fit_rate(t, lin.slowest_mode(R), WINDOW) / lin.rate - 1))
        frobenius.append(abs(scalar.fit_rate(t, np.linalg.norm(R, axis=(1, 2)), WINDOW) / lin.rate - 1))
    assert max(projected) < 1e-4 and max(frobenius) > 1e-2


def test_decay_bound_holds_from_t0_and_rejects_the_balanced_flow() -> None:
    """‖R(t)‖ ≤ ‖R(0)‖e^{−q* t} for a definite Q at every time (§2.6); the balanced start from the same
    small Gram violates it (its plateau), so the bound distinguishes acceleration from none."""
    eigenvalues = [1.5, 2.0, 3.0]
    q_star = general.lower_bound(eigenvalues)
    for balanced_start in (False, True):
        target, _, t, U, V = _general_flow(eigenvalues, seed=2, balanced_start=balanced_start)
        norm = np.linalg.norm(general.residual(target.Y, U, V), axis=(1, 2))
        keep = norm[1:] >= 1e-4
        rho = general.average_rate(t, norm)[keep]
        if balanced_start:
            assert rho.min() < 0.5 * q_star
        else:
            assert rho.min() >= q_star * (1 - 1e-9)
            assert np.all(norm <= norm[0] * np.exp(-q_star * t) * (1 + 1e-9))


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
