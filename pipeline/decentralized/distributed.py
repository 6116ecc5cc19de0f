"""The decentralized algorithms as real processes over torch.distributed (DESIGN.md "Decentralized training").

Launch one process per worker with torchrun::

    torchrun --nproc_per_node 4 -m pipeline.decentralized.distributed --spec spec.json --out DIR

``spec.json`` holds ``{"spec": <runner spec>, "seed": int, "steps": int, "data": "dataset" | "synthetic"}``
(``synthetic`` draws a small Gaussian classification set from the seed, for tests); an optional
``"algorithms"`` list runs each of them in turn from the same start (one launch, several checks). Each rank
builds exactly the :class:`pipeline.decentralized.runner.Problem` of the simulator, keeps only its own row of
the parameters (``X [1, d]``), and runs the same :class:`~pipeline.decentralized.algorithms.Algorithm` with
:class:`ProcessComm`: a gossip round exchanges the row with the neighbours of W (isend/irecv) and takes
Σ_j W_ij x_j; averaging and Ξ² use all_reduce. Rank i writes ``DIR/<algorithm>_rank<i>.pt`` (its final
row).
Backend: gloo on CPU, NCCL on CUDA.
"""

from __future__ import annotations

import argparse
import json
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
    seed: int, n_train: int = 512, n_test: int = 128, dim: int = 12
) -> tuple[torch.Tensor, ...]:
    """A small Gaussian 4-class problem (for the parity test; the same in every process)."""
    g = torch.Generator().manual_seed(seed)
    centres = 2.0 * torch.randn(4, dim, generator=g)
    y = torch.randint(0, 4, (n_train + n_test,), generator=g)
    x = centres[y] + torch.randn(n_train + n_test, dim, generator=g)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def run_worker(
    problem: Problem, spec: dict[str, Any], steps: int, rank: int, world: int, device: str = "cpu"
) -> torch.Tensor:
    """Run ``steps`` steps of the spec's algorithm for worker ``rank``; returns its final row [1, d]."""
    comm = ProcessComm(problem.W, rank, world)
    algorithm = make_run_algorithm(spec)
    schedule = make_schedule(spec)
    X = problem.stacked.flat_init(1, device)
    state = algorithm.init_state(X)
    rows = slice(rank, rank + 1)
    for step in range(steps):
        inputs, targets = problem.batch(step, rows)
        with torch.no_grad():
            X, _ = algorithm.step(
                X,
                partial(problem.stacked.grad, inputs=inputs, targets=targets),
                schedule.lr_at(step),
                state,
                comm,
            )
    return X


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
    data = synthetic_data(seed) if payload.get("data") == "synthetic" else None
    device = f"cuda:{rank % torch.cuda.device_count()}" if backend == "nccl" else "cpu"
    problem = build_problem(spec, seed, data=data, device=device)
    args.out.mkdir(parents=True, exist_ok=True)
    for algorithm in payload.get("algorithms", [spec["algorithm"]]):
        X = run_worker(problem, {**spec, "algorithm": algorithm}, payload["steps"], rank, world, device)
        torch.save(X[0].cpu().clone(), args.out / f"{algorithm}_rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
