"""The model registry: name -> constructor, so configs can name a model and its keyword arguments.

============== ================================================ =============================================
name           constructor                                      typical use
============== ================================================ =============================================
mlp            :class:`pipeline.models.mlp.MLP`                 Nero deep MLPs, toys, linear networks
small_cnn      :class:`pipeline.models.cnn.SmallCNN`            digits / Fashion-MNIST, tiny BYOL encoder
cnn1d          :class:`pipeline.models.cnn1d.Conv1DNet`         Fisher on MNIST-1D
resnet18_cifar :func:`pipeline.models.resnet.resnet18_cifar`    DirectPred (CIFAR-10) / Nero paper scale
resnet18       :func:`pipeline.models.resnet.resnet18`          DirectPred STL-10 (ImageNet stem)
resnet20       :func:`pipeline.models.resnet.resnet20`          consensus / QGM paper scale (BN, GN, EvoNorm)
vgg11          :class:`pipeline.models.vgg.VGG11`               Nero / QGM / Fisher paper scale (no BN)
lstm_lm        :class:`pipeline.models.lstm_lm.LSTMLanguageModel` Selfish-RNN
============== ================================================ =============================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from pipeline.models.cnn import SmallCNN
from pipeline.models.cnn1d import Conv1DNet
from pipeline.models.lstm_lm import LSTMLanguageModel
from pipeline.models.mlp import MLP
from pipeline.models.resnet import resnet18, resnet18_cifar, resnet20
from pipeline.models.vgg import VGG11

MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP,
    "small_cnn": SmallCNN,
    "cnn1d": Conv1DNet,
    "resnet18_cifar": resnet18_cifar,
    "resnet18": resnet18,
    "resnet20": resnet20,
    "vgg11": VGG11,
    "lstm_lm": LSTMLanguageModel,
}


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Construct model ``name`` with ``kwargs``; KeyError names the known models, TypeError bad keys."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    try:
        return MODELS[name](**kwargs)
    except TypeError as err:
        raise TypeError(f"model {name!r}: {err}") from err


def count_parameters(model: nn.Module) -> int:
    """Number of distinct trainable scalars (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
