"""The directpred study (Tian, Chen, Ganguli 2021): what each run computes, the theory step and the claims.
The run table is in :mod:`pipeline.directpred.runs`.

:mod:`~pipeline.directpred.simulations` (the float64 linear-network flows ``linear_flow``, ``collapse``
and ``eigenmodes``), :mod:`~pipeline.directpred.experiment` (one BYOL/SimSiam run
with its linear probe) and :mod:`~pipeline.directpred.theory` (sympy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.seeding import derive_seed
from pipeline.core.study import RunContext, RunOutput
from pipeline.directpred import experiment, simulations
from pipeline.directpred import theory as symbolic
from pipeline.directpred.runs import (
    BaselineRun,
    CollapseRun,
    EigenmodesRun,
    LinearAblationRun,
    LinearFlowRun,
    SSLRun,
)

STUDY = "directpred"


def execute(
    spec: LinearFlowRun | LinearAblationRun | CollapseRun | EigenmodesRun | SSLRun | BaselineRun,
    ctx: RunContext,
) -> RunOutput:
    """Compute one run: a float64 simulation (seconds; seeded by ``ctx.seed``, an ablation initialisation
    by ``ctx.seed`` and its seed index), one SSL training run with its probe, or a probe baseline (both
    with the seed derived from ``ctx.seed`` and the seed index only, so that runs of one seed index pair)."""
    if isinstance(spec, LinearFlowRun):
        return RunOutput(*simulations.linear_flow(spec, ctx.seed))
    if isinstance(spec, LinearAblationRun):
        seed = derive_seed(ctx.seed, STUDY, "linear_ablation", spec.seed_index)
        return RunOutput(*simulations.linear_ablation(spec, seed))
    if isinstance(spec, BaselineRun):
        metrics = experiment.baseline(
            spec,
            derive_seed(ctx.seed, STUDY, "seed", spec.seed_index),
            device=ctx.device,
            data_root=ctx.data_root,
            base_seed=ctx.seed,
        )
        return RunOutput(metrics=metrics, history=pd.DataFrame({"step": [0]}))
    if isinstance(spec, CollapseRun):
        return RunOutput(*simulations.collapse(spec, ctx.seed))
    if isinstance(spec, EigenmodesRun):
        return RunOutput(*simulations.eigenmodes(spec))
    metrics, history = experiment.run(
        spec,
        derive_seed(ctx.seed, STUDY, "seed", spec.seed_index),
        device=ctx.device,
        data_root=ctx.data_root,
        base_seed=ctx.seed,
        checkpoint_path=Path(ctx.run_dir) / "checkpoint.pt",
    )
    return RunOutput(metrics=metrics, history=history)


def theory(section: dict[str, Any]) -> dict[str, Any]:
    """Sympy: Eqns 11-17, the fixed points, η_crit, slopes and Jacobians (pipeline/directpred/theory.py)."""
    th = section["theory"]
    return symbolic.run_all(th["tau"], th["sigma2"], th["eta"], th["alpha_p"])
