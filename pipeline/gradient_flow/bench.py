"""Benchmarks: the closed forms (derived, docs/gradient_flow.md §2.3–2.4) against integrating the flow.

Both variants produce the same curves on the same time grid as the default ``scalar`` and ``matrix`` runs;
the ratio says how much cheaper the closed form is than DOP853 at rtol 1e-13.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipeline.core.bench import Benchmark
from pipeline.core.config import section
from pipeline.gradient_flow import matrix, scalar

_CFG = section("gradient_flow")


_INITIAL_PRODUCTS = (0.0025, 0.01, 0.05, 0.1, 0.3)
_SEEDS = (0, 1, 2)


def _scalar_grid() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The default time grid and every (λ, w0) of the default λ grid × a few initial products."""
    cases = [(float(lam), w0) for lam in _CFG["lambdas"] for w0 in _INITIAL_PRODUCTS]
    return np.linspace(0.0, _CFG["t_max"], _CFG["n_points"]), cases


def scalar_ode() -> list[np.ndarray]:
    """Integrate the scalar flow for every (λ, w0) (DOP853, rtol 1e-13)."""
    t, cases = _scalar_grid()
    out = []
    for lam, w0 in cases:
        u0, v0 = scalar.init_fixed_product(lam, w0)
        flow = scalar.integrate(
            u0, v0, _CFG["y"], t, rtol=_CFG["rtol"], atol=_CFG["atol"], tolerance=_CFG["tolerance"]
        )
        out.append(flow.residual)
    return out


def scalar_closed_form() -> list[np.ndarray]:
    """The implicit closed form y − w(t) on the same grid and cases (vectorised bisection + Newton)."""
    t, cases = _scalar_grid()
    return [scalar.closed_form_residual(t, w0, lam, _CFG["y"]) for lam, w0 in cases]


def _matrix_cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    mat = _CFG["matrix"]
    cases = []
    for seed in _SEEDS:
        for index, spectrum in enumerate(mat["spectra"]):
            target = matrix.make_target(spectrum, mat["m"], mat["n"], np.random.default_rng([seed, index]))
            for lam in mat["lambdas"]:
                rng = np.random.default_rng([seed, index, 1])
                U0, V0 = matrix.balanced_init(
                    mat["m"], mat["n"], mat["k"], lam, mat["init_scale"], rng, target.Y
                )
                cases.append((target.Y, U0, V0, float(lam)))
    return cases


def _matrix_pair() -> tuple[Callable[[], object], Callable[[], object]]:
    cases = _matrix_cases()
    t = np.linspace(0.0, _CFG["matrix"]["t_max"], _CFG["matrix"]["n_points"])

    def ode() -> list[np.ndarray]:
        return [
            matrix.integrate(Y, U0, V0, t, rtol=_CFG["rtol"], atol=_CFG["atol"]) for Y, U0, V0, _ in cases
        ]

    def closed() -> list[np.ndarray]:
        return [
            matrix.riccati_closed_form(matrix.flow_matrix(Y, lam), np.vstack([U0, V0]), t)
            for Y, U0, V0, lam in cases
        ]

    return ode, closed


_matrix_ode, _matrix_closed = _matrix_pair()

BENCHMARKS = [
    Benchmark(
        name="gradient_flow_closed_form_vs_ode",
        study="gradient_flow",
        what="scalar flow y − w(t), default λ grid × 5 initial products, default time grid: DOP853 "
        "(rtol 1e-13) time / implicit closed form time (goal: half the ratio measured on a 2-core CPU)",
        numerator=scalar_ode,
        denominator=scalar_closed_form,
        goal=4.0,
        goal_is="at least",
    ),
    Benchmark(
        name="gradient_flow_riccati_vs_ode",
        study="gradient_flow",
        what="matrix flow P = ZZᵀ, default spectra × λ grid × 3 seeds, default time grid: DOP853 "
        "(rtol 1e-13) time / Riccati closed form time (goal: a third of the ratio measured on a 2-core CPU)",
        numerator=_matrix_ode,
        denominator=_matrix_closed,
        goal=10.0,
        goal_is="at least",
    ),
]
