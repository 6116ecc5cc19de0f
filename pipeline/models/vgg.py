"""VGG-11 (configuration A) without batch normalisation, for CIFAR-sized inputs.

Convs 64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M (3x3, ReLU, 2x2 max-pool), then a classifier of
``hidden`` units: Dropout, Linear(512, hidden), ReLU, Dropout, Linear(hidden, hidden), ReLU,
Linear(hidden, num_classes). ``hidden=512`` is the QGM variant (512-512-10); Nero's is ``hidden=4096`` with
``conv_bias=False``. Conv weights use Kaiming-normal initialisation (fan_out, ReLU) as in Nero's code.
An adaptive average pool makes inputs larger than 32x32 work (it is the identity at 32x32).
"""

from __future__ import annotations

import torch
from torch import nn

CONFIG_A = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG11(nn.Module):
    """VGG-11 without BN (see the module docstring)."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        hidden: int = 512,
        dropout: float = 0.5,
        conv_bias: bool = True,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for item in CONFIG_A:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            conv = nn.Conv2d(previous, int(item), 3, padding=1, bias=conv_bias)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU()]
            previous = int(item)
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = previous
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(previous, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, num_classes]`` from images ``[N, C, >=32, >=32]``."""
        return self.classifier(self.features(x))
