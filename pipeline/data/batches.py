"""Batch sources whose batch number ``step`` is a pure function of ``(seed, step)``, so a resumed run replays
exactly the batches an uninterrupted run would have seen, without storing any loader state.

:class:`TensorBatches` shuffles once per epoch with a generator seeded by ``derive_seed(seed, "epoch",
epoch)`` and drops the last incomplete batch. :class:`SequenceBatches` walks a batchified token stream
``[T, B]`` in windows of ``bptt`` (language models), wrapping at the end of each epoch.
"""

from __future__ import annotations

import torch

from pipeline.core.seeding import derive_seed
from pipeline.data.text import batchify


class TensorBatches:
    """Shuffled mini-batches of aligned tensors (e.g. images and labels) addressed by global step."""

    def __init__(self, *tensors: torch.Tensor, batch_size: int, seed: int, shuffle: bool = True) -> None:
        sizes = {len(tensor) for tensor in tensors}
        if len(sizes) != 1:
            raise ValueError(f"tensors differ in length: {sorted(sizes)}")
        self.tensors = tensors
        self.n = sizes.pop()
        if not 0 < batch_size <= self.n:
            raise ValueError(f"batch_size must be in 1..{self.n}, got {batch_size}")
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle
        self.steps_per_epoch = self.n // batch_size
        self._cached: tuple[int, torch.Tensor] | None = None

    def order(self, epoch: int) -> torch.Tensor:
        """The sample order of ``epoch`` (a permutation of range(n); identity without shuffling)."""
        if not self.shuffle:
            return torch.arange(self.n)
        if self._cached is None or self._cached[0] != epoch:
            generator = torch.Generator().manual_seed(derive_seed(self.seed, "epoch", epoch))
            self._cached = (epoch, torch.randperm(self.n, generator=generator))
        return self._cached[1]

    def indices(self, step: int) -> torch.Tensor:
        """Sample indices of global batch ``step`` (epoch ``step // steps_per_epoch``)."""
        epoch, position = divmod(step, self.steps_per_epoch)
        return self.order(epoch)[position * self.batch_size : (position + 1) * self.batch_size]

    def __call__(self, step: int) -> tuple[torch.Tensor, ...]:
        """The tensors of global batch ``step``, on the tensors' device."""
        index = self.indices(step).to(self.tensors[0].device)
        return tuple(tensor[index] for tensor in self.tensors)


class SequenceBatches:
    """``(input, target)`` windows ``[bptt, B]`` of a token stream, addressed by global step."""

    def __init__(self, tokens: torch.Tensor, batch_size: int, bptt: int) -> None:
        self.data = batchify(tokens, batch_size)
        self.bptt = bptt
        self.steps_per_epoch = (len(self.data) - 1 + bptt - 1) // bptt

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Window ``step % steps_per_epoch``; the last window of an epoch may be shorter."""
        start = (step % self.steps_per_epoch) * self.bptt
        length = min(self.bptt, len(self.data) - 1 - start)
        return self.data[start : start + length], self.data[start + 1 : start + 1 + length]

    def starts_epoch(self, step: int) -> bool:
        """True at the first window of an epoch (where a language model resets its hidden state)."""
        return step % self.steps_per_epoch == 0
