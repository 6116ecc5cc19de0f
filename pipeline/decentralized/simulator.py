"""One synchronous step of n simulated workers, with phases and consensus control (Kong et al. 2021).

The state is the stacked parameters ``X [n, d]`` and the algorithm's state tensors. Each step may run the
gossip algorithm or the all-reduce baseline (the dec-phase-k protocol: decentralized only in the phases
listed in ``decentralized_phases``, exact averaging elsewhere). Entering an all-reduce phase averages the
models and momentum buffers once; workers enter a decentralized phase equal. ``targets`` maps a phase to
a consensus-distance target Ξ (control: gossip until Ξ ≤ target). Ξ² is measured after every step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from pipeline.decentralized.algorithms import Algorithm, AllReduceSGDmN
from pipeline.decentralized.comm import Comm
from pipeline.decentralized.schedule import Schedule

Batch = tuple[torch.Tensor, torch.Tensor]


class Simulator:
    """Advance ``X`` and ``state`` by one step; see the module docstring."""

    def __init__(
        self,
        X: torch.Tensor,
        grad: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
        comm: Comm,
        algorithm: Algorithm,
        schedule: Schedule,
        decentralized_phases: Sequence[int] | None = None,
        targets: Mapping[int, float] | None = None,
    ) -> None:
        self.X = X
        self.grad = grad
        self.comm = comm
        self.algorithm = algorithm
        self.schedule = schedule
        self.decentralized_phases = decentralized_phases
        self.targets = dict(targets or {})
        self.allreduce = AllReduceSGDmN(
            momentum=algorithm.momentum, weight_decay=algorithm.weight_decay, nesterov=algorithm.nesterov
        )
        self.state = algorithm.init_state(X)
        self.last_step = -1  # the latest step taken (what an evaluation right after it sees)
        if decentralized_phases is not None and "buf" not in self.state:
            self.state["buf"] = torch.zeros_like(X)

    def decentralized(self, step: int) -> bool:
        """Whether ``step`` gossips (True) or all-reduces (False)."""
        phases = self.decentralized_phases
        return phases is None or self.schedule.phase(step) in phases

    def _enter_allreduce(self) -> None:
        """Average the models and every per-worker state tensor once (phase transition)."""
        with torch.no_grad():
            self.X.copy_(self.comm.average(self.X))
            for value in self.state.values():
                if value.shape == self.X.shape:
                    value.copy_(self.comm.average(value))

    def step(self, step: int, batch: Batch) -> dict[str, torch.Tensor | float]:
        """Step ``step`` on ``batch = (inputs [n, B, ...], targets [n, B])``; returns loss, Ξ², rounds, lr."""
        inputs, targets = batch
        self.last_step = step
        lr = self.schedule.lr_at(step)
        gossiping = self.decentralized(step)
        if not gossiping and step > 0 and self.decentralized(step - 1):
            self._enter_allreduce()
        algorithm = self.algorithm if gossiping else self.allreduce
        algorithm.gossip.target = self.targets.get(self.schedule.phase(step)) if gossiping else None
        with torch.no_grad():
            X, losses = algorithm.step(
                self.X, lambda X: self.grad(X, inputs, targets), lr, self.state, self.comm
            )
        self.X.copy_(X)
        return {
            "loss": losses.mean(),
            "xi_sq": self.comm.xi_sq(self.X),
            "gossip_rounds": float(algorithm.gossip.last_rounds),
            "lr": lr,
        }
