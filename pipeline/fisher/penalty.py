"""The Fisher penalty and the gradient-norm control, by double backpropagation.

On a minibatch B with logits z = f_θ(x):

- Fisher penalty (FP): ‖(1/B)Σ_i ∇_θ ℓ(x_i, ŷ_i)‖² with ŷ_i ~ p_θ(·|x_i) sampled afresh from the detached
  logits; its expectation is Tr F / B (the score has zero mean), so it penalises the Fisher trace;
- gradient-norm penalty (GP, the paper's control): ‖∇_θ (1/B)Σ_i ℓ(x_i, y_i)‖² with the **true** labels; the
  cross terms survive, so it penalises the squared norm of the loss gradient, not Tr F;
- input-gradient penalty (GPx, control): ‖∇_X (1/B)Σ_i ℓ(x_i, y_i)‖² = (1/B²)Σ_i ‖∇_{x_i} ℓ(x_i, y_i)‖², the
  gradient with respect to the *inputs* (double backpropagation in input space), true labels; it
  penalises the sensitivity of the loss to the input, not to the parameters;
- random-label penalty (GPr, control): ‖∇_θ (1/B)Σ_i ℓ(x_i, r_i)‖² with r_i drawn uniformly from the
  classes, afresh every step; the uniform distribution is not the model's, so the score does not have zero
  mean under it and the cross terms survive (it is not an estimate of Tr F).

All are built with ``torch.autograd.grad(..., create_graph=True)`` so that ``penalty.backward()`` gives
their exact gradient (a Hessian-vector product), checked against finite differences in the tests.
:class:`PenalizedStep` is the engine step: data loss + α·penalty every ``every`` steps, plain SGD otherwise.

**Mode.** The penalty is computed on the logits of the training forward pass (train mode: dropout
active) unless ``mode="eval"``, which takes it from a second forward pass in eval mode when the model has
a module that behaves differently in the two modes (dropout, batch norm); the Tr F measurement
(:mod:`pipeline.fisher.trace`) takes the same ``mode``, so that the penalty and the measured trace are the
same quantity. Models without such modules give the same numbers in both modes.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional

from pipeline.core.seeding import make_generator
from pipeline.fisher.trace import sample_labels

PenaltyKind = Literal["none", "fisher", "grad_norm", "input_grad", "random_label"]
PENALTIES: tuple[str, ...] = ("none", "fisher", "grad_norm", "input_grad", "random_label")
MODES: tuple[str, ...] = ("train", "eval")


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


def input_gradient_penalty(
    model: nn.Module, x: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, ‖∇_x mean_i ℓ(f(x_i), y_i)‖²) with the true labels (the GPx control), differentiable in the
    parameters; ``x`` is detached and re-enters the graph as a leaf."""
    inputs = x.detach().requires_grad_(True)
    logits = model(inputs)
    (grad_x,) = torch.autograd.grad(functional.cross_entropy(logits, targets), inputs, create_graph=True)
    return logits, grad_x.pow(2).sum()


def random_labels(
    count: int, num_classes: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """``count`` labels drawn uniformly from ``num_classes`` classes (the GPr control's labels)."""
    return torch.randint(0, num_classes, (count,), generator=generator, device=device)


def random_label_penalty(
    logits: torch.Tensor, params: list[torch.Tensor], generator: torch.Generator | None = None
) -> torch.Tensor:
    """‖∇_θ mean_i ℓ(z_i, r_i)‖² with r_i uniform over the classes (the GPr control)."""
    labels = random_labels(len(logits), logits.shape[-1], generator, logits.device)
    return squared_grad_norm(functional.cross_entropy(logits, labels), params)


def has_mode_dependent_modules(model: nn.Module) -> bool:
    """Whether the model computes differently in train and eval mode (dropout, batch norm)."""
    kinds = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._NormBase)
    return any(isinstance(module, kinds) for module in model.modules())


class PenalizedStep:
    """Engine step ``step(step, (x, y)) -> {"loss", "penalty"?, "fisher_minibatch"?}`` for SGD + penalty.

    ``kind`` is ``"none"`` (plain cross-entropy), ``"fisher"`` (FP), ``"grad_norm"`` (GP),
    ``"input_grad"`` (GPx) or ``"random_label"`` (GPr). The penalty, weighted by ``alpha``, is added on
    steps with ``step % every == 0`` (``every = 1``: every step; the paper's unconfirmed cheaper choice is
    10). The sampled labels of FP and GPr come from generators seeded by ``(seed, "fp_labels", step)`` and
    ``(seed, "gpr_labels", step)``, pure functions of the step, so a resumed run samples the same labels and
    the training RNG stream is not touched. ``mode`` is the mode the penalty is computed in (module
    docstring). On FP steps ``fisher_minibatch`` records B·penalty, the mini-batch estimate of Tr F (the
    other penalties are not Fisher traces). A non-finite loss skips the update.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        kind: PenaltyKind = "none",
        alpha: float = 0.0,
        every: int = 1,
        seed: int = 0,
        mode: str = "train",
    ) -> None:
        if kind not in PENALTIES:
            raise ValueError(f"penalty kind must be one of {PENALTIES}, got {kind!r}")
        if every < 1:
            raise ValueError(f"penalty every must be >= 1, got {every}")
        if mode not in MODES:
            raise ValueError(f"penalty mode must be one of {MODES}, got {mode!r}")
        self.model, self.optimizer = model, optimizer
        self.kind, self.alpha, self.every, self.seed = kind, float(alpha), int(every), int(seed)
        self.params = [p for p in model.parameters() if p.requires_grad]
        # a separate eval-mode forward pass only where the modes differ
        self.separate_eval = mode == "eval" and has_mode_dependent_modules(model)

    def _penalty(
        self, step: int, logits: torch.Tensor | None, x: torch.Tensor, y: torch.Tensor
    ) -> torch.Tensor:
        """The penalty on ``logits`` (a forward pass of ``x``); GPx (``logits`` None) makes its own pass."""
        if self.kind == "input_grad":
            return input_gradient_penalty(self.model, x, y)[1]
        if self.kind == "fisher":
            generator = make_generator(self.seed, "fp_labels", step, device=logits.device)
            return fisher_penalty(logits, self.params, generator=generator)
        if self.kind == "random_label":
            generator = make_generator(self.seed, "gpr_labels", step, device=logits.device)
            return random_label_penalty(logits, self.params, generator)
        return gradient_norm_penalty(logits, y, self.params)

    def _eval_penalty(self, step: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The penalty from a separate forward pass in eval mode (``mode="eval"`` with dropout)."""
        self.model.eval()
        try:
            return self._penalty(step, None if self.kind == "input_grad" else self.model(x), x, y)
        finally:
            self.model.train()

    def __call__(self, step: int, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
        """One update on ``batch``; returns the data loss and, on penalty steps, the penalty."""
        x, y = batch
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        penalised = self.kind != "none" and self.alpha > 0 and step % self.every == 0
        penalty = None
        if penalised and self.kind == "input_grad" and not self.separate_eval:
            logits, penalty = input_gradient_penalty(self.model, x, y)  # one forward for loss and penalty
        else:
            logits = self.model(x)
        loss = functional.cross_entropy(logits, y)
        metrics: dict[str, Any] = {"loss": float(loss.detach())}
        if not math.isfinite(metrics["loss"]):
            return metrics
        total = loss
        if penalised:
            if penalty is None:
                penalty = (
                    self._eval_penalty(step, x, y)
                    if self.separate_eval
                    else self._penalty(step, logits, x, y)
                )
            total = loss + self.alpha * penalty
            metrics["penalty"] = float(penalty.detach())
            if self.kind == "fisher":
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
