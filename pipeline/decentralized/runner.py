"""Build and train one decentralized run from a resolved spec (the shared driver of consensus and qgm).

A spec is a plain dict (the study resolves it from its config section):

``dataset`` (pipeline.data name), ``train_subset``/``test_subset`` (0 = all), ``valid_size`` (examples of
the training split held out as a validation split, 0 = none), ``normalise`` (``scalar``: one mean and
standard deviation of the training split; ``channel``: per channel of the training split; ``cifar10``:
images in [0, 1] with the CIFAR-10 per-channel constants of the papers' code), ``augment`` (``none`` or
``crop_flip``: random crop with 4 pixels of zero padding and a horizontal flip, per image and step),
``model`` {``name``, options}, ``n_workers``, ``topology``, ``algorithm``, ``lr``, ``momentum``,
``weight_decay``, ``nesterov``, ``buffer_rate`` (QGM μ'), ``grad_clip`` (each worker's stochastic
gradient clipped to this Euclidean norm before weight decay, averaging or gossip; 0 or absent = none),
``batch_size`` (per worker), ``steps``, ``milestones``, ``warmup_steps``, ``warmup_from`` (lr at step 0 of
the warm-up; None = ``lr``), ``gossip_rounds``, ``max_rounds``, ``partition`` {``kind``: iid | dirichlet |
simple_dirichlet, ``alpha``},
``decentralized_phases`` (None = always the chosen algorithm), ``targets`` {phase: Ξ target},
``eval_every``, ``score_evals``, ``evaluate_valid`` (default True: evaluate the validation split too),
``log_every``.

Everything random derives from the run seed: the model init (``derive_seed(seed, "init")``), the partition
(``derive_seed(seed, "partition")``), worker i's batch order (``derive_seed(seed, "worker", i)``) and its
augmentation at step t (``derive_seed(seed, "augment", i, t)``). The validation split is a fixed draw
(data seed 0) shared by every run, and never trained on.

**Evaluation.** The engine evaluates after every ``eval_every`` steps and after the last one. The last
``score_evals`` of those evaluation points (:func:`score_steps`) are *full*: the test accuracy and loss of
the averaged model x̄ (``test_avg_*``) and the mean over the local models (``test_local_*``, the number the
papers report), and the same on the validation split (``valid_*``); every other point evaluates only the
averaged model on the test split (the curves). A run's score is the mean of its full evaluations:
``score_<split>_<avg|local>_accuracy`` in the metrics.

**Phase snapshots.** With ``snapshots=True`` and a run directory, :func:`run` trains up to each lr decay,
keeps a copy of the engine checkpoint there (``<name>_phase<k>.pt``: the complete state at the first step
of phase k, history included), and goes on; the only trace in the run is an evaluation of x̄ at each
decay. ``start_from`` (such a snapshot) makes a run resume from it: a run that differs from another only
from phase k on (dec-phase-k, consensus control) starts there, bitwise as if it had trained from step 0.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from pipeline.core.engine import TrainResult, TrainSpec, train
from pipeline.core.seeding import derive_seed
from pipeline.data import load_dataset
from pipeline.data.augment import horizontal_flip, random_crop
from pipeline.data.batches import TensorBatches
from pipeline.data.partition import dirichlet_partition, iid_partition, simple_dirichlet_partition
from pipeline.data.transforms import CIFAR10_MEAN, CIFAR10_STD, to_float
from pipeline.decentralized.algorithms import Algorithm, make_algorithm
from pipeline.decentralized.comm import Comm, Gossip, StackedComm
from pipeline.decentralized.models import build_worker_model
from pipeline.decentralized.schedule import Schedule
from pipeline.decentralized.simulator import Simulator
from pipeline.decentralized.topology import mixing_matrix
from pipeline.decentralized.workers import StackedModel

NORMALISATIONS = ("scalar", "channel", "cifar10")
AUGMENTATIONS = ("none", "crop_flip")
CROP_PADDING = 4
BACKENDS = ("simulator", "torchrun")
SCORED = ("test_local_accuracy", "test_avg_accuracy", "valid_local_accuracy", "valid_avg_accuracy")


class Data(NamedTuple):
    """Normalised splits of one run (``x_valid``/``y_valid`` empty without a validation split) and the
    normalised value of a zero input (what augmentation pads with: raw zero padding, then normalised)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    x_valid: torch.Tensor | None = None
    y_valid: torch.Tensor | None = None
    pad_value: torch.Tensor | None = None


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
    x_valid: torch.Tensor | None = None
    y_valid: torch.Tensor | None = None
    augment: str = "none"
    pad_value: torch.Tensor | None = None
    seed: int = 0

    def batch(self, step: int, rows: slice | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``step``'s batches of the workers in ``rows`` (all by default), stacked ``[rows, B, ...]``."""
        selected = range(len(self.batches))[rows or slice(None)]
        parts = [self._augmented(i, step, *self.batches[i](step)) for i in selected]
        return torch.stack([p[0] for p in parts]), torch.stack([p[1] for p in parts])

    def _augmented(
        self, worker: int, step: int, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Worker ``worker``'s batch of ``step`` with its random crop and flip (``augment == crop_flip``)."""
        if self.augment == "none":
            return x, y
        generator = torch.Generator(device=x.device).manual_seed(
            derive_seed(self.seed, "augment", worker, step)
        )
        fill = self.pad_value if self.pad_value is not None else torch.zeros((), device=x.device)
        cropped = random_crop(x - fill, CROP_PADDING, generator) + fill
        return horizontal_flip(cropped, generator), y


def _subset(x: torch.Tensor, y: torch.Tensor, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not size or size >= len(y):
        return x, y
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:size]
    return x[order], y[order]


def _split_valid(x: torch.Tensor, y: torch.Tensor, size: int) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_valid, y_valid): ``size`` training examples held out (fixed draw, data seed 0)."""
    if not size:
        return x, y, x[:0], y[:0]
    if size >= len(y):
        raise ValueError(f"valid_size {size} leaves no training examples (the split has {len(y)})")
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(derive_seed(0, "valid")))
    held, kept = order[:size], order[size:]
    return x[kept], y[kept], x[held], y[held]


def normaliser(kind: str, reference: torch.Tensor) -> tuple[Any, torch.Tensor]:
    """``(normalise(x), normalised zero)`` of normalisation ``kind`` with the statistics of ``reference``."""
    if kind == "scalar":
        ref = reference.float()
        mean, std = ref.mean(), ref.std()

        def scalar(x: torch.Tensor) -> torch.Tensor:
            return (x.float() - mean) / std

        return scalar, scalar(torch.zeros(()))
    if kind not in NORMALISATIONS:
        raise KeyError(f"unknown normalisation {kind!r}; known: {', '.join(NORMALISATIONS)}")
    ref = to_float(reference)
    if ref.dim() != 4:
        raise ValueError(f"normalisation {kind!r} needs images [N, C, H, W], got shape {tuple(ref.shape)}")
    if kind == "channel":
        mean_t, std_t = ref.mean(dim=(0, 2, 3)), ref.std(dim=(0, 2, 3))
    else:
        mean_t, std_t = torch.tensor(CIFAR10_MEAN), torch.tensor(CIFAR10_STD)
    mean_t, std_t = mean_t.view(1, -1, 1, 1), std_t.view(1, -1, 1, 1)

    def channel(x: torch.Tensor) -> torch.Tensor:
        return (to_float(x) - mean_t) / std_t

    return channel, channel(torch.zeros(1, mean_t.shape[1], 1, 1))


def load_data(spec: dict[str, Any], data_root: str | Path | None) -> Data:
    """Normalised train/test(/validation) tensors; fixed subsets and the validation split are drawn with
    the data seed 0, the same for every run. Statistics are those of the training examples kept."""
    bundle = load_dataset(spec["dataset"], data_root=data_root)
    x_train, y_train = bundle.xy("train")
    x_test, y_test = bundle.xy("test")
    x_train, y_train = _subset(x_train, y_train, spec.get("train_subset", 0), derive_seed(0, "train"))
    x_test, y_test = _subset(x_test, y_test, spec.get("test_subset", 0), derive_seed(0, "test"))
    x_train, y_train, x_valid, y_valid = _split_valid(x_train, y_train, spec.get("valid_size", 0))
    normalise, pad = normaliser(spec.get("normalise", "scalar"), x_train)
    return Data(
        normalise(x_train),
        y_train.long(),
        normalise(x_test),
        y_test.long(),
        normalise(x_valid),
        y_valid.long(),
        pad,
    )


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
    data: Data | tuple[torch.Tensor, ...] | None = None,
    data_root: str | Path | None = None,
    device: str = "cpu",
) -> Problem:
    """Data, shards, per-worker batch sources, stacked model and W for ``spec`` and ``seed``."""
    data = load_data(spec, data_root) if data is None else data if isinstance(data, Data) else Data(*data)
    augment = spec.get("augment", "none")
    if augment not in AUGMENTATIONS:
        raise KeyError(f"unknown augmentation {augment!r}; known: {', '.join(AUGMENTATIONS)}")
    if augment != "none" and data.x_train.dim() != 4:
        raise ValueError(f"augmentation {augment!r} needs images [N, C, H, W]")
    shards = make_shards(spec, data.y_train, seed)
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
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
    valid = data.x_valid is not None and len(data.x_valid) > 0
    return Problem(
        x_train,
        y_train,
        data.x_test.to(device),
        data.y_test.to(device),
        shards,
        batches,
        StackedModel(model, clip_norm=spec.get("grad_clip", 0.0)),
        W,
        x_valid=data.x_valid.to(device) if valid else None,
        y_valid=data.y_valid.to(device) if valid else None,
        augment=augment,
        pad_value=None if data.pad_value is None else data.pad_value.to(device),
        seed=seed,
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
    """The spec's lr schedule; the warm-up starts at ``warmup_from`` (``lr`` itself when None)."""
    return Schedule(
        lr=spec["lr"],
        steps=spec["steps"],
        milestones=tuple(spec.get("milestones", (0.5, 0.75))),
        warmup_steps=spec.get("warmup_steps", 0),
        warmup_from=spec.get("warmup_from"),
    )


def make_simulator(
    problem: Problem, spec: dict[str, Any], device: str = "cpu", comm: Comm | None = None
) -> Simulator:
    """A simulator at the common initialisation for ``spec``: all n workers on :class:`StackedComm`, or,
    given a process's ``comm`` (:class:`pipeline.decentralized.distributed.ProcessComm`), its one row."""
    rows = spec["n_workers"] if comm is None else 1
    X = problem.stacked.flat_init(rows, device)
    targets = {int(k): float(v) for k, v in (spec.get("targets") or {}).items()}
    return Simulator(
        X,
        problem.stacked.grad,
        comm or StackedComm(problem.W, device),
        make_run_algorithm(spec),
        make_schedule(spec),
        decentralized_phases=spec.get("decentralized_phases"),
        targets=targets,
    )


def _accuracy_and_loss(
    stacked: StackedModel, rows: torch.Tensor, x: torch.Tensor, y: torch.Tensor, chunk: int
) -> tuple[float, float]:
    """Accuracy and mean loss of the models ``rows`` on ``(x, y)``, averaged over the models."""
    correct = loss = 0.0
    for start in range(0, len(y), chunk):
        inputs, targets = x[start : start + chunk], y[start : start + chunk]
        logits = stacked.logits(rows, inputs)
        correct += float((logits.argmax(-1) == targets).float().sum(dim=1).mean())
        flat = logits.reshape(-1, logits.shape[-1])
        loss += float(
            torch.nn.functional.cross_entropy(flat, targets.repeat(rows.shape[0]), reduction="sum")
            / rows.shape[0]
        )
    return correct / len(y), loss / len(y)


@torch.no_grad()
def evaluate(
    problem: Problem, X: torch.Tensor, full: bool = True, valid: bool = True, chunk: int = 512
) -> dict[str, float]:
    """Accuracy and loss of the averaged model (``<split>_avg_*``) and the mean over the local models
    (``<split>_local_*``) on the test split and, if the problem has one and ``valid``, the validation split.

    ``full=False`` evaluates only the averaged model on the test split (the curves). When every row of X
    is the same model (all-reduce) the local numbers equal the averaged ones and are not recomputed.
    """
    stacked = problem.stacked
    X_avg = X.mean(dim=0, keepdim=True)
    identical = bool(torch.equal(X, X[:1].expand_as(X)))
    splits = [("test", problem.x_test, problem.y_test)]
    if full and valid and problem.x_valid is not None:
        splits.append(("valid", problem.x_valid, problem.y_valid))
    out: dict[str, float] = {}
    for split, x, y in splits:
        accuracy, loss = _accuracy_and_loss(stacked, X[:1] if identical else X_avg, x, y, chunk)
        out[f"{split}_avg_accuracy"], out[f"{split}_avg_loss"] = accuracy, loss
        if full:
            if not identical:
                accuracy, loss = _accuracy_and_loss(stacked, X, x, y, chunk)
            out[f"{split}_local_accuracy"], out[f"{split}_local_loss"] = accuracy, loss
    return out


def evaluation_steps(steps: int, eval_every: int) -> list[int]:
    """The steps after which the engine evaluates: every ``eval_every`` and the last one."""
    points = set(range(eval_every, steps + 1, eval_every)) if eval_every > 0 else set()
    return sorted(points | {steps})


def score_steps(steps: int, eval_every: int, score_evals: int) -> list[int]:
    """The last ``score_evals`` evaluation points: the full evaluations a run is scored by."""
    return evaluation_steps(steps, eval_every)[-max(1, score_evals) :]


def scores(history: list[dict[str, float]], steps: list[int]) -> dict[str, float]:
    """``score_<key>``: the mean of ``key`` over the evaluations at ``steps`` (NaN where none has it)."""
    rows = [row for row in history if int(row["step"]) in set(steps)]
    out = {}
    for key in SCORED:
        values = [row[key] for row in rows if key in row and math.isfinite(row[key])]
        if values or key.startswith("test"):
            out[f"score_{key}"] = float(np.mean(values)) if values else math.nan
    return out


@dataclass
class Group:
    """What the driver needs from the workers, in one process (the simulator) or one per worker.

    ``step(step, batch)`` advances the group and returns the step's numbers (loss averaged over all
    workers); ``batch(step)`` the batch of the workers held here; ``evaluate(full, valid)`` the evaluation
    numbers of :func:`evaluate`; ``state`` the engine's checkpoint state; ``writer`` whether this process
    writes checkpoints and snapshots; ``barrier()`` waits for every process (a no-op in one process).
    """

    step: Any
    batch: Any
    evaluate: Any
    state: dict[str, Any]
    schedule: Schedule
    writer: bool = True
    barrier: Any = lambda: None


def drive(
    spec: dict[str, Any],
    seed: int,
    run_dir: Path | None,
    group: Group,
    *,
    name: str = "run",
    checkpoint_every: int = 0,
    snapshots: bool = False,
    start_from: Path | None = None,
) -> TrainResult:
    """Train ``group`` with the shared engine: evaluations, score, snapshots and resume as in :func:`run`."""
    steps, eval_every = spec["steps"], spec.get("eval_every", 0)
    full = set(score_steps(steps, eval_every, spec.get("score_evals", 1)))
    valid = spec.get("evaluate_valid", True)
    checkpoint = None if run_dir is None else Path(run_dir) / f"{name}.pt"
    if start_from is not None:
        if checkpoint is None:
            raise ValueError("start_from needs a run directory to resume in")
        if group.writer and not checkpoint.exists():
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(start_from, checkpoint)
    group.barrier()
    ends = [steps]
    if snapshots and checkpoint is not None:
        ends = [b for b in group.schedule.boundaries() if 0 < b < steps] + [steps]
    last_step = {"step": -1}

    def step(index: int, batch: Any) -> dict[str, Any]:
        last_step["step"] = index
        return group.step(index, batch)

    def train_to(end: int) -> TrainResult:
        train_spec = TrainSpec(
            steps=end,
            seed=seed,
            eval_every=eval_every,
            log_every=spec.get("log_every", 1),
            checkpoint_path=checkpoint,
            checkpoint_every=checkpoint_every if checkpoint is not None else 0,
            desc=name,
            progress=None if group.writer else False,
            checkpoint_writer=group.writer,
        )
        result = train(
            train_spec,
            step,
            group.batch,
            state=group.state,
            evaluate=lambda: group.evaluate(last_step["step"] + 1 in full, valid),
        )
        group.barrier()  # the checkpoint is written before any process reads it again
        return result

    for phase, end in enumerate(ends[:-1], start=2):
        train_to(end)
        if group.writer:
            shutil.copyfile(checkpoint, snapshot_path(run_dir, name, phase))
        group.barrier()
    result = train_to(steps)
    if not result.diverged:
        result.metrics.update(scores(result.history, sorted(full)))
    return result


def run(
    spec: dict[str, Any],
    seed: int,
    run_dir: Path | None,
    *,
    name: str = "run",
    data: Data | tuple[torch.Tensor, ...] | None = None,
    data_root: str | Path | None = None,
    device: str = "cpu",
    checkpoint_every: int = 0,
    snapshots: bool = False,
    start_from: Path | None = None,
) -> tuple[TrainResult, Simulator, Problem]:
    """Train ``spec`` with the shared engine (resumable from ``run_dir/<name>.pt``); see the module
    docstring for the evaluations, the score (added to the result's metrics) and phase snapshots.

    ``spec["backend"]``: ``simulator`` (default; all workers in this process) or ``torchrun`` (one process
    per worker, :mod:`pipeline.decentralized.distributed`; the data is loaded there from ``data_root``,
    and the simulator returned is only the run's schedule and initial state).
    """
    backend = spec.get("backend", "simulator")
    if backend not in BACKENDS:
        raise KeyError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    here = "cpu" if backend == "torchrun" else device  # the processes hold the workers, not this one
    problem = build_problem(spec, seed, data=data, data_root=data_root, device=here)
    sim = make_simulator(problem, spec, here)
    options = {
        "name": name,
        "checkpoint_every": checkpoint_every,
        "snapshots": snapshots,
        "start_from": start_from,
    }
    if backend == "torchrun":
        from pipeline.decentralized.launch import run_torchrun

        return run_torchrun(spec, seed, run_dir, data_root=data_root, device=device, **options), sim, problem
    group = Group(
        step=sim.step,
        batch=problem.batch,
        evaluate=lambda full, valid: evaluate(problem, sim.X, full=full, valid=valid),
        state={"X": sim.X, "optimizer": sim.state},
        schedule=sim.schedule,
    )
    return drive(spec, seed, run_dir, group, **options), sim, problem


def snapshot_path(run_dir: Path, name: str, phase: int) -> Path:
    """Where :func:`run` keeps the state at the first step of ``phase`` (see the module docstring)."""
    return Path(run_dir) / f"{name}_phase{phase}.pt"
