"""The nero study's runs (Liu, Bernstein, Meister, Yue 2021, "Learning by Turning"; docs/nero.md).

- ``sweep_<task>_<optimizer>_s<i>`` (:class:`ClassifierSweepRun` for mlp, cnn, resnet;
  :class:`LanguageSweepRun` for lstm): every learning rate of the optimiser's grid on the task
  (``nero.<task>.lrs.<optimizer>``, or ``nero.lrs`` where that is empty) for one seed index, each trained
  from the same initialisation and batch order (the seed depends on task and seed index only); each lr is a
  resumable engine run in ``<run_dir>/lr<lr>/``;
- ``ablation_<setting>_s<i>`` (:class:`AblationRun`): Nero with the constraints ``none``, ``mean``, ``norm``
  or ``both`` (Fig. 1 analogue) over ``ablation.lrs`` on ``ablation.task``;
- ``memory`` (:class:`MemoryRun`): optimiser-state size of every optimiser on every task's model after one
  step.

Each spec holds exactly what its run reads: its task's settings and schedule (so ``nero.cnn.steps`` re-runs
only the cnn sweeps and, when ``ablation.task`` is cnn, the ablation), its own lr grid, the hyperparameters
of its own optimiser only (:func:`optimizer_settings`: ``nero_beta`` re-runs the Nero sweeps, the ablation
and ``memory``, not the baselines; ``sgd_grad_clip`` only the SGD sweeps of the language model), and for
``memory`` only the models, never steps, batch sizes or data sizes. Imports no torch (see
:mod:`pipeline.core.study`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.core.config import ConfigError
from pipeline.core.study import RunSpec

OPTIMIZERS: tuple[str, ...] = ("nero", "sgd", "sgdm", "adam", "lamb")
# constraint setting -> (zero_mean, unit_norm) of Nero
ABLATION: dict[str, tuple[bool, bool]] = {
    "none": (False, False),
    "mean": (True, False),
    "norm": (False, True),
    "both": (True, True),
}
CLASSIFIER_TASKS: tuple[str, ...] = ("mlp", "cnn", "resnet")
LANGUAGE_TASKS: tuple[str, ...] = ("lstm",)

# The section keys each optimiser reads (pipeline.nero.tasks.make_optimizer; the clip in pipeline.nero.train,
# on the language-model task only: the paper clips the gradients of SGD in its language-model runs only).
_HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "nero": ("nero_beta",),
    "sgd": ("sgd_grad_clip",),
    "sgdm": ("sgd_momentum", "sgd_grad_clip"),
    "adam": ("baseline_beta1",),
    "lamb": ("baseline_beta1",),
}


def lr_key(lr: float) -> str:
    """The string naming a learning rate in run directories and metrics (``1e-02``-style)."""
    return f"{lr:.0e}" if float(f"{lr:.0e}") == lr else repr(float(lr))


# ------------------------------------------------------------------------------------- nested settings


@dataclass(frozen=True)
class ClassifierNet:
    """What builds a classifier (:func:`pipeline.nero.tasks.build_classifier`); ``dataset`` gives the input
    shape. ``depth``, ``width``, ``activation`` are read by ``mlp``, ``channels`` by ``tiny_vgg``, ``hidden``
    and ``conv_bias`` by ``tiny_vgg`` and ``vgg11``."""

    dataset: str
    model: str
    depth: int
    width: int
    activation: str
    channels: tuple[int, ...]
    hidden: int
    conv_bias: bool


@dataclass(frozen=True)
class ClassifierTask:
    """A classifier task: its model, the data subsets (seeded by the base seed), the training length, the
    training-set augmentation (``none`` or ``cifar``: the paper's CIFAR-10 crop, flip and rotation) and how
    many training examples are evaluated for the train accuracy (0 = all of the training subset)."""

    net: ClassifierNet
    train_size: int
    test_size: int
    batch_size: int
    steps: int
    augment: str
    train_eval_size: int


@dataclass(frozen=True)
class LanguageNet:
    """What builds the LSTM language model (:func:`pipeline.nero.tasks.build_language_model`)."""

    vocab_size: int
    emsize: int
    nhid: int
    nlayers: int
    dropout: float


@dataclass(frozen=True)
class LanguageTask:
    """The language-model task: its model, the corpus and token counts, truncated BPTT and batch sizes."""

    net: LanguageNet
    dataset: str
    train_tokens: int
    valid_tokens: int
    bptt: int
    batch_size: int
    eval_batch_size: int
    steps: int


@dataclass(frozen=True)
class OptimizerSettings:
    """The hyperparameters an optimiser reads; None for those it does not (see :func:`optimizer_settings`)."""

    nero_beta: float | None = None
    sgd_momentum: float | None = None
    baseline_beta1: float | None = None
    sgd_grad_clip: float | None = None


@dataclass(frozen=True)
class Schedule:
    """The learning-rate schedule of one task's lr runs (:func:`pipeline.nero.train.lr_factor`)."""

    kind: str
    warmup_fraction: float
    milestones: tuple[float, ...]
    gamma: float


@dataclass(frozen=True)
class Training:
    """How a task's lr runs are trained besides the task: its schedule, the evaluation, log and checkpoint
    cadence."""

    schedule: Schedule
    eval_points: int
    log_points: int
    checkpoint_every: int


@dataclass(frozen=True)
class MemoryModel:
    """One task's model in the memory table: ``classifier`` or ``language`` (exactly one is set)."""

    task: str
    classifier: ClassifierNet | None = None
    language: LanguageNet | None = None


# ------------------------------------------------------------------------------------------- run specs


@dataclass(frozen=True)
class SweepRun(RunSpec):
    """The lr sweep of ``optimizer`` on ``task`` for seed number ``seed_index`` (the fields both kinds
    share; select both with ``results.select(SweepRun, ...)``)."""

    task: str
    optimizer: str
    seed_index: int
    lrs: tuple[float, ...]
    optim: OptimizerSettings
    training: Training

    @property
    def id(self) -> str:
        return f"sweep_{self.task}_{self.optimizer}_s{self.seed_index}"

    def check_variant(self) -> tuple[SweepRun, int]:
        """The first lr only: every lr trains through the same loop."""
        return dataclasses.replace(self, lrs=self.lrs[:1]), len(self.lrs)


@dataclass(frozen=True)
class ClassifierSweepRun(SweepRun):
    """A sweep on a classifier task (mlp, cnn, resnet); score: test accuracy."""

    settings: ClassifierTask


@dataclass(frozen=True)
class LanguageSweepRun(SweepRun):
    """A sweep on the language-model task (lstm); score: minus the validation loss."""

    settings: LanguageTask


@dataclass(frozen=True)
class AblationRun(RunSpec):
    """Nero with constraint ``setting`` (``none``, ``mean``, ``norm``, ``both``) over ``lrs`` on the
    classifier task ``task`` (``ablation.task``), seed number ``seed_index`` (seeded as its sweeps)."""

    setting: str
    seed_index: int
    task: str
    lrs: tuple[float, ...]
    settings: ClassifierTask
    optim: OptimizerSettings
    training: Training

    @property
    def id(self) -> str:
        return f"ablation_{self.setting}_s{self.seed_index}"

    def check_variant(self) -> tuple[AblationRun, int]:
        """The first lr only: every lr trains through the same loop."""
        return dataclasses.replace(self, lrs=self.lrs[:1]), len(self.lrs)

    @property
    def optimizer(self) -> str:
        """The optimiser name :func:`pipeline.nero.tasks.make_optimizer` takes (``nero_<setting>``)."""
        return f"nero_{self.setting}"


@dataclass(frozen=True)
class MemoryRun(RunSpec):
    """Optimiser-state size after one step of every optimiser on every task's model (models only: the
    table reads no steps, batch or data sizes)."""

    optimizers: tuple[str, ...]
    models: tuple[MemoryModel, ...]
    optim: OptimizerSettings

    @property
    def id(self) -> str:
        return "memory"


SPECS = (ClassifierSweepRun, LanguageSweepRun, AblationRun, MemoryRun)


# ------------------------------------------------------------------------------------ section -> specs


def _floats(values: Iterable[Any]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def classifier_net(task: dict[str, Any]) -> ClassifierNet:
    """The :class:`ClassifierNet` of a classifier task's section (``nero.mlp``, ``nero.cnn``, ...)."""
    return ClassifierNet(
        dataset=task["dataset"],
        model=task["model"],
        depth=task["depth"],
        width=task["width"],
        activation=task["activation"],
        channels=tuple(int(c) for c in task["channels"]),
        hidden=task["hidden"],
        conv_bias=task["conv_bias"],
    )


def classifier_task(task: dict[str, Any]) -> ClassifierTask:
    """The :class:`ClassifierTask` of a classifier task's section."""
    return ClassifierTask(
        net=classifier_net(task),
        train_size=task["train_size"],
        test_size=task["test_size"],
        batch_size=task["batch_size"],
        steps=task["steps"],
        augment=task["augment"],
        train_eval_size=task["train_eval_size"],
    )


def language_net(task: dict[str, Any]) -> LanguageNet:
    """The :class:`LanguageNet` of the ``nero.lstm`` section."""
    return LanguageNet(
        vocab_size=task["vocab_size"],
        emsize=task["emsize"],
        nhid=task["nhid"],
        nlayers=task["nlayers"],
        dropout=float(task["dropout"]),
    )


def language_task(task: dict[str, Any]) -> LanguageTask:
    """The :class:`LanguageTask` of the ``nero.lstm`` section."""
    return LanguageTask(
        net=language_net(task),
        dataset=task["dataset"],
        train_tokens=task["train_tokens"],
        valid_tokens=task["valid_tokens"],
        bptt=task["bptt"],
        batch_size=task["batch_size"],
        eval_batch_size=task["eval_batch_size"],
        steps=task["steps"],
    )


def optimizer_settings(
    section: dict[str, Any], optimizers: Iterable[str], clip: bool = True
) -> OptimizerSettings:
    """The hyperparameters the ``optimizers`` read (``nero_<setting>`` reads ``nero_beta``); ``clip=False``
    leaves out ``sgd_grad_clip`` (read by the training of the language model only, not by the optimiser's
    construction)."""
    keys = {key for name in optimizers for key in _HYPERPARAMETERS[name.split("_")[0]]}
    if not clip:
        keys.discard("sgd_grad_clip")
    return OptimizerSettings(**{key: float(section[key]) for key in sorted(keys)})


def schedule_of(section: dict[str, Any], task: str) -> dict[str, Any]:
    """The schedule of ``task``: its own ``nero.<task>.schedule``, or ``nero.schedule`` when its kind is
    ``inherit``."""
    own = section[task]["schedule"]
    return section["schedule"] if own["kind"] == "inherit" else own


def lrs_of(section: dict[str, Any], task: str, optimizer: str) -> tuple[float, ...]:
    """The lr grid of ``optimizer`` on ``task``: ``nero.<task>.lrs.<optimizer>``, or ``nero.lrs`` when that
    is empty."""
    own = section[task]["lrs"][optimizer]
    return _floats(own or section["lrs"])


def training(section: dict[str, Any], task: str) -> Training:
    """The :class:`Training` of ``task``'s runs (its schedule; the cadence is common to every task)."""
    schedule = schedule_of(section, task)
    return Training(
        schedule=Schedule(
            kind=schedule["kind"],
            warmup_fraction=float(schedule["warmup_fraction"]),
            milestones=_floats(schedule["milestones"]),
            gamma=float(schedule["gamma"]),
        ),
        eval_points=section["eval_points"],
        log_points=section["log_points"],
        checkpoint_every=section["checkpoint_every"],
    )


def _check(section: dict[str, Any]) -> None:
    """What the schema cannot say: relations between keys."""
    tasks = [*section["tasks"], *([section["ablation"]["task"]] if section["ablation"]["settings"] else [])]
    for task in dict.fromkeys(tasks):
        cfg = section[task]
        if task in CLASSIFIER_TASKS and cfg["model"] == "mlp" and cfg["depth"] < 1:
            raise ConfigError(f"nero.{task}.depth must be >= 1 for model mlp, got {cfg['depth']}")
        for name in section["optimizers"]:
            grid = lrs_of(section, task, name)
            if list(grid) != sorted(set(grid)):
                raise ConfigError(f"nero.{task}.lrs.{name}: the lr grid must be increasing, got {list(grid)}")
    if list(section["ablation"]["lrs"]) != sorted(set(section["ablation"]["lrs"])):
        raise ConfigError(f"nero.ablation.lrs must be increasing, got {section['ablation']['lrs']}")


def runs(section: dict[str, Any]) -> dict[str, RunSpec]:
    """Sweeps (task × optimiser × seed), the ablation settings (× seed) and ``memory``, in that order."""
    _check(section)
    seeds = range(section["seeds"])
    specs: list[RunSpec] = []
    for task in section["tasks"]:
        trained = training(section, task)
        for name in section["optimizers"]:
            optim = optimizer_settings(section, [name], clip=task in LANGUAGE_TASKS)
            lrs = lrs_of(section, task, name)
            for seed_index in seeds:
                common = {"task": task, "optimizer": name, "seed_index": seed_index, "lrs": lrs}
                if task in LANGUAGE_TASKS:
                    spec: RunSpec = LanguageSweepRun(
                        **common, optim=optim, training=trained, settings=language_task(section[task])
                    )
                else:
                    spec = ClassifierSweepRun(
                        **common, optim=optim, training=trained, settings=classifier_task(section[task])
                    )
                specs.append(spec)
    ablation = section["ablation"]
    for setting in ablation["settings"]:
        for seed_index in seeds:
            specs.append(
                AblationRun(
                    setting=setting,
                    seed_index=seed_index,
                    task=ablation["task"],
                    lrs=_floats(ablation["lrs"]),
                    settings=classifier_task(section[ablation["task"]]),
                    optim=optimizer_settings(section, ["nero"]),
                    training=training(section, ablation["task"]),
                )
            )
    models = tuple(
        MemoryModel(task, language=language_net(section[task]))
        if task in LANGUAGE_TASKS
        else MemoryModel(task, classifier=classifier_net(section[task]))
        for task in section["tasks"]
    )
    optimizers = tuple(section["optimizers"])
    specs.append(MemoryRun(optimizers, models, optimizer_settings(section, optimizers, clip=False)))
    return {spec.id: spec for spec in specs}


def datasets(section: dict[str, Any]) -> list[str]:
    """Prepared datasets the runs read: the dataset of every enabled task and of the ablation."""
    names = [section[task]["dataset"] for task in section["tasks"]]
    if section["ablation"]["settings"]:
        names.append(section[section["ablation"]["task"]]["dataset"])
    return sorted(set(names))
