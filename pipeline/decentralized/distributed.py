"""The decentralized algorithms as real processes over torch.distributed.

Launch one process per worker with torchrun::

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
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

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
        requests = [dist.isend(X, j) for j, _ in peers] + [dist.irecv(buffers[j], j) for j, _ in peers]
        for request in requests:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
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
    device = f"cuda:{rank % torch.cuda.device_count()}" if backend == "nccl" else "cpu"
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
