"""The qgm study (Lin, Karimireddy, Stich, Jaggi 2021, Quasi-Global Momentum): what each run computes and
the claims. The run table is in :mod:`pipeline.qgm.runs`; a run trains on the shared engine
:mod:`pipeline.decentralized` (:mod:`~pipeline.qgm.training`). No theory step.
"""

from __future__ import annotations

from pipeline.core.study import RunContext, RunOutput
from pipeline.qgm import training
from pipeline.qgm.runs import QgmRun, TuneRun


def execute(spec: QgmRun | TuneRun, ctx: RunContext) -> RunOutput:
    """Train one tuning run, or one method at one alpha at its tuned lr from the seed of its seed index."""
    if isinstance(spec, TuneRun):
        return training.tune(spec, ctx)
    if not isinstance(spec, QgmRun):
        raise TypeError(f"qgm: not a qgm run spec: {spec!r}")
    return training.run(spec, ctx)
