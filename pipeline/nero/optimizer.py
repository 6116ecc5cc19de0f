"""The Nero optimiser (the paper's Algorithm 1): per-neuron projection and per-neuron normalised steps.

A *neuron* of a parameter with two or more dimensions is a slice ``p[i]`` along dim 0, flattened (a row of a
Linear weight, an output channel of a Conv weight, a row of an Embedding or of an LSTM gate matrix). Each
element of a one-dimensional parameter (bias, gain) is its own unit.

Construction: every constrained parameter (dim > 1) is projected in place — each neuron made zero-mean
(switch ``zero_mean``) and unit-norm (switch ``unit_norm``) — and per parameter the state holds

- ``v``: one running second moment per neuron (shape ``[rows, 1]``, so ``len(v) == v.numel() == rows``),
  or one per element for 1-D parameters;
- ``scale``: the mean neuron norm after projection (1 for unit-norm weights), mean ``|b|`` for 1-D tensors,
  0.01 when that is 0 (zero-initialised biases). It is frozen here, and saved in ``state_dict`` so that a
  resumed run keeps it (re-creating the optimiser would recompute it from the current biases);
- ``step``: the number of updates.

Step (Algorithm 1): ``v ← βv + (1−β)‖g_i‖²``, ``p_i ← p_i − lr·scale·g_i / sqrt(v/(1−β^t))``, then the
projection again. ``eps = 0`` is the faithful form (no ε; a neuron whose gradient has always been exactly
zero gets no update, the code's NaN → 0); ``eps > 0`` is the form of pytorch-optimizer's ``Nero`` (ε added to
the denominator and to the norm in the projection), with which the tests compare.

The update is vectorised over the parameters of a group with ``torch._foreach_*`` kernels acting on
``[neurons, fan_in]`` views of the parameters; the per-neuron reductions are one ``vector_norm`` (gradient)
and one ``mean`` and one ``vector_norm`` (projection) per tensor, never a Python loop over neurons.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


def rows(x: torch.Tensor) -> torch.Tensor:
    """``x`` as ``[neurons, fan_in]``: a view for ≥2-D tensors, ``[n, 1]`` (one unit per element) for 1-D."""
    if x.dim() == 0:
        return x.view(1, 1)
    return x.view(x.shape[0], -1) if x.dim() > 1 else x.view(-1, 1)


def neuron_norm(x: torch.Tensor) -> torch.Tensor:
    """N(x): the L2 norm of every neuron, shape ``[rows, 1]``; ``|x|`` per element for 1-D tensors."""
    return torch.linalg.vector_norm(rows(x), dim=1, keepdim=True)


def neuron_mean(x: torch.Tensor) -> torch.Tensor:
    """M(x): the mean of every neuron, shape ``[rows, 1]`` (undefined for 1-D tensors)."""
    if x.dim() <= 1:
        raise ValueError("neuron_mean is not defined for one-dimensional tensors (they have no neurons)")
    return rows(x).mean(dim=1, keepdim=True)


def project_(
    weights: list[torch.Tensor], zero_mean: bool = True, unit_norm: bool = True, eps: float = 0.0
) -> None:
    """Project ``[neurons, fan_in]`` row views in place: zero-mean, then unit-norm rows.

    One reduction per tensor and constraint (``mean``, ``vector_norm``); the subtraction and division are
    ``foreach`` kernels. (``var_mean`` would fuse the two reductions but is several times slower on CPU.)
    """
    if not weights:
        return
    if zero_mean:
        torch._foreach_sub_(weights, [w.mean(dim=1, keepdim=True) for w in weights])
    if unit_norm:
        norms = [torch.linalg.vector_norm(w, dim=1, keepdim=True) for w in weights]
        if eps:
            torch._foreach_add_(norms, eps)
        torch._foreach_div_(weights, norms)


class Nero(torch.optim.Optimizer):
    """Nero (Algorithm 1 of the paper); ``Nero(params, lr=0.01, beta=0.999)`` is the paper's default.

    ``zero_mean`` and ``unit_norm`` are the two constraints of the paper's ablation (Fig. 1,
    Nero_abl(c1, c2)); ``constraints=False`` turns both off.
    ``eps`` selects the faithful (0) or the ε form (see the module).
    Parameters are projected when the optimiser is constructed, as in the paper's code.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.01,
        beta: float = 0.999,
        constraints: bool = True,
        zero_mean: bool = True,
        unit_norm: bool = True,
        eps: float = 0.0,
    ) -> None:
        if not lr > 0.0:
            raise ValueError(f"Nero: lr must be > 0, got {lr}")
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Nero: beta must be in [0, 1), got {beta}")
        if eps < 0.0:
            raise ValueError(f"Nero: eps must be >= 0, got {eps}")
        defaults = {
            "lr": lr,
            "beta": beta,
            "zero_mean": constraints and zero_mean,
            "unit_norm": constraints and unit_norm,
            "eps": eps,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            self._init_group(group)

    @torch.no_grad()
    def _init_group(self, group: dict[str, Any]) -> None:
        """Project the group's weights and create ``v``, ``scale`` and ``step`` for every parameter."""
        constrained = [rows(p) for p in group["params"] if p.dim() > 1]
        project_(constrained, group["zero_mean"], group["unit_norm"], group["eps"])
        for p in group["params"]:
            scale = neuron_norm(p).mean() if p.numel() else p.new_zeros(())
            self.state[p] = {
                "step": 0,
                "v": torch.zeros_like(neuron_norm(p)),
                "scale": torch.where(scale == 0.0, torch.full_like(scale, 0.01), scale),
            }

    @torch.no_grad()
    def step(self, closure=None):
        """One Nero update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                self._update(group, params)
        return loss

    def _update(self, group: dict[str, Any], params: list[torch.Tensor]) -> None:
        beta, eps = group["beta"], group["eps"]
        if any(p.grad.is_sparse for p in params):
            raise RuntimeError("Nero does not support sparse gradients")
        weights = [rows(p) for p in params]  # in-place views: every update below acts on neurons
        grads = [rows(p.grad) if p.grad.is_contiguous() else rows(p.grad.contiguous()) for p in params]
        states = [self.state[p] for p in params]
        for state in states:
            state["step"] += 1
        v = [state["v"] for state in states]
        norms = [torch.linalg.vector_norm(g, dim=1, keepdim=True) for g in grads]
        torch._foreach_mul_(v, beta)
        torch._foreach_addcmul_(v, norms, norms, value=1.0 - beta)
        # denominator sqrt(v / (1 - β^t)) / scale, so that p -= lr · g / denominator
        denominators = torch._foreach_div(v, [1.0 - beta ** state["step"] for state in states])
        torch._foreach_sqrt_(denominators)
        if eps:
            torch._foreach_add_(denominators, eps)
        else:
            # v = 0 only where g = 0, so a floor on the denominator is the official code's 0/0 → 0
            torch._foreach_clamp_min_(denominators, torch.finfo(denominators[0].dtype).tiny)
        torch._foreach_div_(denominators, [state["scale"] for state in states])
        torch._foreach_addcdiv_(weights, grads, denominators, value=-group["lr"])
        constrained = [w for w, p in zip(weights, params, strict=True) if p.dim() > 1]
        project_(constrained, group["zero_mean"], group["unit_norm"], eps)


def state_numel(optimizer: torch.optim.Optimizer) -> int:
    """Number of floating-point numbers an optimiser keeps per parameter (step counters excluded)."""
    total = 0
    for state in optimizer.state.values():
        for key, value in state.items():
            if key != "step" and isinstance(value, torch.Tensor) and value.is_floating_point():
                total += value.numel()
    return total


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of every tensor in the optimiser state (step counters and scalars included)."""
    return sum(
        value.numel() * value.element_size()
        for state in optimizer.state.values()
        for value in state.values()
        if isinstance(value, torch.Tensor)
    )
