"""The consensus study's runs (Kong et al. 2021): all-reduce vs ring D-SGD over n, the dec-phase-k protocol
with consensus control, and the quadratic toy with its closed-form E Ξ² (see docs/consensus.md).

Runs (seed index i = 0..seeds−1; the run seed is ``derive_seed(seed, "consensus", i) % 2**31``):

- ``scale_allreduce_n<n>_s<i>`` / ``scale_ring_n<n>_s<i>`` (:class:`ScaleRun`): centralized SGDm-N and ring
  DSGDm-N for each n in ``n_workers``;
- ``phase<k>_n<N>_s<i>`` (:class:`PhaseRun`): decentralized (ring DSGDm-N) only in phase k, all-reduce
  elsewhere, N = ``phase_workers``; if k is in ``control_phases`` the run also trains the consensus-control
  arms of ``control_fractions`` (its spec holds them; it holds none otherwise);
- ``quadratic`` (:class:`QuadraticRun`): closed form vs simulation of E Ξ² against the gossip rounds.

The training runs share one :class:`Training` block (every setting they hand the engine), so editing
``phase_workers`` re-runs only the phase runs, ``quadratic.chains`` only ``quadratic``, and a new seed
only adds runs. Imports no torch (see :mod:`pipeline.core.study`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.config import ConfigError
from pipeline.core.study import RunSpec

HAS_THEORY = True
ALGORITHMS = ("allreduce", "ring")  # ScaleRun.algorithm; the engine's allreduce_sgdm_n and dsgdm_n


@dataclass(frozen=True)
class Training:
    """The settings every training run hands the engine (pipeline.decentralized.runner).

    ``model`` is the config's ``model`` block ({name, width, norm, groups}), handed unchanged to
    :func:`pipeline.decentralized.models.model_spec`.
    """

    dataset: str
    train_subset: int
    test_subset: int
    model: dict[str, Any]
    topology: str
    lr: float
    warmup_steps: int
    momentum: float
    weight_decay: float
    batch_size: int
    steps: int
    milestones: tuple[float, ...]
    max_rounds: int
    eval_every: int
    checkpoint_every: int


@dataclass(frozen=True)
class ScaleRun(RunSpec):
    """All-reduce SGDm-N (``algorithm="allreduce"``) or ring DSGDm-N (``"ring"``) with n workers."""

    algorithm: str
    n_workers: int
    seed_index: int
    training: Training

    @property
    def id(self) -> str:
        return f"scale_{self.algorithm}_n{self.n_workers}_s{self.seed_index}"


@dataclass(frozen=True)
class PhaseRun(RunSpec):
    """Dec-phase-k: ring DSGDm-N only in ``phase`` (arm ``dec``), plus one arm ``ctrl<f>`` per control
    fraction f, gossiping in that phase until Ξ ≤ f · Ξ_ref (Ξ_ref: mean Ξ of the ``dec`` arm in the phase).
    ``control_fractions`` is empty when the phase is not in ``control_phases``."""

    phase: int
    n_workers: int
    seed_index: int
    control_fractions: tuple[float, ...]
    training: Training

    @property
    def id(self) -> str:
        return f"phase{self.phase}_n{self.n_workers}_s{self.seed_index}"


@dataclass(frozen=True)
class QuadraticRun(RunSpec):
    """The quadratic toy on a ring: stationary E Ξ², closed form against simulation."""

    n_workers: int
    lr: float
    sigma: float
    zeta: float
    gossip_rounds: tuple[int, ...]
    steps: int
    burn_in: int
    chains: int

    @property
    def id(self) -> str:
        return "quadratic"


SPECS = (ScaleRun, PhaseRun, QuadraticRun)


def fraction_label(fraction: float) -> str:
    """The name of a phase run's control arm (its key in the run's ``arms`` metrics): ``ctrl0.25``."""
    return f"ctrl{fraction:g}"


def phases(section: dict[str, Any]) -> list[int]:
    """The 1-based training phases the milestones delimit."""
    return list(range(1, len(section["milestones"]) + 2))


def datasets(section: dict[str, Any]) -> list[str]:
    return [section["dataset"]]


def _check(section: dict[str, Any]) -> None:
    """What the schema cannot say: relations between keys (it checks that phases and n are distinct)."""
    count = len(phases(section))
    if not all(1 <= k <= count for k in section["control_phases"]):
        raise ConfigError(
            f"consensus.control_phases must be phases 1..{count} (len(milestones) + 1), "
            f"got {section['control_phases']}"
        )


def _training(section: dict[str, Any]) -> Training:
    return Training(
        dataset=section["dataset"],
        train_subset=section["train_subset"],
        test_subset=section["test_subset"],
        model=dict(section["model"]),
        topology=section["topology"],
        lr=section["lr"],
        warmup_steps=section["warmup_steps"],
        momentum=section["momentum"],
        weight_decay=section["weight_decay"],
        batch_size=section["batch_size"],
        steps=section["steps"],
        milestones=tuple(section["milestones"]),
        max_rounds=section["max_rounds"],
        eval_every=section["eval_every"],
        checkpoint_every=section["checkpoint_every"],
    )


def runs(section: dict[str, Any]) -> dict[str, RunSpec]:
    """The scale runs (n, algorithm, seed), the phase runs (phase, seed), then ``quadratic``."""
    _check(section)
    training, seeds = _training(section), range(section["seeds"])
    specs: list[RunSpec] = [
        ScaleRun(algorithm=algorithm, n_workers=n, seed_index=i, training=training)
        for n in section["n_workers"]
        for algorithm in ALGORITHMS
        for i in seeds
    ]
    specs += [
        PhaseRun(
            phase=k,
            n_workers=section["phase_workers"],
            seed_index=i,
            control_fractions=tuple(section["control_fractions"]) if k in section["control_phases"] else (),
            training=training,
        )
        for k in phases(section)
        for i in seeds
    ]
    q = section["quadratic"]
    specs.append(
        QuadraticRun(
            n_workers=q["n_workers"],
            lr=q["lr"],
            sigma=q["sigma"],
            zeta=q["zeta"],
            gossip_rounds=tuple(q["gossip_rounds"]),
            steps=q["steps"],
            burn_in=q["burn_in"],
            chains=q["chains"],
        )
    )
    return {spec.id: spec for spec in specs}
