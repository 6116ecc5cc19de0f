"""Learning-rate schedule and training phases (the protocol of Kong et al. 2021 and Lin et al. 2021).

Linear warm-up per step from ``warmup_from`` to ``lr`` over ``warmup_steps``, then ×``decay`` at each
milestone (fractions of the run). Phase k (1-based) runs from milestone k−1 to milestone k: with the
default milestones (0.5, 0.75) phase 1 is before the first decay and phase 3 after the second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """Step-decay schedule with optional linear warm-up; steps are 0-based."""

    lr: float
    steps: int
    milestones: Sequence[float] = (0.5, 0.75)
    decay: float = 0.1
    warmup_steps: int = 0
    warmup_from: float | None = None

    def boundaries(self) -> list[int]:
        """Step indices where a decay takes effect (the first step of phases 2, 3, ...)."""
        return [round(fraction * self.steps) for fraction in self.milestones]

    def phase(self, step: int) -> int:
        """1-based phase of ``step``."""
        return 1 + sum(step >= boundary for boundary in self.boundaries())

    def lr_at(self, step: int) -> float:
        """Learning rate of step ``step``."""
        lr = self.lr * self.decay ** (self.phase(step) - 1)
        if step < self.warmup_steps:
            start = self.lr if self.warmup_from is None else self.warmup_from
            lr = start + (self.lr - start) * step / self.warmup_steps
        return lr
