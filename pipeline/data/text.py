"""Word-level text for language models: vocabulary, numericalisation and batchify (PTB conventions).

Vocabulary ids: ``<eos>`` is 0, ``<unk>`` is 1, then the other training-split words by descending count,
ties broken alphabetically, so the mapping is deterministic. Words outside the vocabulary map to ``<unk>``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import torch

EOS = "<eos>"
UNK = "<unk>"


def build_vocab(train_tokens: Iterable[str], max_size: int | None = None) -> list[str]:
    """id -> word for the training tokens; ``max_size`` caps the size, ``<eos>`` and ``<unk>`` included."""
    counts = Counter(token for token in train_tokens if token not in (EOS, UNK))
    words = sorted(counts, key=lambda word: (-counts[word], word))
    if max_size is not None:
        if max_size < 3:
            raise ValueError(f"vocabulary max_size must be at least 3, got {max_size}")
        words = words[: max_size - 2]
    return [EOS, UNK, *words]


def numericalize(tokens: Sequence[str], vocab: Sequence[str]) -> torch.Tensor:
    """int64 ids of ``tokens`` under ``vocab`` (unknown words -> ``<unk>``)."""
    index = {word: i for i, word in enumerate(vocab)}
    unk = index[UNK]
    return torch.tensor([index.get(token, unk) for token in tokens], dtype=torch.int64)


def batchify(tokens: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut a 1-D stream into ``batch_size`` contiguous columns, shape ``[T, batch_size]`` (tail dropped)."""
    rows = len(tokens) // batch_size
    if rows < 2:
        raise ValueError(f"{len(tokens)} tokens are too few for batch size {batch_size}")
    return tokens[: rows * batch_size].view(batch_size, rows).t().contiguous()


def unk_rate(ids: torch.Tensor) -> float:
    """Fraction of ``<unk>`` ids in a stream."""
    return float((ids == 1).float().mean()) if len(ids) else 0.0
