"""One training run of the sweep (one task, optimiser, learning rate and seed) on the shared engine.

The learning-rate schedule: ``constant``, ``cosine`` (to 0, after a linear warm-up) or
``multistep`` (the CIFAR scripts: linear warm-up for ``warmup_fraction`` of the steps, then ×``gamma`` at each
of ``milestones`` given as fractions of the steps; 100/199, 150/199, 180/199 at paper scale). Gradient
clipping is applied to SGD only (``sgd_grad_clip``, the paper's language-model protocol). A diverged run ends
with ``diverged_at_step`` set and is a result, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from pipeline.core.engine import TrainSpec, train
from pipeline.core.evaluation import evaluate_classifier, evaluate_language_model
from pipeline.core.seeding import seed_everything
from pipeline.core.steps import SupervisedStep, cross_entropy_loss
from pipeline.data.batches import SequenceBatches, TensorBatches
from pipeline.models.lstm_lm import HiddenState, detach_hidden
from pipeline.nero.runs import ClassifierTask, LanguageTask, OptimizerSettings, Schedule, Training
from pipeline.nero.tasks import ClassifierData, build_classifier, build_language_model, make_optimizer


def lr_factor(step: int, steps: int, schedule: Schedule) -> float:
    """Multiplier of the base lr after ``step`` updates (LambdaLR convention: step 0 is the first update)."""
    warmup = int(schedule.warmup_fraction * steps)
    if warmup and step < warmup:
        return (step + 1) / warmup
    kind = schedule.kind
    if kind == "constant":
        return 1.0
    if kind == "cosine":
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    if kind == "multistep":
        passed = sum(step >= int(m * steps) for m in schedule.milestones)
        return schedule.gamma**passed
    raise KeyError(f"nero: unknown schedule {kind!r} (constant, cosine, multistep)")


def _spec(steps: int, training: Training, seed: int, run_dir: Path, desc: str) -> TrainSpec:
    return TrainSpec(
        steps=steps,
        seed=seed,
        eval_every=max(1, steps // training.eval_points),
        log_every=max(1, steps // training.log_points),
        checkpoint_path=run_dir / "checkpoint.pt",
        checkpoint_every=training.checkpoint_every,
        desc=desc,
    )


def _update(
    model: nn.Module,
    optimizer_name: str,
    lr: float,
    steps: int,
    optim: OptimizerSettings,
    schedule: Schedule,
    loss_fn: Callable,
) -> SupervisedStep:
    optimizer = make_optimizer(optimizer_name, list(model.parameters()), lr, optim)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, steps, schedule))
    clip = optim.sgd_grad_clip if optimizer_name in ("sgd", "sgdm") and optim.sgd_grad_clip else None
    return SupervisedStep(model, optimizer, loss_fn, scheduler=scheduler, grad_clip=clip)


def train_classifier(
    task: ClassifierTask, data: ClassifierData, optimizer_name: str, lr: float, seed: int,
    optim: OptimizerSettings, training: Training, run_dir: Path, device: str,
) -> tuple[dict[str, float], pd.DataFrame]:  # fmt: skip
    """Train the task's classifier; metrics hold final train loss, test loss and test accuracy."""
    seed_everything(seed, device=device)
    model = build_classifier(task.net).to(device)
    update = _update(model, optimizer_name, lr, task.steps, optim, training.schedule, cross_entropy_loss)
    x, y = data.train_x.to(device), data.train_y.to(device)
    batches = TensorBatches(x, y, batch_size=task.batch_size, seed=seed)
    test_x, test_y = data.test_x.to(device), data.test_y.to(device)
    result = train(
        _spec(task.steps, training, seed, run_dir, f"{optimizer_name} lr={lr:g}"),
        update,
        batches,
        state={"train": update},
        evaluate=lambda: evaluate_classifier(model, test_x, test_y, prefix="test_"),
    )
    return result.metrics, result.history_frame()


def train_language_model(
    task: LanguageTask, tokens: tuple[torch.Tensor, torch.Tensor], optimizer_name: str, lr: float,
    seed: int, optim: OptimizerSettings, training: Training, run_dir: Path, device: str,
) -> tuple[dict[str, float], pd.DataFrame]:  # fmt: skip
    """Train the task's LSTM LM with truncated BPTT; metrics hold final train loss, valid loss and ppl."""
    seed_everything(seed, device=device)
    model = build_language_model(task.net).to(device)
    train_tokens, valid_tokens = tokens[0].to(device), tokens[1].to(device)
    batches = SequenceBatches(train_tokens, task.batch_size, task.bptt)
    carry = HiddenState(model, task.batch_size)

    def loss_fn(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        inputs, targets = batch
        logits, hidden = net(inputs, carry.value)
        carry.value = detach_hidden(hidden)
        return nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())

    update = _update(model, optimizer_name, lr, task.steps, optim, training.schedule, loss_fn)

    def step(index: int, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
        if batches.starts_epoch(index):
            carry.reset()
        return update(index, batch)

    result = train(
        _spec(task.steps, training, seed, run_dir, f"{optimizer_name} lr={lr:g}"),
        step,
        batches,
        state={"train": update, "hidden": carry},
        evaluate=lambda: evaluate_language_model(
            model, valid_tokens, batch_size=task.eval_batch_size, bptt=task.bptt, prefix="valid_"
        ),
    )
    return result.metrics, result.history_frame()
