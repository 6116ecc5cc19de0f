"""The consensus study's runs (Kong et al. 2021): all-reduce vs ring D-SGD over n, the dec-phase-k protocol
with consensus control, and the quadratic toy with its closed-form E Ξ² (see docs/consensus.md).

Runs (seed index i = 0..seeds−1; the run seed is ``derive_seed(seed, "consensus", i) % 2**31``):

- ``tune_allreduce_n<n>_lr<lr>`` (:class:`TuneRun`): all-reduce SGDm-N with n workers at one lr of the
  grid (``lrs``, scaled with n by ``lr_scaling``), seed index 0; it records its validation score;
- ``scale_allreduce_n<n>_s<i>`` / ``scale_ring_n<n>_s<i>`` (:class:`ScaleRun`): centralized SGDm-N and ring
  DSGDm-N for each n in ``n_workers``, both at the lr whose tuning run at that n scored best on the
  validation split (all-reduce is tuned per n; the ring uses the same lr, as the paper's lr rule does);
- ``phase<k>_<arm>_n<N>_s<i>`` (:class:`PhaseRun`, N = ``phase_workers``): dec-phase-k, ring DSGDm-N only
  in phase k and all-reduce elsewhere, uncontrolled (arm ``dec``) or, for k in ``control_phases``, under
  consensus control (arm ``ctrl<f>``: gossip after each local step until Ξ ≤ f·Ξ_max, Ξ_max the largest
  Ξ of the uncontrolled dec-phase-k run of the same seed in phase k);
- ``quadratic`` (:class:`QuadraticRun`): closed form vs simulation of E Ξ² against the gossip rounds.

Runs that read others declare them (``needs()``): a scale run reads the tuning runs of its n; a phase run
starts from the snapshot its parent kept at the first step of phase k (the all-reduce run of its seed,
or the ring run for dec-phase-1: up to there the trajectories are the same), and a control arm reads its
target from the uncontrolled run of its phase. Imports no torch (see :mod:`pipeline.core.study`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.config import ConfigError
from pipeline.core.study import RunSpec

HAS_THEORY = True
ALGORITHMS = ("allreduce", "ring")  # ScaleRun.algorithm; the engine's allreduce_sgdm_n and dsgdm_n
UNCONTROLLED = "dec"


@dataclass(frozen=True)
class Training:
    """The settings every training run hands the engine (pipeline.decentralized.runner).

    ``model`` is the config's ``model`` block ({name, width, norm, groups}), handed unchanged to
    :func:`pipeline.decentralized.models.model_spec`. ``steps`` is used when ``epochs`` is 0; otherwise a
    run of n workers trains ``epochs`` passes over its shard (the step count then falls as n grows).
    """

    dataset: str
    train_subset: int
    test_subset: int
    valid_size: int
    normalise: str
    augment: str
    model: dict[str, Any]
    topology: str
    warmup_fraction: float
    warmup_from: float | None
    momentum: float
    weight_decay: float
    grad_clip: float
    batch_size: int
    steps: int
    epochs: float
    milestones: tuple[float, ...]
    eval_every: int
    score_evals: int
    checkpoint_every: int
    backend: str = "simulator"

    def epoch_steps(self, n: int, train_size: int) -> int | None:
        """Steps of one pass of each of ``n`` workers over its shard, when the dataset's training split
        holds ``train_size`` examples (before the subset and the validation hold-out); None when runs
        train ``steps`` (``epochs`` 0). The rule of :func:`pipeline.consensus.training.resolve_steps`."""
        if self.epochs <= 0:
            return None
        kept = (min(self.train_subset, train_size) if self.train_subset else train_size) - self.valid_size
        return self.shard_steps(n, kept)

    def shard_steps(self, n: int, kept: int) -> int:
        """Batches in one pass of each of ``n`` workers over its shard of ``kept`` training examples."""
        return kept // n // self.batch_size


class _EpochSized:
    """A run of ``n_workers`` with ``training``: its epoch length is the training settings' (mixin)."""

    n_workers: int
    training: Training

    def epoch_steps(self, train_size: int) -> int | None:
        return self.training.epoch_steps(self.n_workers, train_size)


@dataclass(frozen=True)
class TuneRun(_EpochSized, RunSpec):
    """All-reduce SGDm-N with ``n_workers`` at one lr of the grid, seed index 0 (the tuning run)."""

    n_workers: int
    lr: float
    snapshots: bool
    training: Training
    seed_index: int = 0

    @property
    def id(self) -> str:
        return tune_id(self.n_workers, self.lr)


@dataclass(frozen=True)
class ScaleRun(_EpochSized, RunSpec):
    """All-reduce SGDm-N (``algorithm="allreduce"``) or ring DSGDm-N (``"ring"``) with n workers, at the
    best lr of ``lrs`` on the validation split (the tuning runs of n). ``snapshots``: keep the state at
    each lr decay (n = ``phase_workers``: the phase runs start there)."""

    algorithm: str
    n_workers: int
    seed_index: int
    lrs: tuple[float, ...]
    snapshots: bool
    training: Training

    @property
    def id(self) -> str:
        return scale_id(self.algorithm, self.n_workers, self.seed_index)

    def needs(self) -> tuple[str, ...]:
        return tuple(tune_id(self.n_workers, lr) for lr in self.lrs)


@dataclass(frozen=True)
class PhaseRun(_EpochSized, RunSpec):
    """Dec-phase-k: ring DSGDm-N only in ``phase``, uncontrolled (``fraction`` None, arm ``dec``) or with
    Ξ held at ``fraction``·Ξ_max in that phase (arm ``ctrl<fraction>``). It trains at the lr chosen from
    ``lrs`` (the grid of its n) for the all-reduce run of its seed, which it reads. ``max_rounds`` caps
    the gossip rounds per step of a control arm (None for the uncontrolled arm, which never reads it)."""

    phase: int
    fraction: float | None
    n_workers: int
    seed_index: int
    lrs: tuple[float, ...]
    max_rounds: int | None
    training: Training

    @property
    def arm(self) -> str:
        return UNCONTROLLED if self.fraction is None else fraction_label(self.fraction)

    @property
    def id(self) -> str:
        return phase_id(self.phase, self.arm, self.n_workers, self.seed_index)

    @property
    def parent(self) -> str:
        """The run whose snapshot at the first step of ``phase`` this run starts from (None: step 0)."""
        if self.phase == 1:
            return "" if self.fraction is not None else scale_id("ring", self.n_workers, self.seed_index)
        return scale_id("allreduce", self.n_workers, self.seed_index)

    @property
    def start_phase(self) -> int:
        """The phase whose first step this run starts at: the parent agrees with it up to there (the ring
        run up to the end of phase 1 for dec-phase-1; the all-reduce run up to phase k otherwise)."""
        return 2 if self.phase == 1 else self.phase

    @property
    def reference(self) -> str:
        """The run whose Ξ in ``phase`` sets the control target (the uncontrolled dec-phase-k run)."""
        if self.fraction is None:
            return ""
        return phase_id(self.phase, UNCONTROLLED, self.n_workers, self.seed_index)

    @property
    def lr_source(self) -> str:
        """The scale run whose chosen lr this run trains at (the all-reduce run of its n and seed)."""
        return scale_id("allreduce", self.n_workers, self.seed_index)

    def needs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r for r in (self.parent, self.reference, self.lr_source) if r))


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


SPECS = (TuneRun, ScaleRun, PhaseRun, QuadraticRun)


def tune_id(n: int, lr: float) -> str:
    return f"tune_allreduce_n{n}_lr{lr:g}"


def scale_id(algorithm: str, n: int, index: int) -> str:
    return f"scale_{algorithm}_n{n}_s{index}"


def phase_id(phase: int, arm: str, n: int, index: int) -> str:
    return f"phase{phase}_{arm}_n{n}_s{index}"


def fraction_label(fraction: float) -> str:
    """The name of a control arm: ``ctrl0.25``."""
    return f"ctrl{fraction:g}"


def phases(section: dict[str, Any]) -> list[int]:
    """The 1-based training phases the milestones delimit."""
    return list(range(1, len(section["milestones"]) + 2))


def lr_grid(section: dict[str, Any], n: int) -> tuple[float, ...]:
    """The lrs tried for all-reduce with n workers: ``lrs`` × (n / ``lr_workers``) with linear scaling
    (the paper's 0.05·n rule), ``lrs`` as they are otherwise."""
    factor = n / section["lr_workers"] if section["lr_scaling"] == "linear" else 1.0
    return tuple(float(f"{lr * factor:.6g}") for lr in section["lrs"])


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
    if section["phase_workers"] not in section["n_workers"]:
        raise ConfigError(
            f"consensus.phase_workers ({section['phase_workers']}) must be one of n_workers "
            f"{section['n_workers']}: the phase runs start from that n's all-reduce and ring runs"
        )
    if len(set(section["lrs"])) != len(section["lrs"]):
        raise ConfigError(f"consensus.lrs has a repeated value: {section['lrs']}")


def _training(section: dict[str, Any]) -> Training:
    return Training(
        dataset=section["dataset"],
        train_subset=section["train_subset"],
        test_subset=section["test_subset"],
        valid_size=section["valid_size"],
        normalise=section["normalise"],
        augment=section["augment"],
        model=dict(section["model"]),
        topology=section["topology"],
        warmup_fraction=section["warmup_fraction"],
        warmup_from=section["warmup_from"] or None,
        momentum=section["momentum"],
        weight_decay=section["weight_decay"],
        grad_clip=section["grad_clip"],
        batch_size=section["batch_size"],
        steps=section["steps"],
        epochs=section["epochs"],
        milestones=tuple(section["milestones"]),
        eval_every=section["eval_every"],
        score_evals=section["score_evals"],
        checkpoint_every=section["checkpoint_every"],
        backend=section["backend"],
    )


def runs(section: dict[str, Any]) -> dict[str, RunSpec]:
    """The tuning runs, the scale runs (n, algorithm, seed), the phase runs (phase, arm, seed), then
    ``quadratic``."""
    _check(section)
    training, seeds, N = _training(section), range(section["seeds"]), section["phase_workers"]
    specs: list[RunSpec] = [
        TuneRun(n_workers=n, lr=lr, snapshots=n == N, training=training)
        for n in section["n_workers"]
        for lr in lr_grid(section, n)
    ]
    specs += [
        ScaleRun(
            algorithm=algorithm,
            n_workers=n,
            seed_index=i,
            lrs=lr_grid(section, n),
            snapshots=n == N,
            training=training,
        )
        for n in section["n_workers"]
        for algorithm in ALGORITHMS
        for i in seeds
    ]
    for k in phases(section):
        fractions = [None, *section["control_fractions"]] if k in section["control_phases"] else [None]
        specs += [
            PhaseRun(
                phase=k,
                fraction=f,
                n_workers=N,
                seed_index=i,
                lrs=lr_grid(section, N),
                max_rounds=None if f is None else section["max_rounds"],
                training=training,
            )
            for f in fractions
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
