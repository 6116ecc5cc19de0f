"""The nero study (Liu, Bernstein, Meister, Yue 2021, "Learning by Turning"; docs/nero.md): what each
run computes and the claims. The run table is in :mod:`pipeline.nero.runs`.

The optimiser is :mod:`~pipeline.nero.optimizer`; tasks, models and the optimiser factory
:mod:`~pipeline.nero.tasks`; one lr run on the shared engine :mod:`~pipeline.nero.train`; a whole sweep
:mod:`~pipeline.nero.sweep`; the optimiser-state table :mod:`~pipeline.nero.memory`.
"""

from __future__ import annotations

from pipeline.core.study import RunContext, RunOutput
from pipeline.nero.memory import memory_table
from pipeline.nero.runs import AblationRun, ClassifierSweepRun, LanguageSweepRun, MemoryRun
from pipeline.nero.sweep import run_sweep


def execute(
    spec: ClassifierSweepRun | LanguageSweepRun | AblationRun | MemoryRun, ctx: RunContext
) -> RunOutput:
    """Execute one sweep, ablation setting or the memory table."""
    if isinstance(spec, MemoryRun):
        table = memory_table(spec.models, spec.optimizers, spec.optim)
        return RunOutput(metrics={"memory": table.to_dict(orient="records")}, history=table)
    return run_sweep(spec, ctx)
