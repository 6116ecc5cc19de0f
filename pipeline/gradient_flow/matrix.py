"""Matrix flow U̇ = (Y − UVᵀ)V, V̇ = (Y − UVᵀ)ᵀU: λ-balanced init, ODE, Riccati closed form, mode rates.

Derived, docs/gradient_flow.md §2.1, §2.2 and §2.4 (the § numbers below are that file's):
Q = UᵀU − VᵀV is conserved; with UᵀU − VᵀV = λI the stacked Z = [U; V] obeys Ż = FZ − ½Z(ZᵀZ) and
P = ZZᵀ the Riccati equation Ṗ = FP + PF − P² with F = [[(λ/2)I_m, Y], [Yᵀ, −(λ/2)I_n]], solved by
P(t) = e^{Ft} Z0 N(t)⁻¹ Z0ᵀ e^{Ft}, N(t) = I_k + Z0ᵀ(∫₀ᵗ e^{2Fs} ds)Z0. Mode i of Y converges at rate
sqrt(λ² + 4σ_i²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

from pipeline.core.study import RunOutput
from pipeline.gradient_flow.history import floats, frame, history, nanmax, nanmin
from pipeline.gradient_flow.runs import MatrixFlowRun
from pipeline.gradient_flow.scalar import fit_rate, predicted_rate


@dataclass(frozen=True)
class Target:
    """Y = P diag(σ) Qᵀ with orthonormal P (m×r), Q (n×r)."""

    Y: np.ndarray
    left: np.ndarray
    right: np.ndarray
    sigma: np.ndarray


def random_orthonormal(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """A rows×cols matrix with orthonormal columns (QR of a Gaussian matrix, signs fixed)."""
    if cols > rows:
        raise ValueError(f"cannot have {cols} orthonormal columns in R^{rows}")
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
    return q * np.sign(np.diag(r))


def make_target(sigma: list[float], m: int, n: int, rng: np.random.Generator) -> Target:
    """Y with prescribed singular values σ (zeros allowed) and random singular vectors."""
    sig = np.asarray(sigma, dtype=float)
    if sig.size > min(m, n):
        raise ValueError(f"{sig.size} singular values do not fit a {m}x{n} matrix")
    left, right = random_orthonormal(m, sig.size, rng), random_orthonormal(n, sig.size, rng)
    return Target(Y=(left * sig) @ right.T, left=left, right=right, sigma=sig)


def balanced_init(
    m: int, n: int, k: int, lam: float, scale: float, rng: np.random.Generator, Y: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(U0, V0) with U0ᵀU0 − V0ᵀV0 = λI_k exactly up to rounding (§3 trap).

    λ ≥ 0: draw V0, Cholesky A = V0ᵀV0 + λI = LLᵀ and set U0 = Q_o Lᵀ with Q_o (m×k) orthonormal, so
    U0ᵀU0 = LLᵀ (needs m ≥ k). λ < 0: the mirror image, U0 drawn and V0 = Q_o Lᵀ with
    LLᵀ = U0ᵀU0 − λI (needs n ≥ k). A is then positive definite for any draw.

    When ``Y`` is given and m = n = k, the first row of U0 is reflected if needed so that
    det(U0V0ᵀ)·det(Y) ≥ 0 (a reflection keeps U0ᵀU0). For λ = 0 the other orientation is the matrix form
    of the scalar saddle u = −v (§2.3, where w cannot cross 0 because ẇ = 2|w|(y − w)): the product's
    determinant keeps its sign and one mode stays at zero (tests/test_gradient_flow_numerics.py shows
    it). For λ ≠ 0 the reflection is only a choice between two equally valid draws.
    """
    if lam >= 0.0:
        if m < k:
            raise ValueError(f"λ ≥ 0 needs m ≥ k, got m={m}, k={k}")
        V0 = scale * rng.standard_normal((n, k))
        L = np.linalg.cholesky(V0.T @ V0 + lam * np.eye(k))
        U0 = random_orthonormal(m, k, rng) @ L.T
    else:
        if n < k:
            raise ValueError(f"λ < 0 needs n ≥ k, got n={n}, k={k}")
        U0 = scale * rng.standard_normal((m, k))
        L = np.linalg.cholesky(U0.T @ U0 - lam * np.eye(k))
        V0 = random_orthonormal(n, k, rng) @ L.T
    if Y is not None and m == n == k and np.linalg.det(U0 @ V0.T) * np.linalg.det(Y) < 0.0:
        U0[0] = -U0[0]
    return U0, V0


def imbalance(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Q = UᵀU − VᵀV (batched over leading axes; conserved, derived, §2.2)."""
    return np.swapaxes(U, -1, -2) @ U - np.swapaxes(V, -1, -2) @ V


def flow_matrix(Y: np.ndarray, lam: float) -> np.ndarray:
    """F = [[(λ/2)I_m, Y], [Yᵀ, −(λ/2)I_n]] (symmetric; derived, §2.4)."""
    m, n = Y.shape
    return np.block([[0.5 * lam * np.eye(m), Y], [Y.T, -0.5 * lam * np.eye(n)]])


def predicted_spectrum(sigma: np.ndarray, lam: float, m: int, n: int) -> np.ndarray:
    """Sorted eigenvalues of F: ±sqrt(λ²/4 + σ_i²) for the r singular values, +λ/2 for the m − r
    unmatched rows and −λ/2 for the n − r unmatched columns (derived, §2.4)."""
    r = len(sigma)
    mu = np.sqrt(0.25 * lam * lam + np.square(sigma))
    extra = [0.5 * lam] * (m - r) + [-0.5 * lam] * (n - r)
    return np.sort(np.concatenate([mu, -mu, extra]))


def flow_rhs(_t: float, z: np.ndarray, Y: np.ndarray, k: int) -> np.ndarray:
    """Gradient flow of ½‖Y − UVᵀ‖²_F on the flattened (U, V) (derived, §2.1)."""
    m, n = Y.shape
    U, V = z[: m * k].reshape(m, k), z[m * k :].reshape(n, k)
    R = Y - U @ V.T
    return np.concatenate([(R @ V).ravel(), (R.T @ U).ravel()])


def integrate(
    Y: np.ndarray, U0: np.ndarray, V0: np.ndarray, t_eval: np.ndarray, *, rtol: float, atol: float
) -> tuple[np.ndarray, np.ndarray]:
    """DOP853 solution of the matrix flow on ``t_eval``: arrays U (T×m×k) and V (T×n×k)."""
    m, n = Y.shape
    k = U0.shape[1]
    sol = solve_ivp(
        flow_rhs,
        (float(t_eval[0]), float(t_eval[-1])),
        np.concatenate([U0.ravel(), V0.ravel()]),
        method="DOP853",
        t_eval=t_eval,
        rtol=rtol,
        atol=atol,
        args=(Y, k),
    )
    if not sol.success:
        raise RuntimeError(f"matrix flow failed: {sol.message}")
    z = sol.y.T
    return z[:, : m * k].reshape(-1, m, k), z[:, m * k :].reshape(-1, n, k)


def _integral(mu: np.ndarray, t: float) -> np.ndarray:
    """∫₀ᵗ e^{2μs} ds per eigenvalue: expm1(2μt)/(2μ), and t where μ = 0 (singular F, §3 trap)."""
    x = 2.0 * mu * t
    small = np.abs(x) < 1e-8
    safe = np.where(small, 1.0, x)
    return np.where(small, t * (1.0 + 0.5 * x), t * np.expm1(safe) / safe)


def _log_reverse_integral(mu: np.ndarray, t: np.ndarray) -> np.ndarray:
    """log ∫₀ᵗ e^{−2μs} ds = log t + log(expm1(x)/x), x = −2μt, without overflow for large x (t > 0).

    Broadcasts ``mu`` against ``t``."""
    x = -2.0 * mu * t
    out = np.zeros_like(x)
    small, big = np.abs(x) < 1e-8, x > 30.0
    mid = ~small & ~big
    out[small] = np.log1p(0.5 * x[small])
    out[mid] = np.log(np.expm1(x[mid]) / x[mid])
    out[big] = x[big] + np.log1p(-np.exp(-x[big])) - np.log(x[big])
    return np.log(t) + out


def riccati_closed_form(F: np.ndarray, Z0: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """P(t) = e^{Ft} Z0 N(t)⁻¹ Z0ᵀ e^{Ft} on a time grid, T×M×M (derived, §2.4).

    The formula is evaluated without forming e^{Ft} or N(t), whose entries span e^{±2μt} and lose all
    precision after a few time units when the μ differ. In the eigenbasis F = E diag(μ) Eᵀ (μ sorted
    decreasing) let C = EᵀZ0 and take the QR factorisation C_topᵀ = Q_c R_c of its top k rows. For any
    invertible G, P = WG (GᵀG + GᵀWᵀΨWG)⁻¹ GᵀWᵀ with W = diag(e^{μt})C and Ψ = diag(∫₀ᵗ e^{−2μs} ds)
    (because N = I + WᵀΨW). Choosing G = Q_c diag(e^{−μ_j t}) makes W̃ = WG lower triangular on top with
    entries e^{(μ_i − μ_j)t}·(CQ_c)_ij, all bounded, and M = GᵀG + W̃ᵀΨW̃ well conditioned, so
    P = E W̃ M⁻¹ W̃ᵀ Eᵀ. The weights are combined in log space (no overflow), and singular F (μ = 0)
    needs no special case: ∫₀ᵗ e^{0} ds = t. Everything but the final solve is independent of t.
    """
    ts = np.asarray(ts, dtype=float)
    mu, E = np.linalg.eigh(F)
    order = np.argsort(-mu)
    mu, E = mu[order], E[:, order]
    k = Z0.shape[1]
    C = E.T @ Z0
    Q_c, R_c = np.linalg.qr(C[:k].T)
    CQ = C @ Q_c
    CQ[:k] = np.tril(R_c.T)
    log_scale = np.minimum((mu[:, None] - mu[None, :k])[None] * ts[:, None, None], 0.0)
    W_tilde = np.exp(log_scale) * CQ
    log_psi = np.full((len(ts), len(mu)), -np.inf)
    positive = ts > 0.0
    log_psi[positive] = _log_reverse_integral(mu[None, :], ts[positive, None])
    weighted = np.exp(0.5 * log_psi[:, :, None] + log_scale) * CQ
    M = (
        np.exp(np.minimum(-2.0 * mu[None, :k] * ts[:, None], 700.0))[:, :, None] * np.eye(k)
        + np.swapaxes(weighted, 1, 2) @ weighted
    )
    P_eig = W_tilde @ np.linalg.solve(M, np.swapaxes(W_tilde, 1, 2))
    return E @ P_eig @ E.T


def riccati_closed_form_naive(F: np.ndarray, Z0: np.ndarray, t: float) -> np.ndarray:
    """The formula term by term, e^{Ft} and N(t) formed explicitly (a check for small t only)."""
    mu, E = np.linalg.eigh(F)
    expF = (E * np.exp(mu * t)) @ E.T
    integral = (E * _integral(mu, t)) @ E.T
    N = np.eye(Z0.shape[1]) + Z0.T @ integral @ Z0
    M = expF @ Z0
    return M @ np.linalg.solve(N, M.T)


def mode_residuals(target: Target, U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """r_i(t) = p_iᵀ(Y − UVᵀ)q_i for every singular pair (p_i, q_i) of Y: array T×r."""
    UV = U @ np.swapaxes(V, -1, -2)
    R = target.Y - UV
    return np.einsum("mi,tmn,ni->ti", target.left, R, target.right)


# ------------------------------------------------------------------------------------ the matrix run


def seeded_target(spectrum: tuple[float, ...], m: int, n: int, seed: int, index: int) -> Target:
    """Y with singular values ``spectrum`` and random singular vectors drawn from (seed, index)."""
    return make_target(list(spectrum), m, n, np.random.default_rng([seed, index]))


def seeded_init(
    m: int, n: int, k: int, lam: float, init_scale: float, Y: np.ndarray, seed: int, index: int
) -> tuple[np.ndarray, ...]:
    """λ-balanced init; the same random draw for every λ of one spectrum (fixed data, varied imbalance)."""
    rng = np.random.default_rng([seed, index, 1])
    return balanced_init(m, n, k, lam, init_scale, rng, Y)


def _case(
    spec: MatrixFlowRun, seed: int, index: int, lam: float
) -> tuple[dict[str, Any], list[pd.DataFrame]]:
    """One (spectrum, λ): ODE, conservation, Riccati closed form, F spectrum and per-mode rates."""
    target = seeded_target(spec.spectra[index], spec.m, spec.n, seed, index)
    U0, V0 = seeded_init(spec.m, spec.n, spec.k, lam, spec.init_scale, target.Y, seed, index)
    t = np.linspace(0.0, spec.t_max, spec.n_points)
    U, V = integrate(target.Y, U0, V0, t, rtol=spec.rtol, atol=spec.atol)
    Q, Q0 = imbalance(U, V), imbalance(U0, V0)
    conservation = np.abs(Q - Q0).max(axis=(1, 2)) / (1.0 + np.abs(Q0).max())
    F = flow_matrix(target.Y, lam)
    Z = np.concatenate([U, V], axis=1)
    P_ode = Z @ np.swapaxes(Z, 1, 2)
    P_closed = riccati_closed_form(F, np.vstack([U0, V0]), t)
    riccati = np.linalg.norm(P_closed - P_ode, axis=(1, 2)) / np.linalg.norm(P_ode, axis=(1, 2))
    eig, eig_pred = np.linalg.eigvalsh(F), predicted_spectrum(target.sigma, lam, spec.m, spec.n)
    modes = mode_residuals(target, U, V)
    predicted = predicted_rate(lam, target.sigma)
    window = spec.fit_window
    fitted = [
        fit_rate(t, modes[:, i], window) if predicted[i] > 0 else math.nan for i in range(modes.shape[1])
    ]
    record = {
        "spectrum": index,
        "sigma": floats(target.sigma),
        "lam": lam,
        "init_balance_err": float(np.abs(Q0 - lam * np.eye(spec.k)).max()),
        "conservation_rel_err": float(conservation.max()),
        "riccati_rel_err": float(riccati.max()),
        "spectrum_err": float(np.abs(eig - eig_pred).max() / max(1.0, np.abs(eig_pred).max())),
        "rates_fitted": floats(fitted),
        "rates_predicted": floats(predicted),
        "final_residual": float(np.linalg.norm(target.Y - U[-1] @ V[-1].T)),
    }
    frames = [
        frame("conservation_err", t, conservation, lam=lam, spectrum=index),
        frame("riccati_err", t, riccati, lam=lam, spectrum=index),
        frame(
            "residual_norm",
            t,
            np.linalg.norm(target.Y - U @ np.swapaxes(V, 1, 2), axis=(1, 2)),
            lam=lam,
            spectrum=index,
        ),
    ]
    frames += [
        frame("mode_residual", t, np.abs(modes[:, i]), lam=lam, spectrum=index, mode=i)
        for i in range(modes.shape[1])
    ]
    return record, frames


def _rate_errors(records: list[dict[str, Any]], balanced: bool) -> list[float]:
    """Relative errors of the fitted per-mode rates, λ = 0 cases (``balanced``) or λ ≠ 0 cases.

    Modes with predicted rate 0 (σ = 0 at λ = 0: algebraic, not exponential convergence) are skipped;
    a missing fit (NaN) is kept and makes the maximum infinite.
    """
    errors = []
    for record in records:
        if (record["lam"] == 0.0) != balanced:
            continue
        for fit, pred in zip(record["rates_fitted"], record["rates_predicted"], strict=True):
            if pred > 0:
                errors.append(abs(fit - pred) / pred if not math.isnan(fit) else math.nan)
    return errors


def _vs_balanced(records: list[dict[str, Any]]) -> float:
    """min over λ ≠ 0 and modes with σ_i > 0 of |fitted − 2σ_i| / 2σ_i: the per-mode rate test applied to the
    balanced rate 2σ_i ("no acceleration"); a missing fit gives −inf."""
    gaps = []
    for record in records:
        if record["lam"] == 0.0:
            continue
        for fit, sigma in zip(record["rates_fitted"], record["sigma"], strict=True):
            if sigma > 0:
                gaps.append(abs(fit - 2.0 * sigma) / (2.0 * sigma))
    return nanmin(gaps)


def run(spec: MatrixFlowRun, seed: int) -> RunOutput:
    """The ``matrix`` run: every (spectrum, λ) of the spec, and the summary the claims read."""
    records, frames = [], []
    for index in range(len(spec.spectra)):
        for lam in spec.lambdas:
            record, case_frames = _case(spec, seed, index, float(lam))
            records.append(record)
            frames += case_frames

    def worst(key: str) -> float:
        return nanmax([r[key] for r in records])

    imbalanced, balanced = _rate_errors(records, balanced=False), _rate_errors(records, balanced=True)
    metrics = {
        "m": spec.m,
        "n": spec.n,
        "k": spec.k,
        "spectra": [list(s) for s in spec.spectra],
        "lambdas": [float(x) for x in spec.lambdas],
        "records": records,
        "init_balance_err_max": worst("init_balance_err"),
        "conservation_rel_err_max": worst("conservation_rel_err"),
        "riccati_rel_err_max": worst("riccati_rel_err"),
        "spectrum_err_max": worst("spectrum_err"),
        "rate_rel_err_max": nanmax(imbalanced),
        "rate_fits": len(imbalanced),
        "rate_rel_err_max_balanced": nanmax(balanced),
        "rate_fits_balanced": len(balanced),
        "rate_vs_balanced_min": _vs_balanced(records),
    }
    return RunOutput(metrics=metrics, history=history(frames))
