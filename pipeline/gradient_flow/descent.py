"""Finite-step gradient descent on ½(y − uv)² and ½‖Y − UVᵀ‖²_F, and the exact imbalance recursion.

Derived, gradient_flow.md §2.5. One GD step W1' = W1 − ηGW2ᵀ, W2' = W2 − ηW1ᵀG (G = ∇ℓ at the product)
changes the imbalance by exactly η²(W2GᵀGW2ᵀ − W1ᵀGGᵀW1); in the scalar case λ' = (1 − η²r²)λ with
r = y − uv. Here W1 = U and W2 = Vᵀ, so for the square loss G = −(Y − UVᵀ).
"""

from __future__ import annotations

import numpy as np


def scalar_descent(u0: float, v0: float, y: float, eta: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Iterates (u_k, v_k), k = 0..steps, of u' = u + η r v, v' = v + η r u with r = y − uv."""
    u, v = np.empty(steps + 1), np.empty(steps + 1)
    u[0], v[0] = u0, v0
    for k in range(steps):
        r = y - u[k] * v[k]
        u[k + 1] = u[k] + eta * r * v[k]
        v[k + 1] = v[k] + eta * r * u[k]
    return u, v


def scalar_recursion_deviation(u: np.ndarray, v: np.ndarray, y: float, eta: float) -> np.ndarray:
    """|λ_{k+1} − (1 − η²r_k²)λ_k| / (1 + |λ_k|) at every step (derived, gradient_flow.md §2.5)."""
    lam = u**2 - v**2
    r = y - u[:-1] * v[:-1]
    predicted = (1.0 - (eta * r) ** 2) * lam[:-1]
    return np.abs(lam[1:] - predicted) / (1.0 + np.abs(lam[:-1]))


def scalar_product_prediction(u: np.ndarray, v: np.ndarray, y: float, eta: float) -> np.ndarray:
    """λ_0·Π_{j<k}(1 − η²r_j²): the imbalance the recursion predicts after k steps, k = 0..steps."""
    r = y - u[:-1] * v[:-1]
    factors = np.concatenate([[1.0], np.cumprod(1.0 - (eta * r) ** 2)])
    return (u[0] ** 2 - v[0] ** 2) * factors


def matrix_descent(
    Y: np.ndarray, U0: np.ndarray, V0: np.ndarray, eta: float, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Iterates U_k (steps+1 × m × k) and V_k of U' = U + ηRV, V' = V + ηRᵀU with R = Y − UVᵀ."""
    U = np.empty((steps + 1, *U0.shape))
    V = np.empty((steps + 1, *V0.shape))
    U[0], V[0] = U0, V0
    for k in range(steps):
        R = Y - U[k] @ V[k].T
        U[k + 1] = U[k] + eta * R @ V[k]
        V[k + 1] = V[k] + eta * R.T @ U[k]
    return U, V


def matrix_recursion_step(U: np.ndarray, V: np.ndarray, Y: np.ndarray, eta: float) -> np.ndarray:
    """η²(W2GᵀGW2ᵀ − W1ᵀGGᵀW1) with W1 = U, W2 = Vᵀ, G = −(Y − UVᵀ) (derived, gradient_flow.md §2.5)."""
    G = -(Y - U @ V.T)
    return eta**2 * (V.T @ G.T @ G @ V - U.T @ G @ G.T @ U)


def matrix_recursion_deviation(U: np.ndarray, V: np.ndarray, Y: np.ndarray, eta: float) -> np.ndarray:
    """max|Q_{k+1} − Q_k − η²(…)| / (1 + max|Q_k|) at every step, Q = UᵀU − VᵀV (§2.5)."""
    Q = np.swapaxes(U, 1, 2) @ U - np.swapaxes(V, 1, 2) @ V
    out = np.empty(len(U) - 1)
    for k in range(len(U) - 1):
        predicted = Q[k] + matrix_recursion_step(U[k], V[k], Y, eta)
        out[k] = np.abs(Q[k + 1] - predicted).max() / (1.0 + np.abs(Q[k]).max())
    return out
