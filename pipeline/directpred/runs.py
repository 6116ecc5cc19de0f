"""The directpred study's runs (Tian, Chen, Ganguli 2021): three float64 simulations and the SSL runs.

``linear_flow``, ``collapse`` (the Lemma-1 matrix flow) and ``eigenmodes`` (the decoupled per-eigenmode
ODE, Eqns 11-13) run on a CPU in seconds; then one BYOL/SimSiam run per (dataset, method, predictor
variant, seed index), id ``<dataset>_<method>_<variant>_s<k>`` (docs/directpred.md).

Each spec holds exactly the config keys its run reads: editing ``directpred.linear.eta`` re-runs the
three simulations and no SSL run, editing ``directpred.ssl.steps`` re-runs every SSL run and no
simulation, and ``directpred.ssl.per_dataset.<dataset>`` (which overrides any ``ssl`` setting for one
dataset) re-runs only that dataset's runs. Imports no torch (see :mod:`pipeline.core.study`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.config import ConfigError
from pipeline.core.study import RunSpec

HAS_THEORY = True

PREDICTORS = ("linear", "twolayer", "directpred")
NOT_PER_DATASET = ("datasets", "per_dataset")  # the ssl keys that ssl.per_dataset cannot override
RUN_TABLE_KEYS = ("methods", "variants", "seeds")  # ssl keys that say which runs exist, read by none


@dataclass(frozen=True)
class FlowSettings:
    """The ``linear`` settings of one Lemma-1 matrix flow (the fields of
    :class:`pipeline.directpred.linear.LinearConfig` that the config sets)."""

    n1: int
    n2: int
    sigma2: float
    eta: float
    alpha_p: float
    beta: float
    dt: float
    steps: int
    init_scale: float
    record_every: int


@dataclass(frozen=True)
class LinearFlowRun(RunSpec):
    """Every surviving eigenvalue of W_p reaches p*₊, [F, W_p] → 0 (seeded by the base seed)."""

    flow: FlowSettings

    @property
    def id(self) -> str:
        return "linear_flow"


@dataclass(frozen=True)
class CollapseRun(RunSpec):
    """Weight decay above η_crit, no stop-gradient, no predictor, and the η/η_crit sweep."""

    flow: FlowSettings
    collapse_eta: float
    threshold_ratios: tuple[float, ...]
    threshold_steps: int
    threshold_dt: float

    @property
    def id(self) -> str:
        return "collapse"


@dataclass(frozen=True)
class EigenmodesRun(RunSpec):
    """(p, s) portraits and the η and EMA (β) sweeps of the decoupled ODE (Eqns 11-13).

    ``sigma2``, ``alpha_p``, ``eta`` (the β sweep's and Eqn-14 check's weight decay) and ``beta`` (the
    η sweep's EMA rate) come from ``linear``; the rest from ``sweeps``.
    """

    sigma2: float
    alpha_p: float
    eta: float
    beta: float
    t_max: float
    n_points: int
    p0: float
    s0: float
    etas: tuple[float, ...]
    betas: tuple[float, ...]
    portrait_etas: tuple[float, ...]
    portrait_grid: int
    portrait_p_range: tuple[float, float]
    portrait_s_range: tuple[float, float]

    @property
    def id(self) -> str:
        return "eigenmodes"


@dataclass(frozen=True)
class SSLSettings:
    """One dataset's resolved SSL settings (``ssl`` with ``ssl.per_dataset.<dataset>`` on top) that a run
    reads. The gray augmentation's ``crop_scale``, ``jitter`` and ``noise_std`` are None under the
    ``cifar10``/``stl10`` recipes, and the SmallCNN ``channels`` None for a ResNet: those runs do not
    read them."""

    n_train: int
    n_val: int
    n_test: int
    unlabeled: int
    image_size: int
    encoder: str
    channels: tuple[int, ...] | None
    augment: str
    crop_scale: tuple[float, ...] | None
    jitter: float | None
    noise_std: float | None
    batch_size: int
    steps: int
    lr: float
    momentum: float
    weight_decay: float
    ema: float
    target_init: str
    rho: float
    eps: float
    directpred_mode: str
    symmetric_predictor: bool
    proj_hidden: int
    proj_dim: int
    pred_hidden: int
    track_every: int
    track_top_k: int
    align_top_k: int
    probe_weight_decays: tuple[float, ...]
    probe_iters: int
    checkpoint_every: int


@dataclass(frozen=True)
class SSLRun(RunSpec):
    """One BYOL/SimSiam run with its linear probe; its seed derives from the base seed and ``seed_index``."""

    dataset: str
    method: str  # byol | simsiam
    variant: str  # linear | twolayer | directpred, optionally _freqN (see parse_variant)
    seed_index: int
    ssl: SSLSettings

    @property
    def id(self) -> str:
        return f"{self.dataset}_{self.method}_{self.variant}_s{self.seed_index}"


SPECS = (LinearFlowRun, CollapseRun, EigenmodesRun, SSLRun)


def parse_variant(variant: str) -> tuple[str, int]:
    """``directpred_freq5`` → ("directpred", 5); ``linear`` → ("linear", 1); ValueError otherwise (N ≥ 1)."""
    predictor, marker, freq = variant.partition("_freq")
    valid = not marker or (freq.isascii() and freq.isdecimal() and int(freq) >= 1)
    if predictor not in PREDICTORS or not valid:
        raise ValueError(f"unknown predictor variant {variant!r}: use linear, twolayer, directpred[_freqN]")
    return predictor, int(freq or 1)


def dataset_section(section: dict[str, Any], dataset: str) -> dict[str, Any]:
    """The ``ssl`` settings of one dataset: ``ssl`` with ``ssl.per_dataset[dataset]`` applied on top."""
    ssl = {k: v for k, v in section["ssl"].items() if k not in NOT_PER_DATASET}
    return {**ssl, **section["ssl"]["per_dataset"].get(dataset, {})}


def _key(section: dict[str, Any], dataset: str, name: str) -> str:
    """The dotted config key a dataset's setting ``name`` comes from (its per_dataset override, if any)."""
    if name in section["ssl"]["per_dataset"].get(dataset, {}):
        return f"directpred.ssl.per_dataset.{dataset}.{name}"
    return f"directpred.ssl.{name}"


def ssl_settings(section: dict[str, Any], dataset: str) -> SSLSettings:
    """The :class:`SSLSettings` of one dataset, after checking what the schema cannot say."""
    ssl = dataset_section(section, dataset)
    for variant in ssl["variants"]:
        try:
            parse_variant(variant)
        except ValueError as error:
            raise ConfigError(f"{_key(section, dataset, 'variants')}: {error}") from None
    gray, small_cnn = ssl["augment"] == "gray", ssl["encoder"] == "small_cnn"
    top = min(ssl["track_top_k"], ssl["proj_dim"])
    if ssl["align_top_k"] > top:
        raise ConfigError(
            f"{_key(section, dataset, 'align_top_k')} = {ssl['align_top_k']} exceeds min(track_top_k, "
            f"proj_dim) = {top}: the alignment averages tracked eigenvectors of F̂ only"
        )
    read = {k: v for k, v in ssl.items() if k not in RUN_TABLE_KEYS}
    return SSLSettings(
        **{
            **read,
            "channels": tuple(ssl["channels"]) if small_cnn else None,
            "crop_scale": tuple(ssl["crop_scale"]) if gray else None,
            "jitter": ssl["jitter"] if gray else None,
            "noise_std": ssl["noise_std"] if gray else None,
            "probe_weight_decays": tuple(ssl["probe_weight_decays"]),
        }
    )


def _flow(linear: dict[str, Any]) -> FlowSettings:
    return FlowSettings(
        n1=linear["n1"],
        n2=linear["n2"],
        sigma2=linear["sigma2"],
        eta=linear["eta"],
        alpha_p=linear["alpha_p"],
        beta=linear["beta"],
        dt=linear["dt"],
        steps=linear["steps"],
        init_scale=linear["init_scale"],
        record_every=linear["record_every"],
    )


def simulation_specs(section: dict[str, Any]) -> list[RunSpec]:
    """``linear_flow``, ``collapse`` and ``eigenmodes``."""
    linear, sweeps = section["linear"], section["sweeps"]
    flow = _flow(linear)
    return [
        LinearFlowRun(flow=flow),
        CollapseRun(
            flow=flow,
            collapse_eta=linear["collapse_eta"],
            threshold_ratios=tuple(linear["threshold_ratios"]),
            threshold_steps=linear["threshold_steps"],
            threshold_dt=linear["threshold_dt"],
        ),
        EigenmodesRun(
            sigma2=linear["sigma2"],
            alpha_p=linear["alpha_p"],
            eta=linear["eta"],
            beta=linear["beta"],
            t_max=sweeps["t_max"],
            n_points=sweeps["n_points"],
            p0=sweeps["p0"],
            s0=sweeps["s0"],
            etas=tuple(sweeps["etas"]),
            betas=tuple(sweeps["betas"]),
            portrait_etas=tuple(sweeps["portrait_etas"]),
            portrait_grid=sweeps["portrait_grid"],
            portrait_p_range=tuple(sweeps["portrait_p_range"]),
            portrait_s_range=tuple(sweeps["portrait_s_range"]),
        ),
    ]


def ssl_specs(section: dict[str, Any]) -> list[SSLRun]:
    """One :class:`SSLRun` per dataset, method, variant and seed index, in config order."""
    specs = []
    for dataset in section["ssl"]["datasets"]:
        ssl, settings = dataset_section(section, dataset), ssl_settings(section, dataset)
        for method in ssl["methods"]:
            for variant in ssl["variants"]:
                specs += [SSLRun(dataset, method, variant, k, settings) for k in range(ssl["seeds"])]
    return specs


def runs(section: dict[str, Any]) -> dict[str, RunSpec]:
    """The three simulations, then the SSL runs, from a schema-resolved ``directpred`` section."""
    return {spec.id: spec for spec in [*simulation_specs(section), *ssl_specs(section)]}


def datasets(section: dict[str, Any]) -> list[str]:
    """The prepared datasets the SSL runs read (none when no SSL run is asked for)."""
    return sorted({spec.dataset for spec in ssl_specs(section)})
