"""SNT-ASGD: sparse non-monotonically triggered averaged SGD (docs/selfish_rnn.md, "SNT-ASGD").

Phase 1 is SGD, W ← W − η(g + wd·W), at a constant η. At the end of each epoch the trigger
(:func:`nonmono_trigger`) compares the validation perplexity with the history; when it fires, phase 2 starts:
the same update (λ = 0, t0 = 0) plus a per-weight average. Per weight a clock c counts the steps of its
current life (c ← 0 where M = 0, c ← c + 1 where M = 1), μ = 1 for c ≤ 2 and 1/(c − 1) after, and
a ← W where μ = 1 else a + μ(W − a), then a ← a ⊙ M: the running mean of the weight from the second step
of its current life. A regrown weight restarts its clock (:meth:`SNTASGD.restart`). Dense tensors use the
same rule with an all-ones mask, which equals the standard ASGD average μ = 1/max(1, step − t0).
Evaluation in phase 2 uses the averages (:meth:`SNTASGD.averaged_weights`).

Masks are applied inside :meth:`SNTASGD.step` right after the update and before averaging, so masked
weights and their averages and clocks are exactly 0 after every step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from pipeline.selfish_rnn.masking import SparseMasks


def nonmono_trigger(history: list[float], value: float, nonmono: int) -> bool:
    """Checked before appending ``value``: len(hist) > nonmono and value > min(hist[:−nonmono])."""
    return len(history) > nonmono and value > min(history[:-nonmono])


class SNTASGD:
    """SGD with weight decay, then (after :meth:`start_averaging`) per-weight averaging respecting masks."""

    def __init__(
        self, model: nn.Module, lr: float, weight_decay: float = 0.0, masks: SparseMasks | None = None
    ) -> None:
        self.model, self.lr, self.weight_decay, self.masks = model, lr, weight_decay, masks
        self.params = dict(model.named_parameters())
        self.averaging = False
        self.clock: dict[str, torch.Tensor] = {}
        self.average: dict[str, torch.Tensor] = {}

    def zero_grad(self) -> None:
        """Drop every gradient (set to None)."""
        for param in self.params.values():
            param.grad = None

    def _mask(self, name: str) -> torch.Tensor | None:
        return self.masks.masks.get(name) if self.masks is not None else None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter with a gradient, masks applied, averages updated in phase 2."""
        for param in self.params.values():
            if param.grad is None:
                continue
            update = param.grad.add(param, alpha=self.weight_decay) if self.weight_decay else param.grad
            param.add_(update, alpha=-self.lr)
        if self.masks is not None:
            self.masks.apply(self.model)
        if self.averaging:
            for name, param in self.params.items():
                self._average(name, param)

    def _average(self, name: str, param: torch.Tensor) -> None:
        mask = self._mask(name)
        clock = self.clock[name]
        clock.add_(1)
        if mask is not None:
            clock.mul_(mask)
        mu = torch.where(
            clock <= 2, torch.ones_like(param), 1.0 / (clock.to(param.dtype) - 1.0).clamp(min=1.0)
        )
        average = self.average[name]
        average.copy_(torch.where(clock <= 2, param, average + mu * (param - average)))
        if mask is not None:
            average.mul_(mask)

    def start_averaging(self) -> None:
        """Switch to phase 2 (t0 = now): zero clocks and averages for every parameter."""
        self.averaging = True
        for name, param in self.params.items():
            self.clock[name] = torch.zeros_like(param, dtype=torch.int64)
            self.average[name] = torch.zeros_like(param)

    @torch.no_grad()
    def restart(self, grown: dict[str, torch.Tensor]) -> None:
        """Regrown weights start a new life: clock and average 0 where ``grown`` (no-op in phase 1)."""
        if not self.averaging:
            return
        for name, where in grown.items():
            self.clock[name].masked_fill_(where, 0)
            self.average[name].masked_fill_(where, 0.0)
        if self.masks is not None:
            for name, mask in self.masks.masks.items():
                self.clock[name].mul_(mask)
                self.average[name].mul_(mask)

    @contextmanager
    def averaged_weights(self) -> Iterator[None]:
        """Inside the block the model holds the averages (phase 2 only; raw weights otherwise)."""
        if not self.averaging:
            yield
            return
        raw = {name: param.detach().clone() for name, param in self.params.items()}
        with torch.no_grad():
            for name, param in self.params.items():
                param.copy_(self.average[name])
        try:
            yield
        finally:
            with torch.no_grad():
                for name, param in self.params.items():
                    param.copy_(raw[name])

    def state_dict(self) -> dict[str, Any]:
        """Phase flag, clocks and averages."""
        return {
            "averaging": self.averaging,
            "clock": {name: value.clone() for name, value in self.clock.items()},
            "average": {name: value.clone() for name, value in self.average.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.averaging = bool(state["averaging"])
        self.clock = {name: value.clone() for name, value in state["clock"].items()}
        self.average = {name: value.clone() for name, value in state["average"].items()}
