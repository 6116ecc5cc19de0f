"""The 1-D CNN for MNIST-1D used by the Fisher study (MNIST-1D reference architecture, Greydanus 2020).

Conv1d(1->32, k5, pad 2), ReLU; Conv1d(32->32, k3, pad 1, stride 2), ReLU; Conv1d(32->32, k3, pad 1,
stride 2), ReLU; Flatten; Linear(32 * length / 4 -> 10) (320 -> 10 for length 40). No normalisation, so
per-example gradients under vmap are well defined.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.models.layers import make_activation


class Conv1DNet(nn.Module):
    """The MNIST-1D classifier; accepts ``[N, length]`` or ``[N, 1, length]``."""

    def __init__(
        self, length: int = 40, num_classes: int = 10, channels: int = 32, activation: str = "relu"
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, padding=2),
            make_activation(activation),
            nn.Conv1d(channels, channels, 3, padding=1, stride=2),
            make_activation(activation),
            nn.Conv1d(channels, channels, 3, padding=1, stride=2),
            make_activation(activation),
            nn.Flatten(),
        )
        reduced = (((length + 1) // 2) + 1) // 2
        self.feature_dim = channels * reduced
        self.head = nn.Linear(self.feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, num_classes]``."""
        if x.dim() == 2:
            x = x.unsqueeze(1)
        return self.head(self.features(x))
