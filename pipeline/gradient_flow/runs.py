"""The gradient_flow study's runs (Tarmoun et al. 2021): the scalar flow, the λ-balanced matrix flow, the
matrix flow from general imbalances Q (not a multiple of I) and finite-step gradient descent, one run each,
float64 on a CPU (seconds).

Each spec holds exactly the config keys its run reads, so editing ``gradient_flow.descent.eta`` re-runs
only ``descent``. Imports no torch (see :mod:`pipeline.core.study`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.config import ConfigError
from pipeline.core.study import RunSpec

HAS_THEORY = True


@dataclass(frozen=True)
class ScalarFlowRun(RunSpec):
    """u̇ = (y − uv)v, v̇ = (y − uv)u from u0·v0 = w0 for each imbalance λ = u² − v²."""

    y: float
    w0: float
    lambdas: tuple[float, ...]
    t_max: float
    n_points: int
    rtol: float
    atol: float
    fit_window: tuple[float, float]
    tolerance: float

    @property
    def id(self) -> str:
        return "scalar"


@dataclass(frozen=True)
class MatrixFlowRun(RunSpec):
    """Y ≈ UVᵀ from λ-balanced starts UᵀU − VᵀV = λI for each spectrum of Y (Riccati form)."""

    m: int
    n: int
    k: int
    init_scale: float
    lambdas: tuple[float, ...]
    spectra: tuple[tuple[float, ...], ...]
    t_max: float
    n_points: int
    rtol: float
    atol: float
    fit_window: tuple[float, float]

    @property
    def id(self) -> str:
        return "matrix"


@dataclass(frozen=True)
class GeneralImbalanceRun(RunSpec):
    """Square Y ≈ UVᵀ (m = n = k = len(spectrum)) from starts with UᵀU − VᵀV = Q for each eigenvalue list of
    Q in ``imbalances`` (random eigenvectors), ``draws`` random starts each, plus a balanced (Q = 0) start
    per draw; integrated until the residual is below the fit window (at most ``t_max``)."""

    spectrum: tuple[float, ...]
    imbalances: tuple[tuple[float, ...], ...]
    draws: int
    init_scale: float
    t_max: float
    n_points: int
    rtol: float
    atol: float
    fit_window: tuple[float, float]

    @property
    def id(self) -> str:
        return "general"


@dataclass(frozen=True)
class DescentRun(RunSpec):
    """Finite-step gradient descent, scalar (from w0) and matrix (first spectrum), and its imbalance."""

    y: float
    w0: float
    eta: float
    steps: int
    lambdas: tuple[float, ...]
    m: int
    n: int
    k: int
    init_scale: float
    spectrum: tuple[float, ...]

    @property
    def id(self) -> str:
        return "descent"


SPECS = (ScalarFlowRun, MatrixFlowRun, GeneralImbalanceRun, DescentRun)


def _check(section: dict[str, Any]) -> None:
    """What the schema cannot say: relations between keys."""
    if not 0.0 < section["w0"] < section["y"]:
        raise ConfigError(f"gradient_flow: need 0 < w0 < y, got w0={section['w0']}, y={section['y']}")
    lo, hi = section["fit_window"]
    if not 0.0 < lo < hi:
        raise ConfigError(f"gradient_flow.fit_window must be 0 < lo < hi, got {section['fit_window']}")
    mat = section["matrix"]
    if mat["k"] > min(mat["m"], mat["n"]):
        raise ConfigError("gradient_flow.matrix: the λ-balanced init needs k ≤ min(m, n)")
    for spectrum in mat["spectra"]:
        if len(spectrum) > min(mat["m"], mat["n"]) or sum(s > 0 for s in spectrum) > mat["k"]:
            raise ConfigError(
                f"gradient_flow.matrix.spectra: {spectrum} does not fit m, n, k = "
                f"{mat['m']}, {mat['n']}, {mat['k']}"
            )
    general = section["general"]
    k = len(general["spectrum"])
    for eigenvalues in general["imbalances"]:
        if len(eigenvalues) != k:
            raise ConfigError(
                f"gradient_flow.general.imbalances: {eigenvalues} needs one eigenvalue per singular value "
                f"of general.spectrum (k = {k})"
            )


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def runs(section: dict[str, Any]) -> dict[str, RunSpec]:
    """``scalar``, ``matrix``, ``general`` and ``descent`` from a schema-resolved ``gradient_flow``
    section."""
    _check(section)
    mat, gd, general = section["matrix"], section["descent"], section["general"]
    solver = {"rtol": section["rtol"], "atol": section["atol"], "fit_window": _floats(section["fit_window"])}
    specs = [
        ScalarFlowRun(
            y=section["y"],
            w0=section["w0"],
            lambdas=_floats(section["lambdas"]),
            t_max=section["t_max"],
            n_points=section["n_points"],
            tolerance=section["tolerance"],
            **solver,
        ),
        MatrixFlowRun(
            m=mat["m"],
            n=mat["n"],
            k=mat["k"],
            init_scale=mat["init_scale"],
            lambdas=_floats(mat["lambdas"]),
            spectra=tuple(_floats(s) for s in mat["spectra"]),
            t_max=mat["t_max"],
            n_points=mat["n_points"],
            **solver,
        ),
        GeneralImbalanceRun(
            spectrum=_floats(general["spectrum"]),
            imbalances=tuple(_floats(q) for q in general["imbalances"]),
            draws=general["draws"],
            init_scale=general["init_scale"],
            t_max=general["t_max"],
            n_points=general["n_points"],
            **solver,
        ),
        DescentRun(
            y=section["y"],
            w0=section["w0"],
            eta=gd["eta"],
            steps=gd["steps"],
            lambdas=_floats(gd["lambdas"]),
            m=mat["m"],
            n=mat["n"],
            k=mat["k"],
            init_scale=mat["init_scale"],
            spectrum=_floats(mat["spectra"][0]),
        ),
    ]
    return {spec.id: spec for spec in specs}
