"""Square matrix flow from a general imbalance Q = UᵀU − VᵀV (not a multiple of I): rates and their bounds.

Derived, docs/gradient_flow.md §2.6 (the § numbers below are that file's). With m = n = k:

- the residual R = Y − UVᵀ obeys Ṙ = −UUᵀR − RVVᵀ exactly, so near the limit (U∞, V∞) it is a Sylvester
  flow whose modes a_i b_jᵀ (eigenvectors of A = U∞U∞ᵀ and B = V∞V∞ᵀ) decay at α_i + β_j; the convergence
  rate is r∞ = λ_min(A) + λ_min(B) (the slowest mode);
- r∞ ≤ sqrt(‖Q‖₂² + 4σ_min²) for every Q (Weyl: |λ_min(A) − λ_min(B)| ≤ ‖Q‖₂; Ostrowski:
  λ_min(A)·λ_min(B) ≤ σ_min²), with equality when Q = λI;
- for a definite Q (all eigenvalues of one sign), q* = min_i |q_i| bounds the rate from below at every
  time, not only asymptotically: ‖R(t)‖_F ≤ ‖R(0)‖_F e^{−q* t}, hence r∞ ≥ q*. No such bound exists for
  an indefinite Q, whose rate can fall below the balanced rate 2σ_min.

A general Q does not close into one Riccati equation (§2.4), and r∞ is not a function of the eigenvalues
of Q and σ alone (it depends on where on the set of minimisers the flow ends), so the checkable statements
are the linearisation at the limit and the two bounds. Float64 numpy/scipy throughout.
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
from pipeline.gradient_flow.matrix import Target, flow_rhs, imbalance, make_target, random_orthonormal
from pipeline.gradient_flow.runs import GeneralImbalanceRun
from pipeline.gradient_flow.scalar import fit_rate, tail_window

FLOOR_DECADES = 2.0  # integrate until the residual is this many decades below the bottom of the fit window


def random_imbalance(eigenvalues: list[float] | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Q = E diag(q) Eᵀ with a random orthogonal E (symmetric, eigenvalues ``eigenvalues``)."""
    q = np.asarray(eigenvalues, dtype=float)
    E = random_orthonormal(q.size, q.size, rng)
    return (E * q) @ E.T


def imbalanced_init(
    Q: np.ndarray, C: np.ndarray, m: int, n: int, rng: np.random.Generator, Y: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(U0, V0) with U0ᵀU0 = Q₊ + C and V0ᵀV0 = Q₋ + C, so U0ᵀU0 − V0ᵀV0 = Q exactly up to rounding (§2.6).

    Q = Q₊ − Q₋ splits Q into its positive and negative parts (same eigenvectors); C (k×k, positive
    definite) is a common Gram that makes both factors positive definite for any Q, so a Cholesky factor
    L and an orthonormal frame give U0 = Q_o Lᵀ (needs m, n ≥ k). Q = λI with C = V0ᵀV0 is the λ-balanced
    start of :func:`pipeline.gradient_flow.matrix.balanced_init`. As there, when ``Y`` is given and
    m = n = k, the first row of U0 is reflected if det(U0V0ᵀ)·det(Y) < 0 (it keeps U0ᵀU0; for Q = 0 the
    other orientation is the saddle that never reaches Y).
    """
    k = Q.shape[0]
    if m < k or n < k:
        raise ValueError(f"the imbalanced init needs m, n ≥ k, got m={m}, n={n}, k={k}")
    q, E = np.linalg.eigh(0.5 * (Q + Q.T))
    positive, negative = (E * np.maximum(q, 0.0)) @ E.T, (E * np.maximum(-q, 0.0)) @ E.T
    U0 = random_orthonormal(m, k, rng) @ np.linalg.cholesky(positive + C).T
    V0 = random_orthonormal(n, k, rng) @ np.linalg.cholesky(negative + C).T
    if Y is not None and m == n == k and np.linalg.det(U0 @ V0.T) * np.linalg.det(Y) < 0.0:
        U0[0] = -U0[0]
    return U0, V0


def is_definite(eigenvalues: list[float] | np.ndarray) -> bool:
    """All eigenvalues strictly of one sign (the case with a lower bound on the rate, §2.6)."""
    q = np.asarray(eigenvalues, dtype=float)
    return bool(np.all(q > 0.0) or np.all(q < 0.0))


def lower_bound(eigenvalues: list[float] | np.ndarray) -> float:
    """q* = min_i |q_i| for a definite Q (‖R(t)‖ ≤ ‖R(0)‖e^{−q* t}); NaN for an indefinite Q (no bound)."""
    q = np.asarray(eigenvalues, dtype=float)
    return float(np.min(np.abs(q))) if is_definite(q) else math.nan


def upper_bound(eigenvalues: list[float] | np.ndarray, sigma: list[float] | np.ndarray) -> float:
    """sqrt(‖Q‖₂² + 4σ_min²): the largest convergence rate any start with this imbalance can have (§2.6)."""
    q_norm = float(np.max(np.abs(np.asarray(eigenvalues, dtype=float))))
    return float(np.sqrt(q_norm**2 + 4.0 * float(np.min(sigma)) ** 2))


@dataclass(frozen=True)
class Linearisation:
    """The Sylvester flow Ṙ = −AR − RB at a limit: A = UUᵀ, B = VVᵀ and their eigenpairs (ascending)."""

    alpha: np.ndarray
    left: np.ndarray
    beta: np.ndarray
    right: np.ndarray

    @property
    def rate(self) -> float:
        """The slowest mode's rate λ_min(A) + λ_min(B): the flow's convergence rate."""
        return float(self.alpha[0] + self.beta[0])

    def slowest_mode(self, R: np.ndarray) -> np.ndarray:
        """a_0ᵀ R b_0: the residual's component on the slowest mode (batched over leading axes)."""
        return np.einsum("i,...ij,j->...", self.left[:, 0], R, self.right[:, 0])


def linearise(U: np.ndarray, V: np.ndarray) -> Linearisation:
    """The linearised residual flow at (U, V), normally the end of an integration (§2.6)."""
    alpha, left = np.linalg.eigh(U @ U.T)
    beta, right = np.linalg.eigh(V @ V.T)
    return Linearisation(alpha, left, beta, right)


def residual(Y: np.ndarray, U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """R = Y − UVᵀ (batched over a leading time axis)."""
    return Y - U @ np.swapaxes(V, -1, -2)


def integrate_to_floor(
    Y: np.ndarray,
    U0: np.ndarray,
    V0: np.ndarray,
    *,
    floor: float,
    t_max: float,
    n_points: int,
    rtol: float,
    atol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DOP853 solution until ‖R‖_F = ``floor`` (or ``t_max``), sampled on ``n_points`` times: (t, U, V).

    The stop time depends on the flow's own rate (an indefinite Q can be slow), so one ``t_max`` serves
    fast and slow flows; the samples come from the integrator's dense output.
    """
    m, n = Y.shape
    k = U0.shape[1]
    log_floor = math.log(floor)

    def reached(_t: float, z: np.ndarray, Y: np.ndarray, k: int) -> float:
        U, V = z[: m * k].reshape(m, k), z[m * k :].reshape(n, k)
        return math.log(max(float(np.linalg.norm(Y - U @ V.T)), 1e-300)) - log_floor

    reached.terminal = True
    reached.direction = -1.0
    sol = solve_ivp(
        flow_rhs,
        (0.0, float(t_max)),
        np.concatenate([U0.ravel(), V0.ravel()]),
        method="DOP853",
        rtol=rtol,
        atol=atol,
        args=(Y, k),
        events=reached,
        dense_output=True,
    )
    if not sol.success:
        raise RuntimeError(f"general-imbalance flow failed: {sol.message}")
    t = np.linspace(0.0, float(sol.t[-1]), n_points)
    z = sol.sol(t).T
    return t, z[:, : m * k].reshape(-1, m, k), z[:, m * k :].reshape(-1, n, k)


def average_rate(t: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """ρ(t) = −log(‖R(t)‖/‖R(0)‖)/t for t > 0: the rate the bound ‖R(t)‖ ≤ ‖R(0)‖e^{−q* t} constrains."""
    return -np.log(norm[1:] / norm[0]) / t[1:]


# ---------------------------------------------------------------------------------- the general run


def seeded_problem(spec: GeneralImbalanceRun, seed: int) -> Target:
    """The square target Y with singular values ``spectrum`` (one per run, drawn from the base seed)."""
    k = len(spec.spectrum)
    return make_target(list(spec.spectrum), k, k, np.random.default_rng([seed, 100]))


def seeded_gram(spec: GeneralImbalanceRun, seed: int, draw: int) -> np.ndarray:
    """The common Gram C = GᵀG of one draw (G k×k Gaussian with standard deviation ``init_scale``)."""
    k = len(spec.spectrum)
    G = spec.init_scale * np.random.default_rng([seed, 100, draw]).standard_normal((k, k))
    return G.T @ G


def _case(
    spec: GeneralImbalanceRun, target: Target, C: np.ndarray, seed: int, draw: int, index: int | None
) -> tuple[dict[str, Any], list[pd.DataFrame]]:
    """One start: imbalance ``index`` of the spec (None: the balanced start Q = 0) with draw ``draw``."""
    k = len(spec.spectrum)
    rng = np.random.default_rng([seed, 100, draw, 0 if index is None else index + 1])
    eigenvalues = np.zeros(k) if index is None else np.asarray(spec.imbalances[index], dtype=float)
    Q = random_imbalance(eigenvalues, rng)
    U0, V0 = imbalanced_init(Q, C, k, k, rng, target.Y)
    lo, _ = spec.fit_window
    t, U, V = integrate_to_floor(
        target.Y, U0, V0, floor=lo * 10.0**-FLOOR_DECADES, t_max=spec.t_max, n_points=spec.n_points,
        rtol=spec.rtol, atol=spec.atol,
    )  # fmt: skip
    Q0 = imbalance(U0, V0)
    conservation = np.abs(imbalance(U, V) - Q0).max(axis=(1, 2)) / (1.0 + np.abs(Q0).max())
    R = residual(target.Y, U, V)
    norm = np.linalg.norm(R, axis=(1, 2))
    linear = linearise(U[-1], V[-1])
    slowest = linear.slowest_mode(R)
    # A flow stopped by t_max above the window's bottom has no reliable limit to linearise at: no fit.
    fitted = fit_rate(t, slowest, spec.fit_window) if norm[-1] <= lo else math.nan
    q_star = lower_bound(eigenvalues) if index is not None else math.nan
    rho = average_rate(t, norm)
    early = norm[1:] >= spec.fit_window[1]  # ρ(t) is computed to < 1e-8 relative while ‖R‖ ≥ 1e-4
    record = {
        "imbalance": index,
        "draw": draw,
        "balanced": index is None,
        "eigenvalues": floats(eigenvalues),
        "definite": index is not None and is_definite(eigenvalues),
        "init_imbalance_err": float(np.abs(Q0 - Q).max()),
        "conservation_rel_err": float(conservation.max()),
        "t_stop": float(t[-1]),
        "final_residual": float(norm[-1]),
        "fit_points": int(tail_window(t, slowest, spec.fit_window).size),
        "rate_fitted": fitted,
        "rate_linearised": linear.rate,
        "rate_rel_err": abs(fitted - linear.rate) / linear.rate if math.isfinite(fitted) else math.nan,
        "lower_bound": q_star,
        "upper_bound": upper_bound(eigenvalues, target.sigma),
        "balanced_rate": 2.0 * float(np.min(target.sigma)),
        "average_rate_min": float(rho[early].min()) if early.any() else math.nan,
    }
    labels = {"imbalance": index, "draw": draw}
    frames = [
        frame("general_conservation_err", t, conservation, **labels),
        frame("balanced_residual" if index is None else "general_residual", t, norm, **labels),
        frame("balanced_slowest_mode" if index is None else "general_slowest_mode", t, np.abs(slowest),
              **labels),
    ]  # fmt: skip
    return record, frames


def run(spec: GeneralImbalanceRun, seed: int) -> RunOutput:
    """The ``general`` run: every (draw, imbalance), one balanced start per draw, and the claims summary."""
    target = seeded_problem(spec, seed)
    records, frames = [], []
    for draw in range(spec.draws):
        C = seeded_gram(spec, seed, draw)
        for index in [None, *range(len(spec.imbalances))]:
            record, case_frames = _case(spec, target, C, seed, draw, index)
            records.append(record)
            frames += case_frames
    return RunOutput(metrics=summary(spec, target, records), history=history(frames))


def summary(spec: GeneralImbalanceRun, target: Target, records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the claims read (docs/gradient_flow.md §7). A missing fit (NaN) turns a max into +inf and a
    min into −inf, so no claim on it can hold."""
    general = [r for r in records if not r["balanced"]]
    definite = [r for r in general if r["definite"]]
    balanced = [r for r in records if r["balanced"]]
    balanced_rate = {r["draw"]: r["rate_fitted"] for r in balanced}
    weakest = min((r["lower_bound"] for r in definite), default=math.nan)

    def ratio(a: float, b: float) -> float:
        return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else math.nan

    def over_balanced(rows: list[dict[str, Any]]) -> list[float]:
        return [ratio(r["rate_fitted"], balanced_rate[r["draw"]]) for r in rows]

    return {
        "k": len(spec.spectrum),
        "sigma": floats(target.sigma),
        "imbalances": [list(q) for q in spec.imbalances],
        "draws": spec.draws,
        "records": records,
        "init_imbalance_err_max": nanmax([r["init_imbalance_err"] for r in records]),
        "conservation_rel_err_max": nanmax([r["conservation_rel_err"] for r in records]),
        "rate_rel_err_max": nanmax([r["rate_rel_err"] for r in records]),
        "rate_fits": len(records),
        "upper_ratio_max": nanmax([ratio(r["rate_fitted"], r["upper_bound"]) for r in records]),
        "definite_cases": len(definite),
        "weakest_lower_bound": weakest,
        "lower_ratio_min": nanmin([ratio(r["rate_fitted"], r["lower_bound"]) for r in definite]),
        "average_rate_ratio_min": nanmin([ratio(r["average_rate_min"], r["lower_bound"]) for r in definite]),
        "definite_over_balanced_min": nanmin(over_balanced(definite)),
        "indefinite_over_balanced": floats(over_balanced([r for r in general if not r["definite"]])),
        "balanced_rate_fitted_max": nanmax([r["rate_fitted"] for r in balanced]),
        "balanced_over_weakest_bound": ratio(nanmax([r["rate_fitted"] for r in balanced]), weakest),
        "balanced_average_rate_ratio": ratio(nanmin([r["average_rate_min"] for r in balanced]), weakest),
    }
