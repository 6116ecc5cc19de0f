"""Benchmarks of one DSGDm-N step of n = 16 workers: the vmap-free stacked
simulator against a Python loop over 16 models, and 16 torch.distributed processes against the simulator.

Both entries use the default model and data shapes of the consensus study (GroupNorm 1-D CNN with 8
channels, MNIST-1D-shaped inputs of length 40, batch 32 per worker) and one round of ring gossip.

``consensus_simulator_vs_loop``: both compute the same 16 gradients; ratio = loop time / simulator time
(goal: at least 5).

``consensus_distributed_vs_simulator``: 16 gloo processes (``python -m torch.distributed.run --standalone
--nproc_per_node 16 -m pipeline.decentralized.distributed``, ``OMP_NUM_THREADS=1``, one torch thread each),
each holding one worker, against the simulator holding all 16, on the identical problem: the spec below,
built by :func:`pipeline.decentralized.runner.build_problem` from the same seed and the same synthetic
data (Gaussian classes, length 40, 10 classes) on both sides, so both compute the same step (gradient +
DSGDm-N update + gossip; the batch is drawn before the clock starts). Launching 16 processes costs seconds,
so one launch per measurement times all ``repeats`` steps after a warm-up (the distributed module's timing
mode: barrier, then the slowest rank's time per step). ratio = distributed step time / simulator step time;
no goal, it is a measurement: the 16 processes share this machine's cores (2 on the reference CPU), so the
ratio mostly measures oversubscription and gloo's per-message cost, not a cluster of 16 machines.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import torch

from pipeline.core.bench import Benchmark
from pipeline.decentralized.algorithms import DSGDmN
from pipeline.decentralized.comm import StackedComm
from pipeline.decentralized.distributed import synthetic_data
from pipeline.decentralized.models import GroupNormCNN1D
from pipeline.decentralized.runner import build_problem, make_run_algorithm
from pipeline.decentralized.topology import ring
from pipeline.decentralized.workers import StackedModel

N, BATCH, LENGTH = 16, 32, 40
REPO = Path(__file__).resolve().parents[2]


def _setup():
    torch.manual_seed(0)
    model = GroupNormCNN1D(length=LENGTH, channels=8)
    stacked = StackedModel(model)
    inputs, targets = torch.randn(N, BATCH, LENGTH), torch.randint(0, 10, (N, BATCH))
    comm = StackedComm(ring(N))
    X = stacked.flat_init(N)
    return model, stacked, inputs, targets, comm, X


_MODEL, _STACKED, _INPUTS, _TARGETS, _COMM, _X = _setup()
_SIM_ALG, _LOOP_ALG = DSGDmN(weight_decay=1e-4), DSGDmN(weight_decay=1e-4)
_SIM_STATE, _LOOP_STATE = _SIM_ALG.init_state(_X), _LOOP_ALG.init_state(_X)
_MODELS = [copy.deepcopy(_MODEL) for _ in range(N)]


def simulator_step() -> torch.Tensor:
    """Stacked gradients of all 16 workers (one backward), then the DSGDm-N update and one gossip (W @ X)."""
    with torch.no_grad():
        X, _ = _SIM_ALG.step(_X, lambda X: _STACKED.grad(X, _INPUTS, _TARGETS), 0.01, _SIM_STATE, _COMM)
    return X


def _loop_grad(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    grads, losses = [], []
    for i, model in enumerate(_MODELS):
        torch.nn.utils.vector_to_parameters(X[i], model.parameters())
        model.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss = torch.nn.functional.cross_entropy(model(_INPUTS[i]), _TARGETS[i])
            loss.backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
        losses.append(loss.detach())
    return torch.stack(grads), torch.stack(losses)


def loop_step() -> torch.Tensor:
    """The same step with a Python loop over 16 nn.Module copies (autograd per worker)."""
    with torch.no_grad():
        X, _ = _LOOP_ALG.step(_X, _loop_grad, 0.01, _LOOP_STATE, _COMM)
    return X


# ------------------------------------------------------------------ 16 processes against the simulator

SEED, WARMUP_STEPS = 0, 3
DIST_SPEC = {
    "model": {"name": "gn_cnn1d", "options": {"length": LENGTH, "channels": 8, "groups": 2}},
    "n_workers": N,
    "topology": "ring",
    "algorithm": "dsgdm_n",
    "lr": 0.01,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "nesterov": True,
    "batch_size": BATCH,
    "steps": 1000,
    "partition": {"kind": "iid"},
}
SYNTHETIC = {"n_train": 2 * N * BATCH, "n_test": 16, "dim": LENGTH, "classes": 10}


@cache
def _dist_simulator() -> dict:
    """The simulator of the distributed entry's problem: all 16 rows, the spec's algorithm, one batch."""
    problem = build_problem(DIST_SPEC, SEED, data=synthetic_data(SEED, **SYNTHETIC))
    algorithm = make_run_algorithm(DIST_SPEC)
    X = problem.stacked.flat_init(N)
    return {
        "problem": problem,
        "algorithm": algorithm,
        "X": X,
        "state": algorithm.init_state(X),
        "comm": StackedComm(problem.W),
        "batch": problem.batch(WARMUP_STEPS),
    }


def dist_simulator_step() -> torch.Tensor:
    """One step of the distributed entry's problem in the simulator (gradient, update, gossip)."""
    sim = _dist_simulator()
    inputs, targets = sim["batch"]
    grad = sim["problem"].stacked.grad
    with torch.no_grad():
        sim["X"], _ = sim["algorithm"].step(
            sim["X"], lambda X: grad(X, inputs, targets), DIST_SPEC["lr"], sim["state"], sim["comm"]
        )
    return sim["X"]


def distributed_step_times(repeats: int) -> list[float]:
    """Seconds of ``repeats`` steps of 16 gloo processes, from one torchrun launch (after its warm-up)."""
    payload = {
        "spec": DIST_SPEC,
        "seed": SEED,
        "steps": 0,
        "data": "synthetic",
        "synthetic": SYNTHETIC,
        "time_steps": repeats,
        "warmup_steps": WARMUP_STEPS,
    }
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out = Path(tmp) / "spec.json", Path(tmp) / "out"
        spec_path.write_text(json.dumps(payload))
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(N)]
        command += ["-m", "pipeline.decentralized.distributed", "--spec", str(spec_path), "--out", str(out)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        if completed.returncode != 0:
            raise RuntimeError(f"torchrun failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
        return json.loads((out / "timing.json").read_text())["step_s"]


BENCHMARKS = [
    Benchmark(
        name="consensus_simulator_vs_loop",
        study="consensus",
        what="one DSGDm-N step of 16 workers (GN 1-D CNN, batch 32 each, ring gossip): Python loop over 16 "
        "models / stacked simulator (goal: at least 5)",
        numerator=loop_step,
        denominator=simulator_step,
        goal=5.0,
        goal_is="at least",
        repeats=15,
    ),
    Benchmark(
        name="consensus_distributed_vs_simulator",
        study="consensus",
        what="one DSGDm-N step of 16 workers (GN 1-D CNN, batch 32 each, ring gossip): 16 gloo processes "
        "(torchrun, 1 thread each, sharing this machine's cores) / stacked simulator (1 process); a "
        "measurement, no goal",
        numerator=lambda: distributed_step_times(1),
        denominator=dist_simulator_step,
        repeats=15,
        numerator_times=distributed_step_times,
        numerator_timed=f"in {N} gloo processes (torchrun, OMP_NUM_THREADS=1), one launch, slowest rank",
    ),
]
