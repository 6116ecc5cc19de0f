"""The fisher study (Jastrzębski et al. 2021, Catastrophic Fisher Explosion): what each run computes, and
the claims. The run table is in :mod:`pipeline.fisher.runs`.

One run trains one arm of one experiment for one seed (:func:`pipeline.fisher.experiment.run`): SGD at a
small or a large lr, optionally with the Fisher penalty (:mod:`~pipeline.fisher.penalty`) or the
gradient-norm control, on clean or noisy labels (:mod:`~pipeline.fisher.noise`), tracking Tr F
(:mod:`~pipeline.fisher.trace`).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.core.study import RunContext, RunOutput
from pipeline.fisher import experiment
from pipeline.fisher.runs import FisherRun


def execute(spec: FisherRun, ctx: RunContext) -> RunOutput:
    """Train one arm of one experiment for one seed; the data subsets and the seeds derive from ctx.seed."""
    metrics, history = experiment.run(spec, ctx.seed, ctx.device, Path(ctx.run_dir), ctx.data_root)
    return RunOutput(metrics=metrics, history=history)
