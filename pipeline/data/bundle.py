"""The in-memory form every dataset loader returns, and the error a missing dataset raises.

A :class:`DatasetBundle` is a flat dict of tensors plus a small JSON-able ``meta`` dict. Naming:

- classification data: ``<split>_x`` and ``<split>_y`` (``train``, ``test``; STL-10 adds ``unlabeled_x``);
  images are ``[N, C, H, W]`` (uint8 0..255 for Fashion-MNIST, CIFAR-10 and STL-10, float32 in [0, 1] for
  digits), MNIST-1D signals are float32 ``[N, 40]``, labels are int64 ``[N]``;
- language-model corpora: ``train``, ``valid``, ``test`` as 1-D int64 token-id streams, with the vocabulary
  (id -> word) in ``vocab``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


class DatasetMissingError(FileNotFoundError):
    """A dataset's files are absent; the message names the package, path or config key that provides them."""


@dataclass
class DatasetBundle:
    """Tensors of one dataset (see the module docstring for names), its metadata and, for text, its vocab."""

    name: str
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)
    vocab: list[str] | None = None

    def xy(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, labels)`` of a classification split, e.g. ``bundle.xy("train")``."""
        try:
            return self.tensors[f"{split}_x"], self.tensors[f"{split}_y"]
        except KeyError:
            raise KeyError(f"{self.name}: no split {split!r}; tensors are {sorted(self.tensors)}") from None

    def tokens(self, split: str) -> torch.Tensor:
        """The 1-D token-id stream of a language-model split (``train``, ``valid``, ``test``)."""
        if split not in self.tensors or self.vocab is None:
            raise KeyError(f"{self.name}: no token split {split!r}; tensors are {sorted(self.tensors)}")
        return self.tensors[split]

    def sizes(self) -> dict[str, list[int]]:
        """Shape of every tensor, for meta.json and reports."""
        return {key: list(value.shape) for key, value in sorted(self.tensors.items())}
