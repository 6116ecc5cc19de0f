"""A small, complete training run for the engine tests; also a script for the kill-and-resume test.

``python tests/helpers/engine_run.py CHECKPOINT OUT SEED STEPS CHECKPOINT_EVERY SLEEP`` trains (resuming
from CHECKPOINT when it exists) and saves the final parameters, metrics and history to OUT.

The run exercises every piece of state a resume must restore: SGD momentum, an lr scheduler, dropout
(global torch RNG), input noise from a dedicated generator, NumPy's global RNG, and the epoch order.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.core.engine import TrainResult, TrainSpec, train
from pipeline.core.evaluation import evaluate_classifier
from pipeline.core.seeding import seed_everything
from pipeline.core.steps import SupervisedStep
from pipeline.data.batches import TensorBatches


def make_data(n: int = 256) -> tuple[torch.Tensor, ...]:
    """A fixed 3-class problem (independent of the run seed)."""
    generator = torch.Generator().manual_seed(1234)
    x = torch.randn(n + 128, 20, generator=generator)
    y = (x[:, :3].argmax(1) + (x[:, 3] > 1.5).long()) % 3
    return x[:n], y[:n], x[n:], y[n:]


def run_small(
    seed: int,
    steps: int = 40,
    checkpoint_path: Path | None = None,
    checkpoint_every: int = 0,
    sleep: float = 0.0,
    lr: float = 0.1,
    fail_at: int | None = None,
) -> tuple[TrainResult, nn.Module]:
    """Train a dropout MLP for ``steps`` steps; ``fail_at`` raises RuntimeError before that step."""
    seed_everything(seed)
    x, y, x_test, y_test = make_data()
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    noise = torch.Generator().manual_seed(seed + 1)

    def loss_fn(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        inputs, targets = batch
        inputs = inputs + 0.1 * torch.randn(inputs.shape, generator=noise) + float(np.random.rand()) * 1e-3
        logits = net(inputs)
        return nn.functional.cross_entropy(logits, targets), {
            "acc": (logits.argmax(1) == targets).float().mean()
        }

    update = SupervisedStep(model, optimizer, loss_fn, scheduler=scheduler, grad_clip=5.0)

    def step(index: int, batch: tuple[torch.Tensor, torch.Tensor]) -> dict:
        if fail_at is not None and index == fail_at:
            raise RuntimeError("simulated crash")
        if sleep:
            time.sleep(sleep)
        return update(index, batch)

    spec = TrainSpec(
        steps=steps,
        seed=seed,
        eval_every=10,
        log_every=5,
        checkpoint_path=checkpoint_path,
        checkpoint_every=checkpoint_every,
    )
    result = train(
        spec,
        step,
        TensorBatches(x, y, batch_size=32, seed=seed),
        state={"train": update, "noise": noise},
        evaluate=lambda: evaluate_classifier(model, x_test, y_test, prefix="test_"),
    )
    return result, model


def main(argv: list[str]) -> None:
    """Script entry point (see the module docstring)."""
    checkpoint, out, seed, steps, every, sleep = argv
    result, model = run_small(int(seed), int(steps), Path(checkpoint), int(every), float(sleep))
    payload = {"params": model.state_dict(), "metrics": result.metrics, "history": result.history}
    payload["resumed_from"] = result.resumed_from
    torch.save(payload, out)


if __name__ == "__main__":
    main(sys.argv[1:])
