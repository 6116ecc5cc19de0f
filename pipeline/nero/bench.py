"""Benchmarks: Nero's step time against Adam(foreach=True) and against a per-parameter loop.

All three update the same parameters — the default deep MLP (20 Linear layers of width 64, relu·√2: 40
tensors, the many-small-tensors case where Python overhead shows) and the default VGG-style CNN — with fixed
random gradients, ``STEPS`` steps per timed call,
on one thread (as every workflow job). The loop variant is the straightforward form of
Algorithm 1: one Python iteration per parameter, the same tensor maths.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pipeline.core.bench import Benchmark
from pipeline.core.config import section
from pipeline.nero.optimizer import Nero, rows
from pipeline.nero.runs import classifier_net
from pipeline.nero.tasks import build_classifier

STEPS = 50


class LoopNero(torch.optim.Optimizer):
    """Nero written as a loop over parameters (Algorithm 1, faithful form), for the benchmark only."""

    def __init__(self, params, lr: float = 0.01, beta: float = 0.999) -> None:
        super().__init__(params, {"lr": lr, "beta": beta})
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    row = rows(p)
                    if p.dim() > 1:
                        row.sub_(row.mean(dim=1, keepdim=True)).div_(row.norm(dim=1, keepdim=True))
                    scale = row.norm(dim=1).mean()
                    self.state[p] = {"step": 0, "v": torch.zeros(row.shape[0], 1),
                                     "scale": scale if scale > 0 else torch.tensor(0.01)}  # fmt: skip

    @torch.no_grad()
    def step(self) -> None:
        """One update, one parameter at a time."""
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] += 1
                row, grad = rows(p), rows(p.grad)
                norm = grad.norm(dim=1, keepdim=True)
                state["v"].mul_(group["beta"]).addcmul_(norm, norm, value=1 - group["beta"])
                denominator = (state["v"] / (1 - group["beta"] ** state["step"])).sqrt()
                update = torch.nan_to_num(grad / denominator, nan=0.0)
                row.sub_(update, alpha=group["lr"] * float(state["scale"]))
                if p.dim() > 1:
                    row.sub_(row.mean(dim=1, keepdim=True)).div_(row.norm(dim=1, keepdim=True))


def _stepper(task: str, make: Callable[[list[torch.Tensor]], torch.optim.Optimizer]) -> Callable[[], None]:
    torch.manual_seed(0)
    model: nn.Module = build_classifier(classifier_net(section("nero")[task]))
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer = make(params)

    def run() -> None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one thread per job, as the workflow runs them
        try:
            for _ in range(STEPS):
                optimizer.step()
        finally:
            torch.set_num_threads(threads)

    return run


def _pair(
    task: str, other: Callable[[list[torch.Tensor]], torch.optim.Optimizer]
) -> tuple[Callable, Callable]:
    return _stepper(task, lambda ps: Nero(ps, lr=0.01)), _stepper(task, other)


_MLP_ADAM = _pair("mlp", lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True))
_MLP_LOOP = _pair("mlp", lambda ps: LoopNero(ps, lr=0.01))
_CNN_ADAM = _pair("cnn", lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True))

BENCHMARKS = [
    Benchmark(
        name="nero_vs_adam_foreach_mlp",
        study="nero",
        what=f"{STEPS} optimiser steps on the default 20-layer MLP's 40 tensors: Nero time / "
        "torch.optim.Adam(foreach=True) time (goal: at most 1.5)",
        numerator=_MLP_ADAM[0],
        denominator=_MLP_ADAM[1],
        goal=1.5,
    ),
    Benchmark(
        name="nero_vs_adam_foreach_cnn",
        study="nero",
        what=f"{STEPS} optimiser steps on the default VGG-style CNN: Nero time / Adam(foreach=True) time",
        numerator=_CNN_ADAM[0],
        denominator=_CNN_ADAM[1],
        goal=1.5,
    ),
    Benchmark(
        name="nero_vs_per_parameter_loop_mlp",
        study="nero",
        what=f"{STEPS} steps on the default 20-layer MLP: vectorised Nero time / per-parameter loop time",
        numerator=_MLP_LOOP[0],
        denominator=_MLP_LOOP[1],
        goal=1.0,
    ),
]
