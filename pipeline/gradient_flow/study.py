"""The gradient_flow study (Tarmoun, França, Haeffele, Vidal 2021): what each run computes, the theory
step and the claims. The run table is in :mod:`pipeline.gradient_flow.runs`.

Float64 numpy/scipy throughout (no torch): :mod:`~pipeline.gradient_flow.scalar` (the scalar flow, its
implicit closed form and rate), :mod:`~pipeline.gradient_flow.matrix` (λ-balanced matrix flow, Riccati
closed form, per-mode rates), :mod:`~pipeline.gradient_flow.general` (general imbalance Q: linearised
rate and its bounds from the eigenvalues of Q), :mod:`~pipeline.gradient_flow.descent` (finite-step GD
and the exact imbalance recursion), :mod:`~pipeline.gradient_flow.theory` (sympy).
"""

from __future__ import annotations

from typing import Any

from pipeline.core.study import RunContext, RunOutput
from pipeline.gradient_flow import descent, general, matrix, scalar
from pipeline.gradient_flow import theory as symbolic
from pipeline.gradient_flow.runs import DescentRun, GeneralImbalanceRun, MatrixFlowRun, ScalarFlowRun


def execute(
    spec: ScalarFlowRun | MatrixFlowRun | GeneralImbalanceRun | DescentRun, ctx: RunContext
) -> RunOutput:
    """Compute one run (CPU, float64; seconds). The matrix targets and starts are drawn from ctx.seed."""
    if isinstance(spec, ScalarFlowRun):
        return scalar.run(spec)
    if isinstance(spec, MatrixFlowRun):
        return matrix.run(spec, ctx.seed)
    if isinstance(spec, GeneralImbalanceRun):
        return general.run(spec, ctx.seed)
    return descent.run(spec, ctx.seed)


def theory(section: dict[str, Any]) -> dict[str, Any]:
    """The sympy checks of the conservation law, closed forms, Riccati equation and GD recursion."""
    return symbolic.run_all()
