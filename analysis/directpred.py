"""Figures of the directpred study, drawn only from its stored runs (pipeline.results.Results).

Nothing here integrates a flow or trains a network; the fixed-point curves are the closed forms of the
paper's Eqn 16 evaluated on a grid (the same formulas the sympy checks in theory.json verify). Predictors
are drawn with the colours, markers and labels of :mod:`analysis.style`; accuracies are in percent with one
point per seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis import style
from pipeline.core.stats import mean_interval
from pipeline.directpred.claims import MARGIN, SYMMETRIC, SYMMETRIC_LINEAR
from pipeline.directpred.runs import (
    BaselineRun,
    CollapseRun,
    EigenmodesRun,
    LinearAblationRun,
    LinearFlowRun,
    SSLRun,
    parse_variant,
)
from pipeline.directpred.simulations import SURVIVAL_FLOOR, ablation_cases
from pipeline.results import Results

FLOOR = 1e-300  # exact zeros are drawn at this floor on log axes
DATASETS = {"digits": "digits", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "stl10": "STL-10"}
ABLATIONS = {  # the collapse run's cases, in the order of the legend
    "weight_decay_above": "weight decay η above η_crit",
    "no_stop_grad": "no stop-gradient (Theorem 2)",
    "no_predictor": "no predictor (W_p ≡ I)",
}

CAPTIONS: dict[str, str] = {
    "phase_portrait": (
        "Decoupled eigenmode dynamics (Eqns 11-12, SimSiam τ ≡ 1) in the (p, s) plane, one panel per weight "
        "decay η: trajectories of the integrated ODE from a grid of initial points (grey, start = dot), the "
        "invariant parabola s = p²/α_p (dashed) and the closed-form fixed points p*₋ (open circle) and p*₊ "
        "(filled) where they exist. The paper predicts that trajectories approach the parabola and then run "
        "along it to p*₊ or to the collapsed state (0, 0), with only collapse above η_crit."
    ),
    "fixed_points": (
        "Left: ṗ on the invariant parabola, −(1+σ²)p(p − p*₋)(p − p*₊), for several η (its zeros are the "
        "fixed points). Right: the closed-form branches p*₊ (stable) and p*₋ (unstable) against η, with "
        "η_crit = τ²/(4(1+σ²)) (dotted), and the final p of the decoupled ODE with an EMA target (markers) "
        "for the configured η sweep. These closed forms are the ones the sympy checks verify."
    ),
    "sweeps": (
        "Decoupled ODE with an EMA target (Eqns 11-13) from the same (p0, s0): p(t) for the weight-decay "
        "sweep with the closed-form p*₊ of each η (dotted; none above η_crit) (left), and p(t) and τ(t) for "
        "the EMA-rate sweep β (middle, right). The paper predicts that a larger η lowers p*₊ and that a "
        "slower EMA (smaller β) delays τ → 1."
    ),
    "linear_eigenvalues": (
        "Full linear-network flow (Lemma 1, float64 Euler, symmetric W_p, EMA target): eigenvalues s_j of F "
        "= WWᵀ (left) and u_jᵀW_p u_j (right) against time, one line per mode, with the closed-form fixed "
        "point p*₊ and s = p*₊²/α_p (dashed). Claim fixed_point compares the final values of surviving "
        "modes with the dashed line."
    ),
    "linear_alignment": (
        "Linear-network flow: normalised commutator ‖[F, W_p]‖/(‖F‖‖W_p‖) (left, log scale) and the cosine "
        "between W_p u_j and u_j for each mode (right) against time. Theorem 3 predicts an exponential "
        "decay of the commutator, hence cosines of surviving modes going to 1."
    ),
    "linear_symmetry": (
        "Linear-network flow without Assumption 3 (W_p starts as an i.i.d. matrix and follows its plain "
        "gradient flow; run linear_flow_regular): the asymmetry ‖W_p − W_pᵀ‖/‖W_p‖ against time (log "
        "scale), with the tolerance of claim symmetry_linear (dotted). The paper predicts that a "
        "gradient-trained W_p becomes symmetric (Fig. 2; App. B: the fixed point of this flow is "
        "symmetric); the curve is the measured asymmetry."
    ),
    "collapse": (
        "Left: ‖W‖_F (log scale) of three ablations of the linear-network flow: weight decay above η_crit, "
        "no stop-gradient (Theorem 2) and no predictor. Right: max_j s_j for each swept η/η_crit. The dotted "
        "line is the collapse floor 1e-6 that the claims use. The paper predicts collapse for the ablations "
        "and for η/η_crit > 1 only."
    ),
    "linear_ablation": (
        "Table 3 and Fig. 6 in the linear model (runs linear_ablation_s<k>, one initialisation each): "
        "number of eigenmodes of F that survive (s_j above the collapse floor 1e-6) against time, mean over "
        "initialisations, for W_p symmetric or regular, with or without EMA, and for the symmetric "
        "predictor without EMA at larger α_p (left); the fraction of modes that collapse by the end, one dot "
        "per initialisation with the mean (right). The paper reports that a symmetric predictor without "
        "EMA collapses while a regular one does not, and that a larger α_p rescues it."
    ),
    "probe_accuracy": (
        "Linear-probe test accuracy (%) per predictor, one panel per dataset: one small dot per seed, the "
        "mean (marker) with its 95% t-interval over seeds (bar); the first columns are the probe "
        "baselines: the encoder of each seed index as initialised (untrained) and the raw pixels. The "
        "dashed line is the untrained mean plus the margin of the learns_<variant> claims. The probe's L2 "
        "strength is chosen on a validation split. The paper reports DirectPred above the SGD linear "
        "predictor (Table 8) and comparable to the two-layer predictor (Table 9)."
    ),
    "ablation_accuracy": (
        "Table 3 and Fig. 6 with the real encoder: linear-probe test accuracy (%) of the untrained encoder, "
        "the SGD linear predictor with EMA, and the ablation variants (no EMA; symmetrised W_p without EMA; "
        "the same at a larger predictor learning rate α_p), one dot per seed, the mean with its 95% "
        "t-interval. The dashed line is the untrained mean plus the margin of the claims. The paper "
        "reports that the symmetric predictor without EMA collapses (36.6% against 72.9% for the regular "
        "one on STL-10) and that a larger α_p rescues it."
    ),
    "encoder_alignment": (
        "BYOL with a real encoder, one row per dataset, against training step: the mean cos(W_p u_j, u_j) "
        "over the eigenvectors u_j of F̂ whose eigenvalue is at least directpred.ssl.align_rel_eig times "
        "the largest, the quantity of claim real_encoder_alignment (left); the asymmetry "
        "‖W_p − W_pᵀ‖/‖W_p‖ of the whole W_p, the quantity of claim real_encoder_symmetry, with its "
        "threshold (dotted), and, dashed, the same for W_p restricted to the span of those eigenvectors "
        "(middle); and the leading eigenvalues s_j of F̂ under the SGD linear predictor, mean over seeds "
        "(right, log scale). Thin lines are seeds, thick lines their mean; predictors without a single "
        "matrix W_p (two-layer) are not drawn on the left and middle. DirectPred's W_p is set from F̂, so "
        "it is symmetric and aligned by construction. The paper (Fig. 2) predicts that a gradient-trained "
        "linear predictor aligns with F̂ and becomes symmetric during training."
    ),
}


def _load(results: Results, kind: type, **fields: Any) -> tuple[dict[str, Any], pd.DataFrame]:
    spec = results.one(kind, **fields)
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
    style.save(fig, out, "phase_portrait")


def _fixed_points(results: Results, out: Path) -> None:
    metrics = results.metrics(results.one(EigenmodesRun))
    sigma2 = results.one(EigenmodesRun).sigma2
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    p = np.linspace(-0.1, 0.8, 300)
    crit = 1 / (4 * (1 + sigma2))
    for eta in (0.0, 0.04, 0.1, crit, 0.2):
        left.plot(p, p**2 * (1 - (1 + sigma2) * p) - eta * p, label=f"η = {eta:.3g}")
    left.axhline(0, color="k", lw=0.6)
    left.set(xlabel="p", ylabel="ṗ on the parabola (τ = 1)")
    left.legend(fontsize=7)
    etas = np.linspace(0, 0.25, 400)
    lo, hi = _p_stars(etas, sigma2)
    right.plot(etas, hi, color="C0", label="p*₊ (stable)")
    right.plot(etas, lo, "--", color="C3", label="p*₋ (unstable)")
    right.plot(etas, 0 * etas, color="k", lw=1, label="p = 0 (stable)")
    right.axvline(crit, ls=":", color="k", label="η_crit")
    sweep = pd.DataFrame(metrics["eta_sweep"])
    right.plot(sweep["eta"], sweep["p_final"], "o", color="C2", label="ODE final p (EMA)")
    right.set(xlabel="η", ylabel="fixed point p*")
    right.legend(fontsize=7)
    style.save(fig, out, "fixed_points")


def _sweeps(results: Results, out: Path) -> None:
    metrics, hist = _load(results, EigenmodesRun)
    p_plus = {f"{row['eta']:g}": row["p_plus"] for row in metrics["eta_sweep"] if row["p_plus"] is not None}
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, kind, symbol, ylabel, title in (
        (axes[0], "eta_sweep_p", "η", "p(t)", "p(t), weight-decay sweep"),
        (axes[1], "beta_sweep_p", "β", "p(t)", "p(t), EMA-rate sweep"),
        (axes[2], "beta_sweep_tau", "β", "τ(t)", "τ(t), EMA-rate sweep"),
    ):
        rows = hist[hist["kind"] == kind]
        for i, (case, curve) in enumerate(rows.groupby("case", sort=False)):
            ax.plot(curve["t"], curve["value"], color=f"C{i}", label=f"{symbol} = {case}")
            if kind == "eta_sweep_p" and np.isfinite(float(p_plus.get(str(case), np.nan))):
                ax.axhline(p_plus[str(case)], ls=":", lw=0.8, color=f"C{i}")
        ax.set(xlabel="t", ylabel=ylabel, title=title)
        ax.legend(fontsize=7)
    style.save(fig, out, "sweeps")


def _linear_eigenvalues(results: Results, out: Path) -> None:
    metrics, hist = _load(results, LinearFlowRun, symmetric=True)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, kind, ref in ((axes[0], "s", metrics["s_plus"]), (axes[1], "p", metrics["p_plus"])):
        rows = hist[hist["kind"] == kind]
        for _, curve in rows.groupby("mode"):
            ax.plot(curve["t"], curve["value"], lw=0.8)
        name = "p*₊²/α_p" if kind == "s" else "p*₊"
        ax.axhline(ref, ls="--", color="k", label=f"closed form {name} = {ref:.4f}")
        ax.set(xlabel="t", ylabel="s_j (eigenvalues of F)" if kind == "s" else "u_jᵀ W_p u_j")
        ax.legend(fontsize=7)
    style.save(fig, out, "linear_eigenvalues")


def _linear_alignment(results: Results, out: Path) -> None:
    hist = results.history(results.one(LinearFlowRun, symmetric=True))
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    comm = hist[hist["kind"] == "commutator"]
    left.semilogy(comm["t"], comm["value"].clip(lower=1e-18))
    left.set(xlabel="t", ylabel="‖[F, W_p]‖ / (‖F‖‖W_p‖)")
    for _, curve in hist[hist["kind"] == "cos"].groupby("mode"):
        right.plot(curve["t"], curve["value"], lw=0.8)
    right.set(xlabel="t", ylabel="cos(W_p u_j, u_j)")
    style.save(fig, out, "linear_alignment")


def _ratio(case: str) -> float:
    return float(case.removeprefix("ratio="))


def _collapse(results: Results, out: Path) -> None:
    hist = results.history(results.one(CollapseRun))
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    norms = hist[hist["kind"] == "w_norm"]
    for case, text in ABLATIONS.items():
        curve = norms[norms["case"] == case]
        if len(curve):
            left.semilogy(curve["t"], curve["value"].clip(lower=FLOOR), label=text)
    left.axhline(SURVIVAL_FLOOR, ls=":", color="k", label="collapse floor")
    left.set(xlabel="t", ylabel="‖W‖_F")
    left.legend(fontsize=7)
    rows = hist[(hist["kind"] == "s_max") & hist["case"].str.startswith("ratio=")]
    for case in sorted(rows["case"].unique(), key=_ratio):
        curve = rows[rows["case"] == case]
        right.semilogy(curve["t"], curve["value"].clip(lower=FLOOR), label=f"η/η_crit = {_ratio(case):g}")
    right.axhline(SURVIVAL_FLOOR, ls=":", color="k", label="collapse floor")
    right.set(xlabel="t", ylabel="max_j s_j")
    right.legend(fontsize=7)
    style.save(fig, out, "collapse")


def _linear_symmetry(results: Results, out: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for spec in results.select(LinearFlowRun, symmetric=False):
        hist = results.history(spec)
        asym = hist[hist["kind"] == "asym"]
        left.semilogy(asym["t"], asym["value"].clip(lower=1e-18), color="C0", label="W_p not symmetrised")
        for _, curve in hist[hist["kind"] == "cos"].groupby("mode"):
            right.plot(curve["t"], curve["value"], lw=0.8)
    left.axhline(SYMMETRIC_LINEAR, ls=":", color="k", label=f"tolerance {SYMMETRIC_LINEAR:g}")
    left.set(xlabel="t", ylabel="‖W_p − W_pᵀ‖ / ‖W_p‖")
    left.legend(fontsize=7)
    right.set(xlabel="t", ylabel="cos(W_p u_j, u_j), W_p not symmetrised")
    style.save(fig, out, "linear_symmetry")


ABLATION_CASES = {  # the linear-model ablation's Table 3 cases and how they are drawn
    "symmetric_ema": ("symmetric W_p, EMA", "linear_sym"),
    "symmetric_no_ema": ("symmetric W_p, no EMA", "linear_sym_noema"),
    "regular_ema": ("regular W_p, EMA", "linear"),
    "regular_no_ema": ("regular W_p, no EMA", "linear_noema"),
}


def _case_label(case: str, alpha_p: float) -> tuple[str, str]:
    """(label, style key) of a linear-ablation case."""
    if case in ABLATION_CASES:
        return ABLATION_CASES[case]
    return f"symmetric W_p, no EMA, α_p = {alpha_p:g}", "linear_sym_noema_ap"


def _linear_ablation(results: Results, out: Path) -> None:
    specs = results.finished(results.select(LinearAblationRun))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    if specs:
        cases = list(ablation_cases(specs[0].flow.alpha_p, specs[0].alpha_ps))
        hists = [results.history(spec) for spec in specs]
        metrics = [results.metrics(spec)["cases"] for spec in specs]
        for i, case in enumerate(cases):
            label, key = _case_label(case, metrics[0][case]["alpha_p"])
            rows = pd.concat([h[(h["kind"] == "surviving") & (h["case"] == case)] for h in hists])
            mean = rows.groupby("t")["value"].mean()
            linestyle = "--" if "_ap" in case else "-"
            left.plot(mean.index, mean.to_numpy(), color=style.color(key), ls=linestyle, label=label)
            values = [m[case]["collapsed_fraction"] for m in metrics]
            right.scatter(np.full(len(values), i), values, s=12, color=style.color(key), alpha=0.5)
            right.plot([i], [np.mean(values)], marker=style.marker(key), color=style.color(key), ms=7)
        right.set_xticks(range(len(cases)), [_case_label(c, metrics[0][c]["alpha_p"])[0] for c in cases],
                         rotation=25, ha="right", fontsize=7)  # fmt: skip
        left.legend(fontsize=7)
    left.set(xlabel="t", ylabel="eigenmodes of F surviving (mean)")
    right.set(ylabel="fraction of modes collapsed at the end")
    style.save(fig, out, "linear_ablation")


# -------------------------------------------------------------------------------------------- SSL runs


def _ssl_runs(results: Results) -> dict[str, list[SSLRun]]:
    """Finished SSL runs of the base training length grouped by dataset, in config order."""
    grouped: dict[str, list[SSLRun]] = {}
    for spec in results.finished(results.select(SSLRun, extra_steps=False)):
        grouped.setdefault(spec.dataset, []).append(spec)
    return grouped


def _arms(specs: list[SSLRun]) -> list[tuple[str, str]]:
    """(method, variant) pairs in config order."""
    return list(dict.fromkeys((spec.method, spec.variant) for spec in specs))


def _style_key(variant: str) -> str:
    """The variant's key in :data:`analysis.style.METHODS` (a directpred_freqN without its own style is
    drawn as DirectPred, a symmetric no-EMA variant at any α_p ≠ 1 as ``linear_sym_noema_ap``)."""
    if variant in style.METHODS:
        return variant
    parsed = parse_variant(variant)
    if parsed.symmetric and parsed.no_ema and parsed.alpha_p != 1.0:
        return "linear_sym_noema_ap"
    return parsed.predictor


def _label(method: str, variant: str) -> str:
    parsed = parse_variant(variant)
    key = _style_key(variant)
    if variant in style.METHODS:
        text = style.label(variant)
    elif key == "linear_sym_noema_ap":
        text = f"{style.label('linear_sym_noema')}, α_p = {parsed.alpha_p:g}"
    else:
        text = f"{style.label(key)}, freq {parsed.freq}"
    return text if method == "byol" else f"SimSiam, {text}"


def _dataset_title(dataset: str) -> str:
    return DATASETS.get(dataset, dataset)


def _column(history: pd.DataFrame, column: str) -> pd.Series | None:
    """``column`` indexed by step, over the rows that recorded it (None when never recorded)."""
    if column not in history:
        return None
    rows = history.dropna(subset=[column])
    return pd.Series(rows[column].to_numpy(), index=rows["step"].to_numpy()) if len(rows) else None


def _curves(ax: plt.Axes, series: list[pd.Series], method: str, variant: str, ls: str = "-",
            label: bool = True) -> None:  # fmt: skip
    """One thin line per seed and their mean (thick) in the predictor's style."""
    key = _style_key(variant)
    linestyle = ls if method == "byol" else "-."
    for curve in series:
        ax.plot(curve.index, curve.to_numpy(), color=style.color(key), lw=0.6, alpha=0.4, ls=linestyle)
    mean = pd.concat(series, axis=1).mean(axis=1)
    ax.plot(mean.index, mean.to_numpy(), color=style.color(key), lw=1.8, ls=linestyle,
            label=_label(method, variant) if label else None)  # fmt: skip


def _alignment_row(axes: np.ndarray, results: Results, specs: list[SSLRun], dataset: str) -> None:
    rel = specs[0].ssl.align_rel_eig
    for method, variant in _arms(specs):
        arm = [spec for spec in specs if (spec.method, spec.variant) == (method, variant)]
        histories = [results.history(spec) for spec in arm]
        for ax, column, ls, label in (
            (axes[0], "eig_cos_rel", "-", True),
            (axes[1], "eig_asym", "-", True),
            (axes[1], "eig_asym_rel", "--", False),
        ):
            series = [c for c in (_column(h, column) for h in histories) if c is not None]
            if series:
                _curves(ax, series, method, variant, ls=ls, label=label)
    axes[1].axhline(SYMMETRIC, ls=":", color="k", label=f"threshold {SYMMETRIC:g}")
    title = _dataset_title(dataset)
    axes[0].set(xlabel="step", ylabel=f"mean cos(W_p u_j, u_j), s_j ≥ {rel:g}·s_max", title=title)
    axes[1].set(xlabel="step", ylabel="‖W_p − W_pᵀ‖ / ‖W_p‖", title=title)
    for ax in axes[:2]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    linear = [spec for spec in specs if spec.method == "byol" and spec.variant == "linear"]
    if linear:
        data = pd.concat([results.history(spec) for spec in linear], ignore_index=True)
        s_cols = sorted(
            (c for c in data.columns if c.startswith("eig_s") and c[5:].isdigit()), key=lambda c: int(c[5:])
        )
        colors = plt.cm.viridis(np.linspace(0, 0.9, max(1, len(s_cols))))
        for j, column in enumerate(s_cols):
            mean = data.dropna(subset=[column]).groupby("step")[column].mean()
            axes[2].semilogy(
                mean.index, mean.clip(lower=FLOOR).to_numpy(), color=colors[j], lw=0.9, label=f"s_{j}"
            )
        if s_cols:
            axes[2].legend(fontsize=6, ncol=2)
    axes[2].set(xlabel="step", ylabel=f"eigenvalues of F̂ ({style.label('linear')})", title=title)


def _encoder_alignment(results: Results, out: Path) -> None:
    grouped = _ssl_runs(results)
    rows = max(1, len(grouped))
    fig, axes = plt.subplots(rows, 3, figsize=(13, 3.6 * rows), squeeze=False)
    for row, (dataset, specs) in zip(axes, grouped.items(), strict=False):
        _alignment_row(row, results, specs, dataset)
    style.save(fig, out, "encoder_alignment")


def _metric(results: Results, spec: Any, key: str, scale: float = 1.0) -> float:
    """``scale`` × a run's metric ``key``; NaN for a diverged run or a missing value."""
    metrics = results.metrics(spec)
    value = metrics.get(key)
    return np.nan if value is None or metrics.get("diverged") else scale * float(value)


def _column_of_dots(ax: plt.Axes, i: int, values: list[float], key: str) -> float:
    """Seed dots, the mean and its 95% t-interval at x = i in ``key``'s style; returns the mean."""
    style.seed_points(ax, [i], [values], key, connect=False)
    interval = mean_interval(values)
    if np.isfinite(interval.low):
        below, above = interval.value - interval.low, interval.high - interval.value
        ax.errorbar([i], [interval.value], yerr=[[below], [above]], color=style.color(key), capsize=4)
    return interval.value


def _accuracy_panel(ax: plt.Axes, results: Results, dataset: str, specs: list[SSLRun]) -> None:
    """Baselines, then each (method, variant) of ``specs``, with the margin line above untrained."""
    columns: list[tuple[str, list[float], str]] = []
    for features in ("untrained", "pixels"):
        base = results.finished(results.select(BaselineRun, dataset=dataset, features=features))
        if base:
            values = [_metric(results, b, "probe_test_accuracy", 100) for b in base]
            columns.append((style.label(features), values, features))
    for method, variant in _arms(specs):
        arm = [s for s in specs if (s.method, s.variant) == (method, variant)]
        values = [_metric(results, s, "probe_test_accuracy", 100) for s in arm]
        columns.append((_label(method, variant), values, _style_key(variant)))
    for i, (_, values, key) in enumerate(columns):
        mean = _column_of_dots(ax, i, values, key)
        if key == "untrained" and np.isfinite(mean):
            ax.axhline(mean + MARGIN, ls="--", lw=0.8, color=style.color("untrained"),
                       label=f"untrained + {MARGIN:.1f} points")  # fmt: skip
    ax.set_xticks(range(len(columns)), [label for label, _, _ in columns], rotation=25, ha="right")
    ax.set(xlim=(-0.6, len(columns) - 0.4), ylabel=f"linear-probe {style.ACCURACY_LABEL}",
           title=_dataset_title(dataset))  # fmt: skip
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def _is_ablation(spec: SSLRun) -> bool:
    parsed = parse_variant(spec.variant)
    return parsed.symmetric or parsed.no_ema or parsed.alpha_p != 1.0


def _probe_accuracy(results: Results, out: Path) -> None:
    grouped = _ssl_runs(results)
    fig, axes = plt.subplots(1, max(1, len(grouped)), figsize=(7 * max(1, len(grouped)), 4), squeeze=False)
    for ax, (dataset, specs) in zip(axes[0], grouped.items(), strict=False):
        _accuracy_panel(ax, results, dataset, [s for s in specs if not _is_ablation(s)])
    style.save(fig, out, "probe_accuracy")


def _ablation_accuracy(results: Results, out: Path) -> None:
    grouped = _ssl_runs(results)
    fig, axes = plt.subplots(1, max(1, len(grouped)), figsize=(7 * max(1, len(grouped)), 4), squeeze=False)
    for ax, (dataset, specs) in zip(axes[0], grouped.items(), strict=False):
        seeds = {s.seed_index for s in specs if _is_ablation(s)}
        chosen = [s for s in specs if _is_ablation(s) or (s.variant == "linear" and s.seed_index in seeds)]
        _accuracy_panel(ax, results, dataset, chosen)
    style.save(fig, out, "ablation_accuracy")


def _measured(results: Results) -> str:
    """What the SGD linear predictor's W_p measured, per dataset, for the encoder_alignment caption."""
    parts = []
    for dataset, specs in _ssl_runs(results).items():
        linear = [s for s in specs if s.method == "byol" and s.variant == "linear"]
        if not linear:
            continue
        start = np.nanmean([_metric(results, s, "asym_initial") for s in linear])
        end = np.nanmean([_metric(results, s, "asym_final") for s in linear])
        cos = np.nanmean([_metric(results, s, "align_cos") for s in linear])
        parts.append(
            f"{_dataset_title(dataset)}, SGD linear predictor, mean over {len(linear)} seeds: asymmetry "
            f"{start:.3g} at initialisation and {end:.3g} at the end (paper: → 0; claim threshold "
            f"{SYMMETRIC:g}); mean cosine {cos:.3g} at the end"
        )
    return (" Measured: " + "; ".join(parts) + ".") if parts else ""


ENCODER_ALIGNMENT_CAPTION = CAPTIONS["encoder_alignment"]


def plot(results: Results, out: Path) -> None:
    """Draw every figure in :data:`CAPTIONS` from the study's runs (SSL: the finished ones) into ``out``;
    the encoder_alignment caption gets what was measured appended."""
    out = Path(out)
    _phase_portrait(results, out)
    _fixed_points(results, out)
    _sweeps(results, out)
    _linear_eigenvalues(results, out)
    _linear_alignment(results, out)
    _linear_symmetry(results, out)
    _collapse(results, out)
    _linear_ablation(results, out)
    _probe_accuracy(results, out)
    _ablation_accuracy(results, out)
    _encoder_alignment(results, out)
    CAPTIONS["encoder_alignment"] = ENCODER_ALIGNMENT_CAPTION + _measured(results)
