"""Evaluation helpers: accuracy, mean loss and perplexity, computed in eval mode without gradients.

Losses are summed over examples (tokens) in float64 and divided once, so the value does not depend on
the evaluation batch size beyond float32 rounding of the logits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional

from pipeline.data.text import batchify


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model.eval()`` and ``torch.no_grad()`` inside the block; the previous train/eval mode after it."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the target."""
    return float((logits.argmax(dim=-1) == targets).float().mean())


def perplexity(mean_nll: float) -> float:
    """exp(mean negative log-likelihood in nats); inf when that overflows or is not finite."""
    try:
        return math.exp(mean_nll) if math.isfinite(mean_nll) else math.inf
    except OverflowError:
        return math.inf


def evaluate_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1024,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    prefix: str = "",
) -> dict[str, float]:
    """Mean cross-entropy and accuracy on ``(x, y)``, keys ``{prefix}loss`` and ``{prefix}accuracy``.

    Batches are moved to the model's device; ``transform`` (e.g. to_float + normalize) is applied there.
    """
    device = next(model.parameters()).device
    total_loss, correct = 0.0, 0
    with eval_mode(model):
        for start in range(0, len(x), batch_size):
            inputs = x[start : start + batch_size].to(device)
            targets = y[start : start + batch_size].to(device)
            logits = model(transform(inputs) if transform else inputs)
            total_loss += float(functional.cross_entropy(logits.float(), targets, reduction="sum"))
            correct += int((logits.argmax(dim=-1) == targets).sum())
    return {f"{prefix}loss": total_loss / len(x), f"{prefix}accuracy": correct / len(x)}


def evaluate_language_model(
    model: nn.Module, tokens: torch.Tensor, batch_size: int = 10, bptt: int = 35, prefix: str = ""
) -> dict[str, float]:
    """Mean token cross-entropy and perplexity of an LSTM LM over a 1-D token stream.

    The stream is batchified into ``batch_size`` columns and read in windows of ``bptt`` with the hidden
    state carried across windows (the word_language_model protocol). Keys ``{prefix}loss``, ``{prefix}ppl``.
    """
    device = next(model.parameters()).device
    data = batchify(tokens, batch_size).to(device)
    total, count = 0.0, 0
    with eval_mode(model):
        hidden = model.init_hidden(batch_size)
        for start in range(0, len(data) - 1, bptt):
            length = min(bptt, len(data) - 1 - start)
            logits, hidden = model(data[start : start + length], hidden)
            hidden = tuple(h.detach() for h in hidden)
            target = data[start + 1 : start + 1 + length]
            total += float(
                functional.cross_entropy(logits.float().flatten(0, 1), target.flatten(), reduction="sum")
            )
            count += target.numel()
    mean = total / count
    return {f"{prefix}loss": mean, f"{prefix}ppl": perplexity(mean)}
