"""Benchmark: one QG-DSGDm-N step of the n = 16 vmap simulator over one DSGDm-N step (goal ≤ 1.1).

Both steps compute the same 16 vmapped gradients (the default model and data shapes of the study: GroupNorm
1-D CNN of width 8, MNIST-1D-shaped inputs, batch 32 per worker) and one ring gossip round; QGM adds only
the quasi-global buffer arithmetic (the displacement (x − x⁺)/η and the m̂ update), so the ratio measures
that overhead.
"""

from __future__ import annotations

import torch

from pipeline.core.bench import Benchmark
from pipeline.decentralized.algorithms import DSGDmN, QGDSGDmN
from pipeline.decentralized.comm import StackedComm
from pipeline.decentralized.models import GroupNormCNN1D
from pipeline.decentralized.topology import ring
from pipeline.decentralized.workers import StackedModel

N, BATCH, LENGTH, WIDTH, LR = 16, 32, 40, 8, 0.1


def _setup() -> tuple[StackedModel, torch.Tensor, torch.Tensor, StackedComm, torch.Tensor]:
    torch.manual_seed(0)
    stacked = StackedModel(GroupNormCNN1D(length=LENGTH, channels=WIDTH))
    inputs, targets = torch.randn(N, BATCH, LENGTH), torch.randint(0, 10, (N, BATCH))
    return stacked, inputs, targets, StackedComm(ring(N)), stacked.flat_init(N)


_STACKED, _INPUTS, _TARGETS, _COMM, _X = _setup()
_QGM, _DSGDM = QGDSGDmN(weight_decay=1e-4, buffer_rate=0.1), DSGDmN(weight_decay=1e-4)
_QGM_STATE, _DSGDM_STATE = _QGM.init_state(_X), _DSGDM.init_state(_X)


def _grad(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return _STACKED.grad(X, _INPUTS, _TARGETS)


def qgm_step() -> torch.Tensor:
    """vmap gradients of all 16 workers, then the QG-DSGDm-N update with one gossip round."""
    with torch.no_grad():
        X, _ = _QGM.step(_X, _grad, LR, _QGM_STATE, _COMM)
    return X


def dsgdm_step() -> torch.Tensor:
    """The same gradients, then the DSGDm-N update with one gossip round."""
    with torch.no_grad():
        X, _ = _DSGDM.step(_X, _grad, LR, _DSGDM_STATE, _COMM)
    return X


BENCHMARKS = [
    Benchmark(
        name="qgm_step_vs_dsgdm_step",
        study="qgm",
        what="one simulator step of 16 workers (GN 1-D CNN, batch 32 each, ring gossip): QG-DSGDm-N / "
        "DSGDm-N (goal: at most 1.1)",
        numerator=qgm_step,
        denominator=dsgdm_step,
        goal=1.1,
        goal_is="at most",
        repeats=15,
    ),
]
