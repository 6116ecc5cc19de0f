"""The tasks of the lr sweeps (docs/nero.md, "What the study computes"): data, model and optimiser factory.

- ``mlp``: a deep MLP without normalisation, relu(x)·√2 (Fig. 3 right analogue), on digits by default;
- ``cnn``: a VGG-style CNN without batch norm (3x3 conv + ReLU + 2x2 max-pool blocks, then a small ReLU
  classifier; Fig. 6 VGG-11 analogue), on a Fashion-MNIST subset by default; at paper scale ``vgg11`` (no BN,
  conv bias off, 4096 hidden) or ``resnet18_cifar`` on CIFAR-10;
- ``lstm``: a word-level LSTM language model on a KJV subset (the language-model analogue of Fig. 7), with the
  vocabulary cut to the ``vocab_size`` most frequent training words (the rest become ``<unk>``).

Optimisers: ``nero`` (this package), ``sgd`` (no momentum, as the paper's CIFAR scripts), ``sgdm``
(momentum), ``adam`` (torch) and ``lamb`` (pytorch-optimizer's maintained ``Lamb``, eps 1e-6). No weight
decay anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pipeline.core.seeding import make_generator
from pipeline.data import load_dataset
from pipeline.models import build_model
from pipeline.nero.optimizer import Nero
from pipeline.nero.runs import (
    ABLATION,
    OPTIMIZERS,
    ClassifierNet,
    ClassifierTask,
    LanguageNet,
    LanguageTask,
    OptimizerSettings,
)

INPUT_SHAPES = {"digits": (1, 8, 8), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
UNK_ID = 1  # pipeline.data.text: <eos> = 0, <unk> = 1, then words by descending count


class TinyVGG(nn.Module):
    """VGG-style CNN without normalisation: per width a 3x3 conv + ReLU + 2x2 max-pool, then
    global average pooling, Linear(last, hidden) + ReLU, Linear(hidden, classes). Kaiming-normal conv init
    (fan_out), as Nero's VGG."""

    def __init__(
        self, in_channels: int, num_classes: int, channels: Iterable[int], hidden: int, conv_bias: bool = True
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for width in channels:
            conv = nn.Conv2d(previous, int(width), 3, padding=1, bias=conv_bias)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            layers += [conv, nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
            previous = int(width)
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Sequential(
            nn.Linear(previous, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, classes]``."""
        return self.classifier(self.features(x))


def build_classifier(net: ClassifierNet, num_classes: int = 10) -> nn.Module:
    """The task's classifier for its dataset's input shape (``INPUT_SHAPES``)."""
    shape = INPUT_SHAPES[net.dataset]
    model = net.model
    if model == "mlp":
        return build_model(
            "mlp",
            in_features=int(torch.tensor(shape).prod()),
            num_classes=num_classes,
            depth=net.depth,
            width=net.width,
            activation=net.activation,
        )
    if model == "tiny_vgg":
        return TinyVGG(shape[0], num_classes, net.channels, net.hidden, net.conv_bias)
    if model == "vgg11":
        return build_model(
            "vgg11", num_classes=num_classes, in_channels=shape[0], hidden=net.hidden, conv_bias=net.conv_bias
        )
    if model == "resnet18_cifar":
        return build_model("resnet18_cifar", num_classes=num_classes)
    raise KeyError(f"nero: unknown classifier model {model!r}")


def build_language_model(net: LanguageNet) -> nn.Module:
    """The task's LSTM LM over ``vocab_size`` words."""
    return build_model(
        "lstm_lm",
        vocab_size=net.vocab_size,
        emsize=net.emsize,
        nhid=net.nhid,
        nlayers=net.nlayers,
        dropout=net.dropout,
    )


@dataclass
class ClassifierData:
    """Normalised float inputs and labels of the (subset) train and test splits, and the per-channel
    ``mean`` and ``std`` (shape ``[1, C, 1, 1]``, in pixel units of [0, 1]) they were normalised with."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor


def _subset(x: torch.Tensor, y: torch.Tensor, size: int, seed: int, split: str) -> tuple[torch.Tensor, ...]:
    if size <= 0 or size >= len(y):
        return x, y
    index = torch.randperm(len(y), generator=make_generator(seed, "nero-subset", split))[:size]
    return x[index], y[index]


def classifier_data(task: ClassifierTask, data_root: Path | str, seed: int) -> ClassifierData:
    """The task's dataset: fixed random subsets (seeded by the base seed), normalised by train stats."""
    bundle = load_dataset(task.net.dataset, data_root=data_root)
    train_x, train_y = _subset(*bundle.xy("train"), task.train_size, seed, "train")
    test_x, test_y = _subset(*bundle.xy("test"), task.test_size, seed, "test")
    scale = 255.0 if train_x.dtype == torch.uint8 else 1.0
    train_x, test_x = train_x.float() / scale, test_x.float() / scale
    dims = [0, *range(2, train_x.dim())]
    mean, std = train_x.mean(dim=dims, keepdim=True), train_x.std(dim=dims, keepdim=True)
    return ClassifierData((train_x - mean) / std, train_y, (test_x - mean) / std, test_y, mean, std)


def language_data(task: LanguageTask, data_root: Path | str) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and valid token streams (the first ``train_tokens`` / ``valid_tokens``), vocabulary cut."""
    bundle = load_dataset(task.dataset, data_root=data_root)

    def cut(stream: torch.Tensor, count: int) -> torch.Tensor:
        stream = stream[:count] if count > 0 else stream
        return torch.where(stream < task.net.vocab_size, stream, torch.full_like(stream, UNK_ID))

    return cut(bundle.tokens("train"), task.train_tokens), cut(bundle.tokens("valid"), task.valid_tokens)


def _given(value: float | None, key: str, name: str) -> float:
    if value is None:
        raise ValueError(f"nero: optimizer {name!r} needs {key}, which its OptimizerSettings leave out")
    return value


def make_optimizer(
    name: str, params: list[torch.Tensor], lr: float, optim: OptimizerSettings
) -> torch.optim.Optimizer:
    """One of :data:`OPTIMIZERS` (or ``nero_<ablation setting>``) at learning rate ``lr``, no weight decay."""
    if name == "nero":
        return Nero(params, lr=lr, beta=_given(optim.nero_beta, "nero_beta", name))
    if name.startswith("nero_") and name[5:] in ABLATION:
        zero_mean, unit_norm = ABLATION[name[5:]]
        beta = _given(optim.nero_beta, "nero_beta", name)
        return Nero(params, lr=lr, beta=beta, zero_mean=zero_mean, unit_norm=unit_norm)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "sgdm":
        return torch.optim.SGD(params, lr=lr, momentum=_given(optim.sgd_momentum, "sgd_momentum", name))
    if name == "adam":
        beta1 = _given(optim.baseline_beta1, "baseline_beta1", name)
        return torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999))
    if name == "lamb":
        from pytorch_optimizer import Lamb

        beta1 = _given(optim.baseline_beta1, "baseline_beta1", name)
        return Lamb(params, lr=lr, betas=(beta1, 0.999), eps=1e-6)
    raise KeyError(f"nero: unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
