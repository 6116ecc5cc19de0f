"""The directpred study's runs (Tian, Chen, Ganguli 2021): float64 simulations, SSL runs and probe baselines.

``linear_flow`` (symmetric W_p, Assumption 3), ``linear_flow_regular`` (W_p not symmetrised), ``collapse``,
``linear_ablation_s<k>`` (the Lemma-1 matrix flow) and ``eigenmodes`` (the decoupled per-eigenmode ODE,
Eqns 11-13) run on a CPU in seconds; then one BYOL/SimSiam run per (dataset, method, predictor variant,
seed index), id ``<dataset>_<method>_<variant>_s<k>`` (``_n<steps>`` appended for an extra training
length), and the probe baselines ``<dataset>_untrained_s<k>`` (the encoder of seed index k as initialised)
and ``<dataset>_pixels`` (docs/directpred.md).

Each spec holds exactly the config keys its run reads: editing ``directpred.linear.eta`` re-runs the
three simulations and no SSL run, editing ``directpred.ssl.steps`` re-runs every SSL run and no
simulation, and ``directpred.ssl.per_dataset.<dataset>`` (which overrides any ``ssl`` setting for one
dataset) re-runs only that dataset's runs. Imports no torch (see :mod:`pipeline.core.study`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from pipeline.core.config import ConfigError
from pipeline.core.study import RunSpec

HAS_THEORY = True

PREDICTORS = ("linear", "twolayer", "directpred")
VARIANT_GRAMMAR = (
    "<predictor>[_sym][_noema][_ap<α_p>][_freq<N>] with predictor linear, twolayer or directpred"
)
NOT_PER_DATASET = ("datasets", "per_dataset")  # the ssl keys that ssl.per_dataset cannot override
RUN_TABLE_KEYS = (  # the ssl keys that say which runs exist, read by none
    "methods",
    "variants",
    "seeds",
    "ablation_variants",
    "ablation_seeds",
    "extra_steps",
    "baselines",
)


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
    """Every surviving eigenvalue of W_p reaches p*₊, [F, W_p] → 0 (seeded by the base seed).

    ``symmetric``: W_p starts symmetric and its flow is symmetrised (Assumption 3, ``linear_flow``); without
    it (``linear_flow_regular``) W_p follows the plain gradient flow and its asymmetry is measured (Fig. 2,
    App. B)."""

    flow: FlowSettings
    symmetric: bool = True

    @property
    def id(self) -> str:
        return "linear_flow" if self.symmetric else "linear_flow_regular"


@dataclass(frozen=True)
class LinearAblationRun(RunSpec):
    """Table 3 / Fig. 6 in the linear model, one initialisation (seed index): the flow of ``linear`` with
    W_p symmetric or regular, with or without EMA, and the symmetric predictor without EMA at each
    relative predictor learning rate in ``alpha_ps``; it counts the modes that survive."""

    flow: FlowSettings
    alpha_ps: tuple[float, ...]
    seed_index: int

    @property
    def id(self) -> str:
        return f"linear_ablation_s{self.seed_index}"


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
class ProbeSettings:
    """The linear probe (docs/directpred.md): ``lbfgs`` fits a logistic regression for each L2 strength in
    ``weight_decays`` by full-batch L-BFGS (``iters``) on the probe-train split and keeps the one with the
    best validation accuracy; ``adam`` is the paper's protocol (App. C, official code): StandardScaler,
    Adam (``lr``, weight decay ``adam_weight_decay``), ``epochs`` epochs of batch ``batch_size`` on the
    probe-train split, and the test accuracy after the last epoch (no selection at all)."""

    protocol: str
    weight_decays: tuple[float, ...]
    iters: int
    lr: float
    adam_weight_decay: float
    epochs: int
    batch_size: int


@dataclass(frozen=True)
class Variant:
    """A predictor variant, parsed from its name (:func:`parse_variant`)."""

    predictor: str  # linear | twolayer | directpred
    freq: int = 1  # DirectPred: overwrite W_p every freq steps
    symmetric: bool = False  # linear: W_p ← (W_p + W_pᵀ)/2 after every step (Table 3 "symmetric")
    no_ema: bool = False  # BYOL target = the online network (γ_a = 0; Table 3 "no EMA")
    alpha_p: float = 1.0  # predictor learning rate / encoder learning rate (Fig. 6)


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
    align_rel_eig: float
    probe: ProbeSettings
    checkpoint_every: int


@dataclass(frozen=True)
class SSLRun(RunSpec):
    """One BYOL/SimSiam run with its linear probe; its seed derives from the base seed and ``seed_index``."""

    dataset: str
    method: str  # byol | simsiam
    variant: str  # see parse_variant: e.g. linear, directpred_freq5, linear_sym_noema_ap10
    seed_index: int
    ssl: SSLSettings
    extra_steps: bool = False  # an extra training length (ssl.extra_steps): id ends in _n<steps>

    @property
    def id(self) -> str:
        horizon = f"_n{self.ssl.steps}" if self.extra_steps else ""
        return f"{self.dataset}_{self.method}_{self.variant}_s{self.seed_index}{horizon}"


@dataclass(frozen=True)
class BaselineSettings:
    """What a probe baseline reads: the probe splits, the image size, the encoder that seed index k
    initialises (untrained) and the probe."""

    n_train: int
    n_val: int
    n_test: int
    image_size: int
    encoder: str | None  # None for raw pixels
    channels: tuple[int, ...] | None
    augment: str  # the plain view's normalisation (cifar10 normalises)
    probe: ProbeSettings


@dataclass(frozen=True)
class BaselineRun(RunSpec):
    """The linear probe on features that no SSL step has touched: ``untrained`` (the encoder of seed index
    k exactly as the SSL runs of that seed index initialise it) or ``pixels`` (the raw pixels)."""

    dataset: str
    features: str  # untrained | pixels
    seed_index: int
    base: BaselineSettings

    @property
    def id(self) -> str:
        if self.features == "pixels":
            return f"{self.dataset}_pixels"
        return f"{self.dataset}_{self.features}_s{self.seed_index}"


SPECS = (LinearFlowRun, LinearAblationRun, CollapseRun, EigenmodesRun, SSLRun, BaselineRun)


def _alpha_p(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 and text == f"{value:g}" else None


def parse_variant(variant: str) -> Variant:
    """The :class:`Variant` named ``variant`` (grammar :data:`VARIANT_GRAMMAR`, parts in that order).

    ``directpred_freq5`` → DirectPred overwriting W_p every 5 steps; ``linear_sym_noema`` → a symmetrised
    SGD linear predictor without EMA (Table 3); ``linear_sym_noema_ap10`` → the same with the predictor's
    learning rate 10× the encoder's (Fig. 6). ``_sym`` needs the linear predictor, ``_freqN`` (N ≥ 1)
    DirectPred, ``_ap`` a predictor trained by SGD (linear or twolayer; α_p > 0, written as ``%g``)."""
    parts = variant.split("_")
    predictor, rest = parts[0], parts[1:]
    fields: dict[str, object] = {}
    order = ["sym", "noema", "ap", "freq"]
    error = ValueError(f"unknown predictor variant {variant!r}: use {VARIANT_GRAMMAR}")
    if predictor not in PREDICTORS:
        raise error
    for part in rest:
        name = next((o for o in order if part.startswith(o)), None)
        if name is None:
            raise error
        order = order[order.index(name) + 1 :]  # canonical order, each part at most once
        value = part[len(name) :]
        if name in ("sym", "noema"):
            if value:
                raise error
            fields["symmetric" if name == "sym" else "no_ema"] = True
        elif name == "ap":
            alpha_p = _alpha_p(value)
            if alpha_p is None:
                raise error
            fields["alpha_p"] = alpha_p
        elif not (value.isascii() and value.isdecimal() and int(value) >= 1 and value == str(int(value))):
            raise error
        else:
            fields["freq"] = int(value)
    parsed = Variant(predictor, **fields)  # type: ignore[arg-type]
    if parsed.symmetric and predictor != "linear":
        raise ValueError(f"predictor variant {variant!r}: _sym needs the linear predictor")
    if parsed.freq != 1 and predictor != "directpred":
        raise ValueError(f"predictor variant {variant!r}: _freqN needs directpred")
    if "alpha_p" in fields and predictor == "directpred":
        raise ValueError(f"predictor variant {variant!r}: _ap needs a predictor trained by SGD")
    return parsed


def dataset_section(section: dict[str, Any], dataset: str) -> dict[str, Any]:
    """The ``ssl`` settings of one dataset: ``ssl`` with ``ssl.per_dataset[dataset]`` applied on top."""
    ssl = {k: v for k, v in section["ssl"].items() if k not in NOT_PER_DATASET}
    return {**ssl, **section["ssl"]["per_dataset"].get(dataset, {})}


def _key(section: dict[str, Any], dataset: str, name: str) -> str:
    """The dotted config key a dataset's setting ``name`` comes from (its per_dataset override, if any)."""
    if name in section["ssl"]["per_dataset"].get(dataset, {}):
        return f"directpred.ssl.per_dataset.{dataset}.{name}"
    return f"directpred.ssl.{name}"


def probe_settings(section: dict[str, Any], dataset: str) -> ProbeSettings:
    """The probe of one dataset; the L-BFGS protocol needs a validation split to choose among strengths."""
    ssl = dataset_section(section, dataset)
    probe = {f.name: ssl[f"probe_{f.name}"] for f in fields(ProbeSettings)}
    if probe["protocol"] == "lbfgs" and len(probe["weight_decays"]) > 1 and ssl["n_val"] == 0:
        raise ConfigError(
            f"{_key(section, dataset, 'n_val')} = 0, but the lbfgs probe chooses among "
            f"{len(probe['weight_decays'])} probe_weight_decays on the validation split (never on the test "
            "set)"
        )
    return ProbeSettings(**{**probe, "weight_decays": tuple(probe["weight_decays"])})


def ssl_settings(section: dict[str, Any], dataset: str, steps: int | None = None) -> SSLSettings:
    """The :class:`SSLSettings` of one dataset (with ``steps`` instead of ``ssl.steps`` for an extra
    training length), after checking what the schema cannot say."""
    ssl = dataset_section(section, dataset)
    for key in ("variants", "ablation_variants"):
        for variant in ssl[key]:
            try:
                parse_variant(variant)
            except ValueError as error:
                raise ConfigError(f"{_key(section, dataset, key)}: {error}") from None
    both = sorted(set(ssl["variants"]) & set(ssl["ablation_variants"]))
    if both:
        raise ConfigError(f"{_key(section, dataset, 'ablation_variants')}: {both} also in variants")
    gray, small_cnn = ssl["augment"] == "gray", ssl["encoder"] == "small_cnn"
    read = {k: v for k, v in ssl.items() if k not in RUN_TABLE_KEYS and not k.startswith("probe_")}
    return SSLSettings(
        **{
            **read,
            "steps": ssl["steps"] if steps is None else steps,
            "channels": tuple(ssl["channels"]) if small_cnn else None,
            "crop_scale": tuple(ssl["crop_scale"]) if gray else None,
            "jitter": ssl["jitter"] if gray else None,
            "noise_std": ssl["noise_std"] if gray else None,
            "probe": probe_settings(section, dataset),
        }
    )


def baseline_settings(section: dict[str, Any], dataset: str, features: str) -> BaselineSettings:
    """What the ``untrained`` or ``pixels`` probe of one dataset reads."""
    ssl = dataset_section(section, dataset)
    untrained = features == "untrained"
    return BaselineSettings(
        n_train=ssl["n_train"],
        n_val=ssl["n_val"],
        n_test=ssl["n_test"],
        image_size=ssl["image_size"],
        encoder=ssl["encoder"] if untrained else None,
        channels=tuple(ssl["channels"]) if untrained and ssl["encoder"] == "small_cnn" else None,
        augment=ssl["augment"],
        probe=probe_settings(section, dataset),
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
    """``linear_flow``, ``linear_flow_regular``, ``linear_ablation_s<k>``, ``collapse`` and ``eigenmodes``."""
    linear, sweeps = section["linear"], section["sweeps"]
    flow = _flow(linear)
    alpha_ps = tuple(float(a) for a in linear["ablation_alpha_ps"])
    return [
        LinearFlowRun(flow=flow),
        LinearFlowRun(flow=flow, symmetric=False),
        *[LinearAblationRun(flow, alpha_ps, k) for k in range(linear["ablation_seeds"])],
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
    """One :class:`SSLRun` per dataset, method, variant and seed index, in config order; then the same for
    each extra training length of ``ssl.extra_steps``."""
    specs = []
    for dataset in section["ssl"]["datasets"]:
        ssl = dataset_section(section, dataset)
        horizons = [(ssl_settings(section, dataset), False)]
        horizons += [
            (ssl_settings(section, dataset, n), True) for n in ssl["extra_steps"] if n != ssl["steps"]
        ]
        arms = [(v, ssl["seeds"]) for v in ssl["variants"]]
        arms += [(v, ssl["ablation_seeds"]) for v in ssl["ablation_variants"]]
        for settings, extra in horizons:
            for method in ssl["methods"]:
                for variant, seeds in arms:
                    specs += [SSLRun(dataset, method, variant, k, settings, extra) for k in range(seeds)]
    return specs


def baseline_specs(section: dict[str, Any]) -> list[BaselineRun]:
    """Per dataset with SSL runs: the untrained encoder of each seed index and the raw pixels
    (``ssl.baselines``)."""
    specs: list[BaselineRun] = []
    for dataset in section["ssl"]["datasets"]:
        ssl = dataset_section(section, dataset)
        seeds = max(
            ssl["seeds"] if ssl["variants"] else 0, ssl["ablation_seeds"] if ssl["ablation_variants"] else 0
        )
        if seeds == 0 or not ssl["methods"]:
            continue
        if "untrained" in ssl["baselines"]:
            base = baseline_settings(section, dataset, "untrained")
            specs += [BaselineRun(dataset, "untrained", k, base) for k in range(seeds)]
        if "pixels" in ssl["baselines"]:
            specs.append(BaselineRun(dataset, "pixels", 0, baseline_settings(section, dataset, "pixels")))
    return specs


def runs(section: dict[str, Any]) -> dict[str, RunSpec]:
    """The simulations, the SSL runs, then the probe baselines, from a schema-resolved ``directpred``
    section."""
    specs = [*simulation_specs(section), *ssl_specs(section), *baseline_specs(section)]
    return {spec.id: spec for spec in specs}


def datasets(section: dict[str, Any]) -> list[str]:
    """The prepared datasets the SSL runs and baselines read (none when no SSL run is asked for)."""
    return sorted({spec.dataset for spec in [*ssl_specs(section), *baseline_specs(section)]})
