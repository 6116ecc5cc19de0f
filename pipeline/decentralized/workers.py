"""n copies of one model, stacked with torch.func (a single-process simulator of the workers).

Parameters live in one flat tensor ``X [rows, d]`` (row i = worker i), which is what gossip multiplies by
W. :meth:`StackedModel.grad` unflattens X into per-parameter views, evaluates every worker's loss on its own
batch in one stacked forward pass, and takes ONE ordinary autograd backward of the sum of the per-worker
losses with respect to X. Worker i's loss depends only on row i, so row i of that gradient is exactly
∇F_i(x_i) (no cross terms), and one backward over the whole stack costs far less than
``vmap(grad_and_value(functional_call))`` (a transform per call). The forward is the model's own
``stacked_forward(params, inputs)`` where it has one (:class:`.models.GroupNormCNN1D`: plain grouped ops,
no vmap), else ``vmap(functional_call)``.

``clip_norm`` > 0 clips each row's gradient to Euclidean norm at most ``clip_norm`` (g ← g·min(1, c/‖g‖),
row by row, as ``torch.nn.utils.clip_grad_norm_`` does for one worker's whole parameter vector): every
worker's stochastic gradient is clipped on its own before any averaging or gossip, so a process holding
one row (the torchrun backend) computes the same clipped gradient as the simulator holding all n.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn import functional


class StackedModel:
    """A parameter layout (names, shapes, offsets) and stacked losses/gradients/forward over rows of X."""

    def __init__(
        self,
        model: nn.Module,
        loss: Callable[..., torch.Tensor] = functional.cross_entropy,
        clip_norm: float = 0.0,
    ) -> None:
        if clip_norm < 0:
            raise ValueError(f"clip_norm must be >= 0 (0 = no clipping), got {clip_norm}")
        self.model = model
        self.loss = loss
        self.clip_norm = clip_norm
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        params = dict(model.named_parameters())
        self.shapes = [params[name].shape for name in self.names]
        self.sizes = [params[name].numel() for name in self.names]
        self.dim = sum(self.sizes)
        self._stacked_logits = vmap(self._logits, randomness="different")
        self.own_forward = callable(getattr(model, "stacked_forward", None)) and self.names == list(params)
        if self.own_forward:
            self._stacked_logits = model.stacked_forward
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

    def losses(self, X: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per-worker losses ``[rows]``: row i's model on ``inputs[i]`` against ``targets[i]``.

        Cross-entropy (the default) is taken over all rows at once and averaged per row, which is the
        per-row mean cross-entropy; any other loss is vmapped.
        """
        logits = self._stacked_logits(self.unflatten(X), inputs)
        if self.loss is not functional.cross_entropy:
            return vmap(self.loss)(logits, targets)
        per_example = functional.cross_entropy(logits.flatten(0, 1), targets.flatten(0, 1), reduction="none")
        return per_example.reshape(targets.shape[:2]).mean(dim=1)

    def grad(
        self, X: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradients ``[rows, d]`` and losses ``[rows]``, row i on its batch ``inputs[i], targets[i]``.

        One backward of Σ_i F_i(x_i) through the stacked forward: ∂/∂x_i Σ_j F_j(x_j) = ∇F_i(x_i) because
        F_j does not depend on x_i for j ≠ i (see the module docstring). With ``clip_norm`` > 0 each row
        is then clipped to that norm.
        """
        with torch.enable_grad():
            leaf = X.detach().requires_grad_(True)
            losses = self.losses(leaf, inputs, targets)
            (flat,) = torch.autograd.grad(losses.sum(), leaf)
        if self.clip_norm > 0:
            norms = flat.norm(dim=1, keepdim=True)
            flat = flat * torch.clamp(self.clip_norm / (norms + 1e-6), max=1.0)
        return flat, losses.detach()

    def logits(self, X: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Logits ``[rows, N, classes]`` of every row's model on the same inputs (the model's own
        ``stacked_forward`` on the inputs shared by every row where it has one, else vmap)."""
        was_training = self.model.training
        self.model.eval()
        try:
            if self.own_forward:
                shared = inputs.unsqueeze(0).expand(X.shape[0], *inputs.shape)
                return self._stacked_logits(self.unflatten(X), shared)
            return self._forward(self.unflatten(X), inputs)
        finally:
            self.model.train(was_training)
