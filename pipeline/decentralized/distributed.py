"""The decentralized algorithms as real processes over torch.distributed: the ``torchrun`` backend.

**Backend (``--job``).** A run with ``backend: torchrun`` (:func:`pipeline.decentralized.runner.run`)
writes ``<run_dir>/<name>.job.json`` and launches one process per worker
(:mod:`pipeline.decentralized.launch`)::

    torchrun --standalone --nproc_per_node 16 -m pipeline.decentralized.distributed --job DIR/train.job.json

Each rank builds the run's :class:`~pipeline.decentralized.runner.Problem` (data read from ``data_root``
with the run's keys, the common initialisation), keeps its own row of the parameters and the algorithm
state (``X [1, d]``) and trains through the same driver as the simulator
(:func:`pipeline.decentralized.runner.drive`): the same engine, phase protocol, consensus control,
evaluations, score and snapshots. Only the workers' coupling is communication: gossip exchanges rows with
the neighbours of W in one ``batch_isend_irecv``, averaging and Ξ² use ``all_reduce``; the step's loss is
the all-reduced mean over workers; an evaluation computes each rank's local model on the whole split and
the averaged model on 1/n of it, and all-reduces the sums. Checkpoints and snapshots hold the gathered
state in the simulator's layout (``X [n, d]``), written by rank 0 and read by every rank, so a run resumes
under either backend. Rank 0 writes the result (``<name>.result.json``: metrics, history, divergence).
Devices: ``LOCAL_RANK``'s GPU with NCCL when the run's device is CUDA (one GPU per process), else the CPU
with gloo. Multi-node: the usual ``torchrun --nnodes N --nproc_per_node G --rdzv_backend c10d
--rdzv_endpoint HOST:PORT`` arguments (``launch.py`` documents a SLURM ``srun`` launch).

**Parity harness (``--spec``).** Launch one process per worker with torchrun::

    torchrun --nproc_per_node 4 -m pipeline.decentralized.distributed --spec spec.json --out DIR

``spec.json`` holds ``{"spec": <runner spec>, "seed": int, "steps": int, "data": "dataset" | "synthetic"}``
(``synthetic`` draws a small Gaussian classification set from the seed, for tests; an optional
``"synthetic"`` dict passes :func:`synthetic_data`'s sizes, e.g. ``{"dim": 40, "classes": 10}``); an optional
``"algorithms"`` list runs each of them in turn from the same start (one launch, several checks). Each rank
builds exactly the :class:`pipeline.decentralized.runner.Problem` of the simulator, keeps only its own row of
the parameters (``X [1, d]``), and runs the same :class:`~pipeline.decentralized.algorithms.Algorithm` with
:class:`ProcessComm`: a gossip round exchanges the row with the neighbours of W (isend/irecv) and takes
Σ_j W_ij x_j; averaging and Ξ² use all_reduce. Rank i writes ``DIR/<algorithm>_rank<i>.pt`` (its final
row).

Timing mode (``"time_steps": K`` in the payload, with ``"warmup_steps"``, default 2): instead of the parity
runs, every rank runs the spec's algorithm for the warm-up steps, then K timed steps. Before each timed step
the ranks meet at a barrier; each times one full algorithm step (gradient, update, gossip: the batch is
drawn before the clock starts) with perf_counter, and the step's time is the slowest rank's (all_reduce
MAX), i.e. the wall time of one synchronous step of the whole group. Rank 0 writes ``DIR/timing.json``
``{"algorithm", "world", "warmup_steps", "step_s": [K seconds]}`` (used by pipeline/consensus/bench.py).
Backend: gloo on CPU, NCCL on CUDA.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from pipeline.core.atomic import atomic_write_json
from pipeline.core.engine import TrainResult
from pipeline.decentralized.launch import RESULT_FIELDS, result_path
from pipeline.decentralized.runner import Problem, build_problem, make_run_algorithm, make_schedule
from pipeline.decentralized.topology import neighbours


class ProcessComm:
    """Communication of one worker process (rows = 1) with the others of the process group."""

    def __init__(self, W: np.ndarray, rank: int, world: int) -> None:
        self.rank, self.n = rank, world
        self.weights = neighbours(W, rank)

    def mix(self, X: torch.Tensor) -> torch.Tensor:
        X = X.contiguous()
        peers = [(j, w) for j, w in self.weights if j != self.rank]
        buffers = {j: torch.empty_like(X) for j, _ in peers}
        operations = [dist.P2POp(dist.isend, X, j) for j, _ in peers]
        operations += [dist.P2POp(dist.irecv, buffers[j], j) for j, _ in peers]
        # one batched call: NCCL may deadlock on unbatched send/recv pairs between the same ranks
        for request in dist.batch_isend_irecv(operations) if operations else []:
            request.wait()
        out = torch.zeros_like(X)
        for j, w in self.weights:
            out += w * (X if j == self.rank else buffers[j])
        return out

    def average(self, X: torch.Tensor) -> torch.Tensor:
        total = X.clone()
        dist.all_reduce(total)
        return total / self.n

    def xi_sq(self, X: torch.Tensor) -> float:
        mean = self.average(X)
        dist_sq = (X - mean).square().sum().reshape(1)
        dist.all_reduce(dist_sq)
        return float(dist_sq) / self.n

    def sum(self, values: list[float], device: torch.device | str) -> list[float]:
        """Element-wise sum of ``values`` over the processes (float64)."""
        total = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(total)
        return total.tolist()


class RowState:
    """One worker's rows of a checkpoint tensor (or dict of tensors) in the simulator's layout.

    ``state_dict`` gathers the ``[1, d]`` rows of every process into ``[n, d]`` (collective: every rank
    calls it); ``load_state_dict`` copies this rank's row back. 0-d tensors (flags, the previous lr) are the
    same in every process and are kept as they are.
    """

    def __init__(self, value: torch.Tensor | dict[str, torch.Tensor], rank: int, world: int) -> None:
        self.value, self.rank, self.world = value, rank, world

    def _gather(self, tensor: torch.Tensor) -> torch.Tensor:
        if tensor.dim() != 2:
            return tensor.detach().clone()
        parts = [torch.empty_like(tensor) for _ in range(self.world)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts).cpu()

    def _load(self, tensor: torch.Tensor, saved: torch.Tensor) -> None:
        row = saved[self.rank : self.rank + 1] if tensor.dim() == 2 else saved
        tensor.copy_(row.to(tensor.device))

    def state_dict(self) -> torch.Tensor | dict[str, torch.Tensor]:
        if isinstance(self.value, dict):
            return {key: self._gather(tensor) for key, tensor in self.value.items()}
        return self._gather(self.value)

    def load_state_dict(self, saved: torch.Tensor | dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            if isinstance(self.value, dict):
                for key, tensor in self.value.items():
                    self._load(tensor, saved[key])
            else:
                self._load(self.value, saved)


@torch.no_grad()
def evaluate_processes(
    problem: Problem, X: torch.Tensor, comm: ProcessComm, full: bool, valid: bool, chunk: int = 512
) -> dict[str, float]:
    """:func:`pipeline.decentralized.runner.evaluate` with one model per process (same numbers).

    The averaged model x̄ is evaluated on this rank's 1/n of each split (examples rank, rank + n, ...), the
    local model on the whole split; the sums are all-reduced. Rows identical on every rank (all-reduce)
    count x̄ as the local model, as in the simulator.
    """
    from pipeline.decentralized.runner import _accuracy_and_loss

    stacked, device = problem.stacked, X.device
    X_avg = comm.average(X)
    reference = X.clone()
    dist.broadcast(reference, 0)
    identical = comm.sum([float(not torch.equal(X, reference))], device)[0] == 0
    model = X if identical else X_avg
    splits = [("test", problem.x_test, problem.y_test)]
    if full and valid and problem.x_valid is not None:
        splits.append(("valid", problem.x_valid, problem.y_valid))
    out: dict[str, float] = {}
    for split, x, y in splits:
        mine = slice(comm.rank, None, comm.n)
        count = len(y[mine])
        accuracy, loss = _accuracy_and_loss(stacked, model, x[mine], y[mine], chunk) if count else (0.0, 0.0)
        correct, total = comm.sum([accuracy * count, loss * count], device)
        out[f"{split}_avg_accuracy"], out[f"{split}_avg_loss"] = correct / len(y), total / len(y)
        if full:
            if identical:
                out[f"{split}_local_accuracy"] = out[f"{split}_avg_accuracy"]
                out[f"{split}_local_loss"] = out[f"{split}_avg_loss"]
            else:
                accuracy, loss = _accuracy_and_loss(stacked, X, x, y, chunk)
                accuracy, loss = comm.sum([accuracy, loss], device)
                out[f"{split}_local_accuracy"], out[f"{split}_local_loss"] = accuracy / comm.n, loss / comm.n
    return out


def synthetic_data(
    seed: int, n_train: int = 512, n_test: int = 128, dim: int = 12, classes: int = 4
) -> tuple[torch.Tensor, ...]:
    """A small Gaussian ``classes``-class problem (for tests and timing; the same in every process)."""
    g = torch.Generator().manual_seed(seed)
    centres = 2.0 * torch.randn(classes, dim, generator=g)
    y = torch.randint(0, classes, (n_train + n_test,), generator=g)
    x = centres[y] + torch.randn(n_train + n_test, dim, generator=g)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


class Worker:
    """Worker ``rank``'s row ``X [1, d]``, its algorithm state and communication, at the common init."""

    def __init__(
        self, problem: Problem, spec: dict[str, Any], rank: int, world: int, device: str = "cpu"
    ) -> None:
        self.problem, self.rows = problem, slice(rank, rank + 1)
        self.comm = ProcessComm(problem.W, rank, world)
        self.algorithm = make_run_algorithm(spec)
        self.schedule = make_schedule(spec)
        self.X = problem.stacked.flat_init(1, device)
        self.state = self.algorithm.init_state(self.X)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This worker's batch of ``step`` (``[1, B, ...]``)."""
        return self.problem.batch(step, self.rows)

    def step(self, step: int, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        """One algorithm step: gradient on ``batch``, update, gossip with the neighbours."""
        inputs, targets = batch
        with torch.no_grad():
            self.X, _ = self.algorithm.step(
                self.X,
                partial(self.problem.stacked.grad, inputs=inputs, targets=targets),
                self.schedule.lr_at(step),
                self.state,
                self.comm,
            )


def run_worker(
    problem: Problem, spec: dict[str, Any], steps: int, rank: int, world: int, device: str = "cpu"
) -> torch.Tensor:
    """Run ``steps`` steps of the spec's algorithm for worker ``rank``; returns its final row [1, d]."""
    worker = Worker(problem, spec, rank, world, device)
    for step in range(steps):
        worker.step(step, worker.batch(step))
    return worker.X


def time_worker(worker: Worker, warmup_steps: int, time_steps: int) -> list[float]:
    """Seconds of each of ``time_steps`` steps after ``warmup_steps`` (barrier first, slowest rank's time)."""
    for step in range(warmup_steps):
        worker.step(step, worker.batch(step))
    times = []
    for step in range(warmup_steps, warmup_steps + time_steps):
        batch = worker.batch(step)
        dist.barrier()
        start = time.perf_counter()
        worker.step(step, batch)
        if worker.X.is_cuda:  # CUDA kernels run asynchronously: wait for the step before reading the clock
            torch.cuda.synchronize(worker.X.device)
        elapsed = torch.tensor([time.perf_counter() - start], dtype=torch.float64, device=worker.X.device)
        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)  # NCCL needs the tensor on the worker's GPU
        times.append(float(elapsed))
    return times


def _time(payload: dict[str, Any], problem: Problem, rank: int, world: int, device: str, out: Path) -> None:
    """Timing mode (module docstring): rank 0 writes ``out/timing.json``."""
    spec, warmup = payload["spec"], payload.get("warmup_steps", 2)
    times = time_worker(Worker(problem, spec, rank, world, device), warmup, payload["time_steps"])
    if rank == 0:
        record = {"algorithm": spec["algorithm"], "world": world, "warmup_steps": warmup, "step_s": times}
        (out / "timing.json").write_text(json.dumps(record, indent=1))


def _job_device(requested: str) -> str:
    """This process's device: ``LOCAL_RANK``'s GPU for a CUDA run (one GPU per process), else the CPU."""
    if requested != "cuda":
        return "cpu"
    local_rank, gpus = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
    if local_rank >= gpus:
        raise RuntimeError(
            f"process with LOCAL_RANK {local_rank} has no GPU of its own (this node has {gpus}): NCCL needs "
            "one GPU per process; run fewer processes per node, or use backend: simulator"
        )
    torch.cuda.set_device(local_rank)
    return f"cuda:{local_rank}"


def run_job(payload: dict[str, Any], rank: int, world: int, device: str) -> TrainResult:
    """Train this rank's worker of the job (module docstring) and return the engine's result."""
    from pipeline.decentralized.runner import Group, drive, load_data, make_simulator

    spec, seed = payload["spec"], payload["seed"]
    if world != spec["n_workers"]:
        raise ValueError(f"spec has n_workers={spec['n_workers']} but the process group has {world}")
    problem = build_problem(spec, seed, data=load_data(spec, payload["data_root"]), device=device)
    comm = ProcessComm(problem.W, rank, world)
    sim = make_simulator(problem, spec, device, comm=comm)

    def step(index: int, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
        out = sim.step(index, batch)
        return {**out, "loss": comm.sum([float(out["loss"])], device)[0] / world}

    group = Group(
        step=step,
        batch=lambda index: problem.batch(index, slice(rank, rank + 1)),
        evaluate=lambda full, valid: evaluate_processes(problem, sim.X, comm, full, valid),
        state={"X": RowState(sim.X, rank, world), "optimizer": RowState(sim.state, rank, world)},
        schedule=sim.schedule,
        writer=rank == 0,
        barrier=dist.barrier,
    )
    start_from = payload.get("start_from")
    return drive(
        spec,
        seed,
        Path(payload["run_dir"]),
        group,
        name=payload["name"],
        checkpoint_every=payload.get("checkpoint_every", 0),
        snapshots=payload.get("snapshots", False),
        start_from=Path(start_from) if start_from else None,
    )


def _job(job: Path) -> int:
    payload = json.loads(job.read_text())
    device = _job_device(payload.get("device", "cpu"))
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    torch.set_num_threads(int(payload.get("threads", 1)))
    rank, world = dist.get_rank(), dist.get_world_size()
    result = run_job(payload, rank, world, device)
    if rank == 0:
        record = {key: getattr(result, key) for key in RESULT_FIELDS}
        atomic_write_json(result_path(job), record)
    dist.barrier()
    dist.destroy_process_group()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--job", type=Path, help="a run of the torchrun backend (<run_dir>/<name>.job.json)")
    mode.add_argument("--spec", type=Path, help="parity/timing harness payload")
    parser.add_argument("--out", type=Path, help="harness output directory")
    args = parser.parse_args(argv)
    if args.job is not None:
        return _job(args.job)
    if args.out is None:
        parser.error("--spec needs --out")
    payload = json.loads(args.spec.read_text())
    backend = "nccl" if torch.cuda.is_available() and payload.get("cuda", False) else "gloo"
    dist.init_process_group(backend)
    torch.set_num_threads(1)
    rank, world = dist.get_rank(), dist.get_world_size()
    spec, seed = payload["spec"], payload["seed"]
    if world != spec["n_workers"]:
        raise ValueError(f"spec has n_workers={spec['n_workers']} but the process group has {world}")
    synthetic = payload.get("data") == "synthetic"
    data = synthetic_data(seed, **payload.get("synthetic", {})) if synthetic else None
    device = _job_device("cuda") if backend == "nccl" else "cpu"
    problem = build_problem(spec, seed, data=data, device=device)
    args.out.mkdir(parents=True, exist_ok=True)
    if payload.get("time_steps"):
        _time(payload, problem, rank, world, device, args.out)
    else:
        for algorithm in payload.get("algorithms", [spec["algorithm"]]):
            X = run_worker(problem, {**spec, "algorithm": algorithm}, payload["steps"], rank, world, device)
            torch.save(X[0].cpu().clone(), args.out / f"{algorithm}_rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
