"""Token streams for the study: a prepared corpus (KJV, PTB, WikiText-2) or a synthetic one for smoke tests.

``kjv``/``ptb``/``wikitext2`` come from :func:`pipeline.data.load_dataset` (data/prepared/<name> when
prepared). The vocabulary is capped at ``vocab_size`` by mapping ids ≥ vocab_size to ``<unk>`` (id 1): the
prepared vocabularies are sorted by descending training count (:mod:`pipeline.data.text`), so this equals
building the vocabulary with that cap. ``train_tokens`` / ``eval_tokens`` keep the first
tokens of a split (0 = all), i.e. contiguous books of the KJV.

``synthetic`` needs no dataset at all (smoke scale, CI): a stream drawn from a fixed random first-order Markov
chain over ``vocab_size`` symbols with sparse Dirichlet(0.1) transition rows. It is generated from a fixed
seed, independent of the run seed, so every run sees the same corpus; its entropy rate is far below
log(vocab), so a language model visibly learns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline.data import load_dataset

SYNTHETIC_SEED = 20210118  # fixed: the smoke corpus must not change with the run seed
UNK_ID = 1


@dataclass(frozen=True)
class Corpus:
    """Train/valid/test id streams and the vocabulary size the model needs."""

    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    vocab_size: int
    source: str


def synthetic_stream(tokens: int, vocab_size: int, seed: int = SYNTHETIC_SEED) -> torch.Tensor:
    """``tokens`` ids from the fixed sparse Markov chain (row-stochastic Dirichlet(0.1) transitions)."""
    rng = np.random.default_rng(seed)
    transitions = rng.dirichlet(np.full(vocab_size, 0.1), size=vocab_size)
    cumulative = np.cumsum(transitions, axis=1)
    uniforms = rng.random(tokens)
    out = np.empty(tokens, dtype=np.int64)
    state = 0
    for index in range(tokens):
        state = min(int(np.searchsorted(cumulative[state], uniforms[index])), vocab_size - 1)
        out[index] = state
    return torch.from_numpy(out)


def _head(stream: torch.Tensor, count: int) -> torch.Tensor:
    return stream[:count] if count > 0 else stream


def load_corpus(
    name: str, vocab_size: int, train_tokens: int, eval_tokens: int, data_root: Path | str
) -> Corpus:
    """The study's corpus (see the module docstring)."""
    if name == "synthetic":
        total = max(train_tokens, 1) + 2 * max(eval_tokens, 1)
        stream = synthetic_stream(total, vocab_size)
        valid_end = train_tokens + eval_tokens
        return Corpus(
            stream[:train_tokens],
            stream[train_tokens:valid_end],
            stream[valid_end : valid_end + eval_tokens],
            vocab_size,
            f"synthetic Markov chain (seed {SYNTHETIC_SEED}, vocab {vocab_size})",
        )
    bundle = load_dataset(name, data_root=data_root)
    size = min(vocab_size, len(bundle.vocab)) if vocab_size > 0 else len(bundle.vocab)

    def capped(split: str, count: int) -> torch.Tensor:
        ids = _head(bundle.tokens(split), count).clone()
        ids[ids >= size] = UNK_ID
        return ids

    return Corpus(
        capped("train", train_tokens),
        capped("valid", eval_tokens),
        capped("test", eval_tokens),
        size,
        f"{name} (vocab capped at {size})",
    )
