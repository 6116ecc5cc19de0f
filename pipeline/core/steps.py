"""The ordinary supervised update as an engine step: forward, loss, backward, clip, optimizer, scheduler.

Studies with their own update order (DirectPred's predictor overwrite, Selfish-RNN's masks, the Fisher
penalty's double backprop, decentralized gossip) write their own ``step(step, batch) -> dict`` instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from pipeline.core.accel import autocast, grad_scaler

LossOutput = torch.Tensor | tuple[torch.Tensor, dict[str, Any]]


class SupervisedStep:
    """``step(step, batch) -> {"loss": ..., [grad_norm], **extra}`` for ``loss_fn(model, batch)``.

    ``loss_fn`` returns the loss tensor, or ``(loss, extra metrics)``. A non-finite loss skips the update
    (parameters stay as they were) and is returned for the engine to record as divergence.
    ``state_dict`` covers the model, optimizer, scheduler and AMP scaler, so ``{"train": step}`` is a
    complete engine state for the usual case.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable[[nn.Module, Any], LossOutput],
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        grad_clip: float | None = None,
        amp: bool = False,
    ) -> None:
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.scheduler, self.grad_clip = scheduler, grad_clip
        self.device = next(model.parameters()).device
        self.amp = amp
        self.scaler = grad_scaler(self.device, amp)

    def __call__(self, step: int, batch: Any) -> dict[str, Any]:
        """One update on ``batch``; returns the metrics of this step."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.amp):
            output = self.loss_fn(self.model, batch)
        loss, extra = output if isinstance(output, tuple) else (output, {})
        value = float(loss.detach())
        if not math.isfinite(value):
            return {"loss": value, **extra}
        self.scaler.scale(loss).backward()
        metrics = {"loss": value, **extra}
        if self.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            metrics["grad_norm"] = float(norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Model, optimizer, scheduler and scaler states."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


def cross_entropy_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The default ``loss_fn``: mean cross-entropy of ``model(x)`` against ``y`` for a batch ``(x, y)``."""
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)
