"""Multi-layer perceptron: ``depth`` linear layers of width ``width``, no normalisation by default.

Used by Nero (deep MLPs up to 100 layers with relu·√2), QGM/consensus toys and the linear networks of the
theory checks (``activation="identity"``, ``bias=False``). Inputs are flattened.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.models.layers import make_activation, make_norm1d


class MLP(nn.Module):
    """``depth`` Linear layers (``depth - 1`` hidden layers of ``width``), activation after each hidden layer.

    ``num_classes=0`` drops the output layer, so the network returns ``width`` features (``feature_dim``).
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int = 10,
        depth: int = 3,
        width: int = 128,
        activation: str = "relu",
        bias: bool = True,
        norm: str = "none",
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"MLP depth must be >= 1, got {depth}")
        layers: list[nn.Module] = [nn.Flatten()]
        features = in_features
        for _ in range(depth - 1):
            layers += [
                nn.Linear(features, width, bias=bias),
                make_norm1d(norm, width),
                make_activation(activation),
            ]
            features = width
        self.feature_dim = features
        if num_classes:
            layers.append(nn.Linear(features, num_classes, bias=bias))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, num_classes]`` (or features with ``num_classes=0``)."""
        return self.net(x)
