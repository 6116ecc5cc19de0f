"""Optimiser-state memory (the abstract's "square root of Adam's memory"): state size after one step.

For every task's model and every optimiser, one step on a random batch, then the number of floating-point
state entries (step counters excluded) and the bytes of all state tensors. Nero keeps one number per neuron of
every ≥2-D tensor and one per element of every 1-D tensor (plus one ``scale`` per tensor); Adam keeps two
per parameter. :func:`nero_expected_numel` is the closed form the tests and the claim compare with.

The one step is on a fixed probe batch (two random inputs; for the language model two random sequences of
:data:`PROBE_TOKENS` tokens): the state sizes depend only on the model and the optimiser, so the table reads
no batch size, sequence length or training length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import torch
from torch import nn

from pipeline.models.registry import count_parameters
from pipeline.nero.optimizer import state_bytes, state_numel
from pipeline.nero.runs import MemoryModel, OptimizerSettings
from pipeline.nero.tasks import INPUT_SHAPES, build_classifier, build_language_model, make_optimizer

PROBE_TOKENS = 20  # tokens per probe sequence of the language model (the default bptt)


def nero_expected_numel(model: nn.Module) -> int:
    """Σ dim-0 sizes of ≥2-D tensors + Σ sizes of 1-D tensors (``v``) + one ``scale`` per tensor."""
    params = [p for p in model.parameters() if p.requires_grad]
    return sum(p.shape[0] if p.dim() > 1 else p.numel() for p in params) + len(params)


def _model_and_loss(entry: MemoryModel) -> tuple[nn.Module, Callable[[], torch.Tensor]]:
    torch.manual_seed(0)
    if entry.language is not None:
        model = build_language_model(entry.language)
        tokens = torch.randint(0, entry.language.vocab_size, (PROBE_TOKENS + 1, 2))

        def lm_loss() -> torch.Tensor:
            logits, _ = model(tokens[:-1])
            return nn.functional.cross_entropy(logits.flatten(0, 1), tokens[1:].flatten())

        return model, lm_loss
    if entry.classifier is None:
        raise ValueError(f"nero memory: task {entry.task!r} has neither a classifier nor a language model")
    model = build_classifier(entry.classifier)
    x = torch.randn(2, *INPUT_SHAPES[entry.classifier.dataset])
    y = torch.tensor([0, 1])
    return model, lambda: nn.functional.cross_entropy(model(x), y)


def memory_table(
    models: Sequence[MemoryModel], optimizers: Sequence[str], optim: OptimizerSettings
) -> pd.DataFrame:
    """Rows ``task, model, optimizer, params, state_numel, state_bytes, state_per_param``."""
    rows = []
    for entry in models:
        for name in optimizers:
            model, loss_fn = _model_and_loss(entry)
            optimizer = make_optimizer(name, list(model.parameters()), 0.01, optim)
            loss_fn().backward()
            optimizer.step()
            params = count_parameters(model)
            numel = state_numel(optimizer)
            rows.append(
                {
                    "task": entry.task,
                    "model": entry.classifier.model if entry.classifier is not None else "lstm_lm",
                    "optimizer": name,
                    "params": params,
                    "state_numel": numel,
                    "state_bytes": state_bytes(optimizer),
                    "state_per_param": numel / params,
                    "nero_expected_numel": nero_expected_numel(model),
                }
            )
    return pd.DataFrame(rows)
