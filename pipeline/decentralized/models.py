"""Models for decentralized runs: GroupNorm only (no running statistics, so gossip and vmap are exact).

``gn_cnn1d`` is a small 1-D CNN with GroupNorm for MNIST-1D (the default scale); every other name goes to
:func:`pipeline.models.build_model` (e.g. ``small_cnn`` with ``norm: group``, ``resnet20`` with
``norm: group``/``evonorm``, ``vgg11``). Models with buffers (BatchNorm running stats) are rejected.

``GroupNormCNN1D.stacked_forward`` evaluates n copies with their own parameters in one pass of plain ops
(workers folded into the channels: a grouped convolution with ``groups = n``, a GroupNorm with ``n·G``
groups and the stacked affine parameters, one batched matmul for the head); :class:`.workers.StackedModel`
uses it instead of vmap when a model has it (a consensus benchmark times it against a loop over models).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional

from pipeline.models import build_model


class GroupNormCNN1D(nn.Module):
    """conv(k5) → GN → ReLU → conv(k3, s2) → GN → ReLU → conv(k3, s2) → GN → ReLU → flatten → linear."""

    def __init__(self, length: int = 40, num_classes: int = 10, channels: int = 32, groups: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = 1
        for kernel, stride in ((5, 1), (3, 2), (3, 2)):
            layers += [
                nn.Conv1d(previous, channels, kernel, stride=stride, padding=kernel // 2, bias=False),
                nn.GroupNorm(min(groups, channels), channels),
                nn.ReLU(),
            ]
            previous = channels
        self.features = nn.Sequential(*layers, nn.Flatten())
        reduced = (((length + 1) // 2) + 1) // 2
        self.head = nn.Linear(channels * reduced, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, num_classes]`` from ``[N, length]`` or ``[N, 1, length]``."""
        if x.dim() == 2:
            x = x.unsqueeze(1)
        return self.head(self.features(x))

    def stacked_forward(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Logits ``[n, B, classes]`` of n copies: ``params[name]`` ``[n, *shape]``, ``x`` ``[n, B, (1,) L]``.

        Row i equals ``functional_call(self, {name: params[name][i]}, x[i])`` up to float rounding: the
        grouped convolution, GroupNorm over ``n·G`` groups and batched matmul never mix two workers.
        """
        n, batch = x.shape[:2]
        h = x.reshape(n, batch, -1).transpose(0, 1).unsqueeze(2)  # [B, n·1, 1, L]: workers as channel groups
        h = h.contiguous(memory_format=torch.channels_last)  # oneDNN's fastest grouped-conv layout on CPU
        modules = list(self.features)
        for index, module in enumerate(modules):
            if isinstance(module, nn.Conv1d):
                if module.bias is not None or module.dilation != (1,):
                    raise TypeError("stacked_forward supports bias-free, undilated Conv1d only")
                weight = params[f"features.{index}.weight"]
                out, in_, kernel = weight.shape[1:]
                h = functional.conv2d(
                    h,
                    weight.reshape(n * out, in_, 1, kernel),
                    stride=(1, module.stride[0]),
                    padding=(0, module.padding[0]),
                    groups=n,
                )
            elif isinstance(module, nn.GroupNorm):
                weight, bias = params[f"features.{index}.weight"], params[f"features.{index}.bias"]
                groups = n * module.num_groups  # worker i's groups are i·G … i·G + G − 1
                h = functional.group_norm(h, groups, weight.reshape(-1), bias.reshape(-1), module.eps)
            elif isinstance(module, nn.ReLU):
                h = functional.relu(h)
            elif not isinstance(module, nn.Flatten):
                raise TypeError(f"stacked_forward does not know {type(module).__name__}")
        h = h.reshape(batch, n, -1).transpose(0, 1)  # [n, B, C·L'] in nn.Flatten's (channel, length) order
        return torch.baddbmm(params["head.bias"].unsqueeze(1), h, params["head.weight"].transpose(1, 2))


def build_worker_model(name: str, **options: Any) -> nn.Module:
    """A model for gossip: ``gn_cnn1d`` here, anything else from the shared registry; no buffers allowed."""
    model = GroupNormCNN1D(**options) if name == "gn_cnn1d" else build_model(name, **options)
    buffers = [key for key, _ in model.named_buffers()]
    if buffers:
        raise ValueError(
            f"model {name!r} has buffers {buffers[:3]}...; decentralized runs need GroupNorm/EvoNorm or "
            "BatchNorm without running statistics (norm: group | evonorm | batch_nostats)"
        )
    return model


def model_spec(config: dict[str, Any], sample_shape: tuple[int, ...]) -> dict[str, Any]:
    """``{"name", "options"}`` for :func:`build_worker_model` from a study's ``model`` config section.

    ``config`` holds ``name`` (gn_cnn1d | small_cnn | resnet20 | vgg11 | mlp), ``width`` (channels of the
    first layer) ``norm`` and ``groups``; ``sample_shape`` is one input's shape (``(40,)``, ``(1, 28, 28)``).
    """
    name, width, norm, groups = config["name"], config["width"], config["norm"], config["groups"]
    if name == "gn_cnn1d":
        return {"name": name, "options": {"length": sample_shape[-1], "channels": width, "groups": groups}}
    if name == "small_cnn":
        options = {"in_channels": sample_shape[0], "channels": [width, 2 * width, 2 * width]}
        return {"name": name, "options": {**options, "norm": norm, "groups": groups}}
    if name == "resnet20":
        return {"name": name, "options": {"in_channels": sample_shape[0], "norm": norm, "groups": groups}}
    if name == "mlp":
        features = int(torch.tensor(sample_shape).prod())
        return {"name": name, "options": {"in_features": features, "width": width, "norm": norm}}
    if name == "vgg11":
        return {"name": name, "options": {}}
    raise KeyError(f"unknown decentralized model {name!r}; known: gn_cnn1d, small_cnn, resnet20, mlp, vgg11")
