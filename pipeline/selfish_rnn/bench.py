"""Benchmarks: a sparse (masked) training step against a dense one, and the cost of the prune/regrow pass.

Both use the default-scale model shape (2-layer LSTM, emsize = nhid = 100, vocabulary 1,000, batch 10,
bptt 35) on random tokens. The sparse step is the dense step plus applying the masks after every update, so
the ratio measures the masking overhead (goal: at most 1.3). The prune/regrow benchmark compares
one end-of-epoch pass (magnitude death + random growth over every sparse tensor) with one training
step, so its ratio reads "how many training steps one mask update costs".
"""

from __future__ import annotations

import torch

from pipeline.core.bench import Benchmark
from pipeline.core.config import section
from pipeline.data.batches import SequenceBatches
from pipeline.models.lstm_lm import LSTMLanguageModel
from pipeline.selfish_rnn.masking import SparseMasks
from pipeline.selfish_rnn.trainer import SparseLMTrainer, TrainSettings

_STEPS = 5
_CFG = section("selfish_rnn")  # the schema's defaults: the default-scale model shape


def _trainer(sparse: bool) -> SparseLMTrainer:
    torch.manual_seed(0)
    size, vocab = _CFG["nhid"], _CFG["vocab_size"]
    model = LSTMLanguageModel(vocab, size, size, nlayers=_CFG["nlayers"], dropout=_CFG["dropout"])
    masks = SparseMasks(model, _CFG["density"], seed=0) if sparse else None
    tokens = torch.randint(0, vocab, (_CFG["batch_size"] * _CFG["bptt"] * (_STEPS + 2),))
    batches = SequenceBatches(tokens, _CFG["batch_size"], _CFG["bptt"])
    settings = TrainSettings(
        lr=_CFG["lr"],
        clip=_CFG["clip"],
        weight_decay=_CFG["weight_decay"],
        nonmono=_CFG["nonmono"],
        use_asgd=True,
        dynamic=sparse,
        death_rate=_CFG["death_rate"],
        total_steps=100,
        eval_batch_size=_CFG["eval_batch_size"],
        bptt=_CFG["bptt"],
    )
    return SparseLMTrainer(model, masks, settings, batches, tokens[:200], _CFG["batch_size"])


_DENSE, _SPARSE = _trainer(False), _trainer(True)


def _steps(trainer: SparseLMTrainer) -> None:
    for step in range(1, _STEPS + 1):
        trainer.step(step, trainer.batches(step))


def dense_steps() -> None:
    """Five dense training steps."""
    _steps(_DENSE)


def sparse_steps() -> None:
    """Five sparse training steps (masks applied after every update)."""
    _steps(_SPARSE)


def one_step() -> None:
    """One sparse training step (the unit of the prune/regrow ratio)."""
    _SPARSE.step(1, _SPARSE.batches(1))


def prune_regrow() -> None:
    """One prune/regrow pass over every sparse tensor at the initial death rate."""
    _SPARSE.masks.prune_regrow(_SPARSE.model, _CFG["death_rate"])


BENCHMARKS = [
    Benchmark(
        name="selfish_rnn_sparse_vs_dense_step",
        study="selfish_rnn",
        what="5 training steps of the default 2-layer LSTM LM (H 100, V 1000, batch 10, bptt 35): sparse "
        "(density 0.33, masks applied after each update) time / dense time",
        numerator=sparse_steps,
        denominator=dense_steps,
        goal=1.3,
        goal_is="at most",
        repeats=5,
    ),
    Benchmark(
        name="selfish_rnn_prune_regrow_vs_step",
        study="selfish_rnn",
        what="one end-of-epoch prune/regrow pass (magnitude death + random growth, all sparse tensors) time "
        "/ one sparse training step time (no goal: reported)",
        numerator=prune_regrow,
        denominator=one_step,
        goal=None,
        repeats=5,
    ),
]
