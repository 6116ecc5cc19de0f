"""The directpred study (Tian, Chen, Ganguli 2021): sympy theory, float64 linear-network flows, BYOL runs.

Runs: ``linear_flow``, ``collapse`` and ``eigenmodes`` (pipeline/directpred/simulations.py, directpred.md
§5.2-5.4), and one SSL run per (dataset, method, predictor variant, seed), id
``<dataset>_<method>_<variant>_s<seed>`` (pipeline/directpred/experiment.py, §5.5). Each dataset's settings
are the ``ssl`` section with ``ssl.per_dataset[<dataset>]`` applied on top (:func:`dataset_ssl`), so paper
scale can run STL-10 (96x96, ImageNet-stem ResNet-18, train+unlabeled) and CIFAR-10 side by side. The SSL
claims are made per dataset. Claims read only the stored metrics.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.claims import Claim, claim_maker
from pipeline.core.records import read_metrics
from pipeline.core.seeding import derive_seed
from pipeline.directpred import experiment, simulations
from pipeline.directpred import theory as symbolic
from pipeline.studies import RunContext, RunOutput

STUDY = "directpred"
SIMULATIONS = ("linear_flow", "collapse", "eigenmodes")

DEFAULTS: dict[str, Any] = {
    "theory": {"tau": 1.0, "sigma2": 0.5, "eta": 0.04, "alpha_p": 1.0},
    "linear": {
        "n1": 32,
        "n2": 16,
        "sigma2": 0.5,
        "eta": 0.04,
        "alpha_p": 1.0,
        "beta": 0.4,
        "dt": 0.01,
        "steps": 20000,
        "init_scale": 0.1,
        "record_every": 100,
        "collapse_eta": 0.2,
        "threshold_ratios": [0.5, 0.9, 1.1, 2.0],
        "threshold_steps": 20000,
        "threshold_dt": 0.02,
    },
    "sweeps": {
        "t_max": 300.0,
        "n_points": 301,
        "p0": 0.2,
        "s0": 0.5,
        "etas": [0.0, 0.04, 0.1, 0.16, 0.2],
        "betas": [0.04, 0.4, 4.0],
        "portrait_etas": [0.01, 0.04, 0.2],
        "portrait_grid": 5,
        "portrait_p_range": [-0.2, 1.0],
        "portrait_s_range": [0.05, 1.0],
    },
    "ssl": {
        "datasets": ["fashion_mnist"],
        "per_dataset": {},
        "n_train": 8000,
        "n_val": 2000,
        "n_test": 5000,
        "unlabeled": 0,
        "image_size": 16,
        "encoder": "small_cnn",
        "channels": [16, 32, 32],
        "augment": "gray",
        "batch_size": 128,
        "steps": 300,
        "methods": ["byol"],
        "variants": ["linear", "twolayer", "directpred", "directpred_freq5"],
        "seeds": 3,
        "lr": 0.05,
        "momentum": 0.9,
        "weight_decay": 4.0e-4,
        "ema": 0.99,
        "target_init": "copy",
        "rho": 0.3,
        "eps": 0.1,
        "directpred_mode": "code",
        "symmetric_predictor": False,
        "proj_hidden": 128,
        "proj_dim": 64,
        "pred_hidden": 128,
        "crop_scale": [0.2, 1.0],
        "jitter": 0.4,
        "noise_std": 0.05,
        "track_every": 20,
        "track_top_k": 8,
        "align_top_k": 4,
        "probe_weight_decays": [1.0e-4, 1.0e-3, 1.0e-2],
        "probe_iters": 100,
        "checkpoint_every": 100,
    },
}


NOT_PER_DATASET = ("datasets", "per_dataset")


def resolve(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """The study's config with :data:`DEFAULTS` filled in (one level of nesting), validated."""
    out = copy.deepcopy(DEFAULTS)
    for key, value in (cfg or {}).items():
        if key not in out:
            raise KeyError(f"directpred: unknown config key {key!r}; known: {', '.join(out)}")
        out[key] = {**out[key], **value} if isinstance(value, dict) else value
    for name, overrides in out["ssl"]["per_dataset"].items():
        unknown = set(overrides) - (set(DEFAULTS["ssl"]) - set(NOT_PER_DATASET))
        if unknown:
            raise KeyError(f"directpred.ssl.per_dataset.{name}: keys {sorted(unknown)} cannot be overridden")
    for name in out["ssl"]["datasets"]:
        ssl = dataset_ssl(out, name)
        for variant in ssl["variants"]:
            experiment.parse_variant(variant)
        for method in ssl["methods"]:
            if method not in ("byol", "simsiam"):
                raise ValueError(f"directpred.ssl.methods: unknown method {method!r} (byol, simsiam)")
    return out


def dataset_ssl(cfg: dict[str, Any], dataset: str) -> dict[str, Any]:
    """The SSL settings of one dataset: ``ssl`` with ``ssl.per_dataset[dataset]`` on top, and ``dataset``."""
    ssl = {k: v for k, v in cfg["ssl"].items() if k not in NOT_PER_DATASET}
    return {**ssl, **cfg["ssl"]["per_dataset"].get(dataset, {}), "dataset": dataset}


def ssl_run_parts(cfg: dict[str, Any]) -> dict[str, tuple[str, str, str, int]]:
    """Run id -> (dataset, method, variant, seed index), in config order (``cfg`` resolved)."""
    parts = {}
    for dataset in cfg["ssl"]["datasets"]:
        ssl = dataset_ssl(cfg, dataset)
        for method in ssl["methods"]:
            for variant in ssl["variants"]:
                for k in range(ssl["seeds"]):
                    parts[f"{dataset}_{method}_{variant}_s{k}"] = (dataset, method, variant, k)
    return parts


def ssl_runs(cfg: dict[str, Any]) -> list[str]:
    """``<dataset>_<method>_<variant>_s<seed>`` for every dataset, method, variant and seed index."""
    return list(ssl_run_parts(cfg))


def run_ids(cfg: dict[str, Any]) -> list[str]:
    """The three simulations, then the SSL runs."""
    return list(SIMULATIONS) + ssl_runs(resolve(cfg))


def datasets(cfg: dict[str, Any]) -> list[str]:
    """The prepared datasets the SSL runs read."""
    return sorted({dataset for dataset, *_ in ssl_run_parts(resolve(cfg)).values()})


def execute(run_id: str, ctx: RunContext) -> RunOutput:
    """Compute one run: a float64 simulation (seconds) or one SSL training run with its probe."""
    cfg = resolve(ctx.cfg)
    if run_id == "linear_flow":
        return RunOutput(*simulations.linear_flow(cfg, ctx.seed))
    if run_id == "collapse":
        return RunOutput(*simulations.collapse(cfg, ctx.seed))
    if run_id == "eigenmodes":
        return RunOutput(*simulations.eigenmodes(cfg))
    parts = ssl_run_parts(cfg)
    if run_id not in parts:
        raise KeyError(f"directpred has no run {run_id!r}; runs: {', '.join(run_ids(cfg))}")
    dataset, method, variant, index = parts[run_id]
    seed = derive_seed(ctx.seed, STUDY, "seed", index)
    ssl = dataset_ssl(cfg, dataset)
    metrics, history = experiment.run(
        ssl,
        method,
        variant,
        seed,
        device=ctx.device,
        data_root=ctx.extras.get("data_root", "data/raw"),
        base_seed=ctx.seed,
        checkpoint_path=Path(ctx.run_dir) / "checkpoint.pt",
        checkpoint_every=ssl["checkpoint_every"],
    )
    return RunOutput(metrics=metrics, history=history)


def theory(cfg: dict[str, Any]) -> dict[str, Any]:
    """Sympy: Eqns 11-17, the fixed points, η_crit, slopes and Jacobians (pipeline/directpred/theory.py)."""
    th = resolve(cfg)["theory"]
    return symbolic.run_all(th["tau"], th["sigma2"], th["eta"], th["alpha_p"])


# ------------------------------------------------------------------------------------------------ claims


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _mean(values: list[float]) -> float:
    """Mean that is NaN when a value is missing or the list is empty (so a claim on it cannot hold)."""
    arr = np.array([_number(v) for v in values], dtype=float)
    return float(arr.mean()) if arr.size else math.nan


SSL_COLUMNS = [
    "run",
    "dataset",
    "method",
    "variant",
    "probe_test_accuracy",
    "probe_val_accuracy",
    "align_cos_top_k",
    "diverged",
]


def ssl_table(cfg: dict[str, Any], base: Path) -> pd.DataFrame:
    """One row per finished SSL run of the config: dataset, method, variant, probe accuracy, alignment."""
    rows = []
    for run, (dataset, method, variant, _) in ssl_run_parts(cfg).items():
        path = base / run / "metrics.json"
        if not path.exists():
            continue
        m = read_metrics(path)
        rows.append(
            {
                "run": run,
                "dataset": dataset,
                "method": method,
                "variant": variant,
                "probe_test_accuracy": _number(m.get("probe_test_accuracy")),
                "probe_val_accuracy": _number(m.get("probe_val_accuracy")),
                "align_cos_top_k": _number(m.get("align_cos_top_k")),
                "diverged": m.get("diverged", 0.0),
            }
        )
    return pd.DataFrame(rows, columns=SSL_COLUMNS)


def _variant_mean(table: pd.DataFrame, dataset: str, method: str, variant: str, column: str) -> float:
    rows = table[(table["dataset"] == dataset) & (table["method"] == method) & (table["variant"] == variant)]
    return _mean(rows[column].tolist())


def claims(cfg: dict[str, Any], ctx: RunContext) -> list[Claim]:
    """The study's claims; every verdict is computed by make_claim from stored numbers."""
    cfg = resolve(cfg)
    base = Path(ctx.results_dir) / STUDY
    flow, col = (
        read_metrics(base / "linear_flow" / "metrics.json"),
        read_metrics(base / "collapse" / "metrics.json"),
    )
    checks = json.loads((base / "theory.json").read_text())["checks"]
    fig = f"figures/{STUDY}"

    claim = claim_maker(STUDY, ctx.scale)

    out = [
        claim(
            "theory",
            "Sympy: Eqn-14 invariant, Eqn-16 factorisation, fixed points p*±, η_crit, slopes, "
            "(p, s) Jacobian eigenvalues, Eqn 17 ⇔ k_j > 0 and the Lemma-1 gradient all hold "
            "(number of failing checks).",
            sum(not c["passes"] for c in checks.values()),
            "== 0",
            f"results/{STUDY}/theory.json",
        ),
        claim(
            "fixed_point",
            "Linear-network flow: every surviving eigenvalue of W_p reaches the sympy fixed "
            "point p*₊ (max |p_j − p*₊|).",
            _number(flow["p_err_max"]),
            "<= 1e-3",
            f"{fig}/linear_eigenvalues.png",
        ),
        claim(
            "commutator_decay",
            "Linear-network flow: ‖[F, W_p]‖/(‖F‖‖W_p‖) falls by at least 6 orders of magnitude (decades).",
            _number(flow["commutator_decades"]),
            ">= 6",
            f"{fig}/linear_alignment.png",
        ),
        claim(
            "eigen_alignment_linear",
            "Linear-network flow: cos(W_p u_j, u_j) → 1 for every surviving mode (min over modes).",
            _number(flow["cos_min_surviving"]),
            ">= 0.999",
            f"{fig}/linear_alignment.png",
        ),
        claim(
            "collapse_threshold",
            "Collapse happens exactly on the predicted side of η_crit = τ²/(4(1+σ²)) "
            "(number of swept η whose outcome disagrees).",
            col["threshold_mismatches"],
            "== 0",
            f"{fig}/collapse.png",
        ),
        claim(
            "collapse_no_stop_grad",
            "Without the stop-gradient (Theorem 2) W collapses: final ‖W‖_F.",
            _number(col["no_stop_grad"]["w_norm_final"]),
            "<= 1e-6",
            f"{fig}/collapse.png",
        ),
        claim(
            "collapse_no_predictor",
            "Without a predictor (W_p ≡ I) W collapses: final ‖W‖_F.",
            _number(col["no_predictor"]["w_norm_final"]),
            "<= 1e-6",
            f"{fig}/collapse.png",
        ),
        claim(
            "collapse_weight_decay",
            "With weight decay above η_crit every mode collapses: final max_j s_j.",
            _number(col["weight_decay_above"]["s_max_final"]),
            "<= 1e-6",
            f"{fig}/collapse.png",
        ),
    ]
    return out + _ssl_claims(cfg, base, claim, fig)


def _ssl_claims(cfg: dict[str, Any], base: Path, claim, fig: str) -> list[Claim]:
    """Every dataset's BYOL claims, ids suffixed with the dataset (``directpred_vs_linear_stl10``)."""
    table = ssl_table(cfg, base)
    out = []
    for dataset in cfg["ssl"]["datasets"]:
        ssl = dataset_ssl(cfg, dataset)
        if ssl["seeds"] and "byol" in ssl["methods"]:
            out += _dataset_claims(ssl, table, claim, fig)
    return out


def _dataset_claims(ssl: dict[str, Any], table: pd.DataFrame, claim, fig: str) -> list[Claim]:
    dataset = ssl["dataset"]
    acc = {v: 100 * _variant_mean(table, dataset, "byol", v, "probe_test_accuracy") for v in ssl["variants"]}
    out = []
    if {"directpred", "linear"} <= set(acc):
        out.append(
            claim(
                f"directpred_vs_linear_{dataset}",
                f"{dataset}, BYOL probe accuracy: DirectPred minus the SGD-trained linear "
                "predictor, mean over seeds (points; Table 8 direction).",
                acc["directpred"] - acc["linear"],
                ">= 0",
                f"{fig}/probe_accuracy.png",
                "STL-10 100 ep: 77.86 vs 75.06",
            )
        )
    if {"directpred", "twolayer"} <= set(acc):
        out.append(
            claim(
                f"directpred_vs_twolayer_{dataset}",
                f"{dataset}, BYOL probe accuracy: two-layer predictor minus DirectPred, "
                "mean over seeds (points; within 2).",
                acc["twolayer"] - acc["directpred"],
                "<= 2",
                f"{fig}/probe_accuracy.png",
                "ImageNet 300 ep: 72.5 vs 72.4",
            )
        )
    if "linear" in ssl["variants"]:
        align = _variant_mean(table, dataset, "byol", "linear", "align_cos_top_k")
        out.append(
            claim(
                f"real_encoder_alignment_{dataset}",
                f"{dataset}, real encoder, SGD linear predictor: mean cos(W_p u_j, u_j) over "
                f"the top {ssl['align_top_k']} eigenvectors of F̂ at the end of training (mean over seeds).",
                align,
                "> 0.9",
                f"{fig}/encoder_alignment.png",
            )
        )
    return out
