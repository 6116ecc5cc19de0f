"""The Fisher penalty and the gradient-norm control, by double backpropagation.

On a minibatch B with logits z = f_θ(x):

- Fisher penalty (FP): ‖(1/B)Σ_i ∇_θ ℓ(x_i, ŷ_i)‖² with ŷ_i ~ p_θ(·|x_i) sampled afresh from the detached
  logits; its expectation is Tr F / B (the score has zero mean), so it penalises the Fisher trace;
- gradient-norm penalty (GP, the paper's control): ‖∇_θ (1/B)Σ_i ℓ(x_i, y_i)‖² with the **true** labels; the
  cross terms survive, so it penalises the squared norm of the loss gradient, not Tr F.

Both are built with ``torch.autograd.grad(..., create_graph=True)`` so that ``penalty.backward()`` gives
their exact gradient (a Hessian-vector product), checked against finite differences in the tests.
:class:`PenalizedStep` is the engine step: data loss + α·penalty every ``every`` steps, plain SGD otherwise.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional

from pipeline.core.seeding import make_generator
from pipeline.fisher.trace import sample_labels

PenaltyKind = Literal["none", "fisher", "grad_norm"]
PENALTIES: tuple[str, ...] = ("none", "fisher", "grad_norm")


def squared_grad_norm(loss: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    """Σ over parameter tensors of ‖∂loss/∂p‖², differentiable in the parameters (create_graph=True)."""
    grads = torch.autograd.grad(loss, params, create_graph=True)
    return sum(g.pow(2).sum() for g in grads)


def fisher_penalty(
    logits: torch.Tensor,
    params: list[torch.Tensor],
    labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """‖∇_θ mean_i ℓ(z_i, ŷ_i)‖² on the graph of ``logits``; ŷ sampled from the logits unless ``labels``."""
    sampled = sample_labels(logits, generator) if labels is None else labels
    return squared_grad_norm(functional.cross_entropy(logits, sampled), params)


def gradient_norm_penalty(
    logits: torch.Tensor, targets: torch.Tensor, params: list[torch.Tensor]
) -> torch.Tensor:
    """‖∇_θ mean_i ℓ(z_i, y_i)‖² with the true labels (the GP control)."""
    return squared_grad_norm(functional.cross_entropy(logits, targets), params)


class PenalizedStep:
    """Engine step ``step(step, (x, y)) -> {"loss", "penalty"?, "fisher_minibatch"?}`` for SGD + penalty.

    ``kind`` is ``"none"`` (plain cross-entropy), ``"fisher"`` (FP) or ``"grad_norm"`` (GP). The penalty,
    weighted by ``alpha``, is added on steps with ``step % every == 0`` (``every = 1``: every step; the
    paper's unconfirmed cheaper choice is 10). FP's labels come from a generator seeded by
    ``(seed, "fp_labels", step)``, a pure function of the step, so a resumed run samples the same labels and
    the training RNG stream is not touched. On penalty steps ``fisher_minibatch`` records B·penalty (FP:
    the mini-batch estimate of Tr F; GP: B·‖∇L‖², not a Fisher trace). A non-finite loss skips the update.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        kind: PenaltyKind = "none",
        alpha: float = 0.0,
        every: int = 1,
        seed: int = 0,
    ) -> None:
        if kind not in PENALTIES:
            raise ValueError(f"penalty kind must be one of {PENALTIES}, got {kind!r}")
        if every < 1:
            raise ValueError(f"penalty every must be >= 1, got {every}")
        self.model, self.optimizer = model, optimizer
        self.kind, self.alpha, self.every, self.seed = kind, float(alpha), int(every), int(seed)
        self.params = [p for p in model.parameters() if p.requires_grad]

    def _penalty(self, step: int, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "fisher":
            generator = make_generator(self.seed, "fp_labels", step, device=logits.device)
            return fisher_penalty(logits, self.params, generator=generator)
        return gradient_norm_penalty(logits, y, self.params)

    def __call__(self, step: int, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
        """One update on ``batch``; returns the data loss and, on penalty steps, the penalty."""
        x, y = batch
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(x)
        loss = functional.cross_entropy(logits, y)
        metrics: dict[str, Any] = {"loss": float(loss.detach())}
        if not math.isfinite(metrics["loss"]):
            return metrics
        total = loss
        if self.kind != "none" and self.alpha > 0 and step % self.every == 0:
            penalty = self._penalty(step, logits, y)
            total = loss + self.alpha * penalty
            metrics["penalty"] = float(penalty.detach())
            metrics["fisher_minibatch"] = len(x) * metrics["penalty"]
        total.backward()
        self.optimizer.step()
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Model and optimizer states (the label sampling needs none: it is pure in the step)."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
