"""The fisher study's runs (Jastrzębski et al. 2021): ``<experiment>_<arm>_s<k>``, one per experiment, arm
and seed index.

Each experiment (a dataset, a model and its learning rates) runs its arms for ``seeds`` seeds; seed k of
every arm of an experiment shares the initialisation and data order (paired). A :class:`FisherRun` holds
the experiment settings every arm reads plus its arm's *resolved* settings (:func:`arm_spec`: lr, penalty
kind, weight and frequency, label noise), so editing ``lr_large`` re-runs only the ``large`` arms,
``alpha_gp`` only ``small_gp``, ``noise_fraction`` only ``noisy`` and ``noisy_fp``. Imports no torch (see
:mod:`pipeline.core.study`).

The controls of the paper's comparison of penalties are ``small_gp`` (gradient norm, true labels),
``small_gpx`` (input-gradient norm) and ``small_gpr`` (gradient norm with uniformly random labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.config import ConfigError
from pipeline.core.study import RunSpec

ARMS: tuple[str, ...] = (
    "small",
    "large",
    "small_fp",
    "small_gp",
    "small_gpx",
    "small_gpr",
    "noisy",
    "noisy_fp",
)


@dataclass(frozen=True)
class ArmSpec:
    """What distinguishes an arm: learning rate, penalty kind, weight and frequency, label noise.

    ``penalty_every`` is None for the arms without a penalty (they never read it).
    """

    lr: float
    penalty: str
    alpha: float
    penalty_every: int | None
    noise_fraction: float


def arm_spec(exp: dict[str, Any], arm: str) -> ArmSpec:
    """The :class:`ArmSpec` of ``arm`` in experiment ``exp`` (see :mod:`pipeline.fisher.experiment`)."""
    every = exp["penalty_every"]
    specs = {
        "small": ArmSpec(exp["lr_small"], "none", 0.0, None, 0.0),
        "large": ArmSpec(exp["lr_large"], "none", 0.0, None, 0.0),
        "small_fp": ArmSpec(exp["lr_small"], "fisher", exp["alpha_fp"], every, 0.0),
        "small_gp": ArmSpec(exp["lr_small"], "grad_norm", exp["alpha_gp"], every, 0.0),
        "small_gpx": ArmSpec(exp["lr_small"], "input_grad", exp["alpha_gpx"], every, 0.0),
        "small_gpr": ArmSpec(exp["lr_small"], "random_label", exp["alpha_gpr"], every, 0.0),
        "noisy": ArmSpec(exp["noise_lr"], "none", 0.0, None, exp["noise_fraction"]),
        "noisy_fp": ArmSpec(exp["noise_lr"], "fisher", exp["alpha_fp"], every, exp["noise_fraction"]),
    }
    if arm not in specs:
        raise ConfigError(f"fisher.{exp['name']}.arms: unknown arm {arm!r}; known arms: {', '.join(ARMS)}")
    return specs[arm]


@dataclass(frozen=True)
class FisherRun(RunSpec):
    """Arm ``arm`` of experiment ``experiment`` with seed number ``seed_index`` (docs/fisher.md).

    The data (``dataset``, ``train_size``/``test_size`` subsets and the label noise, seeded from the base
    seed and ``experiment``) and the model are the same for every arm of an experiment; ``lr`` …
    ``noise_fraction`` are the arm's resolved settings (:class:`ArmSpec`).
    """

    experiment: str
    arm: str
    seed_index: int
    # data and model (shared by the experiment's arms)
    dataset: str
    train_size: int
    test_size: int
    model: str
    width: int
    # training
    batch_size: int
    epochs: int
    momentum: float
    checkpoint_every: int
    # the arm (resolved by arm_spec)
    lr: float
    penalty: str
    alpha: float
    penalty_every: int | None
    noise_fraction: float
    # Tr F tracking and evaluation
    fisher_mode: str
    trace_examples: int
    trace_every: int
    trace_until: int
    eval_every: int

    @property
    def id(self) -> str:
        return f"{self.experiment}_{self.arm}_s{self.seed_index}"

    def epoch_steps(self, train_size: int) -> int | None:
        """Batches of one epoch of the ``train_size`` subset (the whole split when 0), tail dropped, as
        :class:`pipeline.data.batches.TensorBatches` counts them."""
        kept = min(self.train_size, train_size) if self.train_size > 0 else train_size
        return kept // self.batch_size


SPECS = (FisherRun,)


def _check(section: dict[str, Any]) -> None:
    """What the schema cannot say: experiment names are unique (they prefix the run ids)."""
    names = [exp["name"] for exp in section["experiments"]]
    if len(set(names)) != len(names):
        raise ConfigError(f"fisher.experiments: experiment names must be unique, got {names}")


def _spec(exp: dict[str, Any], arm: str, seed_index: int, checkpoint_every: int) -> FisherRun:
    settings = arm_spec(exp, arm)
    return FisherRun(
        experiment=exp["name"],
        arm=arm,
        seed_index=seed_index,
        dataset=exp["dataset"],
        train_size=exp["train_size"],
        test_size=exp["test_size"],
        model=exp["model"],
        width=exp["width"],
        batch_size=exp["batch_size"],
        epochs=exp["epochs"],
        momentum=exp["momentum"],
        checkpoint_every=checkpoint_every,
        lr=settings.lr,
        penalty=settings.penalty,
        alpha=settings.alpha,
        penalty_every=settings.penalty_every,
        noise_fraction=settings.noise_fraction,
        fisher_mode=exp["fisher_mode"],
        trace_examples=exp["trace_examples"],
        trace_every=exp["trace_every"],
        trace_until=exp["trace_until"],
        eval_every=exp["eval_every"],
    )


def seeds(section: dict[str, Any], exp: dict[str, Any]) -> int:
    """Seeds of experiment ``exp``: its own ``seeds``, or the study's when that is 0."""
    return int(exp["seeds"] or section["seeds"])


def runs(section: dict[str, Any]) -> dict[str, RunSpec]:
    """Every (experiment, arm, seed index) of a schema-resolved ``fisher`` section, in config order."""
    _check(section)
    specs = [
        _spec(exp, arm, k, section["checkpoint_every"])
        for exp in section["experiments"]
        for arm in exp["arms"]
        for k in range(seeds(section, exp))
    ]
    return {spec.id: spec for spec in specs}


def datasets(section: dict[str, Any]) -> list[str]:
    """The prepared datasets the experiments read."""
    return sorted({exp["dataset"] for exp in section["experiments"]})
