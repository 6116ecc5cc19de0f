"""A small BN-free CNN for 1-channel 8x8 / 28x28 images (digits, Fashion-MNIST) and small RGB images.

Three 3x3 conv layers (stride 1, 2, 2) with an activation after each and an optional norm, global average
pooling, and a linear classifier. ``num_classes=0`` returns the pooled features (an SSL encoder).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pipeline.models.layers import make_activation, make_norm2d


class SmallCNN(nn.Module):
    """conv(3x3, s1) -> conv(3x3, s2) -> conv(3x3, s2) -> global average pool -> linear."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        channels: Sequence[int] = (32, 64, 64),
        activation: str = "relu",
        norm: str = "none",
        groups: int = 2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for i, width in enumerate(channels):
            stride = 1 if i == 0 else 2
            layers += [
                nn.Conv2d(previous, width, 3, stride=stride, padding=1, bias=norm == "none"),
                make_norm2d(norm, width, groups),
                make_activation(activation),
            ]
            previous = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = previous
        self.head = nn.Linear(previous, num_classes) if num_classes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, num_classes]`` from images ``[N, C, H, W]``."""
        return self.head(self.features(x))
