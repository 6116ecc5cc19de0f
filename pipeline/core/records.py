"""Run records: metrics.json and history.csv for one run.

metrics.json holds the run's final numbers together with everything needed to trust or repeat them:
the resolved config, seed, device, package versions, git revision and wall time.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.atomic import atomic_write, atomic_write_json

RECORDED_PACKAGES = ("torch", "numpy", "scipy", "sympy", "pandas", "snakemake", "dvc")


def package_versions(names: tuple[str, ...] = RECORDED_PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages a result depends on (None when absent)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(cwd: Path | None = None) -> str | None:
    """The checked-out commit, suffixed with '-dirty' when tracked files changed; None outside git."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{rev}-dirty" if dirty else rev


def write_history(path: Path, history: pd.DataFrame) -> None:
    """history.csv: the curves the figures draw (long or wide format, one row per logged point)."""
    atomic_write(path, lambda handle: history.to_csv(handle, index=False))


def write_metrics(
    path: Path,
    *,
    study: str,
    run: str,
    metrics: dict[str, Any],
    config: dict[str, Any],
    seed: int,
    device: str,
    wall_time_s: float,
) -> None:
    """metrics.json: final numbers plus provenance."""
    atomic_write_json(
        path,
        {
            "study": study,
            "run": run,
            "metrics": metrics,
            "config": config,
            "seed": seed,
            "device": device,
            "wall_time_s": wall_time_s,
            "versions": {"python": platform.python_version(), **package_versions()},
            "git_revision": git_revision(),
        },
    )


def read_metrics(path: Path) -> dict[str, Any]:
    """The ``metrics`` block of a metrics.json."""
    return json.loads(Path(path).read_text())["metrics"]
