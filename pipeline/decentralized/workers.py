"""n copies of one model, stacked with torch.func (DESIGN.md "Decentralized training", consensus.md §5B).

Parameters live in one flat tensor ``X [rows, d]`` (row i = worker i), which is what gossip multiplies by
W. :meth:`StackedModel.grad` unflattens X into per-parameter views and evaluates every worker's loss and
gradient on its own batch with ``vmap(grad_and_value(functional_call))``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap
from torch.nn import functional


class StackedModel:
    """A parameter layout (names, shapes, offsets) and vmapped loss/gradient/forward over rows of X."""

    def __init__(
        self, model: nn.Module, loss: Callable[..., torch.Tensor] = functional.cross_entropy
    ) -> None:
        self.model = model
        self.loss = loss
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        params = dict(model.named_parameters())
        self.shapes = [params[name].shape for name in self.names]
        self.sizes = [params[name].numel() for name in self.names]
        self.dim = sum(self.sizes)
        self._grad = vmap(grad_and_value(self._loss), randomness="different")
        self._forward = vmap(self._logits, in_dims=(0, None))

    def flat_init(self, rows: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """The module's current parameters, flattened and repeated on ``rows`` rows (same init everywhere)."""
        flat = torch.cat([p.detach().reshape(-1) for p in self.model.parameters()]).to(device)
        return flat.unsqueeze(0).repeat(rows, 1)

    def unflatten(self, X: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-parameter views ``[rows, *shape]`` of ``X [rows, d]``."""
        rows = X.shape[0]
        chunks = torch.split(X, self.sizes, dim=1)
        return {
            name: chunk.reshape(rows, *shape)
            for name, chunk, shape in zip(self.names, chunks, self.shapes, strict=True)
        }

    def _logits(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, params, (x,))

    def _loss(self, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss(self._logits(params, x), y)

    def grad(
        self, X: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradients ``[rows, d]`` and losses ``[rows]``, row i on its batch ``inputs[i], targets[i]``."""
        grads, losses = self._grad(self.unflatten(X), inputs, targets)
        flat = torch.cat([grads[name].reshape(X.shape[0], -1) for name in self.names], dim=1)
        return flat, losses

    def logits(self, X: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Logits ``[rows, N, classes]`` of every row's model on the same inputs."""
        was_training = self.model.training
        self.model.eval()
        try:
            return self._forward(self.unflatten(X), inputs)
        finally:
            self.model.train(was_training)
