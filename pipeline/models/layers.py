"""Activations and normalisation layers selectable by name from a config.

Activations: ``relu``, ``relu_sqrt2`` (relu(x)·√2, the Nero paper's deep-MLP activation, which keeps the
second moment of activations constant with depth), ``tanh``, ``gelu``, ``identity`` (linear networks).

Norms (``make_norm2d``): ``none``, ``batch``, ``batch_nostats`` (BatchNorm with
``track_running_stats=False``: batch statistics at test time too; needed for vmap and gossip), ``group``
(GroupNorm, ``groups`` groups), ``evonorm`` (EvoNorm-S0).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ScaledReLU(nn.Module):
    """relu(x) · √2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the activation."""
        return torch.relu(x) * math.sqrt(2.0)


ACTIVATIONS = {
    "relu": nn.ReLU,
    "relu_sqrt2": ScaledReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (see the module docstring)."""
    if name not in ACTIVATIONS:
        raise KeyError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class EvoNormS0(nn.Module):
    """EvoNorm-S0 (Liu et al. 2020): ``x · sigmoid(v·x) / group_std(x) · gamma + beta``; no running stats."""

    def __init__(self, channels: int, groups: int = 32, eps: float = 1e-5) -> None:
        super().__init__()
        self.groups, self.eps = min(groups, channels), eps
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.v = nn.Parameter(torch.ones(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``[N, C, H, W]``."""
        n, c, h, w = x.shape
        grouped = x.view(n, self.groups, c // self.groups, h, w)
        std = (grouped.var(dim=(2, 3, 4), keepdim=True, unbiased=False) + self.eps).sqrt()
        std = std.expand_as(grouped).reshape(n, c, h, w)
        return x * torch.sigmoid(self.v * x) / std * self.weight + self.bias


NORMS = ("none", "batch", "batch_nostats", "group", "evonorm")


def make_norm2d(kind: str, channels: int, groups: int = 2) -> nn.Module:
    """A 2-D normalisation layer by name (see the module docstring); ``none`` is Identity."""
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "batch_nostats":
        return nn.BatchNorm2d(channels, track_running_stats=False)
    if kind == "group":
        return nn.GroupNorm(min(groups, channels), channels)
    if kind == "evonorm":
        return EvoNormS0(channels, groups)
    raise KeyError(f"unknown norm {kind!r}; known: {', '.join(NORMS)}")


def make_norm1d(kind: str, features: int, groups: int = 2) -> nn.Module:
    """A norm for ``[N, features]``: ``none``, ``batch``, ``batch_nostats``, ``group`` or ``layer``."""
    if kind == "layer":
        return nn.LayerNorm(features)
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind == "batch_nostats":
        return nn.BatchNorm1d(features, track_running_stats=False)
    if kind in ("none", "group"):
        return nn.Identity() if kind == "none" else nn.GroupNorm(min(groups, features), features)
    raise KeyError(f"unknown norm {kind!r}; known: none, batch, batch_nostats, group, layer")
