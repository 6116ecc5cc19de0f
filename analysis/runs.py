"""The runs a study's figures read: finished run directories, limited to the config's run ids when known.

``python -m analysis <study> --config-json ...`` (as the workflow calls it) passes the run ids the config
asks for, so directories left by an earlier, larger config (stale runs) never reach a figure; without a
config every finished run under ``results/<study>/`` is drawn.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def run_dirs(results: Path, runs: Sequence[str] | None = None) -> list[Path]:
    """Directories under ``results`` holding a metrics.json, sorted by name; only ``runs`` when given."""
    found = sorted(p.parent for p in Path(results).glob("*/metrics.json"))
    if runs is None:
        return found
    wanted = set(runs)
    return [p for p in found if p.name in wanted]


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """The ``metrics`` of a run's metrics.json (the record's top level when it has no ``metrics`` key)."""
    record = json.loads((Path(run_dir) / "metrics.json").read_text())
    return record.get("metrics", record)
