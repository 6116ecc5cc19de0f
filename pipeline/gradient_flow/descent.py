"""Finite-step gradient descent on ½(y − uv)² and ½‖Y − UVᵀ‖²_F, and the exact imbalance recursion.

Derived, docs/gradient_flow.md §2.5. One GD step W1' = W1 − ηGW2ᵀ, W2' = W2 − ηW1ᵀG (G = ∇ℓ at the product)
changes the imbalance by exactly η²(W2GᵀGW2ᵀ − W1ᵀGGᵀW1); in the scalar case λ' = (1 − η²r²)λ with
r = y − uv. Here W1 = U and W2 = Vᵀ, so for the square loss G = −(Y − UVᵀ).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.study import RunOutput
from pipeline.gradient_flow.history import frame, history, nanmax
from pipeline.gradient_flow.matrix import imbalance, seeded_init, seeded_target
from pipeline.gradient_flow.runs import DescentRun
from pipeline.gradient_flow.scalar import init_fixed_product


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
    """|λ_{k+1} − (1 − η²r_k²)λ_k| / (1 + |λ_k|) at every step (derived, §2.5)."""
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
    """η²(W2GᵀGW2ᵀ − W1ᵀGGᵀW1) with W1 = U, W2 = Vᵀ, G = −(Y − UVᵀ) (derived, §2.5)."""
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


# ----------------------------------------------------------------------------------- the descent run


def _scalar_case(spec: DescentRun, lam: float) -> tuple[dict[str, Any], list[pd.DataFrame]]:
    y, eta, steps = spec.y, spec.eta, spec.steps
    u, v = scalar_descent(*init_fixed_product(lam, spec.w0), y, eta, steps)
    k = np.arange(steps + 1)
    imbalance = u**2 - v**2
    predicted = scalar_product_prediction(u, v, y, eta)
    deviation = scalar_recursion_deviation(u, v, y, eta)
    drift = np.abs(imbalance - imbalance[0]) / (1.0 + abs(imbalance[0]))
    small_step = eta * np.abs(y - u[:-1] * v[:-1]) < 1.0
    grew = (np.abs(imbalance[1:]) > np.abs(imbalance[:-1])) & small_step
    record = {
        "lam": lam,
        "recursion_dev_max": float(deviation.max()),
        "product_rel_err": float(np.abs(imbalance[-1] - predicted[-1]) / (1.0 + abs(imbalance[0]))),
        "imbalance_final": float(imbalance[-1]),
        "drift_final": float(drift[-1]),
        "monotone_violations": int(grew.sum()),
        "final_residual": float(abs(y - u[-1] * v[-1])),
    }
    frames = [
        frame("imbalance", k * eta, imbalance, lam=lam, step=k),
        frame("imbalance_predicted", k * eta, predicted, lam=lam, step=k),
        frame("conservation_err", k * eta, drift, lam=lam, step=k),
        frame("recursion_dev", k[1:] * eta, deviation, lam=lam, step=k[1:]),
        frame("residual", k * eta, np.abs(y - u * v), lam=lam, step=k),
    ]
    return record, frames


def _matrix_case(spec: DescentRun, seed: int, lam: float) -> tuple[dict[str, Any], list[pd.DataFrame]]:
    """Matrix GD from the λ-balanced start of the matrix run's first spectrum (the same draw)."""
    target = seeded_target(spec.spectrum, spec.m, spec.n, seed, 0)
    U0, V0 = seeded_init(spec.m, spec.n, spec.k, lam, spec.init_scale, target.Y, seed, 0)
    U, V = matrix_descent(target.Y, U0, V0, spec.eta, spec.steps)
    k = np.arange(spec.steps + 1)
    deviation = matrix_recursion_deviation(U, V, target.Y, spec.eta)
    Q = imbalance(U, V)
    drift = np.abs(Q - Q[0]).max(axis=(1, 2)) / (1.0 + np.abs(Q[0]).max())
    record = {
        "lam": lam,
        "spectrum": 0,
        "recursion_dev_max": float(deviation.max()),
        "drift_final": float(drift[-1]),
    }
    frames = [
        frame("matrix_conservation_err", k * spec.eta, drift, lam=lam, spectrum=0, step=k),
        frame("matrix_recursion_dev", k[1:] * spec.eta, deviation, lam=lam, spectrum=0, step=k[1:]),
    ]
    return record, frames


def run(spec: DescentRun, seed: int) -> RunOutput:
    """The ``descent`` run: scalar and matrix GD for every λ of the spec, and the summary the claims read."""
    scalar_records, matrix_records, frames = [], [], []
    for lam in spec.lambdas:
        record, new = _scalar_case(spec, float(lam))
        scalar_records.append(record)
        frames += new
        record, new = _matrix_case(spec, seed, float(lam))
        matrix_records.append(record)
        frames += new
    scalar_dev = nanmax([r["recursion_dev_max"] for r in scalar_records])
    matrix_dev = nanmax([r["recursion_dev_max"] for r in matrix_records])
    metrics = {
        "eta": spec.eta,
        "steps": spec.steps,
        "lambdas": [float(x) for x in spec.lambdas],
        "scalar": scalar_records,
        "matrix": matrix_records,
        "scalar_recursion_dev_max": scalar_dev,
        "matrix_recursion_dev_max": matrix_dev,
        "recursion_dev_max": nanmax([scalar_dev, matrix_dev]),
        "product_rel_err_max": nanmax([r["product_rel_err"] for r in scalar_records]),
        "monotone_violations": int(sum(r["monotone_violations"] for r in scalar_records)),
        "drift_final_max": nanmax([r["drift_final"] for r in scalar_records + matrix_records]),
    }
    return RunOutput(metrics=metrics, history=history(frames))
