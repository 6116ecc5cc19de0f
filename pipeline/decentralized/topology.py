"""Gossip topologies and their mixing matrices W (Kong et al. 2021; Lin et al. 2021).

Every W returned here is symmetric and doubly stochastic (checked by :func:`check_mixing`). The spectral gap
is ρ = 1 − max(|λ2|, |λn|) ; the ring has |λ2| = (1 + 2cos(2π/n))/3.
"""

from __future__ import annotations

import math

import numpy as np

TOPOLOGIES = ("ring", "torus", "complete", "exponential", "social")


def ring(n: int) -> np.ndarray:
    """W = (I + S + Sᵀ)/3 with S the cyclic shift (n > 2); n = 1 gives [[1]] and n = 2 gives 11ᵀ/2."""
    if n <= 2:
        return np.full((n, n), 1.0 / n)
    shift = np.roll(np.eye(n), 1, axis=1)
    return (np.eye(n) + shift + shift.T) / 3.0


def torus(n: int) -> np.ndarray:
    """2-D periodic grid √n × √n, weight 1/5 on self and on each of the 4 neighbours (square n ≥ 9)."""
    side = math.isqrt(n)
    if side * side != n or side < 3:
        raise ValueError(f"torus needs a square n = k² with k >= 3, got n={n}")
    W = np.zeros((n, n))
    for r in range(side):
        for c in range(side):
            i = r * side + c
            for dr, dc in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
                W[i, ((r + dr) % side) * side + (c + dc) % side] += 0.2
    return W


def complete(n: int) -> np.ndarray:
    """Exact averaging W = 11ᵀ/n (the all-reduce matrix)."""
    return np.full((n, n), 1.0 / n)


def exponential(n: int) -> np.ndarray:
    """Static exponential graph, symmetrised: i ~ i ± 2^k (mod n), uniform weights 1/|neighbours ∪ {i}|."""
    W = np.zeros((n, n))
    hops = [2**k for k in range(max(1, int(math.log2(max(n - 1, 1))) + 1))]
    for i in range(n):
        nodes = {i} | {(i + h) % n for h in hops} | {(i - h) % n for h in hops}
        for j in nodes:
            W[i, j] = 1.0 / len(nodes)
    return W


def social() -> np.ndarray:
    """Davis Southern Women graph (n = 32) as in the official QGM code.

    Nodes are visited by descending degree; the still-unset unit entries of a node's row and column are set to
    1/(deg + 1) (the self-loop counted), and the diagonal takes the rest of each row. ρ ≈ 0.082.
    """
    import networkx as nx

    adjacency = nx.to_numpy_array(nx.davis_southern_women_graph())
    degree = adjacency.sum(axis=1)
    W = adjacency.copy()
    assigned = np.zeros_like(W, dtype=bool)
    for i in np.argsort(-degree, kind="stable"):
        for j in np.flatnonzero((W[i] == 1.0) & ~assigned[i]):
            if j != i:
                W[i, j] = W[j, i] = 1.0 / (degree[i] + 1.0)
                assigned[i, j] = assigned[j, i] = True
    np.fill_diagonal(W, 0.0)
    np.fill_diagonal(W, 1.0 - W.sum(axis=1))
    return W


def mixing_matrix(name: str, n: int) -> np.ndarray:
    """The checked mixing matrix of topology ``name`` for ``n`` workers (float64)."""
    if name == "social":
        W = social()
        if n != len(W):
            raise ValueError(f"the social topology has n={len(W)} workers, got n={n}")
    elif name in ("ring", "torus", "complete", "exponential"):
        W = {"ring": ring, "torus": torus, "complete": complete, "exponential": exponential}[name](n)
    else:
        raise KeyError(f"unknown topology {name!r}; known: {', '.join(TOPOLOGIES)}")
    check_mixing(W)
    return W


def check_mixing(W: np.ndarray, atol: float = 1e-12) -> None:
    """Raise ValueError unless W is square, non-negative, symmetric and doubly stochastic (to ``atol``)."""
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"mixing matrix must be square, got shape {W.shape}")
    if (-atol > W).any():
        raise ValueError("mixing matrix has negative entries")
    if not np.allclose(W, W.T, atol=atol, rtol=0):
        raise ValueError("mixing matrix is not symmetric")
    if not np.allclose(W.sum(axis=1), 1.0, atol=atol, rtol=0):
        raise ValueError("mixing matrix rows do not sum to 1")


def second_eigenvalue(W: np.ndarray) -> float:
    """max(|λ2|, |λn|): the largest modulus among the non-unit eigenvalues (W symmetric)."""
    moduli = np.sort(np.abs(np.linalg.eigvalsh(W)))[::-1]
    return float(moduli[1]) if len(moduli) > 1 else 0.0


def spectral_gap(W: np.ndarray) -> float:
    """ρ = 1 − max(|λ2|, |λn|) (the spectral gap)."""
    return 1.0 - second_eigenvalue(W)


def neighbours(W: np.ndarray, i: int) -> list[tuple[int, float]]:
    """Worker i's in-neighbours with their weights (self included): the nonzero entries of row i."""
    return [(int(j), float(W[i, j])) for j in np.flatnonzero(W[i])]
