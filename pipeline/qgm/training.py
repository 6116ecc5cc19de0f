"""One qgm run on the shared engine (pipeline.decentralized.runner): a method on the Dirichlet partition.

Accuracy is the mean test accuracy of the local models (``test_local_accuracy``, what the paper reports);
the averaged model's is ``test_avg_accuracy``. Each run records its partition's per-worker class counts
(the partition kind is named in metrics) and its Ξ² curve (``train_xi_sq`` in history.csv, every step).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.core.seeding import derive_seed
from pipeline.core.study import RunContext, RunOutput
from pipeline.data.partition import class_entropy
from pipeline.decentralized.models import model_spec
from pipeline.decentralized.runner import load_data
from pipeline.decentralized.runner import run as run_engine
from pipeline.qgm.runs import QgmRun

STUDY = "qgm"


def run_seed(base_seed: int, index: int) -> int:
    """Seed of seed index ``index`` (shared by every method and alpha, so they see the same init)."""
    return derive_seed(base_seed, STUDY, index) % 2**31


def engine_spec(spec: QgmRun, sample_shape: tuple[int, ...]) -> dict[str, Any]:
    """The runner spec (pipeline.decentralized.runner) of one run."""
    return {
        "dataset": spec.dataset,
        "train_subset": spec.train_subset,
        "test_subset": spec.test_subset,
        "model": model_spec(spec.model, sample_shape),
        "n_workers": spec.n_workers,
        "topology": spec.topology,
        "algorithm": spec.method,
        "lr": spec.lr,
        "warmup_steps": spec.warmup_steps,
        "warmup_from": spec.warmup_from,
        "momentum": spec.momentum,
        "buffer_rate": spec.buffer_rate,
        "weight_decay": spec.weight_decay,
        "batch_size": spec.batch_size,
        "steps": spec.steps,
        "milestones": list(spec.milestones),
        "eval_every": spec.eval_every,
        "log_every": 1,
        "partition": {"kind": spec.partition, "alpha": spec.alpha},
    }


def load(spec: QgmRun, data_root: Path | None) -> tuple[torch.Tensor, ...]:
    """The standardised train/test tensors of the run's dataset and fixed subsets."""
    keys = {"dataset": spec.dataset, "train_subset": spec.train_subset, "test_subset": spec.test_subset}
    return load_data(keys, data_root)


def run(spec: QgmRun, ctx: RunContext) -> RunOutput:
    """Train the run; metrics add the method, alpha, seeds, lr, the partition's class counts and Ξ² means."""
    seed = run_seed(ctx.seed, spec.seed_index)
    data = load(spec, ctx.data_root)
    engine = engine_spec(spec, tuple(data[0].shape[1:]))
    result, _, problem = run_engine(
        engine,
        seed,
        ctx.run_dir,
        name="train",
        data=data,
        device=ctx.device,
        checkpoint_every=spec.checkpoint_every,
    )
    labels = data[1].numpy()
    classes = int(labels.max()) + 1
    history = result.history_frame()
    xi_sq = history["train_xi_sq"].dropna()
    metrics = {
        **result.metrics,
        "method": spec.method,
        "alpha": spec.alpha,
        "seed_index": spec.seed_index,
        "seed": seed,
        "lr": spec.lr,
        "partition": spec.partition,
        "class_counts": [np.bincount(labels[s], minlength=classes).tolist() for s in problem.shards],
        "class_entropy": class_entropy(labels, problem.shards, classes),
        "xi_sq_mean": float(xi_sq.mean()),
        "xi_sq_final": float(xi_sq.iloc[-max(1, len(xi_sq) // 10) :].mean()),
    }
    return RunOutput(metrics, history)
