"""Write a run's records the way ``pipeline.cli run`` does, for tests that execute or fake runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.records import write_history, write_metrics


def record_run(
    results: Path,
    study: str,
    run: str,
    metrics: dict[str, Any],
    history: pd.DataFrame | None = None,
    config: dict[str, Any] | None = None,
) -> Path:
    """``results/<study>/<run>/metrics.json`` (seed 0, cpu, wall 0 s) and, if given, ``history.csv``."""
    run_dir = Path(results) / study / run
    if history is not None:
        write_history(run_dir / "history.csv", history)
    write_metrics(
        run_dir / "metrics.json",
        study=study,
        run=run,
        metrics=metrics,
        config=config or {},
        seed=0,
        device="cpu",
        wall_time_s=0.0,
    )
    return run_dir
