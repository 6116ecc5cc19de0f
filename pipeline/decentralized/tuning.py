"""Learning-rate tuning on the validation split, shared by the consensus and qgm studies.

A study's tuning runs train one setting at every lr of a small grid on the first seed and record their
score on the held-out validation split (``score_valid_local_accuracy``: the mean over the last
evaluations of the local models' accuracy, :mod:`pipeline.decentralized.runner`). The runs of every seed
read those records (their specs name the tuning runs in ``needs()``) and train at the best lr:
:func:`choose_lr`. The first seed's run at the chosen lr *is* the tuning run at that lr (same spec, same
seed), so it takes that run's records instead of training again: :func:`reuse`.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.engine import step_limited

SCORE = "score_valid_local_accuracy"


def trial_metrics(study_dir: Path, run_id: str) -> dict[str, Any]:
    """The ``metrics`` block of a tuning run's metrics.json (it must have finished)."""
    path = Path(study_dir) / run_id / "metrics.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the tuning run {run_id} must finish first")
    return json.loads(path.read_text())["metrics"]


def trial_score(metrics: Mapping[str, Any], key: str = SCORE) -> float:
    """The validation score of a tuning run; NaN when it diverged or has none."""
    value = metrics.get(key)
    if metrics.get("diverged") or value is None or not math.isfinite(float(value)):
        return math.nan
    return float(value)


def choose_lr(
    study_dir: Path, trials: Mapping[float, str], key: str = SCORE
) -> tuple[float, dict[str, float]]:
    """The lr (a key of ``trials``: lr -> tuning run id) with the best validation score, ties to the
    first in grid order, and every lr's score (``{"<lr>": score}``, NaN for a diverged run). A grid of
    one lr returns it (no validation split needed); so does a step-limited check without any score."""
    scores = {lr: trial_score(trial_metrics(study_dir, run), key) for lr, run in trials.items()}
    finite = {lr: s for lr, s in scores.items() if math.isfinite(s)}
    # a one-value grid is no tuning; a step-limited check's trials stop before their first score
    if len(trials) == 1 or (not finite and step_limited()):
        return next(iter(trials)), {f"{lr:g}": s for lr, s in scores.items()}
    if not finite:
        raise RuntimeError(f"every tuning run diverged or has no {key}: {dict(trials)}")
    best = max(finite, key=lambda lr: (finite[lr], -list(trials).index(lr)))
    return best, {f"{lr:g}": s for lr, s in scores.items()}


def reuse(source_dir: Path, run_dir: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """The metrics and history of the finished run in ``source_dir``, its checkpoints copied to
    ``run_dir`` (phase snapshots included, so runs that start from this run's snapshots find them)."""
    source_dir, run_dir = Path(source_dir), Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(source_dir.glob("*.pt")):
        shutil.copyfile(path, run_dir / path.name)
    metrics = json.loads((source_dir / "metrics.json").read_text())["metrics"]
    return metrics, pd.read_csv(source_dir / "history.csv")
