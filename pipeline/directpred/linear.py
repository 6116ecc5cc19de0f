"""Float64 linear-network dynamics of BYOL/SimSiam (Lemma 1, Eqns 7-13), integrated by explicit Euler.

:func:`simulate` runs the full matrix flow of Lemma 1 for W (n2×n1), W_p (n2×n2) and the EMA target W_a,
with switches for the ablations: ``stop_grad=False`` (Theorem 2: the target is W itself and the
gradient flows through it), ``predictor=False`` (W_p ≡ I) and ``ema=False`` (SimSiam: W_a ≡ W).
:func:`decoupled` integrates the per-eigenmode ODE (Eqns 11-13) with SciPy for the sweeps and portraits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp


@dataclass(frozen=True)
class LinearConfig:
    """One matrix-flow simulation: X = I, X' = σ²I (Assumption 2) unless ``data_rank`` restricts X."""

    n1: int = 32
    n2: int = 16
    sigma2: float = 0.5
    eta: float = 0.04
    alpha_p: float = 1.0
    beta: float = 0.4
    dt: float = 0.01
    steps: int = 20000
    init_scale: float = 0.1
    symmetric: bool = True
    stop_grad: bool = True
    predictor: bool = True
    ema: bool = True
    record_every: int = 100


@dataclass
class LinearTrace:
    """Recorded quantities every ``record_every`` steps (index 0 is the initial state)."""

    t: list[float] = field(default_factory=list)
    s: list[np.ndarray] = field(default_factory=list)  # eigenvalues of F = WXWᵀ (descending)
    p: list[np.ndarray] = field(default_factory=list)  # u_jᵀ W_p u_j in F's eigenbasis
    cosine: list[np.ndarray] = field(default_factory=list)  # cos(W_p u_j, u_j)
    commutator: list[float] = field(default_factory=list)  # ‖[F, W_p]‖ / (‖F‖‖W_p‖)
    asym: list[float] = field(default_factory=list)  # ‖W_p − W_pᵀ‖ / ‖W_p‖
    w_norm: list[float] = field(default_factory=list)  # ‖W‖_F
    tau: list[float] = field(default_factory=list)  # ⟨W_a, W⟩ / ‖W‖² (Assumption 1's τ)
    balance: list[float] = field(default_factory=list)  # Theorem 1 residual, relative


def flows(
    W: np.ndarray, Wp: np.ndarray, Wa: np.ndarray, X: np.ndarray, Xp: np.ndarray, cfg: LinearConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(Ẇ, Ẇ_p) of Lemma 1, or of Theorem 2 when ``stop_grad`` is off (gradient through the target W).

    Ẇ_p is symmetrised under Assumption 3 (``symmetric``) and zero without a predictor.
    """
    sigma = X + Xp
    inner = -Wp @ W @ sigma + Wa @ X
    dW = Wp.T @ inner - cfg.eta * W
    if not cfg.stop_grad:  # J = ½E‖W_pWx1 − Wx2‖² differentiated through both branches (Theorem 2)
        dW = dW + Wp @ W @ X - W @ sigma
    if not cfg.predictor:
        return dW, np.zeros_like(Wp)
    dWp = cfg.alpha_p * inner @ W.T - cfg.eta * Wp
    if cfg.symmetric:
        dWp = 0.5 * (dWp + dWp.T)
    return dW, dWp


def loss(W: np.ndarray, Wp: np.ndarray, Wa: np.ndarray, X: np.ndarray, Xp: np.ndarray) -> float:
    """J = ½E‖W_pWx1 − W_a x2‖² up to a constant (independent views; used to test :func:`flows`)."""
    sigma = X + Xp
    return float(0.5 * np.trace(Wp @ W @ sigma @ W.T @ Wp.T) - np.trace(Wa @ X @ W.T @ Wp.T))


def initial_state(cfg: LinearConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """W and W_p with i.i.d. N(0, init_scale²) entries (W_p symmetrised under A3; W_p = I without a
    predictor) and W_a(0) = 0, so τ(0) = 0."""
    W = cfg.init_scale * rng.standard_normal((cfg.n2, cfg.n1))
    Wp = cfg.init_scale * rng.standard_normal((cfg.n2, cfg.n2))
    if cfg.symmetric:
        Wp = 0.5 * (Wp + Wp.T)
    if not cfg.predictor:
        Wp = np.eye(cfg.n2)
    return W, Wp, np.zeros_like(W)


def _record(
    trace: LinearTrace, t: float, W: np.ndarray, Wp: np.ndarray, Wa: np.ndarray, X: np.ndarray, balance: float
) -> None:
    F = W @ X @ W.T
    s, U = np.linalg.eigh(F)
    s, U = s[::-1], U[:, ::-1]
    WpU = Wp @ U
    trace.t.append(t)
    trace.s.append(s)
    trace.p.append(np.einsum("ij,ij->j", U, WpU))
    trace.cosine.append(np.einsum("ij,ij->j", U, WpU) / np.maximum(np.linalg.norm(WpU, axis=0), 1e-300))
    comm = F @ Wp - Wp @ F
    trace.commutator.append(float(np.linalg.norm(comm) / max(np.linalg.norm(F) * np.linalg.norm(Wp), 1e-300)))
    trace.asym.append(float(np.linalg.norm(Wp - Wp.T) / max(np.linalg.norm(Wp), 1e-300)))
    trace.w_norm.append(float(np.linalg.norm(W)))
    trace.tau.append(float(np.sum(Wa * W) / max(np.sum(W * W), 1e-300)))
    trace.balance.append(balance)


def simulate(cfg: LinearConfig, seed: int) -> LinearTrace:
    """Euler-integrate the matrix flow for ``cfg.steps`` steps of size ``dt``; float64 throughout."""
    rng = np.random.default_rng(seed)
    X, Xp = np.eye(cfg.n1), cfg.sigma2 * np.eye(cfg.n1)
    W, Wp, Wa = initial_state(cfg, rng)
    if not cfg.ema or not cfg.stop_grad:
        Wa = W.copy()
    C0 = W @ W.T - Wp.T @ Wp / cfg.alpha_p
    trace = LinearTrace()
    _record(trace, 0.0, W, Wp, Wa, X, 0.0)
    for step in range(1, cfg.steps + 1):
        dW, dWp = flows(W, Wp, Wa, X, Xp, cfg)
        dWa = cfg.beta * (W - Wa)
        W, Wp = W + cfg.dt * dW, Wp + cfg.dt * dWp
        Wa = Wa + cfg.dt * dWa if cfg.ema and cfg.stop_grad else W
        if step % cfg.record_every == 0 or step == cfg.steps:
            t = step * cfg.dt
            balance = W @ W.T - Wp.T @ Wp / cfg.alpha_p - np.exp(-2 * cfg.eta * t) * C0
            rel = float(np.linalg.norm(balance) / max(np.linalg.norm(W @ W.T) + np.linalg.norm(C0), 1e-300))
            _record(trace, t, W, Wp, Wa, X, rel)
    return trace


# ------------------------------------------------------------------------------------------ decoupled


def decoupled_rhs(sigma2: float, eta: float, alpha_p: float, beta: float | None):
    """Right-hand side of Eqns 11-13 for y = (p, s, τ); ``beta=None`` is SimSiam (τ ≡ 1)."""

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        p, s, tau = y
        tau = 1.0 if beta is None else tau
        gap = tau - (1 + sigma2) * p
        dp = alpha_p * s * gap - eta * p
        ds = 2 * p * s * gap - 2 * eta * s
        dtau = 0.0 if beta is None else beta * (1 - tau) - tau * (p * gap - eta)  # ṡ/(2s) = p·gap − η
        return np.array([dp, ds, dtau])

    return rhs


def decoupled(
    p0: float,
    s0: float,
    t_eval: np.ndarray,
    *,
    sigma2: float,
    eta: float,
    alpha_p: float,
    beta: float | None = None,
    tau0: float = 0.0,
) -> np.ndarray:
    """Integrate one eigenmode (DOP853, rtol 1e-10); returns [len(t_eval), 3] columns p, s, τ."""
    rhs = decoupled_rhs(sigma2, eta, alpha_p, beta)
    y0 = [p0, s0, 1.0 if beta is None else tau0]
    sol = solve_ivp(rhs, (0.0, float(t_eval[-1])), y0, t_eval=t_eval, method="DOP853", rtol=1e-10, atol=1e-14)
    return sol.y.T
