"""The qgm study's runs (Lin et al. 2021): QG-DSGDm-N against DSGDm-N, D-SGD (and optionally D², gradient
tracking) on the QGM Dirichlet non-IID partition over a ring, with all-reduce SGDm-N as the reference
(see docs/qgm.md).

One :class:`QgmRun` ``<method>_a<alpha>_s<i>`` per method in ``methods``, alpha in ``alphas`` and seed index
i (the run seed is ``derive_seed(seed, "qgm", i) % 2**31``: every method and alpha of one index shares the
model init and batch order, and every method of one (alpha, i) the partition).

A spec holds the settings its run reads, resolved for its method: ``lr`` is ``method_lrs[method]`` when
positive, else ``lr`` (:func:`method_lr`), so editing ``method_lrs.dsgd`` re-runs only the D-SGD runs;
``buffer_rate`` (QGM's μ') is None except in QG-DSGDm-N runs, and ``momentum`` is 0 in the momentum-free
methods (D-SGD, D²), so neither re-runs the methods that never read it. Imports no torch (see
:mod:`pipeline.core.study`).
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
class QgmRun(RunSpec):
    """One method at one Dirichlet concentration and seed index, on ``n_workers`` over ``topology``.

    ``model`` is the config's ``model`` block ({name, width, norm, groups}), handed unchanged to
    :func:`pipeline.decentralized.models.model_spec`; ``warmup_from`` is None when the warm-up starts from
    ``lr`` itself (config value 0).
    """

    method: str
    alpha: float
    seed_index: int
    dataset: str
    train_subset: int
    test_subset: int
    model: dict[str, Any]
    n_workers: int
    topology: str
    partition: str
    lr: float
    warmup_steps: int
    warmup_from: float | None
    momentum: float
    buffer_rate: float | None
    weight_decay: float
    batch_size: int
    steps: int
    milestones: tuple[float, ...]
    eval_every: int
    checkpoint_every: int

    @property
    def id(self) -> str:
        return f"{self.method}_a{alpha_label(self.alpha)}_s{self.seed_index}"


SPECS = (QgmRun,)


def alpha_label(alpha: float) -> str:
    """How alpha appears in run ids: ``10``, ``1``, ``0.1``."""
    return f"{alpha:g}"


def method_lr(section: dict[str, Any], method: str) -> float:
    """Peak learning rate of ``method``: ``method_lrs[method]`` if positive, else ``lr``."""
    return float(section["method_lrs"].get(method, 0.0) or section["lr"])


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


def spec(section: dict[str, Any], method: str, alpha: float, index: int) -> QgmRun:
    """The run of ``method`` at ``alpha`` and seed index ``index`` for a schema-resolved ``qgm`` section."""
    return QgmRun(
        method=method,
        alpha=float(alpha),
        seed_index=index,
        dataset=section["dataset"],
        train_subset=section["train_subset"],
        test_subset=section["test_subset"],
        model=dict(section["model"]),
        n_workers=section["n_workers"],
        topology=section["topology"],
        partition=section["partition"],
        lr=method_lr(section, method),
        warmup_steps=section["warmup_steps"],
        warmup_from=section["warmup_from"] or None,
        momentum=0.0 if method in MOMENTUM_FREE else section["momentum"],
        buffer_rate=section["buffer_rate"] if method == "qg_dsgdm_n" else None,
        weight_decay=section["weight_decay"],
        batch_size=section["batch_size"],
        steps=section["steps"],
        milestones=tuple(section["milestones"]),
        eval_every=section["eval_every"],
        checkpoint_every=section["checkpoint_every"],
    )


def runs(section: dict[str, Any]) -> dict[str, RunSpec]:
    """Every (alpha, method, seed index), in that nesting order."""
    _check(section)
    specs = [
        spec(section, method, alpha, index)
        for alpha in section["alphas"]
        for method in section["methods"]
        for index in range(section["seeds"])
    ]
    return {s.id: s for s in specs}
