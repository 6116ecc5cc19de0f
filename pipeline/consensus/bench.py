"""Benchmark: one DSGDm-N step of the n = 16 vmap simulator against a Python loop over 16 separate models.

Both compute the same 16 gradients (default model and data shapes of the consensus study: GroupNorm 1-D CNN,
MNIST-1D-shaped inputs, batch 32 per worker) and the same ring gossip; the ratio is loop time / simulator
time (goal: at least 5, issue 7). The torch.distributed comparison is not timed here (launching 16
processes per call costs seconds); see tests/test_consensus_distributed.py for its parity check.
"""

from __future__ import annotations

import copy

import torch

from pipeline.core.bench import Benchmark
from pipeline.decentralized.algorithms import DSGDmN
from pipeline.decentralized.comm import StackedComm
from pipeline.decentralized.models import GroupNormCNN1D
from pipeline.decentralized.topology import ring
from pipeline.decentralized.workers import StackedModel

N, BATCH, LENGTH = 16, 32, 40


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
    """vmap gradients of all 16 workers, then the DSGDm-N update and one gossip round (W @ X)."""
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


BENCHMARKS = [
    Benchmark(
        name="consensus_simulator_vs_loop",
        study="consensus",
        what="one DSGDm-N step of 16 workers (GN 1-D CNN, batch 32 each, ring gossip): Python loop over 16 "
        "models / vmap simulator (goal: at least 5)",
        numerator=loop_step,
        denominator=simulator_step,
        goal=5.0,
        goal_is="at least",
        repeats=5,
    ),
]
