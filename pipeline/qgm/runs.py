"""The qgm study's runs (Lin et al. 2021): QG-DSGDm-N against DSGDm-N (and optionally D-SGD, D², gradient
tracking) on the QGM Dirichlet non-IID partition over a ring, with all-reduce SGDm-N as the reference
(see docs/qgm.md).

- ``tune_<method>_a<alpha>_lr<lr>`` (:class:`TuneRun`): one method at one alpha and one lr of its grid
  (``method_lrs[method]``, else ``lrs``), seed index 0; it records its validation score;
- ``<method>_a<alpha>_s<i>`` (:class:`QgmRun`): one method at one alpha and seed index i, at the lr whose
  tuning run of (method, alpha) scored best on the validation split (its ``needs()``).

All-reduce SGDm-N runs only at ``reference_alphas``: its averaged gradient does not depend on how the data
is split. The run seed is ``derive_seed(seed, "qgm", i) % 2**31``: every method and alpha of one index
shares the model init and batch order, and every method of one (alpha, i) the partition.

A spec holds the settings its run reads, resolved for its method: ``buffer_rate`` (QGM's μ') is None
except in QG-DSGDm-N runs, and ``momentum`` is 0 in the momentum-free methods (D-SGD, D²), so neither
re-runs the methods that never read it. Imports no torch (see :mod:`pipeline.core.study`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.config import ConfigError
from pipeline.core.study import RunSpec

METHODS = ("allreduce_sgdm_n", "dsgd", "dsgdm_n", "qg_dsgdm_n", "d2", "gradient_tracking")
REFERENCE = "allreduce_sgdm_n"
MOMENTUM_FREE = ("dsgd", "d2")  # the engine runs them with momentum 0 (pipeline.decentralized.runner)


@dataclass(frozen=True)
class Training:
    """The settings every run of the study hands the engine, whatever its method, alpha and lr.

    ``model`` is the config's ``model`` block ({name, width, norm, groups}), handed unchanged to
    :func:`pipeline.decentralized.models.model_spec`; ``warmup_from`` is None when the warm-up starts from
    the peak lr itself (config value 0).
    """

    dataset: str
    train_subset: int
    test_subset: int
    valid_size: int
    normalise: str
    augment: str
    model: dict[str, Any]
    n_workers: int
    topology: str
    partition: str
    warmup_steps: int
    warmup_from: float | None
    weight_decay: float
    batch_size: int
    steps: int
    milestones: tuple[float, ...]
    eval_every: int
    score_evals: int
    checkpoint_every: int
    backend: str = "simulator"


@dataclass(frozen=True)
class TuneRun(RunSpec):
    """One method at one alpha and one lr of its grid, seed index 0 (a tuning run)."""

    method: str
    alpha: float
    lr: float
    momentum: float
    buffer_rate: float | None
    training: Training
    seed_index: int = 0

    @property
    def id(self) -> str:
        return tune_id(self.method, self.alpha, self.lr)


@dataclass(frozen=True)
class QgmRun(RunSpec):
    """One method at one Dirichlet concentration and seed index, at the best lr of ``lrs`` on the
    validation split (the tuning runs of its method and alpha)."""

    method: str
    alpha: float
    seed_index: int
    lrs: tuple[float, ...]
    momentum: float
    buffer_rate: float | None
    training: Training

    @property
    def id(self) -> str:
        return f"{self.method}_a{alpha_label(self.alpha)}_s{self.seed_index}"

    def needs(self) -> tuple[str, ...]:
        return tuple(tune_id(self.method, self.alpha, lr) for lr in self.lrs)


SPECS = (TuneRun, QgmRun)


def alpha_label(alpha: float) -> str:
    """How alpha appears in run ids: ``10``, ``1``, ``0.1``."""
    return f"{alpha:g}"


def tune_id(method: str, alpha: float, lr: float) -> str:
    return f"tune_{method}_a{alpha_label(alpha)}_lr{lr:g}"


def method_lrs(section: dict[str, Any], method: str) -> tuple[float, ...]:
    """The lr grid of ``method``: ``method_lrs[method]`` if given, else ``lrs``."""
    return tuple(float(lr) for lr in (section["method_lrs"].get(method) or section["lrs"]))


def method_alphas(section: dict[str, Any], method: str) -> list[float]:
    """The alphas ``method`` runs at: ``reference_alphas`` for all-reduce, every alpha otherwise."""
    alphas = section["reference_alphas"] if method == REFERENCE else section["alphas"]
    return [float(a) for a in alphas]


def datasets(section: dict[str, Any]) -> list[str]:
    return [section["dataset"]]


def _check(section: dict[str, Any]) -> None:
    """What the schema cannot say: relations between keys."""
    for needed in ("dsgdm_n", "qg_dsgdm_n"):
        if needed not in section["methods"]:
            raise ConfigError(f"qgm.methods must include {needed} (the claims compare QGM with DSGDm-N)")
    labels = [alpha_label(a) for a in section["alphas"]]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"qgm.alphas {section['alphas']} give the same run id twice ({labels})")
    if not set(section["reference_alphas"]) <= set(section["alphas"]):
        raise ConfigError(
            f"qgm.reference_alphas {section['reference_alphas']} must be among alphas {section['alphas']}"
        )
    for method in section["methods"]:
        grid = method_lrs(section, method)
        if len(set(grid)) != len(grid):
            raise ConfigError(f"qgm: the lr grid of {method} has a repeated value: {list(grid)}")


def _training(section: dict[str, Any]) -> Training:
    return Training(
        dataset=section["dataset"],
        train_subset=section["train_subset"],
        test_subset=section["test_subset"],
        valid_size=section["valid_size"],
        normalise=section["normalise"],
        augment=section["augment"],
        model=dict(section["model"]),
        n_workers=section["n_workers"],
        topology=section["topology"],
        partition=section["partition"],
        warmup_steps=section["warmup_steps"],
        warmup_from=section["warmup_from"] or None,
        weight_decay=section["weight_decay"],
        batch_size=section["batch_size"],
        steps=section["steps"],
        milestones=tuple(section["milestones"]),
        eval_every=section["eval_every"],
        score_evals=section["score_evals"],
        checkpoint_every=section["checkpoint_every"],
        backend=section["backend"],
    )


def _method_settings(section: dict[str, Any], method: str) -> dict[str, Any]:
    return {
        "momentum": 0.0 if method in MOMENTUM_FREE else section["momentum"],
        "buffer_rate": section["buffer_rate"] if method == "qg_dsgdm_n" else None,
    }


def spec(section: dict[str, Any], method: str, alpha: float, index: int) -> QgmRun:
    """The run of ``method`` at ``alpha`` and seed index ``index`` for a schema-resolved ``qgm`` section."""
    return QgmRun(
        method=method,
        alpha=float(alpha),
        seed_index=index,
        lrs=method_lrs(section, method),
        training=_training(section),
        **_method_settings(section, method),
    )


def tune_spec(section: dict[str, Any], method: str, alpha: float, lr: float) -> TuneRun:
    """The tuning run of ``method`` at ``alpha`` and ``lr`` (seed index 0)."""
    return TuneRun(
        method=method,
        alpha=float(alpha),
        lr=float(lr),
        training=_training(section),
        **_method_settings(section, method),
    )


def runs(section: dict[str, Any]) -> dict[str, RunSpec]:
    """Every (alpha, method): its tuning runs, then its seed runs."""
    _check(section)
    specs: list[RunSpec] = []
    for alpha in section["alphas"]:
        for method in section["methods"]:
            if float(alpha) not in method_alphas(section, method):
                continue
            specs += [tune_spec(section, method, alpha, lr) for lr in method_lrs(section, method)]
            specs += [spec(section, method, alpha, index) for index in range(section["seeds"])]
    return {s.id: s for s in specs}
