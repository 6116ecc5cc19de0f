"""One training run of the sweep (one task, optimiser, learning rate and seed) on the shared engine.

The learning-rate schedule of a task (after a linear warm-up over ``warmup_fraction`` of the steps):
``constant``, ``cosine`` (to 0), ``multistep`` (×``gamma`` at each of ``milestones`` given as fractions of the
steps: the CIFAR scripts' 100/199, 150/199, 180/199 with 5/199 of warm-up, or the language model's ÷10 at the
half) or ``exponential`` (×``gamma`` per epoch of the training data: the deep MLP's 0.9^epoch). Gradient
clipping applies to SGD on the language model only (``sgd_grad_clip``, the paper's language-model protocol;
its spec holds the clip only there). A classifier task may augment its training batches (``cifar``: the
paper's random crop with 4 pixels of zero padding, horizontal flip and rotation by up to 15 degrees, drawn per
example from a generator seeded by the run seed and the step, so a resumed run sees the same batches) and
measures its train accuracy on ``train_eval_size`` training examples at every evaluation. A diverged run ends
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
from pipeline.core.seeding import make_generator, seed_everything
from pipeline.core.steps import SupervisedStep, cross_entropy_loss
from pipeline.data import augment
from pipeline.data.batches import SequenceBatches, TensorBatches
from pipeline.models.lstm_lm import HiddenState, detach_hidden
from pipeline.nero.runs import ClassifierTask, LanguageTask, OptimizerSettings, Schedule, Training
from pipeline.nero.tasks import ClassifierData, build_classifier, build_language_model, make_optimizer


def lr_factor(step: int, steps: int, schedule: Schedule, steps_per_epoch: int = 1) -> float:
    """Multiplier of the base lr after ``step`` updates (LambdaLR convention: step 0 is the first update);
    ``steps_per_epoch`` is read by the ``exponential`` schedule only (×gamma at every epoch boundary)."""
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
    if kind == "exponential":
        return schedule.gamma ** (step // max(1, steps_per_epoch))
    raise KeyError(f"nero: unknown schedule {kind!r} (constant, cosine, multistep, exponential)")


class AugmentedBatches:
    """The training batches of a classifier with the paper's CIFAR-10 augmentation (random crop with 4 pixels
    of zero padding, horizontal flip, rotation by up to 15 degrees; :mod:`pipeline.data.augment`).

    The inputs are normalised (:func:`pipeline.nero.tasks.classifier_data`), so each batch is mapped back to
    pixel values, augmented there (zero padding and zero fill are black pixels, as torchvision's transforms
    on images) and normalised again. The generator of step ``s`` is seeded by ``(seed, s)``, so batch ``s``
    is a pure function of the seed and the step, as the engine requires.
    """

    def __init__(self, batches: TensorBatches, data: ClassifierData, seed: int) -> None:
        self.batches, self.seed = batches, seed
        self.mean, self.std = data.mean.to(data.train_x.device), data.std.to(data.train_x.device)
        self.steps_per_epoch = batches.steps_per_epoch

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.batches(step)
        generator = make_generator(self.seed, "nero-augment", step, device=x.device)
        pixels = x * self.std + self.mean
        pixels = augment.random_crop(pixels, 4, generator)
        pixels = augment.horizontal_flip(pixels, generator)
        pixels = augment.random_rotation(pixels, 15.0, generator)
        return (pixels - self.mean) / self.std, y


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
    steps_per_epoch: int,
) -> SupervisedStep:
    optimizer = make_optimizer(optimizer_name, list(model.parameters()), lr, optim)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, steps, schedule, steps_per_epoch)
    )
    # the spec of an SGD run holds a clip on the language-model task only (pipeline.nero.runs)
    clip = optim.sgd_grad_clip if optimizer_name in ("sgd", "sgdm") and optim.sgd_grad_clip else None
    return SupervisedStep(model, optimizer, loss_fn, scheduler=scheduler, grad_clip=clip)


def train_classifier(
    task: ClassifierTask, data: ClassifierData, optimizer_name: str, lr: float, seed: int,
    optim: OptimizerSettings, training: Training, run_dir: Path, device: str,
) -> tuple[dict[str, float], pd.DataFrame]:  # fmt: skip
    """Train the task's classifier; metrics hold the final train loss (mean over the last log window), the
    test loss and accuracy, and the loss and accuracy on ``train_eval_size`` training examples (``train_``
    ``eval_loss``, ``train_accuracy``)."""
    seed_everything(seed, device=device)
    model = build_classifier(task.net).to(device)
    x, y = data.train_x.to(device), data.train_y.to(device)
    batches: TensorBatches | AugmentedBatches = TensorBatches(x, y, batch_size=task.batch_size, seed=seed)
    if task.augment == "cifar":
        batches = AugmentedBatches(batches, data, seed)
    elif task.augment != "none":
        raise KeyError(f"nero: unknown augmentation {task.augment!r} (none, cifar)")
    update = _update(model, optimizer_name, lr, task.steps, optim, training.schedule, cross_entropy_loss,
                     batches.steps_per_epoch)  # fmt: skip
    test_x, test_y = data.test_x.to(device), data.test_y.to(device)
    count = task.train_eval_size if 0 < task.train_eval_size < len(y) else len(y)
    fit_x, fit_y = x[:count], y[:count]

    def evaluate() -> dict[str, float]:
        fit = evaluate_classifier(model, fit_x, fit_y, prefix="train_")
        return {
            **evaluate_classifier(model, test_x, test_y, prefix="test_"),
            "train_eval_loss": fit["train_loss"],
            "train_accuracy": fit["train_accuracy"],
        }

    result = train(
        _spec(task.steps, training, seed, run_dir, f"{optimizer_name} lr={lr:g}"),
        update,
        batches,
        state={"train": update},
        evaluate=evaluate,
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

    update = _update(model, optimizer_name, lr, task.steps, optim, training.schedule, loss_fn,
                     batches.steps_per_epoch)  # fmt: skip

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
