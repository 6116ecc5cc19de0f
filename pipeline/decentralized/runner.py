"""Build and train one decentralized run from a resolved spec (the shared driver of consensus and qgm).

A spec is a plain dict (the study resolves it from its config section):

``dataset`` (pipeline.data name), ``train_subset``/``test_subset`` (0 = all), ``model`` {``name``, options},
``n_workers``, ``topology``, ``algorithm``, ``lr``, ``momentum``, ``weight_decay``, ``nesterov``,
``buffer_rate`` (QGM μ'), ``batch_size`` (per worker), ``steps``, ``milestones``, ``warmup_steps``,
``gossip_rounds``, ``max_rounds``, ``partition`` {``kind``: iid | dirichlet | simple_dirichlet, ``alpha``},
``decentralized_phases`` (None = always the chosen algorithm), ``targets`` {phase: Ξ target},
``eval_every``, ``log_every``.

Everything random derives from the run seed: the model init (``derive_seed(seed, "init")``), the partition
(``derive_seed(seed, "partition")``), worker i's batch order (``derive_seed(seed, "worker", i)``).
Evaluation reports the test accuracy of the averaged model x̄ (``test_avg_*``) and the mean over the local
models (``test_local_*``, the number the papers report).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.core.engine import TrainResult, TrainSpec, train
from pipeline.core.seeding import derive_seed
from pipeline.data import load_dataset
from pipeline.data.batches import TensorBatches
from pipeline.data.partition import dirichlet_partition, iid_partition, simple_dirichlet_partition
from pipeline.decentralized.algorithms import Algorithm, make_algorithm
from pipeline.decentralized.comm import Gossip, StackedComm
from pipeline.decentralized.models import build_worker_model
from pipeline.decentralized.schedule import Schedule
from pipeline.decentralized.simulator import Simulator
from pipeline.decentralized.topology import mixing_matrix
from pipeline.decentralized.workers import StackedModel


@dataclass
class Problem:
    """Data, shards and the stacked model of one run (identical in the simulator and in each process)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    shards: list[np.ndarray]
    batches: list[TensorBatches]
    stacked: StackedModel
    W: np.ndarray

    def batch(self, step: int, rows: slice | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``step``'s batches of the workers in ``rows`` (all by default), stacked ``[rows, B, ...]``."""
        parts = [b(step) for b in self.batches[rows or slice(None)]]
        return torch.stack([p[0] for p in parts]), torch.stack([p[1] for p in parts])


def _standardise(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    x = x.float()
    ref = reference.float()
    return (x - ref.mean()) / ref.std()


def _subset(x: torch.Tensor, y: torch.Tensor, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not size or size >= len(y):
        return x, y
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:size]
    return x[order], y[order]


def load_data(spec: dict[str, Any], data_root: str | Path | None) -> tuple[torch.Tensor, ...]:
    """Standardised train/test tensors (fixed subsets drawn with the data seed 0, the same for every run)."""
    bundle = load_dataset(spec["dataset"], data_root=data_root)
    x_train, y_train = bundle.xy("train")
    x_test, y_test = bundle.xy("test")
    x_train, y_train = _subset(x_train, y_train, spec.get("train_subset", 0), derive_seed(0, "train"))
    x_test, y_test = _subset(x_test, y_test, spec.get("test_subset", 0), derive_seed(0, "test"))
    return _standardise(x_train, x_train), y_train.long(), _standardise(x_test, x_train), y_test.long()


def make_shards(spec: dict[str, Any], labels: torch.Tensor, seed: int) -> list[np.ndarray]:
    """The workers' index shards: IID, QGM's Dirichlet (the official code's procedure) or simple Dirichlet."""
    partition = spec.get("partition", {"kind": "iid"})
    n, part_seed = spec["n_workers"], derive_seed(seed, "partition") % 2**32
    kind = partition["kind"]
    if kind == "iid":
        return iid_partition(len(labels), n, part_seed)
    if kind == "dirichlet":
        return dirichlet_partition(labels.numpy(), n, partition["alpha"], part_seed)
    if kind == "simple_dirichlet":
        return simple_dirichlet_partition(
            labels.numpy(), n, partition["alpha"], part_seed, spec["batch_size"]
        )
    raise KeyError(f"unknown partition kind {kind!r}; known: iid, dirichlet, simple_dirichlet")


def build_problem(
    spec: dict[str, Any],
    seed: int,
    data: tuple[torch.Tensor, ...] | None = None,
    data_root: str | Path | None = None,
    device: str = "cpu",
) -> Problem:
    """Data, shards, per-worker batch sources, stacked model and W for ``spec`` and ``seed``."""
    x_train, y_train, x_test, y_test = data if data is not None else load_data(spec, data_root)
    shards = make_shards(spec, y_train, seed)
    x_train, y_train = x_train.to(device), y_train.to(device)
    batches = [
        TensorBatches(
            x_train[torch.as_tensor(shard, device=device)],
            y_train[torch.as_tensor(shard, device=device)],
            batch_size=min(spec["batch_size"], len(shard)),
            seed=derive_seed(seed, "worker", i),
        )
        for i, shard in enumerate(shards)
    ]
    torch.manual_seed(derive_seed(seed, "init"))
    model = build_worker_model(spec["model"]["name"], **spec["model"].get("options", {})).to(device)
    W = mixing_matrix(spec["topology"], spec["n_workers"])
    return Problem(
        x_train, y_train, x_test.to(device), y_test.to(device), shards, batches, StackedModel(model), W
    )


def make_run_algorithm(spec: dict[str, Any]) -> Algorithm:
    """The spec's algorithm with its hyperparameters and gossip policy."""
    options: dict[str, Any] = {
        "momentum": spec.get("momentum", 0.9),
        "weight_decay": spec.get("weight_decay", 0.0),
        "nesterov": spec.get("nesterov", True),
        "gossip": Gossip(rounds=spec.get("gossip_rounds", 1), max_rounds=spec.get("max_rounds", 100)),
    }
    if spec["algorithm"] == "qg_dsgdm_n":
        options["buffer_rate"] = spec.get("buffer_rate", 0.1)
    if spec["algorithm"] in ("dsgd", "d2"):
        options["momentum"] = 0.0
    return make_algorithm(spec["algorithm"], **options)


def make_schedule(spec: dict[str, Any]) -> Schedule:
    return Schedule(
        lr=spec["lr"],
        steps=spec["steps"],
        milestones=tuple(spec.get("milestones", (0.5, 0.75))),
        warmup_steps=spec.get("warmup_steps", 0),
        warmup_from=spec.get("warmup_from"),
    )


def make_simulator(problem: Problem, spec: dict[str, Any], device: str = "cpu") -> Simulator:
    """A simulator at the common initialisation for ``spec``."""
    X = problem.stacked.flat_init(spec["n_workers"], device)
    targets = {int(k): float(v) for k, v in (spec.get("targets") or {}).items()}
    return Simulator(
        X,
        problem.stacked.grad,
        StackedComm(problem.W, device),
        make_run_algorithm(spec),
        make_schedule(spec),
        decentralized_phases=spec.get("decentralized_phases"),
        targets=targets,
    )


@torch.no_grad()
def evaluate(problem: Problem, X: torch.Tensor, chunk: int = 2048) -> dict[str, float]:
    """Test accuracy/loss of the averaged model and the mean over local models (labelled apart)."""
    stacked = problem.stacked
    avg_correct = local_correct = avg_loss = local_loss = 0.0
    X_avg = X.mean(dim=0, keepdim=True)
    for start in range(0, len(problem.y_test), chunk):
        inputs, targets = problem.x_test[start : start + chunk], problem.y_test[start : start + chunk]
        for key, rows in (("avg", X_avg), ("local", X)):
            logits = stacked.logits(rows, inputs)
            correct = (logits.argmax(-1) == targets).float().sum(dim=1).mean()
            loss = (
                torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), targets.repeat(rows.shape[0]), reduction="sum"
                )
                / rows.shape[0]
            )
            if key == "avg":
                avg_correct, avg_loss = avg_correct + float(correct), avg_loss + float(loss)
            else:
                local_correct, local_loss = local_correct + float(correct), local_loss + float(loss)
    total = len(problem.y_test)
    return {
        "test_avg_accuracy": avg_correct / total,
        "test_local_accuracy": local_correct / total,
        "test_avg_loss": avg_loss / total,
        "test_local_loss": local_loss / total,
    }


def run(
    spec: dict[str, Any],
    seed: int,
    run_dir: Path | None,
    *,
    name: str = "run",
    data: tuple[torch.Tensor, ...] | None = None,
    data_root: str | Path | None = None,
    device: str = "cpu",
    checkpoint_every: int = 0,
) -> tuple[TrainResult, Simulator, Problem]:
    """Train ``spec`` with the shared engine (resumable from ``run_dir/<name>.pt``)."""
    problem = build_problem(spec, seed, data=data, data_root=data_root, device=device)
    sim = make_simulator(problem, spec, device)
    train_spec = TrainSpec(
        steps=spec["steps"],
        seed=seed,
        eval_every=spec.get("eval_every", 0),
        log_every=spec.get("log_every", 1),
        checkpoint_path=None if run_dir is None else Path(run_dir) / f"{name}.pt",
        checkpoint_every=checkpoint_every if run_dir is not None else 0,
        desc=name,
    )
    result = train(
        train_spec,
        sim.step,
        problem.batch,
        state={"X": sim.X, "optimizer": sim.state},
        evaluate=lambda: evaluate(problem, sim.X),
    )
    return result, sim, problem
