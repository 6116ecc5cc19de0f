"""The trace of the Fisher information matrix, with labels sampled from the model.

Tr F = E_x E_{ŷ~p_θ(·|x)} ‖∇_θ ℓ(x, ŷ)‖², ℓ the cross-entropy. Four estimators, all over a fixed set of
examples ``x``:

- :func:`fisher_trace_exact`: the expectation over ŷ done exactly, Σ_c p_c(x)‖∇ℓ(x, c)‖² (one vectorised
  per-example pass per class); the reference for tests;
- :func:`fisher_trace_sampled`: one ŷ per example drawn from p_θ, per-example squared norms with
  ``torch.func`` (``vmap(grad(...))``), averaged: unbiased, the measurement used during training;
- :func:`fisher_trace_loop`: the same numbers with a Python loop of B backward passes (benchmark baseline);
- :func:`minibatch_trace_estimate`: B·‖(1/B)Σ_i ∇ℓ(x_i, ŷ_i)‖², one backward pass; unbiased for Tr F because
  the score has zero mean under the model, so the cross terms vanish in expectation.

Never pass the data labels here: with them the same formulas give the *empirical* Fisher.
Models must not couple examples (no training-mode batch norm); every estimator evaluates the model in
eval mode and leaves its train/eval mode and its ``.grad`` fields as they were, except
:func:`fisher_trace_sampled` with ``mode="train"``: the Tr F of the model as it trains (dropout active),
the quantity the Fisher penalty penalises when it is computed in train mode. Each example then gets its
own dropout mask, and its label is sampled from the logits of that same forward pass (as the penalty
does); the masks come from a torch seed drawn from ``generator`` inside ``torch.random.fork_rng``, so the
measurement is a pure function of the generator and leaves the global random stream untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional


@contextmanager
def _eval(model: nn.Module) -> Iterator[nn.Module]:
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def sample_labels(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One label per row drawn from softmax(logits) (detached): ŷ ~ p_θ(·|x)."""
    probs = torch.softmax(logits.detach().float(), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def _trainable(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}


GRAD_BUDGET_ELEMENTS = 2**28  # per-example gradients held at once: 1 GiB of float32


def chunk_length(chunk_size: int | None, examples: int, parameters: int) -> int:
    """Examples per vmap call: ``chunk_size`` (all when None), capped so that the chunk's per-example
    gradients (``chunk × parameters`` numbers) stay within :data:`GRAD_BUDGET_ELEMENTS`."""
    return max(1, min(chunk_size or examples, GRAD_BUDGET_ELEMENTS // max(parameters, 1), examples))


def _sq_grad_norms_in_chunks(
    loss_one: Callable[..., torch.Tensor],
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    per_row: torch.Tensor,
    chunk_size: int | None,
    randomness: str = "error",
) -> torch.Tensor:
    """‖∇_θ loss_one(θ, x_i, per_row_i)‖² for every row, one vmap per chunk of rows: only a chunk's
    per-example gradients exist at a time (vmap's own ``chunk_size`` still returns all of them at once,
    1,000 × 9.2 M numbers for VGG-11, more than a 24 GB machine holds)."""
    length = chunk_length(chunk_size, len(x), sum(p.numel() for p in params.values()))
    per_example = vmap(grad(loss_one), in_dims=(None, 0, 0), randomness=randomness)
    norms = []
    for start in range(0, len(x), length):
        grads = per_example(params, x[start : start + length], per_row[start : start + length])
        norms.append(sum(g.pow(2).flatten(1).sum(1) for g in grads.values()))
    return torch.cat(norms)


def per_example_sq_grad_norms(
    model: nn.Module, x: torch.Tensor, labels: torch.Tensor, chunk_size: int | None = None
) -> torch.Tensor:
    """‖∇_θ ℓ(x_i, labels_i)‖² for every row i, vectorised with ``torch.func.vmap(grad(...))``."""
    params = _trainable(model)
    buffers = {name: b.detach() for name, b in model.named_buffers()}

    def loss_one(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return functional.cross_entropy(logits, yi.unsqueeze(0))

    with _eval(model):
        return _sq_grad_norms_in_chunks(loss_one, params, x, labels, chunk_size)


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with _eval(model), torch.no_grad():
        return model(x)


def fisher_trace_sampled(
    model: nn.Module,
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    chunk_size: int | None = 256,
    mode: str = "eval",
) -> float:
    """Tr F on ``x`` with one ŷ_i ~ p_θ(·|x_i) per example: mean_i ‖∇ℓ(x_i, ŷ_i)‖² (vmap in chunks of
    ``chunk_size`` examples, which bounds the memory of the per-example gradients on large models).
    ``mode="train"`` measures the model in train mode (dropout active; module docstring)."""
    if mode == "train":
        return float(_train_mode_sq_grad_norms(model, x, generator, chunk_size).mean())
    if mode != "eval":
        raise ValueError(f"trace mode must be 'train' or 'eval', got {mode!r}")
    labels = sample_labels(_logits(model, x), generator)
    return float(per_example_sq_grad_norms(model, x, labels, chunk_size).mean())


def _train_mode_sq_grad_norms(
    model: nn.Module, x: torch.Tensor, generator: torch.Generator | None, chunk_size: int | None
) -> torch.Tensor:
    """‖∇_θ ℓ(x_i, ŷ_i)‖² in train mode, ŷ_i sampled from the logits of the same (dropout) forward pass by
    inverse-CDF sampling with a uniform u_i drawn from ``generator``."""
    params = _trainable(model)
    buffers = {name: b.detach() for name, b in model.named_buffers()}
    uniforms = torch.rand(len(x), generator=generator, device=x.device, dtype=torch.float64)
    torch_seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=x.device))

    def loss_one(p: dict[str, torch.Tensor], xi: torch.Tensor, ui: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        cdf = torch.softmax(logits.detach().double(), dim=-1).cumsum(-1)
        label = (cdf < ui).sum(-1).clamp(max=logits.shape[-1] - 1)  # inverse CDF: ŷ ~ p_θ(·|x_i)
        return functional.cross_entropy(logits, label)

    devices = [x.device] if x.device.type == "cuda" else []
    was_training = model.training
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(torch_seed)
        model.train()
        try:
            return _sq_grad_norms_in_chunks(loss_one, params, x, uniforms, chunk_size, randomness="different")
        finally:
            model.train(was_training)


def fisher_trace_exact(model: nn.Module, x: torch.Tensor) -> float:
    """Tr F on ``x`` with the expectation over labels done exactly: mean_i Σ_c p_c(x_i)‖∇ℓ(x_i, c)‖²."""
    probs = torch.softmax(_logits(model, x).double(), dim=-1)
    total = torch.zeros(len(x), dtype=torch.float64, device=x.device)
    for c in range(probs.shape[1]):
        labels = torch.full((len(x),), c, dtype=torch.long, device=x.device)
        total += probs[:, c] * per_example_sq_grad_norms(model, x, labels).double()
    return float(total.mean())


def fisher_trace_loop(model: nn.Module, x: torch.Tensor, generator: torch.Generator | None = None) -> float:
    """:func:`fisher_trace_sampled` computed with one backward pass per example (the slow reference)."""
    labels = sample_labels(_logits(model, x), generator)
    params = list(_trainable_params(model))
    total = 0.0
    with _eval(model):
        for xi, yi in zip(x, labels, strict=True):
            loss = functional.cross_entropy(model(xi.unsqueeze(0)), yi.unsqueeze(0))
            grads = torch.autograd.grad(loss, params)
            total += float(sum(g.pow(2).sum() for g in grads))
    return total / len(x)


def _trainable_params(model: nn.Module) -> Iterator[torch.Tensor]:
    return (p for p in model.parameters() if p.requires_grad)


def minibatch_trace_estimate(
    model: nn.Module, x: torch.Tensor, generator: torch.Generator | None = None
) -> float:
    """B·‖(1/B)Σ_i ∇ℓ(x_i, ŷ_i)‖² with ŷ_i ~ p_θ sampled independently: one backward, unbiased for Tr F."""
    params = list(_trainable_params(model))
    with _eval(model):
        logits = model(x)
        labels = sample_labels(logits, generator)
        grads = torch.autograd.grad(functional.cross_entropy(logits, labels), params)
    return len(x) * float(sum(g.pow(2).sum() for g in grads))
