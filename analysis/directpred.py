"""Figures of the directpred study, drawn only from its stored runs (pipeline.results.Results).

Nothing here integrates a flow or trains a network; the fixed-point curves are the closed forms of
directpred.md §2.2 evaluated on a grid (the same formulas the sympy checks in theory.json verify).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis.style import save
from pipeline.directpred.runs import CollapseRun, EigenmodesRun, LinearFlowRun, SSLRun
from pipeline.results import Results

CAPTIONS: dict[str, str] = {
    "phase_portrait": (
        "Decoupled eigenmode dynamics (Eqns 11-12, SimSiam τ ≡ 1) in the (p, s) plane for several weight "
        "decays η: trajectories from a grid of initial points (grey), the invariant parabola s = p²/α_p "
        "(dashed) and the sympy fixed points p*₋ (open circle, unstable) and p*₊ (filled, stable). Look "
        "for: trajectories approach the parabola, then run along it to p*₊ or to the collapsed state (0, "
        "0); above η_crit only collapse remains."
    ),
    "fixed_points": (
        "Left: ṗ on the invariant parabola, −(1+σ²)p(p − p*₋)(p − p*₊), for several η (zeros are the "
        "fixed points). Right: bifurcation diagram, p*± against η with η_crit = τ²/(4(1+σ²)) (dotted), "
        "and the final p of the decoupled ODE with EMA (markers). Look for: the markers on the stable "
        "branch p*₊ below η_crit and at 0 above it."
    ),
    "sweeps": (
        "Decoupled ODE with an EMA target (Eqns 11-13) from the same (p0, s0): p(t) for a weight-decay "
        "sweep (left) and p(t) and τ(t) for an EMA-rate sweep β (middle, right). Look for: larger η "
        "lowers p*₊ and beyond η_crit collapses the mode; a slow EMA (small β) delays τ → 1 and slows p."
    ),
    "linear_eigenvalues": (
        "Full linear-network flow (Lemma 1, float64 Euler, symmetric W_p): eigenvalues s_j of F = WWᵀ "
        "(left) and u_jᵀW_p u_j (right) against time, with the sympy fixed point p*₊ and s = p*₊² "
        "(dashed). Look for: every surviving mode ends on the dashed line; modes that start below p*₋ "
        "collapse to 0."
    ),
    "linear_alignment": (
        "Linear-network flow: normalised commutator ‖[F, W_p]‖/(‖F‖‖W_p‖) (left, log scale) and the "
        "cosine between W_p u_j and u_j for each mode (right). Look for: the commutator falls by many "
        "decades (Theorem 3) and the cosines of surviving modes go to 1."
    ),
    "collapse": (
        "Left: ‖W‖_F for weight decay above η_crit, for the flow without stop-gradient (Theorem 2) and "
        "without a predictor. Right: max_j s_j for the sweep of η/η_crit. Look for: the three ablations "
        "go to 0; in the sweep the runs with η/η_crit > 1 collapse and the others do not."
    ),
    "encoder_alignment": (
        "BYOL, one row per dataset (default scale: Fashion-MNIST with a small CNN; mean over seeds, band ="
        " min/max): mean cos(W_p u_j, u_j)"
        " over the top eigenvectors of F̂ (left), asymmetry ‖W_p − W_pᵀ‖/‖W_p‖ (middle) and the top "
        "eigenvalues log s_j of F̂ (right, SGD linear predictor), against training step (the paper's Fig."
        " 2). Look for: the SGD predictor's alignment rising towards 1 while it stays asymmetric; "
        "DirectPred is aligned by construction."
    ),
    "probe_accuracy": (
        "Linear-probe test accuracy (probe selected on a validation split) per predictor, one panel per "
        "dataset; points are seeds, bars the mean. Look for: DirectPred at least as good as the SGD linear "
        "predictor and close to the two-layer predictor (Table 8, Table 9 direction)."
    ),
}


def _load(results: Results, kind: type) -> tuple[dict[str, Any], pd.DataFrame]:
    spec = results.one(kind)
    return results.metrics(spec), results.history(spec)


def _p_stars(eta: np.ndarray, sigma2: float, tau: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    disc = tau**2 - 4 * eta * (1 + sigma2)
    root = np.sqrt(np.where(disc >= 0, disc, np.nan))
    return (tau - root) / (2 * (1 + sigma2)), (tau + root) / (2 * (1 + sigma2))


def _phase_portrait(results: Results, out: Path) -> None:
    metrics, hist = _load(results, EigenmodesRun)
    cases = list(metrics["portraits"])
    fig, axes = plt.subplots(1, len(cases), figsize=(4 * len(cases), 3.6), squeeze=False)
    alpha_p = results.one(EigenmodesRun).alpha_p
    for ax, eta in zip(axes[0], cases, strict=True):
        p_rows = hist[(hist["kind"] == "portrait_p") & (hist["case"] == f"eta={eta}")]
        s_rows = hist[(hist["kind"] == "portrait_s") & (hist["case"] == f"eta={eta}")]
        for mode, p_traj in p_rows.groupby("mode"):
            s_traj = s_rows[s_rows["mode"] == mode]
            ax.plot(p_traj["value"], s_traj["value"].to_numpy(), color="0.6", lw=0.8)
            ax.plot(p_traj["value"].iloc[0], s_traj["value"].iloc[0], ".", color="0.4")
        grid = np.linspace(-0.25, 1.0, 200)
        ax.plot(grid, grid**2 / alpha_p, "--", color="C0", label="s = p²/α_p")
        fp = metrics["portraits"][eta]
        if np.isfinite(fp.get("p_plus") or np.nan):
            ax.plot(fp["p_minus"], fp["p_minus"] ** 2 / alpha_p, "o", mfc="none", color="C3", label="p*₋")
            ax.plot(fp["p_plus"], fp["p_plus"] ** 2 / alpha_p, "o", color="C3", label="p*₊")
        ax.plot(0, 0, "s", color="k", ms=4, label="collapse (0, 0)")
        ax.set(xlabel="p", ylabel="s", title=f"η = {eta} (η_crit = {fp['eta_crit']:.3g})", ylim=(-0.02, 1.05))
        ax.legend(fontsize=7)
    save(fig, out, "phase_portrait")


def _fixed_points(results: Results, out: Path) -> None:
    metrics = results.metrics(results.one(EigenmodesRun))
    sigma2 = results.one(EigenmodesRun).sigma2
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    p = np.linspace(-0.1, 0.8, 300)
    crit = 1 / (4 * (1 + sigma2))
    for eta in (0.0, 0.04, 0.1, crit, 0.2):
        lo, hi = _p_stars(np.array(eta), sigma2)
        left.plot(p, p**2 * (1 - (1 + sigma2) * p) - eta * p, label=f"η = {eta:.3g}")
    left.axhline(0, color="k", lw=0.6)
    left.set(xlabel="p", ylabel="ṗ on the parabola")
    left.legend(fontsize=7)
    etas = np.linspace(0, 0.25, 400)
    lo, hi = _p_stars(etas, sigma2)
    right.plot(etas, hi, color="C0", label="p*₊ (stable)")
    right.plot(etas, lo, "--", color="C3", label="p*₋ (unstable)")
    right.plot(etas, 0 * etas, color="k", lw=1, label="p = 0 (stable)")
    right.axvline(crit, ls=":", color="k", label="η_crit")
    sweep = pd.DataFrame(metrics["eta_sweep"])
    right.plot(sweep["eta"], sweep["p_final"], "o", color="C2", label="ODE final p (EMA)")
    right.set(xlabel="η", ylabel="p*")
    right.legend(fontsize=7)
    save(fig, out, "fixed_points")


def _sweeps(results: Results, out: Path) -> None:
    hist = results.history(results.one(EigenmodesRun))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, kind, title in (
        (axes[0], "eta_sweep_p", "p(t), η sweep"),
        (axes[1], "beta_sweep_p", "p(t), β sweep"),
        (axes[2], "beta_sweep_tau", "τ(t), β sweep"),
    ):
        rows = hist[hist["kind"] == kind]
        for case, curve in rows.groupby("case", sort=False):
            ax.plot(curve["t"], curve["value"], label=("η = " if "eta" in kind else "β = ") + str(case))
        ax.set(xlabel="t", title=title)
        ax.legend(fontsize=7)
    save(fig, out, "sweeps")


def _linear_eigenvalues(results: Results, out: Path) -> None:
    metrics, hist = _load(results, LinearFlowRun)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, kind, ref in ((axes[0], "s", metrics["s_plus"]), (axes[1], "p", metrics["p_plus"])):
        rows = hist[hist["kind"] == kind]
        for _, curve in rows.groupby("mode"):
            ax.plot(curve["t"], curve["value"], lw=0.8)
        ax.axhline(ref, ls="--", color="k", label=f"sympy {'p*₊²' if kind == 's' else 'p*₊'} = {ref:.4f}")
        ax.set(xlabel="t", ylabel="s_j" if kind == "s" else "u_jᵀ W_p u_j")
        ax.legend(fontsize=7)
    save(fig, out, "linear_eigenvalues")


def _linear_alignment(results: Results, out: Path) -> None:
    hist = results.history(results.one(LinearFlowRun))
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    comm = hist[hist["kind"] == "commutator"]
    left.semilogy(comm["t"], comm["value"].clip(lower=1e-18))
    left.set(xlabel="t", ylabel="‖[F, W_p]‖ / (‖F‖‖W_p‖)")
    for _, curve in hist[hist["kind"] == "cos"].groupby("mode"):
        right.plot(curve["t"], curve["value"], lw=0.8)
    right.set(xlabel="t", ylabel="cos(W_p u_j, u_j)")
    save(fig, out, "linear_alignment")


def _collapse(results: Results, out: Path) -> None:
    hist = results.history(results.one(CollapseRun))
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for case, curve in hist[hist["kind"] == "w_norm"].groupby("case"):
        left.semilogy(curve["t"], curve["value"].clip(lower=1e-300), label=case)
    left.set(xlabel="t", ylabel="‖W‖_F")
    left.legend(fontsize=7)
    rows = hist[(hist["kind"] == "s_max") & hist["case"].str.startswith("ratio=")]
    for case, curve in rows.groupby("case"):
        right.semilogy(curve["t"], curve["value"].clip(lower=1e-300), label=f"η/η_crit {case[6:]}")
    right.axhline(1e-6, ls=":", color="k", label="collapse floor")
    right.set(xlabel="t", ylabel="max_j s_j")
    right.legend(fontsize=7)
    save(fig, out, "collapse")


def _ssl_runs(results: Results) -> dict[str, list[SSLRun]]:
    """Finished SSL runs grouped by dataset, in run-id order (which fixes the colours and the rows)."""
    grouped: dict[str, list[SSLRun]] = {}
    for spec in sorted(results.finished(results.select(SSLRun)), key=lambda spec: spec.id):
        grouped.setdefault(spec.dataset, []).append(spec)
    return grouped


def _alignment_row(axes, results: Results, specs: list[SSLRun], dataset: str) -> None:
    frames = []
    for spec in specs:
        hist = results.history(spec)
        frames.append(hist.assign(variant=f"{spec.method} {spec.variant}", run=spec.id))
    data = pd.concat(frames, ignore_index=True)
    for ax, column in ((axes[0], "eig_cos_mean"), (axes[1], "eig_asym")):
        if column in data:
            sub = data.dropna(subset=[column])
            sns.lineplot(sub, x="step", y=column, hue="variant", errorbar=("pi", 100), ax=ax)
    axes[0].set(ylabel="mean cos(W_p u_j, u_j), top k", title=dataset)
    axes[1].set(ylabel="‖W_p − W_pᵀ‖/‖W_p‖", title=dataset)
    linear = data[data["variant"].str.endswith(" linear")]
    s_cols = [c for c in data.columns if c.startswith("eig_s") and c[5:].isdigit()]
    for j, column in enumerate(sorted(s_cols, key=lambda c: int(c[5:]))):
        mean = linear.groupby("step")[column].mean()
        axes[2].semilogy(mean.index, mean.values, label=f"s_{j}", lw=0.9)
    axes[2].set(xlabel="step", ylabel="eigenvalues of F̂ (linear predictor)", title=dataset)
    axes[2].legend(fontsize=6, ncol=2)


def _encoder_alignment(results: Results, out: Path) -> None:
    grouped = _ssl_runs(results)
    fig, axes = plt.subplots(max(1, len(grouped)), 3, figsize=(13, 3.6 * max(1, len(grouped))), squeeze=False)
    for row, (dataset, specs) in zip(axes, grouped.items(), strict=False):
        _alignment_row(row, results, specs, dataset)
    save(fig, out, "encoder_alignment")


def _probe_accuracy(results: Results, out: Path) -> None:
    grouped = _ssl_runs(results)
    fig, axes = plt.subplots(1, max(1, len(grouped)), figsize=(6 * max(1, len(grouped)), 3.6), squeeze=False)
    for ax, (dataset, specs) in zip(axes[0], grouped.items(), strict=False):
        accuracies = [(spec, results.metrics(spec).get("probe_test_accuracy")) for spec in specs]
        rows = [
            {"variant": f"{spec.method} {spec.variant}", "accuracy": 100 * accuracy}
            for spec, accuracy in accuracies
            if accuracy is not None
        ]
        if not rows:
            continue
        data = pd.DataFrame(rows)
        sns.barplot(data, x="variant", y="accuracy", errorbar=None, alpha=0.5, ax=ax)
        sns.stripplot(data, x="variant", y="accuracy", color="k", ax=ax)
        low, high = data["accuracy"].min(), data["accuracy"].max()
        ax.set(ylim=(max(0, low - 5), min(100, high + 2)), ylabel="probe test accuracy (%)", title=dataset)
        ax.tick_params(axis="x", rotation=20)
    save(fig, out, "probe_accuracy")


def plot(results: Results, out: Path) -> None:
    """Draw every figure in :data:`CAPTIONS` from the study's runs (SSL: the finished ones) into ``out``."""
    out = Path(out)
    _phase_portrait(results, out)
    _fixed_points(results, out)
    _sweeps(results, out)
    _linear_eigenvalues(results, out)
    _linear_alignment(results, out)
    _collapse(results, out)
    _encoder_alignment(results, out)
    _probe_accuracy(results, out)
