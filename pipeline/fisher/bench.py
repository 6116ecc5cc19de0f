"""Benchmarks of the fisher study, on the default MNIST-1D model and batch size.

- one Fisher-penalty step (double backprop) over one plain SGD step (goal: at most 3);
- the vectorised per-example Tr F (``torch.func`` vmap) over the same numbers from a Python loop of
  per-example backward passes (goal: the loop at least 5x slower).
"""

from __future__ import annotations

import torch

from pipeline.core.bench import Benchmark
from pipeline.fisher.penalty import PenalizedStep
from pipeline.fisher.trace import fisher_trace_loop, fisher_trace_sampled
from pipeline.models import build_model

_BATCH, _TRACE_EXAMPLES, _LENGTH = 64, 128, 40


def _step(kind: str) -> PenalizedStep:
    torch.manual_seed(0)
    model = build_model("cnn1d", length=_LENGTH)
    return PenalizedStep(model, torch.optim.SGD(model.parameters(), lr=1e-3), kind, alpha=0.05, every=1)


_inputs = torch.randn(_BATCH, _LENGTH, generator=torch.Generator().manual_seed(0))
_labels = torch.randint(0, 10, (_BATCH,), generator=torch.Generator().manual_seed(1))
_plain, _fisher = _step("none"), _step("fisher")


def plain_step() -> None:
    """Ten plain SGD steps on one MNIST-1D-shaped batch."""
    for _ in range(10):
        _plain(0, (_inputs, _labels))


def fisher_step() -> None:
    """Ten SGD + Fisher-penalty steps (penalty every step) on the same batch."""
    for _ in range(10):
        _fisher(0, (_inputs, _labels))


torch.manual_seed(2)
_trace_model = build_model("cnn1d", length=_LENGTH)
_trace_x = torch.randn(_TRACE_EXAMPLES, _LENGTH, generator=torch.Generator().manual_seed(3))


def trace_vmap() -> float:
    """Tr F on 128 examples, per-example gradients vectorised with torch.func."""
    return fisher_trace_sampled(_trace_model, _trace_x, torch.Generator().manual_seed(4))


def trace_loop() -> float:
    """The same Tr F with one backward pass per example."""
    return fisher_trace_loop(_trace_model, _trace_x, torch.Generator().manual_seed(4))


BENCHMARKS = [
    Benchmark(
        name="fisher_penalty_step_vs_sgd",
        study="fisher",
        what="cnn1d on an MNIST-1D batch of 64: time of an SGD + Fisher-penalty step (double backprop, "
        "penalty every step) / time of a plain SGD step",
        numerator=fisher_step,
        denominator=plain_step,
        goal=3.0,
        goal_is="at most",
    ),
    Benchmark(
        name="fisher_trace_loop_vs_vmap",
        study="fisher",
        what="cnn1d, Tr F on 128 examples with sampled labels: per-example backward loop time / torch.func "
        "vmap time",
        numerator=trace_loop,
        denominator=trace_vmap,
        goal=5.0,
        goal_is="at least",
        repeats=5,
    ),
]
