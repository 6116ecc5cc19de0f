"""Linear evaluation on frozen features; nothing is ever selected on the test set.

Features are standardised with the probe-train statistics (StandardScaler). Two protocols
(:class:`pipeline.directpred.runs.ProbeSettings`):

- ``lbfgs`` (smoke and default scale): a multinomial logistic regression fitted by full-batch L-BFGS for
  each L2 strength in ``weight_decays``; the strength with the best validation accuracy is chosen and only
  then is the test accuracy read;
- ``adam`` (the paper's protocol, App. C and the official code): the same model trained by Adam (lr 3e-4,
  weight decay 1e-3 in the paper) for 50 epochs of batch 128 on the probe-train split; the reported number
  is the test accuracy after the last epoch. The official code reports the best test accuracy over its
  epochs, which is model selection on the test set; here nothing is selected.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from pipeline.core.evaluation import accuracy, eval_mode


@torch.no_grad()
def features(encoder: nn.Module, x: torch.Tensor, transform, batch_size: int = 1024) -> torch.Tensor:
    """Encoder outputs of ``transform(x)`` in eval mode, on the encoder's device, as float64 on CPU (zero
    rows for an empty split, e.g. no validation split under the adam protocol)."""
    device = next(encoder.parameters()).device
    out = []
    with eval_mode(encoder):
        for start in range(0, max(len(x), 1), batch_size):  # one empty batch when x is empty
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


def fit_adam(
    x: torch.Tensor,
    y: torch.Tensor,
    classes: int,
    *,
    lr: float,
    weight_decay: float,
    epochs: int,
    batch_size: int,
    seed: int,
) -> nn.Linear:
    """Logistic regression (zero init) trained by Adam on shuffled minibatches, ``epochs`` passes."""
    model = nn.Linear(x.shape[1], classes).double()
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            optimizer.zero_grad()
            functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    return model


def run_probe(
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    settings,
    seed: int = 0,
) -> dict[str, float]:
    """The probe of ``settings`` (:class:`pipeline.directpred.runs.ProbeSettings`): ``probe_test_accuracy``
    and, where there is a validation split, ``probe_val_accuracy``; ``probe_weight_decay`` as used."""
    if settings.protocol == "lbfgs":
        return linear_probe(train, val, test, list(settings.weight_decays), settings.iters)
    if settings.protocol != "adam":
        raise ValueError(f"probe protocol must be 'lbfgs' or 'adam', got {settings.protocol!r}")
    mean, std = train[0].mean(0), train[0].std(0).clamp(min=1e-8)
    scale = lambda z: (z - mean) / std  # noqa: E731
    model = fit_adam(
        scale(train[0]),
        train[1],
        int(train[1].max()) + 1,
        lr=settings.lr,
        weight_decay=settings.adam_weight_decay,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        seed=seed,
    )
    out = {"probe_weight_decay": settings.adam_weight_decay}
    with torch.no_grad():
        if len(val[1]):
            out["probe_val_accuracy"] = accuracy(model(scale(val[0])), val[1])
        out["probe_test_accuracy"] = accuracy(model(scale(test[0])), test[1])
    return out


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
