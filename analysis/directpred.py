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
from pipeline.directpred.runs import CollapseRun, EigenmodesRun, LinearFlowRun, SSLRun, parse_variant
from pipeline.directpred.simulations import SURVIVAL_FLOOR
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
    "collapse": (
        "Left: ‖W‖_F (log scale) of three ablations of the linear-network flow: weight decay above η_crit, "
        "no stop-gradient (Theorem 2) and no predictor. Right: max_j s_j for each swept η/η_crit. The dotted "
        "line is the collapse floor 1e-6 that the claims use. The paper predicts collapse for the ablations "
        "and for η/η_crit > 1 only."
    ),
    "probe_accuracy": (
        "Linear-probe test accuracy (%) of the frozen BYOL encoder per predictor, one panel per dataset: "
        "one small dot per seed, the mean (marker) with its 95% t-interval over seeds (bar). The probe's "
        "L2 strength is chosen on a validation split. The paper reports DirectPred above the SGD linear "
        "predictor (Table 8) and comparable to the two-layer predictor (Table 9)."
    ),
    "encoder_alignment": (
        "BYOL with a real encoder, one row per dataset, against training step: mean cos(W_p u_j, u_j) over "
        "the top k eigenvectors u_j of F̂, with k = directpred.ssl.align_top_k, the same quantity and k as "
        "claim real_encoder_alignment (left); the asymmetry ‖W_p − W_pᵀ‖/‖W_p‖ (middle); and the leading "
        "eigenvalues s_j of F̂ under the SGD linear predictor, mean over seeds (right, log scale). Thin "
        "lines are seeds, thick lines their mean; predictors without a single matrix W_p (two-layer) are not "
        "drawn on the left and middle. DirectPred's W_p is set from F̂, so it is symmetric and aligned by "
        "construction. The paper (Fig. 2) predicts that a gradient-trained linear predictor aligns with F̂ "
        "and becomes symmetric during training."
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
    metrics, hist = _load(results, LinearFlowRun)
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
    hist = results.history(results.one(LinearFlowRun))
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


# -------------------------------------------------------------------------------------------- SSL runs


def _ssl_runs(results: Results) -> dict[str, list[SSLRun]]:
    """Finished SSL runs grouped by dataset, in config order (datasets, methods, variants, seeds)."""
    grouped: dict[str, list[SSLRun]] = {}
    for spec in results.finished(results.select(SSLRun)):
        grouped.setdefault(spec.dataset, []).append(spec)
    return grouped


def _arms(specs: list[SSLRun]) -> list[tuple[str, str]]:
    """(method, variant) pairs in config order."""
    return list(dict.fromkeys((spec.method, spec.variant) for spec in specs))


def _style_key(variant: str) -> str:
    """The variant's key in :data:`analysis.style.METHODS` (a directpred_freqN without its own style is
    drawn as DirectPred)."""
    return variant if variant in style.METHODS else parse_variant(variant)[0]


def _label(method: str, variant: str) -> str:
    predictor, freq = parse_variant(variant)
    text = style.label(variant) if variant in style.METHODS else f"{style.label(predictor)}, freq {freq}"
    return text if method == "byol" else f"SimSiam, {text}"


def _dataset_title(dataset: str) -> str:
    return DATASETS.get(dataset, dataset)


def _top_k_cosine(history: pd.DataFrame, k: int) -> pd.Series | None:
    """Mean of cos(W_p u_j, u_j) over j < k per recorded step (None without a linear W_p)."""
    columns = [f"eig_cos{j}" for j in range(k)]
    if not set(columns) <= set(history.columns):
        return None
    rows = history.dropna(subset=columns)
    return pd.Series(rows[columns].mean(axis=1).to_numpy(), index=rows["step"].to_numpy())


def _column(history: pd.DataFrame, column: str) -> pd.Series:
    """``column`` indexed by step, over the rows that recorded it."""
    rows = history.dropna(subset=[column])
    return pd.Series(rows[column].to_numpy(), index=rows["step"].to_numpy())


def _curves(ax: plt.Axes, series: list[pd.Series], method: str, variant: str) -> None:
    """One thin line per seed and their mean (thick, labelled) in the predictor's style."""
    key = _style_key(variant)
    linestyle = "-" if method == "byol" else "--"
    for curve in series:
        ax.plot(curve.index, curve.to_numpy(), color=style.color(key), lw=0.6, alpha=0.4, ls=linestyle)
    mean = pd.concat(series, axis=1).mean(axis=1)
    ax.plot(mean.index, mean.to_numpy(), color=style.color(key), lw=1.8, ls=linestyle,
            label=_label(method, variant))  # fmt: skip


def _alignment_row(axes: np.ndarray, results: Results, specs: list[SSLRun], dataset: str) -> None:
    k = specs[0].ssl.align_top_k
    for method, variant in _arms(specs):
        arm = [spec for spec in specs if (spec.method, spec.variant) == (method, variant)]
        histories = [results.history(spec) for spec in arm]
        cosines = [c for c in (_top_k_cosine(h, k) for h in histories) if c is not None]
        if cosines:
            _curves(axes[0], cosines, method, variant)
        asym = [_column(h, "eig_asym") for h in histories if "eig_asym" in h]
        if asym:
            _curves(axes[1], asym, method, variant)
    title = _dataset_title(dataset)
    axes[0].set(xlabel="step", ylabel=f"mean cos(W_p u_j, u_j), top {k}", title=title)
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


def _accuracies(results: Results, specs: list[SSLRun]) -> list[float]:
    """Probe test accuracy (%) per seed; NaN for a diverged run or one without a probe."""
    values = []
    for spec in specs:
        metrics = results.metrics(spec)
        accuracy = metrics.get("probe_test_accuracy")
        ok = accuracy is not None and not metrics.get("diverged")
        values.append(style.percent(accuracy) if ok else np.nan)
    return values


def _probe_accuracy(results: Results, out: Path) -> None:
    grouped = _ssl_runs(results)
    fig, axes = plt.subplots(1, max(1, len(grouped)), figsize=(6 * max(1, len(grouped)), 3.8), squeeze=False)
    for ax, (dataset, specs) in zip(axes[0], grouped.items(), strict=False):
        arms = _arms(specs)
        for i, (method, variant) in enumerate(arms):
            values = _accuracies(results, [s for s in specs if (s.method, s.variant) == (method, variant)])
            key = _style_key(variant)
            style.seed_points(ax, [i], [values], key, connect=False)
            interval = mean_interval(values)
            if np.isfinite(interval.low):
                below, above = interval.value - interval.low, interval.high - interval.value
                ax.errorbar([i], [interval.value], yerr=[[below], [above]], color=style.color(key), capsize=4)
        ax.set_xticks(range(len(arms)), [_label(m, v) for m, v in arms], rotation=20, ha="right")
        ax.set(
            xlim=(-0.6, len(arms) - 0.4),
            ylabel=f"linear-probe {style.ACCURACY_LABEL}",
            title=_dataset_title(dataset),
        )
    style.save(fig, out, "probe_accuracy")


def plot(results: Results, out: Path) -> None:
    """Draw every figure in :data:`CAPTIONS` from the study's runs (SSL: the finished ones) into ``out``."""
    out = Path(out)
    _phase_portrait(results, out)
    _fixed_points(results, out)
    _sweeps(results, out)
    _linear_eigenvalues(results, out)
    _linear_alignment(results, out)
    _collapse(results, out)
    _probe_accuracy(results, out)
    _encoder_alignment(results, out)
