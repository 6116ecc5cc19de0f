"""Decentralized optimisers on row blocks ``X [rows, d]`` (D-SGD and DSGDm-N as in Kong et al. 2021;
QG-DSGDm-N as Algorithm 1 of Lin et al. 2021, with its baselines).

Each algorithm keeps its per-worker state as tensors ``[rows, d]`` (so a checkpoint restores them in
place), takes the stochastic gradient ``grad_fn(X) -> (G [rows, d], loss [rows])`` of the local objectives,
adds weight decay ``wd·x`` itself, and communicates only through ``comm`` (:mod:`.comm`) and the gossip
policy. ``step`` returns the new parameters and the per-row losses at the current point.

========================= ============================================================================
name                      update (per worker i, step t; g = clip(∇F_i(x)) + wd·x)
========================= ============================================================================
``dsgd``                  x ← gossip(x − η g)
``dsgdm_n``               buf ← β buf + g;  x ← gossip(x − η (g + β buf))
``allreduce_sgdm_n``      ḡ = avg_i ∇F_i + wd x;  buf ← β buf + ḡ;  x ← x − η (ḡ + β buf)
``qg_dsgdm_n``            m = β m̂ + g; x⁺ = gossip(x − η(g + β m)); m̂ ← (1−μ')m̂ + μ'(x − x⁺)/η
``d2``                    first: x ← gossip(x − η g); then x ← gossip(x − η[(x⁻ − x)/η⁻ + g − g⁻])
``gradient_tracking``     y ← gossip(y) + g − g⁻ (y⁰ = g⁰); x ← gossip(x) − η LocalMomentum(y)
========================= ============================================================================

clip(·) is the identity unless the run clips each worker's stochastic gradient to a norm (the runner's
``grad_clip``, applied in :meth:`.workers.StackedModel.grad`). ``buf`` starts at 0, so the first DSGDm-N
step has buf = g as in the group code. Nesterov is on for all momentum methods (``nesterov=False`` gives
heavy ball: u = buf).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from pipeline.decentralized.comm import Comm, Gossip

GradFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Algorithm:
    """Base: hyperparameters and the per-worker state tensors (see the module table)."""

    momentum: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = True
    gossip: Gossip = field(default_factory=Gossip)
    name: ClassVar[str] = "base"
    state_keys: ClassVar[tuple[str, ...]] = ()

    def init_state(self, X: torch.Tensor) -> dict[str, torch.Tensor]:
        """Zero state tensors shaped like X, plus scalar flags where needed."""
        return {key: torch.zeros_like(X) for key in self.state_keys}

    def _gradient(self, grad_fn: GradFn, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grads, losses = grad_fn(X)
        return grads + self.weight_decay * X, losses

    def _direction(self, g: torch.Tensor, buf: torch.Tensor) -> torch.Tensor:
        """Update buf in place (buf ← β buf + g) and return the Nesterov (or heavy-ball) direction."""
        buf.mul_(self.momentum).add_(g)
        return g + self.momentum * buf if self.nesterov else buf.clone()

    def step(
        self, X: torch.Tensor, grad_fn: GradFn, lr: float, state: dict[str, torch.Tensor], comm: Comm
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


@dataclass
class DSGD(Algorithm):
    """Plain D-SGD: local SGD step, then gossip (no momentum)."""

    name = "dsgd"

    def step(self, X, grad_fn, lr, state, comm):
        g, losses = self._gradient(grad_fn, X)
        return self.gossip(comm, X - lr * g), losses


@dataclass
class DSGDmN(Algorithm):
    """D-SGD with local Nesterov momentum (DSGDm-N)."""

    name = "dsgdm_n"
    state_keys = ("buf",)

    def step(self, X, grad_fn, lr, state, comm):
        g, losses = self._gradient(grad_fn, X)
        return self.gossip(comm, X - lr * self._direction(g, state["buf"])), losses


@dataclass
class AllReduceSGDmN(Algorithm):
    """Centralized mini-batch SGD with a global Nesterov buffer on the all-reduced gradient.

    Workers hold identical x and buf; the gradient (without wd) is averaged exactly, then wd is added.
    """

    name = "allreduce_sgdm_n"
    state_keys = ("buf",)

    def step(self, X, grad_fn, lr, state, comm):
        grads, losses = grad_fn(X)
        g = comm.average(grads) + self.weight_decay * X
        self.gossip.last_rounds = 0
        return X - lr * self._direction(g, state["buf"]), losses


@dataclass
class QGDSGDmN(Algorithm):
    """QG-DSGDm-N (Lin et al. 2021, Algorithm 1): the buffer m̂ tracks the model displacement incl. gossip.

    ``buffer_rate`` is μ' (0.1 in the code, independent of β). The displacement uses the current η_t.
    """

    buffer_rate: float = 0.1
    name = "qg_dsgdm_n"
    state_keys = ("qg_buf",)

    def step(self, X, grad_fn, lr, state, comm):
        g, losses = self._gradient(grad_fn, X)
        m_hat = state["qg_buf"]
        m = self.momentum * m_hat + g
        u = g + self.momentum * m if self.nesterov else m
        X_new = self.gossip(comm, X - lr * u)
        displacement = (X - X_new) / lr
        m_hat.mul_(1.0 - self.buffer_rate).add_(self.buffer_rate * displacement)
        return X_new, losses


@dataclass
class D2(Algorithm):
    """D² (Tang et al. 2018, a QGM baseline), lr-change-robust form; no momentum; the first step is D-SGD."""

    momentum: float = 0.0
    name = "d2"
    state_keys = ("x_prev", "g_prev")

    def init_state(self, X):
        return {**super().init_state(X), "lr_prev": torch.zeros(()), "started": torch.zeros(())}

    def step(self, X, grad_fn, lr, state, comm):
        g, losses = self._gradient(grad_fn, X)
        if bool(state["started"]):
            lr_prev = float(state["lr_prev"])
            half = X - lr * ((state["x_prev"] - X) / lr_prev + g - state["g_prev"])
        else:
            half = X - lr * g
        state["x_prev"].copy_(X)
        state["g_prev"].copy_(g)
        state["lr_prev"].fill_(lr)
        state["started"].fill_(1.0)
        return self.gossip(comm, half), losses


@dataclass
class GradientTracking(Algorithm):
    """Gradient tracking with local (Nesterov) momentum on the tracker (a QGM baseline).

    [x; y] is gossiped as one message (twice the communication of D-SGD); ``momentum=0`` is plain GT.
    """

    name = "gradient_tracking"
    state_keys = ("y", "g_prev", "buf")

    def init_state(self, X):
        return {**super().init_state(X), "started": torch.zeros(())}

    def step(self, X, grad_fn, lr, state, comm):
        g, losses = self._gradient(grad_fn, X)
        d = X.shape[1]
        if bool(state["started"]):
            mixed = self.gossip(comm, torch.cat([X, state["y"]], dim=1))
            X_mixed, y = mixed[:, :d], mixed[:, d:] + g - state["g_prev"]
        else:
            X_mixed, y = self.gossip(comm, X), g
        state["y"].copy_(y)
        state["g_prev"].copy_(g)
        state["started"].fill_(1.0)
        u = self._direction(y, state["buf"]) if self.momentum > 0 else y
        return X_mixed - lr * u, losses


ALGORITHMS: dict[str, type[Algorithm]] = {
    cls.name: cls for cls in (DSGD, DSGDmN, AllReduceSGDmN, QGDSGDmN, D2, GradientTracking)
}


def make_algorithm(name: str, **options) -> Algorithm:
    """Construct algorithm ``name`` (keys of :data:`ALGORITHMS`) with its hyperparameters."""
    if name not in ALGORITHMS:
        raise KeyError(f"unknown algorithm {name!r}; known: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name](**options)
