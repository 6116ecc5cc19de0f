"""A run's fingerprint: its resolved config plus the source of the package that computes it.

A checkpoint (any ``*.pt`` in the run directory or below it, e.g. a sweep's ``lr<lr>/checkpoint.pt``)
is resumed only by a run with the same fingerprint.
Snakemake re-runs a job when its params or code change, and deletes the declared outputs, but not
the checkpoints; without this check a re-run would resume (or, if finished, simply return) the stale
run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from pipeline.core.atomic import atomic_write_text

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
FINGERPRINT_FILE = "fingerprint.txt"
log = logging.getLogger("pipeline")


def source_digest(root: Path = PACKAGE_ROOT) -> str:
    """sha256 over the paths and contents of every .py file of the package."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run_fingerprint(run_config: dict[str, Any], run_id: str) -> str:
    payload = json.dumps({"config": run_config, "run": run_id}, sort_keys=True)
    return hashlib.sha256(f"{payload}\n{source_digest()}".encode()).hexdigest()


def discard_stale_checkpoint(run_dir: Path, fingerprint: str) -> bool:
    """Delete the run's checkpoints (``*.pt`` anywhere under ``run_dir``) unless written under
    ``fingerprint``; record it.

    Returns True when stale checkpoints were removed.
    """
    marker = run_dir / FINGERPRINT_FILE
    previous = marker.read_text().strip() if marker.exists() else None
    checkpoints = sorted(run_dir.rglob("*.pt"))
    stale = bool(checkpoints) and previous != fingerprint
    for path in checkpoints if stale else []:
        log.warning("discarding %s: written by a different config or code", path)
        path.unlink()
    atomic_write_text(marker, fingerprint + "\n")
    return stale
