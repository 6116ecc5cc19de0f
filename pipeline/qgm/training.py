"""One qgm run on the shared engine (pipeline.decentralized.runner): a method on the Dirichlet partition.

A :class:`~pipeline.qgm.runs.TuneRun` trains one lr of a method's grid on seed index 0 and records its
validation score; a :class:`~pipeline.qgm.runs.QgmRun` reads the tuning runs of its method and alpha,
takes the lr with the best validation score (:func:`pipeline.decentralized.tuning.choose_lr`) and trains
at it; seed index 0 *is* the tuning run at that lr and takes its records.

Accuracy is the mean test accuracy of the local models (``test_local_accuracy``, what the paper reports);
the averaged model's is ``test_avg_accuracy``; ``score_*`` are the means over the last ``score_evals``
evaluations. Each run records its partition's per-worker class counts (the partition kind is named in
metrics) and its Ξ² curve (``train_xi_sq`` in history.csv, every step).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.seeding import derive_seed
from pipeline.core.study import RunContext, RunOutput
from pipeline.data.partition import class_entropy
from pipeline.decentralized import tuning
from pipeline.decentralized.models import model_spec
from pipeline.decentralized.runner import Data, load_data
from pipeline.decentralized.runner import run as run_engine
from pipeline.qgm.runs import QgmRun, Training, TuneRun, tune_id

STUDY = "qgm"


def run_seed(base_seed: int, index: int) -> int:
    """Seed of seed index ``index`` (shared by every method and alpha, so they see the same init)."""
    return derive_seed(base_seed, STUDY, index) % 2**31


def engine_spec(spec: QgmRun | TuneRun, lr: float, sample_shape: tuple[int, ...]) -> dict[str, Any]:
    """The runner spec (pipeline.decentralized.runner) of one run at peak lr ``lr``."""
    t: Training = spec.training
    return {
        "dataset": t.dataset,
        "train_subset": t.train_subset,
        "test_subset": t.test_subset,
        "valid_size": t.valid_size,
        "normalise": t.normalise,
        "augment": t.augment,
        "model": model_spec(t.model, sample_shape),
        "n_workers": t.n_workers,
        "topology": t.topology,
        "algorithm": spec.method,
        "lr": lr,
        "warmup_steps": t.warmup_steps,
        "warmup_from": t.warmup_from,
        "momentum": spec.momentum,
        "buffer_rate": spec.buffer_rate,
        "weight_decay": t.weight_decay,
        "batch_size": t.batch_size,
        "steps": t.steps,
        "milestones": list(t.milestones),
        "eval_every": t.eval_every,
        "score_evals": t.score_evals,
        "evaluate_valid": isinstance(spec, TuneRun),  # only a tuning run is scored on the validation split
        "log_every": 1,
        "partition": {"kind": t.partition, "alpha": spec.alpha},
        "backend": t.backend,
    }


def load(spec: QgmRun | TuneRun, data_root: Path | None) -> Data:
    """The normalised splits of the run's dataset and fixed subsets."""
    t = spec.training
    keys = {
        "dataset": t.dataset,
        "train_subset": t.train_subset,
        "test_subset": t.test_subset,
        "valid_size": t.valid_size,
        "normalise": t.normalise,
    }
    return load_data(keys, data_root)


def _train(spec: QgmRun | TuneRun, lr: float, index: int, ctx: RunContext) -> RunOutput:
    """Train at ``lr``; metrics add the method, alpha, seeds, lr, the partition's class counts and Ξ²."""
    seed = run_seed(ctx.seed, index)
    data = load(spec, ctx.data_root)
    engine = engine_spec(spec, lr, tuple(data.x_train.shape[1:]))
    result, _, problem = run_engine(
        engine,
        seed,
        ctx.run_dir,
        name="train",
        data=data,
        data_root=ctx.data_root,
        device=ctx.device,
        checkpoint_every=spec.training.checkpoint_every,
    )
    labels = data.y_train.numpy()
    classes = int(labels.max()) + 1
    history = result.history_frame()
    xi_sq = history["train_xi_sq"].dropna()
    metrics = {
        **result.metrics,
        "method": spec.method,
        "alpha": spec.alpha,
        "seed_index": index,
        "seed": seed,
        "lr": lr,
        "partition": spec.training.partition,
        "class_counts": [np.bincount(labels[s], minlength=classes).tolist() for s in problem.shards],
        "class_entropy": class_entropy(labels, problem.shards, classes),
        "xi_sq_mean": float(xi_sq.mean()),
        "xi_sq_final": float(xi_sq.iloc[-max(1, len(xi_sq) // 10) :].mean()),
    }
    return RunOutput(metrics, history)


def tune(spec: TuneRun, ctx: RunContext) -> RunOutput:
    """A tuning run: seed index 0 at ``spec.lr`` (validation score in ``score_valid_*``)."""
    return _train(spec, spec.lr, 0, ctx)


def run(spec: QgmRun, ctx: RunContext) -> RunOutput:
    """A seed run at the lr its tuning runs chose (seed index 0 takes the tuning run's records)."""
    trials = {lr: tune_id(spec.method, spec.alpha, lr) for lr in spec.lrs}
    lr, scores = tuning.choose_lr(Path(ctx.study_dir), trials)
    choice = {"lr": lr, "lr_scores": scores, "tuned_on": "validation split, seed index 0"}
    if spec.seed_index == 0:
        source = tune_id(spec.method, spec.alpha, lr)
        metrics, history = tuning.reuse(Path(ctx.study_dir) / source, ctx.run_dir)
        return RunOutput({**metrics, **choice, "reused": source}, history)
    output = _train(spec, lr, spec.seed_index, ctx)
    return RunOutput({**output.metrics, **choice}, output.history)
