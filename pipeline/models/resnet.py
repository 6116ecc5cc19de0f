"""ResNets: ResNet-18 (DirectPred/Nero encoder) and ResNet-20 (consensus/QGM).

``resnet18_cifar`` and ``resnet20`` use a 3x3 stride-1 stem and no max-pool (the CIFAR adaptation);
``resnet18`` keeps the ImageNet stem (7x7 stride-2 conv, norm, ReLU, 3x3 stride-2 max-pool), as the
official DirectPred code uses for 96x96 STL-10 (only the CIFAR stem is changed). All have
BasicBlocks with a 1x1-conv projection shortcut where the shape changes, global average pooling, and a
linear head.
``num_classes=0`` drops the head and returns the pooled features (``feature_dim``: 512 for ResNet-18,
64 for ResNet-20), as an SSL encoder.

``norm`` is one of :data:`pipeline.models.layers.NORMS`. ``evonorm`` follows QGM's ResNet-EvoNorm-20:
EvoNorm-S0 (which contains its own nonlinearity) after the first conv of the stem and of each block,
and BatchNorm without running statistics after the second conv and in the shortcut.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pipeline.models.layers import make_norm2d


def _norms(kind: str, channels: int, groups: int) -> tuple[nn.Module, nn.Module, bool]:
    """(norm after conv1 / stem, norm after conv2 / shortcut, whether a ReLU follows norm 1)."""
    if kind == "evonorm":
        return make_norm2d("evonorm", channels, groups), make_norm2d("batch_nostats", channels), False
    return make_norm2d(kind, channels, groups), make_norm2d(kind, channels, groups), True


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection; ReLU after the sum."""

    def __init__(self, in_planes: int, planes: int, stride: int, norm: str, groups: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.norm1, self.norm2, relu = _norms(norm, planes, groups)
        self.act1 = nn.ReLU() if relu else nn.Identity()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            shortcut_norm = _norms(norm, planes, groups)[1]
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), shortcut_norm
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block output."""
        out = self.act1(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


STEMS = ("cifar", "imagenet")


def _stem(kind: str, in_channels: int, width: int, norm: nn.Module, relu: bool) -> nn.Sequential:
    """``cifar``: conv3x3 s1; ``imagenet``: conv7x7 s2 and max-pool 3x3 s2 (4x fewer pixels per side)."""
    if kind not in STEMS:
        raise ValueError(f"unknown ResNet stem {kind!r}; known: {', '.join(STEMS)}")
    act = nn.ReLU() if relu else nn.Identity()
    if kind == "cifar":
        return nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), norm, act)
    conv = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
    return nn.Sequential(conv, norm, act, nn.MaxPool2d(3, stride=2, padding=1))


class CifarResNet(nn.Module):
    """Stem (``cifar``/``imagenet``) -> BasicBlock stages (first stride 1, then 2) -> avg pool -> linear."""

    def __init__(
        self,
        widths: Sequence[int],
        blocks: Sequence[int],
        num_classes: int = 10,
        in_channels: int = 3,
        norm: str = "batch",
        groups: int = 2,
        stem: str = "cifar",
    ) -> None:
        super().__init__()
        stem_norm, _, relu = _norms(norm, widths[0], groups)
        self.stem = _stem(stem, in_channels, widths[0], stem_norm, relu)
        layers: list[nn.Module] = []
        previous = widths[0]
        for stage, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            for block in range(count):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(previous, width, stride, norm, groups))
                previous = width
        self.layers = nn.Sequential(*layers)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = previous
        self.head = nn.Linear(previous, num_classes) if num_classes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, num_classes]`` (or features with ``num_classes=0``)."""
        return self.head(self.pool(self.layers(self.stem(x))))


def resnet18_cifar(
    num_classes: int = 10, in_channels: int = 3, norm: str = "batch", groups: int = 32
) -> CifarResNet:
    """ResNet-18 for 32x32 (or 96x96) inputs: widths 64-128-256-512, 2 blocks per stage, 11.2M parameters."""
    return CifarResNet((64, 128, 256, 512), (2, 2, 2, 2), num_classes, in_channels, norm, groups)


def resnet18(
    num_classes: int = 10, in_channels: int = 3, norm: str = "batch", groups: int = 32
) -> CifarResNet:
    """ResNet-18 with the ImageNet stem (torchvision's layout; STL-10 96x96 -> 3x3 before pooling)."""
    return CifarResNet(
        (64, 128, 256, 512), (2, 2, 2, 2), num_classes, in_channels, norm, groups, stem="imagenet"
    )


def resnet20(
    num_classes: int = 10, in_channels: int = 3, norm: str = "batch", groups: int = 2
) -> CifarResNet:
    """ResNet-20 (He et al. 2016, CIFAR): widths 16-32-64, 3 blocks per stage, 0.27M parameters.

    ``norm="group"`` with ``groups=2`` is the consensus/QGM GroupNorm variant; ``evonorm`` uses 32 groups
    capped at the channel count.
    """
    return CifarResNet((16, 32, 64), (3, 3, 3), num_classes, in_channels, norm, groups)
