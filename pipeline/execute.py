"""One run, executed and recorded: the body of the workflow's train job (``python -m pipeline.cli run``).

:func:`execute_run` calls the study's ``execute(spec, ctx)`` and writes ``history.csv`` then
``metrics.json`` (last: its presence marks a finished run) into ``ctx.run_dir``. The paper-scale check
(:mod:`pipeline.paper_check`) runs through it too, so that both exercise the same path.
"""

from __future__ import annotations

import time
from typing import Any

from pipeline import studies
from pipeline.core.records import write_history, write_metrics
from pipeline.core.study import RunContext, RunSpec


def execute_run(spec: RunSpec, ctx: RunContext, config: dict[str, Any]) -> float:
    """Execute ``spec`` and write its records; ``config`` is stored as the record's config. Wall seconds."""
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    output = studies.implementation(ctx.study).execute(spec, ctx)
    wall = time.perf_counter() - start
    write_history(ctx.run_dir / "history.csv", output.history)
    write_metrics(
        ctx.run_dir / "metrics.json",
        study=ctx.study,
        run=spec.id,
        metrics=output.metrics,
        config=config,
        seed=ctx.seed,
        device=ctx.device,
        wall_time_s=wall,
    )
    return wall
