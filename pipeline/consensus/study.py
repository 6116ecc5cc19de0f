"""The consensus study: all-reduce vs ring D-SGD over n, the dec-phase-k protocol with consensus control,
and the quadratic toy with its closed-form E Ξ² (papers/consensus.md §2, §5).

Runs (``<seed>`` = 0..seeds−1, all offset by the config seed):

- ``scale_allreduce_n<n>_s<seed>`` / ``scale_ring_n<n>_s<seed>``: centralized SGDm-N and ring DSGDm-N for
  each n in ``n_workers``;
- ``phase<k>_n<N>_s<seed>``: decentralized (ring DSGDm-N) only in phase k, all-reduce elsewhere
  (arm ``dec``); if k is in ``control_phases``, then also arms ``ctrl<f>`` that gossip in phase k until
  Ξ ≤ f · Ξ_ref, where Ξ_ref is the mean Ξ over phase k of the ``dec`` arm of the same run (consensus.md §2.4:
  the uncontrolled level, taken from a previous uncontrolled run; here computed in the same job);
- ``quadratic``: closed form vs simulation of E Ξ² against the number of gossip rounds (§5A).

Accuracies are the mean test accuracy of the local models (``test_local_accuracy``, as the paper reports);
the averaged model's accuracy is kept as ``test_avg_accuracy``.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.claims import Claim, make_claim
from pipeline.core.config import with_defaults
from pipeline.core.records import read_metrics
from pipeline.core.seeding import derive_seed
from pipeline.decentralized import quadratic
from pipeline.decentralized.models import model_spec
from pipeline.decentralized.runner import load_data
from pipeline.decentralized.runner import run as run_spec
from pipeline.decentralized.topology import mixing_matrix, spectral_gap
from pipeline.studies import RunContext, RunOutput

STUDY = "consensus"
SHARED_CODE = ("pipeline/decentralized",)  # edits to the shared engine re-run this study

DEFAULTS: dict[str, Any] = {
    "dataset": "mnist1d",
    "train_subset": 0,
    "test_subset": 0,
    "model": {"name": "gn_cnn1d", "width": 8, "norm": "group", "groups": 2},
    "n_workers": [8, 16, 32],
    "phase_workers": 16,
    "topology": "ring",
    "lr": 0.1,
    "warmup_steps": 0,
    "momentum": 0.9,
    "weight_decay": 1.0e-4,
    "batch_size": 32,
    "steps": 300,
    "milestones": [0.5, 0.75],
    "seeds": 3,
    "control_phases": [1, 3],
    "control_fractions": [0.5, 0.25],
    "max_rounds": 50,
    "eval_every": 100,
    "checkpoint_every": 100,
    "quadratic": {
        "n_workers": 16,
        "lr": 0.1,
        "sigma": 1.0,
        "zeta": 1.0,
        "gossip_rounds": [1, 2, 4, 8],
        "steps": 4000,
        "burn_in": 500,
        "chains": 256,
    },
}

_RUN = re.compile(r"^(?:scale_(?P<algo>allreduce|ring)|phase(?P<phase>\d))_n(?P<n>\d+)_s(?P<seed>\d+)$")


def resolve(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """The study config with :data:`DEFAULTS` filled in (one level of nesting)."""
    out = with_defaults(DEFAULTS, cfg)
    if sorted(out["control_phases"]) != sorted(set(out["control_phases"])) or not all(
        1 <= k <= len(out["milestones"]) + 1 for k in out["control_phases"]
    ):
        raise ValueError(f"consensus.control_phases must be distinct phases, got {out['control_phases']}")
    return out


def datasets(cfg: dict[str, Any]) -> list[str]:
    return [resolve(cfg)["dataset"]]


def phases(cfg: dict[str, Any]) -> list[int]:
    return list(range(1, len(cfg["milestones"]) + 2))


def run_ids(cfg: dict[str, Any]) -> list[str]:
    cfg = resolve(cfg)
    seeds = range(cfg["seeds"])
    ids = [
        f"scale_{algo}_n{n}_s{s}" for n in cfg["n_workers"] for algo in ("allreduce", "ring") for s in seeds
    ]
    ids += [f"phase{k}_n{cfg['phase_workers']}_s{s}" for k in phases(cfg) for s in seeds]
    return [*ids, "quadratic"]


def _fraction_label(fraction: float) -> str:
    return f"ctrl{fraction:g}"


def _base_spec(cfg: dict[str, Any], n: int, sample_shape: tuple[int, ...]) -> dict[str, Any]:
    return {
        "dataset": cfg["dataset"],
        "train_subset": cfg["train_subset"],
        "test_subset": cfg["test_subset"],
        "model": model_spec(cfg["model"], sample_shape),
        "n_workers": n,
        "topology": cfg["topology"],
        "algorithm": "dsgdm_n",
        "lr": cfg["lr"],
        "warmup_steps": cfg["warmup_steps"],
        "momentum": cfg["momentum"],
        "weight_decay": cfg["weight_decay"],
        "batch_size": cfg["batch_size"],
        "steps": cfg["steps"],
        "milestones": cfg["milestones"],
        "max_rounds": cfg["max_rounds"],
        "eval_every": cfg["eval_every"],
        "log_every": 1,
        "partition": {"kind": "iid"},
    }


def _arm(spec, seed, ctx, data, name) -> tuple[dict[str, Any], pd.DataFrame, Any]:
    result, sim, _ = run_spec(
        spec,
        seed,
        ctx.run_dir,
        name=name,
        data=data,
        device=ctx.device,
        checkpoint_every=ctx.cfg.get("checkpoint_every", 0),
    )
    history = result.history_frame()
    history["xi"] = np.sqrt(history["train_xi_sq"])
    history["phase"] = [sim.schedule.phase(int(s) - 1) for s in history["step"]]
    metrics = dict(result.metrics)
    for k, frame in history.groupby("phase"):
        metrics[f"xi_mean_phase{k}"] = float(frame["xi"].mean())
        metrics[f"gossip_rounds_mean_phase{k}"] = float(frame["train_gossip_rounds"].mean())
    return metrics, history, sim


def _training_run(run_id: str, cfg: dict[str, Any], ctx: RunContext) -> RunOutput:
    match = _RUN.match(run_id)
    if match is None:
        raise KeyError(f"consensus: unknown run id {run_id!r}")
    n, index = int(match["n"]), int(match["seed"])
    seed = derive_seed(ctx.seed, STUDY, index) % 2**31
    data = load_data({**cfg}, ctx.extras.get("data_root"))
    spec = _base_spec(cfg, n, tuple(data[0].shape[1:]))
    if match["algo"]:
        spec["algorithm"] = "allreduce_sgdm_n" if match["algo"] == "allreduce" else "dsgdm_n"
        metrics, history, _ = _arm(spec, seed, ctx, data, match["algo"])
        history["arm"] = match["algo"]
        return RunOutput({**metrics, "n_workers": n, "seed": seed, "algorithm": spec["algorithm"]}, history)
    phase = int(match["phase"])
    spec["decentralized_phases"] = [phase]
    arms: dict[str, dict[str, Any]] = {}
    frames = []
    metrics, history, _ = _arm(spec, seed, ctx, data, "dec")
    arms["dec"], frames = metrics, [history.assign(arm="dec", target=math.nan)]
    if phase in cfg["control_phases"]:
        reference = metrics[f"xi_mean_phase{phase}"]
        for fraction in cfg["control_fractions"]:
            label = _fraction_label(fraction)
            target = fraction * reference
            metrics, history, _ = _arm({**spec, "targets": {phase: target}}, seed, ctx, data, label)
            arms[label] = {**metrics, "fraction": fraction, "target_xi": target}
            frames.append(history.assign(arm=label, target=target))
    out = {"n_workers": n, "seed": seed, "phase": phase, "arms": arms, "xi_reference": arms["dec"]}
    out["xi_reference"] = arms["dec"][f"xi_mean_phase{phase}"]
    return RunOutput(out, pd.concat(frames, ignore_index=True))


def _quadratic_run(cfg: dict[str, Any], ctx: RunContext) -> RunOutput:
    q = cfg["quadratic"]
    W = mixing_matrix("ring", q["n_workers"])
    b = quadratic.draw_b(
        q["n_workers"], q["zeta"], np.random.default_rng(derive_seed(ctx.seed, "quadratic_b"))
    )
    rows, records = [], []
    for rounds in q["gossip_rounds"]:
        rng = np.random.default_rng(derive_seed(ctx.seed, "quadratic_noise", rounds))
        sim, stderr, curve = quadratic.simulate(
            W, b, q["lr"], q["sigma"], rounds, q["steps"], q["burn_in"], q["chains"], rng
        )
        closed = quadratic.closed_form(W, b, q["lr"], q["sigma"], rounds)
        expected = quadratic.closed_form_expected(W, q["lr"], q["sigma"], q["zeta"], rounds)
        records.append(
            {
                "gossip_rounds": rounds,
                "closed_form": closed,
                "closed_form_b_averaged": expected,
                "simulated": sim,
                "simulated_stderr": stderr,
                "rel_error": abs(sim - closed) / closed,
            }
        )
        stride = max(1, q["steps"] // 400)
        rows.append(
            pd.DataFrame(
                {
                    "gossip_rounds": rounds,
                    "step": np.arange(q["steps"])[::stride] + 1,
                    "xi_sq": curve[::stride],
                }
            )
        )
    eta_half = quadratic.closed_form_expected(W, q["lr"] / 2, q["sigma"], q["zeta"], 1)
    metrics = {
        "records": records,
        "spectral_gap": spectral_gap(W),
        "max_rel_error": max(r["rel_error"] for r in records),
        "halving_lr_factor": records[0]["closed_form_b_averaged"] / eta_half
        if records[0]["gossip_rounds"] == 1
        else math.nan,
    }
    return RunOutput(metrics, pd.concat(rows, ignore_index=True))


def execute(run_id: str, ctx: RunContext) -> RunOutput:
    cfg = resolve(ctx.cfg)
    if run_id == "quadratic":
        return _quadratic_run(cfg, ctx)
    return _training_run(run_id, cfg, ctx)


def theory(cfg: dict[str, Any]) -> dict[str, Any]:
    from pipeline.consensus.theory import derive

    cfg = resolve(cfg)
    gaps = {f"ring_n{n}": spectral_gap(mixing_matrix("ring", n)) for n in sorted({*cfg["n_workers"], 16})}
    return {**derive(), "spectral_gaps": gaps}


# ----------------------------------------------------------------------------------------------- claims


def _metrics(ctx: RunContext, run: str) -> dict[str, Any]:
    return read_metrics(Path(ctx.results_dir) / STUDY / run / "metrics.json")


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def summarise(cfg: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    """Seed means of the numbers the claims and figures use."""
    cfg = resolve(cfg)
    seeds = range(cfg["seeds"])
    acc = "test_local_accuracy"
    out: dict[str, Any] = {"scale": {}, "phase": {}}
    for n in cfg["n_workers"]:
        for algo in ("allreduce", "ring"):
            out["scale"][(algo, n)] = _mean(
                [_metrics(ctx, f"scale_{algo}_n{n}_s{s}").get(acc, math.nan) for s in seeds]
            )
    N = cfg["phase_workers"]
    for k in phases(cfg):
        runs = [_metrics(ctx, f"phase{k}_n{N}_s{s}") for s in seeds]
        for arm in runs[0]["arms"]:
            out["phase"][(k, arm)] = _mean([r["arms"][arm].get(acc, math.nan) for r in runs])
    out["allreduce_N"] = out["scale"].get(("allreduce", N), math.nan)
    return out


def _decay_drop(ctx: RunContext, cfg: dict[str, Any], window: int = 100) -> float:
    """Max over decays and seeds of mean Ξ after / before an lr decay (uncontrolled ring, phase_workers)."""
    ratios = []
    steps = cfg["steps"]
    boundaries = [round(f * steps) for f in cfg["milestones"]]
    for s in range(cfg["seeds"]):
        path = Path(ctx.results_dir) / STUDY / f"scale_ring_n{cfg['phase_workers']}_s{s}" / "history.csv"
        history = pd.read_csv(path)
        xi = np.sqrt(history.dropna(subset=["train_xi_sq"]).set_index("step")["train_xi_sq"])
        for boundary in boundaries:
            w = min(window, boundary // 2, (steps - boundary) // 2 if boundary < steps else window)
            before = xi[(xi.index > boundary - w) & (xi.index <= boundary)].mean()
            after = xi[(xi.index > boundary) & (xi.index <= boundary + w)].mean()
            ratios.append(after / before)
    return float(np.max(ratios)) if ratios else math.nan


def claims(cfg: dict[str, Any], ctx: RunContext) -> list[Claim]:
    cfg = resolve(cfg)
    s = summarise(cfg, ctx)
    N = cfg["phase_workers"]
    ns = sorted(cfg["n_workers"])
    gaps = [s["scale"][("allreduce", n)] - s["scale"][("ring", n)] for n in ns]
    growth = min(b - a for a, b in itertools.pairwise(gaps)) if len(gaps) > 1 else math.nan
    tightest = _fraction_label(min(cfg["control_fractions"]))
    ar = s["allreduce_N"]

    def gain(k: int) -> float:
        return s["phase"].get((k, tightest), math.nan) - s["phase"].get((k, "dec"), math.nan)

    first, last = min(cfg["control_phases"]), max(cfg["control_phases"])
    gap1 = ar - s["phase"].get((1, "dec"), math.nan)
    recovered = gain(first) / gap1 if gap1 > 0 else math.nan
    q = _metrics(ctx, "quadratic")
    decreasing = all(
        a["closed_form"] > b["closed_form"] and a["simulated"] > b["simulated"]
        for a, b in zip(q["records"], q["records"][1:], strict=False)
    )
    fig = f"figures/{STUDY}"
    common = {"scale": ctx.scale}
    return [
        make_claim(
            STUDY,
            "gap_grows_with_n",
            f"the gap acc(all-reduce) − acc(ring D-SGD) grows with n over n = {ns} (measured: the "
            "smallest increase between consecutive n, in accuracy points ×1)",
            growth,
            "> 0",
            evidence=f"{fig}/accuracy_vs_n.png",
            **common,
        ),
        make_claim(
            STUDY,
            "phase1_control_recovers_half",
            f"controlling Ξ in phase {first} to {min(cfg['control_fractions']):g}·Ξ_ref recovers at least "
            f"half of the dec-phase-{first} gap to all-reduce (n = {N}; fraction recovered)",
            recovered,
            ">= 0.5",
            evidence=f"{fig}/phase_control.png",
            **common,
        ),
        make_claim(
            STUDY,
            "control_first_beats_last",
            f"controlling Ξ in phase {first} gains more accuracy than controlling it in phase {last} "
            "(gain difference, accuracy ×1)",
            gain(first) - gain(last),
            "> 0",
            evidence=f"{fig}/phase_control.png",
            **common,
        ),
        make_claim(
            STUDY,
            "phase1_gap_exceeds_phase3",
            "decentralized training only in phase 1 costs more accuracy than only in the last phase "
            "(acc(dec-phase-last) − acc(dec-phase-1))",
            s["phase"].get((phases(cfg)[-1], "dec"), math.nan) - s["phase"].get((1, "dec"), math.nan),
            "> 0",
            evidence=f"{fig}/phase_control.png",
            **common,
        ),
        make_claim(
            STUDY,
            "xi_drops_at_lr_decay",
            "Ξ drops at each lr decay: mean Ξ after / before each decay (worst decay, worst seed)",
            _decay_drop(ctx, cfg),
            "< 0.5",
            evidence=f"{fig}/xi_curves.png",
            **common,
        ),
        make_claim(
            STUDY,
            "quadratic_closed_form_matches",
            "the stationary E Ξ² of the quadratic toy matches simulation (max relative error over the "
            "number of gossip rounds)",
            q["max_rel_error"],
            "<= 0.05",
            evidence=f"{fig}/quadratic.png",
            **common,
        ),
        make_claim(
            STUDY,
            "quadratic_more_gossip_less_xi",
            "E Ξ² strictly decreases with the number of gossip rounds (closed form and simulation)",
            decreasing,
            "== True",
            evidence=f"{fig}/quadratic.png",
            **common,
        ),
    ]
