"""Linear evaluation on frozen encoder features, selected on a validation split, never on the test set.

Features are standardised with the probe-train statistics; a multinomial logistic regression is fitted by
full-batch L-BFGS for each L2 strength in ``weight_decays``; the strength with the best validation accuracy
is chosen and only then is the test accuracy read (the official code reports the best
test accuracy over epochs, which is model selection on the test set).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from pipeline.core.evaluation import accuracy, eval_mode


@torch.no_grad()
def features(encoder: nn.Module, x: torch.Tensor, transform, batch_size: int = 1024) -> torch.Tensor:
    """Encoder outputs of ``transform(x)`` in eval mode, on the encoder's device, as float64 on CPU."""
    device = next(encoder.parameters()).device
    out = []
    with eval_mode(encoder):
        for start in range(0, len(x), batch_size):
            out.append(encoder(transform(x[start : start + batch_size].to(device))).double().cpu())
    return torch.cat(out)


def fit_logistic(
    x: torch.Tensor, y: torch.Tensor, classes: int, weight_decay: float, iters: int
) -> nn.Linear:
    """Multinomial logistic regression (mean cross-entropy + weight_decay·‖W‖²/2) by L-BFGS."""
    model = nn.Linear(x.shape[1], classes).double()
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = functional.cross_entropy(model(x), y) + 0.5 * weight_decay * model.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return model


def linear_probe(
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    weight_decays: list[float],
    iters: int = 100,
) -> dict[str, float]:
    """``probe_val_accuracy``, ``probe_test_accuracy`` and the chosen ``probe_weight_decay``."""
    mean, std = train[0].mean(0), train[0].std(0).clamp(min=1e-8)
    scale = lambda z: (z - mean) / std  # noqa: E731
    classes = int(train[1].max()) + 1
    best: tuple[float, float, nn.Linear] | None = None
    for wd in weight_decays:
        model = fit_logistic(scale(train[0]), train[1], classes, wd, iters)
        with torch.no_grad():
            val_acc = accuracy(model(scale(val[0])), val[1])
        if best is None or val_acc > best[0]:
            best = (val_acc, wd, model)
    assert best is not None, "weight_decays must not be empty"
    with torch.no_grad():
        test_acc = accuracy(best[2](scale(test[0])), test[1])
    return {"probe_val_accuracy": best[0], "probe_weight_decay": best[1], "probe_test_accuracy": test_acc}
