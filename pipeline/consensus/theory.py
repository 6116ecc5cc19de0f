"""Sympy derivation of the quadratic toy's stationary consensus distance.

Per eigenmode with eigenvalue μ (μ = λ^m for m gossip rounds), z ← μ(1−η) z + μη b̂ − μη ξ with ξ ~ N(0, σ²).
The stationary mean solves z̄ = μ(1−η) z̄ + μη b̂, the stationary variance v = μ²(1−η)² v + μ²η²σ²; the mode's
contribution to E Ξ² is z̄² + v. :func:`derive` solves both fixed points with sympy and checks them
against the closed form used by :mod:`pipeline.decentralized.quadratic`.
"""

from __future__ import annotations

from typing import Any

import sympy as sp


def derive() -> dict[str, Any]:
    """The per-mode stationary second moment, and whether it equals the closed form of
    :func:`pipeline.decentralized.quadratic.closed_form`."""
    mu, eta, sigma, b_hat, z, v = sp.symbols("mu eta sigma b_hat z v", real=True)
    mean = sp.solve(sp.Eq(z, mu * (1 - eta) * z + mu * eta * b_hat), z)[0]
    var = sp.solve(sp.Eq(v, mu**2 * (1 - eta) ** 2 * v + mu**2 * eta**2 * sigma**2), v)[0]
    second_moment = sp.simplify(mean**2 + var)
    closed = (eta * mu * b_hat / (1 - (1 - eta) * mu)) ** 2 + eta**2 * sigma**2 * mu**2 / (
        1 - (1 - eta) ** 2 * mu**2
    )
    # halving η: the ratio of the noise term at η and at η/2 tends to 4 as η → 0
    noise = eta**2 * sigma**2 * mu**2 / (1 - (1 - eta) ** 2 * mu**2)
    small_eta_ratio = sp.limit(sp.simplify(noise / noise.subs(eta, eta / 2)), eta, 0)
    return {
        "mode_mean": str(mean),
        "mode_variance": str(var),
        "mode_second_moment": str(second_moment),
        "matches_closed_form": bool(sp.simplify(second_moment - closed) == 0),
        "noise_ratio_halving_eta_small_eta_limit": str(small_eta_ratio),
    }
