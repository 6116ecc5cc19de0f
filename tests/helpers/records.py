"""Write and compute runs the way ``pipeline.cli run`` does, for tests that execute or fake runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import studies
from pipeline.core.atomic import atomic_write_json
from pipeline.core.config import section
from pipeline.core.records import write_history, write_metrics
from pipeline.core.study import RunContext, RunSpec
from pipeline.paths import RAW, Outputs
from pipeline.results import Results


def record_run(
    run_dir: Path,
    metrics: dict[str, Any],
    history: pd.DataFrame | None = None,
    config: dict[str, Any] | None = None,
) -> Path:
    """``run_dir/metrics.json`` (seed 0, cpu, wall 0 s) and, if given, ``run_dir/history.csv``."""
    run_dir = Path(run_dir)
    if history is not None:
        write_history(run_dir / "history.csv", history)
    write_metrics(
        run_dir / "metrics.json",
        study=run_dir.parent.name,
        run=run_dir.name,
        metrics=metrics,
        config=config or {},
        seed=0,
        device="cpu",
        wall_time_s=0.0,
    )
    return run_dir


def study_results(study: str, overrides: dict[str, Any], root: Path, scale: str = "smoke") -> Results:
    """The :class:`Results` of ``study`` under ``root`` for its section with ``overrides`` (nothing run)."""
    return Results.from_config(study, section(study, overrides), Outputs(scale, Path(root)), scale)


def context(
    results: Results, spec: RunSpec, seed: int = 0, device: str = "cpu", data_root: Path = RAW
) -> RunContext:
    """The :class:`RunContext` the CLI would give ``spec``."""
    return RunContext(
        study=results.study,
        seed=seed,
        scale=results.scale,
        device=device,
        run_dir=results.run_dir(spec),
        data_root=Path(data_root),
        study_dir=results.outputs.study_dir(results.study),
    )


def execute_all(
    study: str,
    overrides: dict[str, Any],
    root: Path,
    *,
    scale: str = "smoke",
    seed: int = 0,
    only: Callable[[RunSpec], bool] | None = None,
) -> Results:
    """Execute every run (or those ``only`` keeps) of the section and write records and theory.json."""
    results = study_results(study, overrides, root, scale)
    implementation = studies.implementation(study)
    for spec in results:
        if only is not None and not only(spec):
            continue
        output = implementation.execute(spec, context(results, spec, seed))
        record_run(results.run_dir(spec), output.metrics, output.history, config={"spec": spec.to_dict()})
    if studies.has_theory(study):
        theory = {"study": study, **implementation.theory(results.section)}
        atomic_write_json(results.outputs.theory_json(study), theory)
    return results
