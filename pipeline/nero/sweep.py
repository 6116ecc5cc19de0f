"""One learning-rate sweep: a task, an optimiser and a seed index, every lr trained from the same start.

metrics of a sweep hold ``per_lr`` (lr string -> final metrics), the ``score`` used to rank learning rates
(test accuracy for classifiers, minus the validation loss for the language model) and ``best_lr``; the
history holds every lr's curve with an ``lr`` column. Diverged learning rates are kept with
``diverged_at_step``. Each lr is a resumable engine run in ``<run_dir>/lr<lr>/`` (``pipeline.cli run``
discards those checkpoints when the run's spec or code changed, see pipeline.core.fingerprint).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core.seeding import derive_seed
from pipeline.core.study import RunContext, RunOutput
from pipeline.nero.runs import LANGUAGE_TASKS, AblationRun, ClassifierSweepRun, LanguageSweepRun, lr_key
from pipeline.nero.tasks import classifier_data, language_data
from pipeline.nero.train import train_classifier, train_language_model


def score_of(task: str, metrics: dict[str, float]) -> float:
    """The ranking score of one lr: test accuracy (classifiers) or -validation loss (LM); nan if diverged."""
    if metrics.get("diverged", 0.0):
        return math.nan
    value = metrics["valid_loss"] if task in LANGUAGE_TASKS else metrics["test_accuracy"]
    return -value if task in LANGUAGE_TASKS else value


def lr_dir(run_dir: Path, lr: float) -> Path:
    """``run_dir/lr<lr>/``: the resumable engine run of one learning rate."""
    path = Path(run_dir) / f"lr{lr_key(lr)}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_sweep(spec: ClassifierSweepRun | LanguageSweepRun | AblationRun, ctx: RunContext) -> RunOutput:
    """Train ``spec.optimizer`` at every lr of ``spec.lrs`` on ``spec.task`` (an ablation: on its task).

    The initialisation and batch order depend on the base seed, the task and the seed index only (so
    every optimiser and lr of a seed index starts alike); the data subsets on the base seed only.
    """
    task, optimizer, seed_index = spec.task, spec.optimizer, spec.seed_index
    seed = derive_seed(ctx.seed, "nero", task, seed_index)
    if isinstance(spec, LanguageSweepRun):
        data = language_data(spec.settings, ctx.data_root)
        trainer = train_language_model
    else:
        data = classifier_data(spec.settings, ctx.data_root, ctx.seed)
        trainer = train_classifier
    per_lr, frames = {}, []
    for lr in spec.lrs:
        metrics, history = trainer(
            spec.settings,
            data,
            optimizer,
            lr,
            seed,
            spec.optim,
            spec.training,
            lr_dir(ctx.run_dir, lr),
            ctx.device,
        )
        per_lr[lr_key(lr)] = {"lr": lr, **metrics}
        frames.append(history.assign(lr=lr))
    scores = {key: score_of(task, m) for key, m in per_lr.items()}
    finite = {key: s for key, s in scores.items() if np.isfinite(s)}
    best = max(finite, key=finite.get) if finite else None
    metrics = {
        "task": task,
        "optimizer": optimizer,
        "seed_index": seed_index,
        "run_seed": seed,
        "score_name": "neg_valid_loss" if task in LANGUAGE_TASKS else "test_accuracy",
        "per_lr": per_lr,
        "scores": scores,
        "best_lr": per_lr[best]["lr"] if best else None,
        "best_score": finite[best] if best else None,
        "diverged_lrs": [m["lr"] for m in per_lr.values() if m.get("diverged")],
    }
    return RunOutput(metrics=metrics, history=pd.concat(frames, ignore_index=True))
