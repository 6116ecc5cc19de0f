"""Deterministic tensor transforms: dtype conversion and normalisation (the random ones are in augment)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """float32 images in [0, 1]: uint8 is divided by 255, floating tensors are cast unchanged."""
    if x.dtype == torch.uint8:
        return x.to(torch.float32).div_(255.0)
    return x.to(torch.float32)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(x - mean) / std`` per channel of ``[N, C, H, W]`` float images."""
    shape = (1, len(mean), 1, 1)
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(shape)
    return (x - mean_t) / std_t
