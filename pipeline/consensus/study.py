"""The consensus study (Kong, Lin, Koloskova, Jaggi, Stich 2021): what each run computes, the theory step
and the claims. The run table is in :mod:`pipeline.consensus.runs`.

Training runs (lr tuning, all-reduce vs ring over n, dec-phase-k with consensus control) are in
:mod:`~pipeline.consensus.training`, on the shared engine :mod:`pipeline.decentralized`; the quadratic toy
in :mod:`~pipeline.consensus.toy`; the sympy derivation in :mod:`~pipeline.consensus.theory`.
"""

from __future__ import annotations

from typing import Any

from pipeline.consensus import toy, training
from pipeline.consensus.runs import PhaseRun, QuadraticRun, ScaleRun, TuneRun
from pipeline.core.study import RunContext, RunOutput
from pipeline.decentralized.topology import mixing_matrix, spectral_gap


def execute(spec: TuneRun | ScaleRun | PhaseRun | QuadraticRun, ctx: RunContext) -> RunOutput:
    """Train one tuning, scale or phase run (seed from the seed index), or solve the quadratic toy (base
    seed)."""
    if isinstance(spec, TuneRun):
        return training.tune_run(spec, ctx)
    if isinstance(spec, ScaleRun):
        return training.scale_run(spec, ctx)
    if isinstance(spec, PhaseRun):
        return training.phase_run(spec, ctx)
    if isinstance(spec, QuadraticRun):
        return toy.run(spec, ctx.seed)
    raise TypeError(f"consensus: not a consensus run spec: {spec!r}")


def theory(section: dict[str, Any]) -> dict[str, Any]:
    """The sympy fixed points of the quadratic toy, and the ring's spectral gap for each n (and 16)."""
    from pipeline.consensus.theory import derive

    gaps = {f"ring_n{n}": spectral_gap(mixing_matrix("ring", n)) for n in sorted({*section["n_workers"], 16})}
    return {**derive(), "spectral_gaps": gaps}
