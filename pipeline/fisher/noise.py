"""Symmetric label noise for the memorisation experiment (the paper's noisy-label experiment)."""

from __future__ import annotations

import torch


def flip_labels(
    labels: torch.Tensor, fraction: float, num_classes: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(noisy_labels, is_noisy)``: exactly round(fraction·N) examples, chosen at random, get a label drawn
    uniformly from the *other* classes (so every flipped label is wrong)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"noise fraction must be in [0, 1), got {fraction}")
    n = len(labels)
    count = round(fraction * n)
    chosen = torch.randperm(n, generator=generator)[:count]
    offsets = torch.randint(1, num_classes, (count,), generator=generator)
    noisy = labels.clone()
    noisy[chosen] = (labels[chosen] + offsets) % num_classes
    mask = torch.zeros(n, dtype=torch.bool)
    mask[chosen] = True
    return noisy, mask
