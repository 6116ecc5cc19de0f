"""A quadratic toy of consensus control: D-SGD on f_i(x) = ½(x − b_i)² with gradient noise.

x^{t+1} = W^m (x^t − η(x^t − b + ξ^t)), ξ ~ N(0, σ² I), with m gossip rounds per step. In the eigenbasis
W = U diag(λ) Uᵀ every non-consensus mode z_k = (Uᵀx)_k is the AR(1) process
z ← λ_k^m (1−η) z + λ_k^m η b̂_k − λ_k^m η ξ_k, whose stationary second moment gives

    E Ξ² = (1/n) Σ_{k: λ_k ≠ 1} [(η μ_k b̂_k / (1 − (1−η) μ_k))² + η² σ² μ_k² / (1 − (1−η)² μ_k²)],
    μ_k = λ_k^m.

With b averaged over its draw (E b̂_k² = ζ²), b̂_k² is replaced by ζ².
"""

from __future__ import annotations

import numpy as np


def draw_b(n: int, zeta: float, rng: np.random.Generator) -> np.ndarray:
    """b_i ~ N(0, ζ²) with the mean removed (so the optimum of the average objective is 0)."""
    b = rng.normal(0.0, zeta, size=n)
    return b - b.mean()


def _modes(W: np.ndarray, rounds: int) -> tuple[np.ndarray, np.ndarray]:
    lam, U = np.linalg.eigh(W)
    keep = ~np.isclose(lam, 1.0, atol=1e-10)
    return lam[keep] ** rounds, U[:, keep]


def closed_form(W: np.ndarray, b: np.ndarray, eta: float, sigma: float, rounds: int = 1) -> float:
    """Stationary E Ξ² for one draw of b (derived per eigenmode of W)."""
    mu, U = _modes(W, rounds)
    b_hat = U.T @ b
    mean = eta * mu * b_hat / (1.0 - (1.0 - eta) * mu)
    var = eta**2 * sigma**2 * mu**2 / (1.0 - (1.0 - eta) ** 2 * mu**2)
    return float((mean**2 + var).sum() / len(W))


def closed_form_expected(W: np.ndarray, eta: float, sigma: float, zeta: float, rounds: int = 1) -> float:
    """Stationary E Ξ² averaged over b (E b̂_k² = ζ² on every non-consensus mode)."""
    mu, _ = _modes(W, rounds)
    mean_sq = (eta * mu * zeta / (1.0 - (1.0 - eta) * mu)) ** 2
    var = eta**2 * sigma**2 * mu**2 / (1.0 - (1.0 - eta) ** 2 * mu**2)
    return float((mean_sq + var).sum() / len(W))


def simulate(
    W: np.ndarray,
    b: np.ndarray,
    eta: float,
    sigma: float,
    rounds: int,
    steps: int,
    burn_in: int,
    chains: int,
    rng: np.random.Generator,
) -> tuple[float, float, np.ndarray]:
    """Time- and chain-averaged Ξ² after ``burn_in`` steps; also its standard error and the mean Ξ² curve.

    ``chains`` independent noise streams run side by side from x = 0 (rows of a ``[chains, n]`` array).
    """
    Wm = np.linalg.matrix_power(W, rounds)
    x = np.zeros((chains, len(b)))
    curve = np.empty(steps)
    per_chain = np.zeros(chains)
    for t in range(steps):
        noise = rng.normal(0.0, sigma, size=x.shape)
        x = (x - eta * (x - b + noise)) @ Wm.T
        xi_sq = ((x - x.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)
        curve[t] = xi_sq.mean()
        if t >= burn_in:
            per_chain += xi_sq
    per_chain /= steps - burn_in
    return float(per_chain.mean()), float(per_chain.std(ddof=1) / np.sqrt(chains)), curve
