"""The qgm study: QG-DSGDm-N against DSGDm-N, D-SGD (and optionally D², gradient tracking) on the QGM
Dirichlet non-IID partition over a ring, with all-reduce SGDm-N as the reference (papers/qgm.md §2, §5).

Runs ``<method>_a<alpha>_s<i>`` for every method in ``methods``, alpha in ``alphas`` and seed index i (the
run seed is ``derive_seed(seed, "qgm", i)``; model init, partition and batch order derive from it, so all
methods of one (alpha, i) share the same partition and initialisation). Accuracy is the mean test accuracy
of the local models (``test_local_accuracy``, what the paper reports); the averaged model's is
``test_avg_accuracy``. Each run records its partition's per-worker class counts (the partition kind is named
in metrics) and its Ξ² curve (``train_xi_sq`` in history.csv, every step).

The learning rate is ``lr`` for every method unless ``method_lrs[method]`` is positive (the paper tunes it
per method, qgm.md §5; 0 means "use ``lr``").
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.claims import Claim, make_claim
from pipeline.core.records import read_metrics
from pipeline.core.seeding import derive_seed
from pipeline.data.partition import class_entropy
from pipeline.decentralized.models import model_spec
from pipeline.decentralized.runner import load_data
from pipeline.decentralized.runner import run as run_spec
from pipeline.studies import RunContext, RunOutput

STUDY = "qgm"
# Code outside pipeline/qgm whose edits must re-run this study (the engine every run trains with).
SHARED_CODE = ("pipeline/decentralized",)
METHODS = ("allreduce_sgdm_n", "dsgd", "dsgdm_n", "qg_dsgdm_n", "d2", "gradient_tracking")
REFERENCE = "allreduce_sgdm_n"

DEFAULTS: dict[str, Any] = {
    "dataset": "mnist1d",
    "train_subset": 0,
    "test_subset": 0,
    "model": {"name": "gn_cnn1d", "width": 8, "norm": "group", "groups": 2},
    "n_workers": 16,
    "topology": "ring",
    "partition": "dirichlet",
    "alphas": [10.0, 1.0, 0.1],
    "methods": ["allreduce_sgdm_n", "dsgd", "dsgdm_n", "qg_dsgdm_n"],
    "lr": 0.1,
    "method_lrs": {"dsgd": 0.5},
    "warmup_steps": 0,
    "warmup_from": 0.0,
    "momentum": 0.9,
    "buffer_rate": 0.1,
    "weight_decay": 1.0e-4,
    "batch_size": 32,
    "steps": 500,
    "milestones": [0.5, 0.75],
    "seeds": 3,
    "eval_every": 250,
    "checkpoint_every": 250,
}

_RUN = re.compile(r"^(?P<method>[a-z_0-9]+?)_a(?P<alpha>[0-9.e+-]+)_s(?P<seed>\d+)$")


def resolve(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """The study config with :data:`DEFAULTS` filled in (one level of nesting); checks the method names."""
    out = copy.deepcopy(DEFAULTS)
    for key, value in (cfg or {}).items():
        out[key] = {**out[key], **value} if isinstance(out.get(key), dict) else value
    unknown = [m for m in [*out["methods"], *out["method_lrs"]] if m not in METHODS]
    if unknown:
        raise ValueError(f"qgm.methods: unknown {unknown}; known: {', '.join(METHODS)}")
    for needed in ("dsgdm_n", "qg_dsgdm_n"):
        if needed not in out["methods"]:
            raise ValueError(f"qgm.methods must include {needed} (the claims compare QGM with DSGDm-N)")
    return out


def datasets(cfg: dict[str, Any]) -> list[str]:
    return [resolve(cfg)["dataset"]]


def alpha_label(alpha: float) -> str:
    """How alpha appears in run ids: ``10``, ``1``, ``0.1``."""
    return f"{alpha:g}"


def run_id(method: str, alpha: float, index: int) -> str:
    return f"{method}_a{alpha_label(alpha)}_s{index}"


def run_ids(cfg: dict[str, Any]) -> list[str]:
    cfg = resolve(cfg)
    return [run_id(m, a, s) for a in cfg["alphas"] for m in cfg["methods"] for s in range(cfg["seeds"])]


def method_lr(cfg: dict[str, Any], method: str) -> float:
    """Peak learning rate of ``method``: ``method_lrs[method]`` if positive, else ``lr``."""
    return float(cfg["method_lrs"].get(method, 0.0) or cfg["lr"])


def run_seed(base_seed: int, index: int) -> int:
    """Seed of seed index ``index`` (shared by every method and alpha, so they see the same init)."""
    return derive_seed(base_seed, STUDY, index) % 2**31


def build_spec(
    cfg: dict[str, Any], method: str, alpha: float, sample_shape: tuple[int, ...]
) -> dict[str, Any]:
    """The runner spec (pipeline.decentralized.runner) of one run."""
    return {
        "dataset": cfg["dataset"],
        "train_subset": cfg["train_subset"],
        "test_subset": cfg["test_subset"],
        "model": model_spec(cfg["model"], sample_shape),
        "n_workers": cfg["n_workers"],
        "topology": cfg["topology"],
        "algorithm": method,
        "lr": method_lr(cfg, method),
        "warmup_steps": cfg["warmup_steps"],
        "warmup_from": cfg["warmup_from"] or None,
        "momentum": cfg["momentum"],
        "buffer_rate": cfg["buffer_rate"],
        "weight_decay": cfg["weight_decay"],
        "batch_size": cfg["batch_size"],
        "steps": cfg["steps"],
        "milestones": cfg["milestones"],
        "eval_every": cfg["eval_every"],
        "log_every": 1,
        "partition": {"kind": cfg["partition"], "alpha": alpha},
    }


def execute(run_id: str, ctx: RunContext) -> RunOutput:
    cfg = resolve(ctx.cfg)
    match = _RUN.match(run_id)
    if match is None or match["method"] not in METHODS:
        raise KeyError(f"qgm: unknown run id {run_id!r}")
    method, alpha, index = match["method"], float(match["alpha"]), int(match["seed"])
    seed = run_seed(ctx.seed, index)
    data = load_data(cfg, ctx.extras.get("data_root"))
    spec = build_spec(cfg, method, alpha, tuple(data[0].shape[1:]))
    result, _, problem = run_spec(
        spec,
        seed,
        ctx.run_dir,
        name="train",
        data=data,
        device=ctx.device,
        checkpoint_every=cfg["checkpoint_every"],
    )
    labels = data[1].numpy()
    classes = int(labels.max()) + 1
    history = result.history_frame()
    xi_sq = history["train_xi_sq"].dropna()
    metrics = {
        **result.metrics,
        "method": method,
        "alpha": alpha,
        "seed_index": index,
        "seed": seed,
        "lr": spec["lr"],
        "partition": cfg["partition"],
        "class_counts": [np.bincount(labels[s], minlength=classes).tolist() for s in problem.shards],
        "class_entropy": class_entropy(labels, problem.shards, classes),
        "xi_sq_mean": float(xi_sq.mean()),
        "xi_sq_final": float(xi_sq.iloc[-max(1, len(xi_sq) // 10) :].mean()),
    }
    return RunOutput(metrics, history)


# ----------------------------------------------------------------------------------------------- claims


def seed_values(ctx: RunContext, cfg: dict[str, Any], method: str, alpha: float, key: str) -> list[float]:
    """``key`` of every seed of (method, alpha) from results/qgm/<run>/metrics.json (NaN if missing)."""
    values = []
    for s in range(cfg["seeds"]):
        path = Path(ctx.results_dir) / STUDY / run_id(method, alpha, s) / "metrics.json"
        value = read_metrics(path).get(key)
        values.append(math.nan if value is None else float(value))
    return values


def seed_mean(ctx: RunContext, cfg: dict[str, Any], method: str, alpha: float, key: str) -> float:
    return float(np.mean(seed_values(ctx, cfg, method, alpha, key)))


def claims(cfg: dict[str, Any], ctx: RunContext) -> list[Claim]:
    """The issue's claims (issue 8 §4; qgm.md §5), computed from seed means of the stored metrics."""
    cfg = resolve(cfg)
    acc = "test_local_accuracy"

    def adv(alpha: float) -> float:
        """acc(QG-DSGDm-N) − acc(DSGDm-N) at ``alpha`` (fraction, ×100 = points)."""
        return seed_mean(ctx, cfg, "qg_dsgdm_n", alpha, acc) - seed_mean(ctx, cfg, "dsgdm_n", alpha, acc)

    falling = sorted(cfg["alphas"], reverse=True)
    lo, hi = falling[-1], falling[0]
    mid = falling[len(falling) // 2]
    growth = min((adv(b) - adv(a) for a, b in itertools.pairwise(falling)), default=math.nan)
    at_hi = [seed_mean(ctx, cfg, m, hi, acc) for m in cfg["methods"]]
    xi_ratio = seed_mean(ctx, cfg, "qg_dsgdm_n", lo, "xi_sq_mean") / seed_mean(
        ctx, cfg, "dsgdm_n", lo, "xi_sq_mean"
    )
    fig, common = f"figures/{STUDY}", {"scale": ctx.scale}
    rows = [
        make_claim(
            STUDY,
            f"qgm_beats_dsgdm_alpha{alpha_label(alpha)}",
            f"QG-DSGDm-N beats DSGDm-N at alpha = {alpha:g} (measured: acc(QGM) − acc(DSGDm-N), mean of "
            "local models, mean over seeds, fraction)",
            adv(alpha),
            "> 0",
            evidence=f"{fig}/accuracy_vs_alpha.png",
            **common,
        )
        for alpha in dict.fromkeys([lo, mid])
    ]
    rows += [
        make_claim(
            STUDY,
            "qgm_advantage_grows_with_heterogeneity",
            f"the advantage acc(QGM) − acc(DSGDm-N) grows as alpha falls over alpha = {falling} "
            "(measured: the smallest increase between consecutive alphas, fraction)",
            growth,
            "> 0",
            evidence=f"{fig}/accuracy_vs_alpha.png",
            **common,
        ),
        make_claim(
            STUDY,
            "near_iid_methods_agree",
            f"at alpha = {hi:g} the methods {cfg['methods']} are within 1 point of each other "
            "(measured: max − min of the seed-mean accuracies, fraction)",
            max(at_hi) - min(at_hi),
            "<= 0.01",
            evidence=f"{fig}/accuracy_vs_alpha.png",
            **common,
        ),
        make_claim(
            STUDY,
            "qgm_lowers_consensus_distance",
            f"QGM lowers the consensus distance relative to DSGDm-N at alpha = {lo:g} (measured: mean over "
            "training of Ξ²(QGM) / Ξ²(DSGDm-N), seed means)",
            xi_ratio,
            "< 1",
            evidence=f"{fig}/xi_curves.png",
            **common,
        ),
    ]
    return rows
