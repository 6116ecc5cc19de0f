"""The selfish_rnn study's runs (Liu et al. 2021): dense / static / SET / Selfish-RNN LSTM LMs, each with SGD
and SNT-ASGD, one run per method, optimiser and seed index: ``<method>_<optimizer>_s<k>``.

A :class:`SelfishRun` holds exactly the config keys its run reads, so editing one key re-runs only the runs
that read it: the sparse settings (``density``, ``sparse_init``) are ``None`` in dense runs, the settings of
the prune/regrow step (``death_rate``, ``growth``) are ``None`` unless the masks change (SET, Selfish-RNN),
and the SNT-ASGD trigger window ``nonmono`` is ``None`` in SGD runs. ``gate_spread_min`` is a claim
threshold, not a run setting (the claims read it from the section). Imports no torch.
"""

from __future__ import annotations

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

    method: str
    optimizer: str
    seed_index: int
    # corpus
    corpus: str
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
    nonmono: int | None = None  # SNT-ASGD only
    # sparse training (None for dense; death_rate and growth only where masks change)
    density: float | None = None
    sparse_init: str | None = None
    death_rate: float | None = None
    growth: str | None = None

    @property
    def id(self) -> str:
        return f"{self.method}_{self.optimizer}_s{self.seed_index}"

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


def _spec(section: dict[str, Any], method: str, optimizer: str, seed_index: int) -> SelfishRun:
    sparse, dynamic = method in SPARSE_METHODS, method in DYNAMIC_METHODS
    common = (
        "corpus",
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
        method=method,
        optimizer=optimizer,
        seed_index=seed_index,
        **{key: section[key] for key in common},
        nonmono=section["nonmono"] if optimizer == "sntasgd" else None,
        density=section["density"] if sparse else None,
        sparse_init=section["sparse_init"] if sparse else None,
        death_rate=section["death_rate"] if dynamic else None,
        growth=section["growth"] if dynamic else None,
    )


def runs(section: dict[str, Any]) -> dict[str, RunSpec]:
    """``<method>_<optimizer>_s<k>`` per method, optimiser and seed index k < ``seeds`` (config order)."""
    _check(section)
    specs = [
        _spec(section, method, optimizer, k)
        for method in section["methods"]
        for optimizer in section["optimizers"]
        for k in range(section["seeds"])
    ]
    return {spec.id: spec for spec in specs}


def datasets(section: dict[str, Any]) -> list[str]:
    """The prepared corpus the runs read (none for the synthetic smoke corpus)."""
    return [] if section["corpus"] == "synthetic" else [section["corpus"]]
