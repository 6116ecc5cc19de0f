"""The selfish_rnn study's runs (Liu et al. 2021): dense / static / SET / Selfish-RNN LSTM LMs, each with SGD
and SNT-ASGD, one run per corpus, method, optimiser and seed index: ``<corpus>_<method>_<optimizer>_s<k>``.

A :class:`SelfishRun` holds exactly the config keys its run reads, so editing one key re-runs only the runs
that read it: the sparse settings (``density``, ``sparse_init``) are ``None`` in dense runs, the settings of
the prune/regrow step (``death_rate``, ``growth``) are ``None`` unless the masks change (SET, Selfish-RNN),
and the SNT-ASGD trigger window ``nonmono`` is ``None`` in SGD runs that train from scratch.

**Forked SGD runs** (``fork_sgd``, when both optimisers run): an SGD run and the SNT-ASGD run of the same
corpus, method and seed are identical until the SNT-ASGD trigger fires (same initialisation, data order,
dropout noise and masks), so the SGD run does not repeat that part: it ``needs()`` the SNT-ASGD run, starts
from the state that run saved just before it switched to averaging (or before its last epoch end, when it
never switched) and trains the remaining epochs with SGD. That state depends on the trigger, so a forked SGD
run holds ``nonmono``. The SNT-ASGD runs come first in the run table. ``gate_spread_min`` is a claim
threshold, not a run setting (the claims read it from the section). Imports no torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pipeline.core.config import ConfigError
from pipeline.core.study import RunSpec

METHODS = ("dense", "static", "set", "selfish")
SPARSE_METHODS = ("static", "set", "selfish")
DYNAMIC_METHODS = ("set", "selfish")
OPTIMIZERS = ("sgd", "sntasgd")


@dataclass(frozen=True)
class SelfishRun(RunSpec):
    """One LSTM language-model run: ``method`` with ``optimizer`` from seed index ``seed_index``.

    Methods (docs/selfish_rnn.md): ``dense`` (no masks), ``static`` (masks fixed at initialisation), ``set``
    (magnitude death + random regrowth every epoch, every LSTM gate block keeping its own budget) and
    ``selfish`` (the same on whole stacked LSTM matrices, so the four gates compete). Optimisers: ``sgd``
    (constant lr) and ``sntasgd`` (SNT-ASGD). All runs of one seed index share the model initialisation.
    """

    corpus: str
    method: str
    optimizer: str
    seed_index: int
    # corpus
    vocab_size: int
    train_tokens: int
    eval_tokens: int
    # model
    emsize: int
    nhid: int
    nlayers: int
    dropout: float
    tie_weights: bool
    init_range: float
    # training
    batch_size: int
    bptt: int
    eval_batch_size: int
    epochs: int
    lr: float
    clip: float
    weight_decay: float
    checkpoint_every: int
    nonmono: int | None = None  # SNT-ASGD runs and forked SGD runs
    # sparse training (None for dense; death_rate and growth only where masks change)
    density: float | None = None
    sparse_init: str | None = None
    death_rate: float | None = None
    growth: str | None = None
    # an SGD run that continues the SNT-ASGD run of its corpus, method and seed from the trigger epoch
    forked: bool = False

    @property
    def id(self) -> str:
        return f"{self.corpus}_{self.method}_{self.optimizer}_s{self.seed_index}"

    def epoch_steps(self, train_size: int) -> int | None:
        """bptt windows of one epoch of the first ``train_tokens`` tokens (all when 0) cut into
        ``batch_size`` streams, as :class:`pipeline.data.batches.SequenceBatches` counts them."""
        tokens = min(self.train_tokens, train_size) if self.train_tokens > 0 else train_size
        rows = tokens // self.batch_size
        return (rows - 1 + self.bptt - 1) // self.bptt

    @property
    def fork_source(self) -> str | None:
        """Id of the SNT-ASGD run a forked SGD run starts from (None for a run trained from scratch)."""
        if not self.forked:
            return None
        return f"{self.corpus}_{self.method}_sntasgd_s{self.seed_index}"

    def needs(self) -> tuple[str, ...]:
        """A forked SGD run reads the SNT-ASGD run it continues (its fork state and history)."""
        return (self.fork_source,) if self.forked else ()

    def check_variant(self) -> tuple[SelfishRun, int]:
        """A forked SGD run is checked as the SGD run from scratch it equals (``fork_sgd: false``): a few
        steps never reach the epoch end where its SNT-ASGD source writes the fork state. The fork itself is
        tested against training from scratch in tests/test_selfish_rnn_study.py."""
        if not self.forked:
            return self, 1
        return dataclasses.replace(self, forked=False, nonmono=None), 1

    @property
    def sparse(self) -> bool:
        """Whether the run trains masked weights (every method but ``dense``)."""
        return self.method in SPARSE_METHODS

    @property
    def dynamic(self) -> bool:
        """Whether the masks are pruned and regrown at every epoch end (SET, Selfish-RNN)."""
        return self.method in DYNAMIC_METHODS

    @property
    def use_asgd(self) -> bool:
        return self.optimizer == "sntasgd"


SPECS = (SelfishRun,)


def _check(section: dict[str, Any]) -> None:
    """What the schema cannot say: relations between keys."""
    if section["tie_weights"] and section["emsize"] != section["nhid"]:
        raise ConfigError(
            f"selfish_rnn.tie_weights needs emsize == nhid, got emsize={section['emsize']}, "
            f"nhid={section['nhid']}"
        )
    if "synthetic" in section["corpora"] and section["vocab_size"] < 3:
        raise ConfigError(
            f"selfish_rnn.vocab_size is the synthetic corpus's number of symbols: at least 3, got "
            f"{section['vocab_size']}"
        )


def forks(section: dict[str, Any]) -> bool:
    """Whether the SGD runs continue the SNT-ASGD runs (``fork_sgd`` and both optimisers configured)."""
    return bool(section["fork_sgd"]) and {"sgd", "sntasgd"} <= set(section["optimizers"])


def _spec(section: dict[str, Any], corpus: str, method: str, optimizer: str, seed_index: int) -> SelfishRun:
    sparse, dynamic = method in SPARSE_METHODS, method in DYNAMIC_METHODS
    forked = optimizer == "sgd" and forks(section)
    common = (
        "vocab_size",
        "train_tokens",
        "eval_tokens",
        "emsize",
        "nhid",
        "nlayers",
        "dropout",
        "tie_weights",
        "init_range",
        "batch_size",
        "bptt",
        "eval_batch_size",
        "epochs",
        "lr",
        "clip",
        "weight_decay",
        "checkpoint_every",
    )
    return SelfishRun(
        corpus=corpus,
        method=method,
        optimizer=optimizer,
        seed_index=seed_index,
        **{key: section[key] for key in common},
        nonmono=section["nonmono"] if optimizer == "sntasgd" or forked else None,
        density=section["density"] if sparse else None,
        sparse_init=section["sparse_init"] if sparse else None,
        death_rate=section["death_rate"] if dynamic else None,
        growth=section["growth"] if dynamic else None,
        forked=forked,
    )


def optimizer_order(section: dict[str, Any]) -> list[str]:
    """The optimisers in config order, except that SNT-ASGD comes first when the SGD runs fork from it."""
    optimizers = list(section["optimizers"])
    return sorted(optimizers, key=lambda name: name != "sntasgd") if forks(section) else optimizers


def runs(section: dict[str, Any]) -> dict[str, RunSpec]:
    """``<corpus>_<method>_<optimizer>_s<k>`` per corpus, method, optimiser (:func:`optimizer_order`) and
    seed index k < ``seeds``."""
    _check(section)
    specs = [
        _spec(section, corpus, method, optimizer, k)
        for corpus in section["corpora"]
        for method in section["methods"]
        for optimizer in optimizer_order(section)
        for k in range(section["seeds"])
    ]
    return {spec.id: spec for spec in specs}


def datasets(section: dict[str, Any]) -> list[str]:
    """The prepared corpora the runs read (none for the synthetic smoke corpus)."""
    return [corpus for corpus in section["corpora"] if corpus != "synthetic"]
