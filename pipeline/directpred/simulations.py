"""The float64 simulation runs of the study (docs/directpred.md): their metrics and long histories.

``linear_flow``: the Lemma-1 matrix flow under Assumptions 2-3 (eigenvalues → p*₊, alignment, commutator,
Theorem-1 balance); ``linear_flow_regular``: the same flow with W_p neither started nor kept symmetric
(its asymmetry ‖W_p − W_pᵀ‖/‖W_p‖ over time: Fig. 2, App. B). ``linear_ablation_s<k>``: Table 3 / Fig. 6 in
the linear model from one initialisation: W_p symmetric or regular, with or without EMA, and the symmetric
predictor without EMA at larger relative predictor learning rates α_p; it counts the eigenmodes of F that
survive (s_j above the collapse floor). ``collapse``: weight decay above η_crit, no stop-gradient (Theorem
2), no predictor, and a sweep of η around η_crit. ``eigenmodes``: the decoupled ODE (Eqns 11-13): phase
portraits in (p, s) and the weight-decay and EMA sweeps. Each takes its spec
(:mod:`pipeline.directpred.runs`), which holds exactly the ``linear``/``sweeps`` settings it reads. History
columns: :data:`HISTORY_COLUMNS` (long format).
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import pandas as pd

from pipeline.directpred import theory
from pipeline.directpred.linear import LinearConfig, LinearTrace, decoupled, simulate
from pipeline.directpred.runs import (
    CollapseRun,
    EigenmodesRun,
    FlowSettings,
    LinearAblationRun,
    LinearFlowRun,
)

HISTORY_COLUMNS = ("kind", "case", "mode", "t", "value")
SURVIVAL_FLOOR = 1e-6  # a mode with s below this at the end has collapsed (the claims' floor)


def _rows(kind: str, case: str, t: Any, value: Any, mode: int = -1) -> pd.DataFrame:
    t = np.asarray(t, dtype=float)
    return pd.DataFrame(
        {"kind": kind, "case": case, "mode": mode, "t": t, "value": np.asarray(value, dtype=float)}
    )


def linear_config(flow: FlowSettings, **changes: Any) -> LinearConfig:
    """A :class:`LinearConfig` from a spec's ``linear`` settings with ``changes`` applied."""
    return replace(LinearConfig(**asdict(flow)), **changes)


def _trace_frames(trace: LinearTrace, case: str) -> list[pd.DataFrame]:
    s, p, cos = np.array(trace.s), np.array(trace.p), np.array(trace.cosine)
    frames = [
        _rows("commutator", case, trace.t, trace.commutator),
        _rows("asym", case, trace.t, trace.asym),
        _rows("w_norm", case, trace.t, trace.w_norm),
        _rows("tau", case, trace.t, trace.tau),
        _rows("balance", case, trace.t, trace.balance),
    ]
    for j in range(s.shape[1]):
        frames += [_rows("s", case, trace.t, s[:, j], j), _rows("p", case, trace.t, p[:, j], j)]
        frames.append(_rows("cos", case, trace.t, cos[:, j], j))
    return frames


def linear_flow(spec: LinearFlowRun, seed: int) -> tuple[dict[str, Any], pd.DataFrame]:
    """Every surviving eigenvalue of W_p reaches p*₊(τ=1), s reaches p*₊², [F, W_p] → 0; without
    Assumption 3 (``spec.symmetric`` False) also how far W_p is from symmetric."""
    lin = linear_config(spec.flow, symmetric=spec.symmetric)
    trace = simulate(lin, seed)
    p_plus = theory.p_plus_value(1.0, lin.sigma2, lin.eta)
    s_end, p_end, cos_end = trace.s[-1], trace.p[-1], trace.cosine[-1]
    alive = s_end > SURVIVAL_FLOOR
    comm0, comm1 = trace.commutator[0], trace.commutator[-1]
    metrics = {
        "p_plus": p_plus,
        "s_plus": p_plus**2 / lin.alpha_p,
        "modes": int(lin.n2),
        "modes_surviving": int(alive.sum()),
        "p_final": [float(x) for x in p_end],
        "s_final": [float(x) for x in s_end],
        "p_err_max": float(np.abs(p_end[alive] - p_plus).max()) if alive.any() else math.inf,
        "s_err_max": float(np.abs(s_end[alive] - p_plus**2 / lin.alpha_p).max()) if alive.any() else math.inf,
        "cos_min_surviving": float(cos_end[alive].min()) if alive.any() else -1.0,
        "commutator_initial": comm0,
        "commutator_final": comm1,
        "commutator_decades": float(math.log10(comm0 / max(comm1, 1e-300))),
        "tau_final": trace.tau[-1],
        "balance_rel_err_max": float(max(trace.balance)),
        "symmetric": spec.symmetric,
        "asym_initial": trace.asym[0],
        "asym_final": trace.asym[-1],
    }
    return metrics, pd.concat(_trace_frames(trace, "default"), ignore_index=True)[list(HISTORY_COLUMNS)]


def ablation_cases(alpha_p: float, alpha_ps: tuple[float, ...]) -> dict[str, dict[str, Any]]:
    """The linear-model ablation's cases (Table 3's four cells at α_p, then Fig. 6's α_p values for the
    symmetric predictor without EMA) as :class:`LinearConfig` changes, keyed by case name."""
    cases = {
        "symmetric_ema": {"symmetric": True, "ema": True},
        "symmetric_no_ema": {"symmetric": True, "ema": False},
        "regular_ema": {"symmetric": False, "ema": True},
        "regular_no_ema": {"symmetric": False, "ema": False},
    }
    for value in alpha_ps:
        if value != alpha_p:
            cases[f"symmetric_no_ema_ap{value:g}"] = {"symmetric": True, "ema": False, "alpha_p": value}
    return cases


def linear_ablation(spec: LinearAblationRun, seed: int) -> tuple[dict[str, Any], pd.DataFrame]:
    """Table 3 / Fig. 6 in the linear model from the initialisation ``seed``: per case, the fraction of
    the n2 eigenmodes of F that collapse (s_j below :data:`SURVIVAL_FLOOR` at the end).

    W_p starts as i.i.d. N(0, init_scale²) (symmetrised for the symmetric cases); with EMA the target
    starts at W_a = 0, without EMA it is W itself (τ ≡ 1)."""
    metrics: dict[str, Any] = {"seed": seed, "modes": spec.flow.n2, "alpha_p": spec.flow.alpha_p, "cases": {}}
    frames = []
    for name, changes in ablation_cases(spec.flow.alpha_p, spec.alpha_ps).items():
        cfg = linear_config(spec.flow, **changes)
        trace = simulate(cfg, seed)
        s = np.array(trace.s)
        alive = s[-1] > SURVIVAL_FLOOR
        metrics["cases"][name] = {
            "alpha_p": cfg.alpha_p,
            "symmetric": cfg.symmetric,
            "ema": cfg.ema,
            "modes_surviving": int(alive.sum()),
            "collapsed_fraction": float(1 - alive.mean()),
            "s_max_final": float(s[-1].max()),
            "asym_final": trace.asym[-1],
        }
        frames += [
            _rows("surviving", name, trace.t, (s > SURVIVAL_FLOOR).sum(1)),
            _rows("s_max", name, trace.t, s.max(1)),
        ]
    return metrics, pd.concat(frames, ignore_index=True)[list(HISTORY_COLUMNS)]


def _outcome(trace: LinearTrace) -> dict[str, Any]:
    return {
        "s_max_final": float(trace.s[-1].max()),
        "w_norm_final": trace.w_norm[-1],
        "w_norm_monotone": bool(np.all(np.diff(trace.w_norm) <= 1e-15)),
        "collapsed": bool(trace.s[-1].max() < SURVIVAL_FLOOR),
    }


def collapse(spec: CollapseRun, seed: int) -> tuple[dict[str, Any], pd.DataFrame]:
    """η above η_crit, no stop-gradient, no predictor; and the η sweep around η_crit."""
    crit = theory.eta_critical_value(1.0, spec.flow.sigma2)
    cases = {
        "weight_decay_above": linear_config(spec.flow, eta=spec.collapse_eta),
        "no_stop_grad": linear_config(spec.flow, stop_grad=False),
        "no_predictor": linear_config(spec.flow, predictor=False),
    }
    metrics: dict[str, Any] = {"eta_crit": crit, "collapse_eta": spec.collapse_eta}
    frames: list[pd.DataFrame] = []
    for name, case_cfg in cases.items():
        trace = simulate(case_cfg, seed)
        metrics[name] = _outcome(trace)
        frames += [
            _rows("w_norm", name, trace.t, trace.w_norm),
            _rows("s_max", name, trace.t, np.max(trace.s, 1)),
        ]
    sweep = []
    for ratio in spec.threshold_ratios:
        eta = float(ratio) * crit
        trace = simulate(
            linear_config(
                spec.flow,
                eta=eta,
                steps=spec.threshold_steps,
                dt=spec.threshold_dt,
                record_every=max(1, spec.threshold_steps // 200),
            ),
            seed,
        )
        outcome = _outcome(trace)
        predicted = eta > crit
        sweep.append(
            {
                "ratio": float(ratio),
                "eta": eta,
                "predicted_collapse": predicted,
                **outcome,
                "matches": outcome["collapsed"] == predicted,
            }
        )
        frames.append(_rows("s_max", f"ratio={float(ratio):g}", trace.t, np.max(trace.s, 1)))
    metrics["threshold_sweep"] = sweep
    metrics["threshold_mismatches"] = int(sum(not row["matches"] for row in sweep))
    return metrics, pd.concat(frames, ignore_index=True)[list(HISTORY_COLUMNS)]


def eigenmodes(spec: EigenmodesRun) -> tuple[dict[str, Any], pd.DataFrame]:
    """(p, s) portraits (SimSiam, τ ≡ 1) and the η and EMA (β) sweeps of the decoupled ODE."""
    sigma2, alpha_p = spec.sigma2, spec.alpha_p
    t = np.linspace(0.0, spec.t_max, spec.n_points)
    frames: list[pd.DataFrame] = []
    portraits = {}
    grid_p = np.linspace(*spec.portrait_p_range, spec.portrait_grid)
    grid_s = np.linspace(*spec.portrait_s_range, spec.portrait_grid)
    for eta in spec.portrait_etas:
        portraits[f"{eta:g}"] = theory.numbers(1.0, sigma2, float(eta), alpha_p)
        for i, p0 in enumerate(grid_p):
            for k, s0 in enumerate(grid_s):
                y = decoupled(p0, s0, t, sigma2=sigma2, eta=float(eta), alpha_p=alpha_p)
                case = f"eta={eta:g}"
                frames += [
                    _rows("portrait_p", case, t, y[:, 0], i * len(grid_s) + k),
                    _rows("portrait_s", case, t, y[:, 1], i * len(grid_s) + k),
                ]
    eta_rows = []
    for eta in spec.etas:
        y = decoupled(spec.p0, spec.s0, t, sigma2=sigma2, eta=float(eta), alpha_p=alpha_p, beta=spec.beta)
        frames += [
            _rows("eta_sweep_p", f"{eta:g}", t, y[:, 0]),
            _rows("eta_sweep_tau", f"{eta:g}", t, y[:, 2]),
        ]
        eta_rows.append(
            {
                "eta": float(eta),
                "p_final": float(y[-1, 0]),
                "s_final": float(y[-1, 1]),
                "p_plus": theory.p_plus_value(1.0, sigma2, float(eta)),
            }
        )
    beta_rows = []
    for beta in spec.betas:
        y = decoupled(spec.p0, spec.s0, t, sigma2=sigma2, eta=spec.eta, alpha_p=alpha_p, beta=float(beta))
        frames += [
            _rows("beta_sweep_p", f"{beta:g}", t, y[:, 0]),
            _rows("beta_sweep_tau", f"{beta:g}", t, y[:, 2]),
        ]
        beta_rows.append({"beta": float(beta), "p_final": float(y[-1, 0]), "tau_final": float(y[-1, 2])})
    invariant = _invariant_error(spec, t)
    metrics = {
        "portraits": portraits,
        "eta_sweep": eta_rows,
        "beta_sweep": beta_rows,
        "invariant_rel_err_max": invariant,
        "p0": spec.p0,
        "s0": spec.s0,
        "beta": spec.beta,
    }
    return metrics, pd.concat(frames, ignore_index=True)[list(HISTORY_COLUMNS)]


def _invariant_error(spec: EigenmodesRun, t: np.ndarray) -> float:
    """Eqn 14 along the decoupled ODE at η = ``spec.eta``: max |(s − p²/α_p) − e^{−2ηt}c| / (|c| + s)."""
    sigma2, alpha_p, eta = spec.sigma2, spec.alpha_p, spec.eta
    y = decoupled(spec.p0, spec.s0, t, sigma2=sigma2, eta=eta, alpha_p=alpha_p)
    c = spec.s0 - spec.p0**2 / alpha_p
    err = np.abs(y[:, 1] - y[:, 0] ** 2 / alpha_p - np.exp(-2 * eta * t) * c) / (abs(c) + np.abs(y[:, 1]))
    return float(err.max())
