"""Figures of the gradient_flow study, drawn only from its stored runs (pipeline.results.Results).

Nothing here integrates a flow: the numerics, the closed forms and the fitted rates all come from the
runs (pipeline/gradient_flow/scalar.py, matrix.py, descent.py); the plot only reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis.style import save
from pipeline.core.study import RunSpec
from pipeline.gradient_flow.runs import DescentRun, MatrixFlowRun, ScalarFlowRun
from pipeline.results import Results

FLOOR = 1e-17  # exact zeros (e.g. the error at t = 0) are drawn at this floor on log axes

CAPTIONS: dict[str, str] = {
    "conservation": (
        "Imbalance drift |Q(t) − Q(0)| / (1 + |Q(0)|) against time for gradient flow (solid, DOP853 at "
        "rtol 1e-13) and for gradient descent with a finite step (dashed, t = kη); left the scalar model "
        "(Q = u² − v²), right the λ-balanced matrix model (first spectrum). Look for: the flow stays at "
        "rounding level (≤ 1e-13) while descent drifts by the η² term of §2.5 until the residual vanishes. "
        "Exact zeros are drawn at 1e-17."
    ),
    "residual_closed_form": (
        "Scalar residual |y − w(t)| for several imbalances λ at the same initial product w0: integrated flow "
        "(lines; dashed for λ < 0), implicit closed form t = G(w) − G(w0) (circles), logistic at λ = 0 "
        "(crosses), the non-overparameterised Ẇ = Y − W (grey dashed) and the tolerance of the time-to-"
        "tolerance metric (dotted). Right: relative error of the closed form in w. Look "
        "for: markers on the lines, faster convergence for larger |λ| (λ and −λ coincide), and the plateau "
        "of the balanced case."
    ),
    "rates": (
        "Fitted convergence rates (slope of log residual in the window 1e-9…1e-4) against the predictions. "
        "Left: scalar rate against λ with sqrt(λ² + 4y²) (line) and the rate 1 of Ẇ = Y − W (dotted). "
        "Right: per-mode rates of the matrix flow against sqrt(λ² + 4σ_i²); λ = 0 is drawn hollow because "
        "it is not part of the claim (at λ = 0 the top modes converge before the slow ones leave their "
        "plateau, so the float64 window never sees the asymptotic regime). Look for: points on the diagonal."
    ),
    "riccati_error": (
        "Relative Frobenius error between P = ZZᵀ from the integrated matrix flow and the Riccati closed "
        "form e^{Ft}Z0 N(t)⁻¹ Z0ᵀe^{Ft}, for every spectrum of Y and imbalance λ (including singular F "
        "at λ = 0 with a rank-deficient Y). Look for: errors near 1e-12 over the whole horizon, far below "
        "the 1e-6 claim threshold."
    ),
    "hyperbolas": (
        "Scalar trajectories (u(t), v(t)) for each λ: each stays on its hyperbola u² − v² = λ and ends on "
        "the equilibrium curve uv = y (grey). Look for: the conservation law as geometry."
    ),
    "descent_imbalance": (
        "Gradient descent with step η: left, the imbalance λ_k/λ_0 (lines) against the recursion product "
        "Π(1 − η²r_j²) (markers); right, the per-step deviation from the exact recursion of §2.5 (scalar "
        "and matrix, relative to 1 + |Q_k|). Look for: markers on the lines and deviations at rounding "
        "level (≤ 1e-15)."
    ),
    "matrix_modes": (
        "Matrix flow, first spectrum of Y: residual projected on each singular pair |p_iᵀ(Y − UVᵀ)q_i| "
        "against time, one panel per λ. Look for: straight tails with slopes sqrt(λ² + 4σ_i²), steeper "
        "for larger σ_i and larger |λ|, and the plateaus of the small modes at λ = 0."
    ),
}


def _palette(count: int) -> list[Any]:
    """The colorblind palette while it has enough colours, else evenly spaced hues."""
    return sns.color_palette("colorblind" if count <= 10 else "husl", count)


def _load(results: Results, kind: type[RunSpec]) -> tuple[dict[str, Any], pd.DataFrame]:
    spec = results.one(kind)
    return results.metrics(spec), results.history(spec)


def _lam_label(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["λ"] = frame["lam"].map(lambda x: f"{x:g}")
    return frame


def _floor(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["value"] = frame["value"].clip(lower=FLOOR)
    return frame


def _flow_and_descent(ax: plt.Axes, flow: pd.DataFrame, descent: pd.DataFrame) -> None:
    """Conservation error per λ on one axis: flow solid, gradient descent dashed, shared colours."""
    order = sorted(set(flow["λ"]) | set(descent["λ"]), key=float)
    palette = dict(zip(order, _palette(len(order)), strict=True))
    common = {"x": "t", "y": "value", "hue": "λ", "hue_order": order, "palette": palette, "estimator": None}
    sns.lineplot(data=flow, ax=ax, **common)
    sns.lineplot(data=descent, linestyle="--", legend=False, ax=ax, **common)


def _conservation(
    scalar_hist: pd.DataFrame, matrix_hist: pd.DataFrame, descent_hist: pd.DataFrame, out: Path
) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    flow = _lam_label(_floor(scalar_hist[scalar_hist.kind == "conservation_err"]))
    gd = _lam_label(_floor(descent_hist[descent_hist.kind == "conservation_err"]))
    _flow_and_descent(axes[0], flow, gd)
    mflow = _lam_label(
        _floor(matrix_hist[(matrix_hist.kind == "conservation_err") & (matrix_hist.spectrum == 0)])
    )
    mgd = _lam_label(_floor(descent_hist[descent_hist.kind == "matrix_conservation_err"]))
    _flow_and_descent(axes[1], mflow, mgd)
    axes[0].set(
        yscale="log", xlabel="t", ylabel="|Q(t) − Q(0)| / (1 + |Q(0)|)", title="scalar: flow — / GD - -"
    )
    axes[1].set(yscale="log", xlabel="t", title="matrix (spectrum 0): flow — / GD - -")
    save(fig, out, "conservation")


def _residual_closed_form(scalar_metrics: dict[str, Any], hist: pd.DataFrame, out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    lams = [float(x) for x in scalar_metrics["lambdas"]]
    colors = dict(zip(lams, _palette(len(lams)), strict=True))
    for lam in lams:
        part = hist[hist.lam == lam]
        ode = part[part.kind == "residual"]
        stride = max(1, len(ode) // 30)
        closed = part[part.kind == "residual_closed"].iloc[::stride]
        style = "--" if lam < 0 else "-"
        axes[0].plot(ode.t, ode.value.clip(lower=FLOOR), style, color=colors[lam], label=f"λ = {lam:g}")
        axes[0].plot(closed.t, closed.value, "o", mfc="none", ms=4, color=colors[lam])
        logistic = part[part.kind == "residual_logistic"].iloc[stride // 2 :: stride]
        if len(logistic):
            axes[0].plot(logistic.t, logistic.value, "x", ms=4, color=colors[lam])
        err = part[part.kind == "closed_form_err"]
        axes[1].plot(err.t, err.value.clip(lower=FLOOR), color=colors[lam], label=f"λ = {lam:g}")
    linear = hist[hist.kind == "linear_residual"]
    axes[0].plot(linear.t, linear.value, "--", color="grey", label="Ẇ = Y − W")
    axes[0].axhline(scalar_metrics["tolerance"], color="black", lw=0.6, ls=":")
    axes[0].set(
        yscale="log", ylim=(1e-16, 2), xlabel="t", ylabel="|y − w(t)|", title="flow (lines) vs closed form"
    )
    axes[1].set(yscale="log", xlabel="t", ylabel="|w_closed − w_ode| / |w_ode|", title="closed-form error")
    axes[0].legend(fontsize=7)
    save(fig, out, "residual_closed_form")


def _rates(scalar_metrics: dict[str, Any], matrix_metrics: dict[str, Any], out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    records = pd.DataFrame(scalar_metrics["records"])
    curve = scalar_metrics["rate_curve"]
    axes[0].plot(curve["lam"], curve["rate"], color="black", lw=1, label="sqrt(λ² + 4y²)")
    sns.scatterplot(data=records, x="lam", y="rate_fitted", s=50, ax=axes[0], label="fitted", zorder=3)
    axes[0].axhline(scalar_metrics["linear_rate_fitted"], color="grey", ls=":", label="Ẇ = Y − W (fitted)")
    axes[0].set(xlabel="λ", ylabel="rate", title=f"scalar, y = {scalar_metrics['y']:g}")
    axes[0].legend(fontsize=7)
    rows = []
    for record in matrix_metrics["records"]:
        for mode, (fit, pred) in enumerate(
            zip(record["rates_fitted"], record["rates_predicted"], strict=True)
        ):
            if fit is not None and pred > 0:
                rows.append(
                    {
                        "λ": f"{record['lam']:g}",
                        "spectrum": str(record["spectrum"]),
                        "mode": mode,
                        "predicted": pred,
                        "fitted": fit,
                        "balanced": record["lam"] == 0.0,
                    }
                )
    modes = pd.DataFrame(rows)
    if len(modes):
        limits = [0.0, 1.05 * max(modes.predicted.max(), modes.fitted.max())]
        axes[1].plot(limits, limits, color="black", lw=1)
        imbalanced = modes[~modes.balanced]
        sns.scatterplot(
            data=imbalanced, x="predicted", y="fitted", hue="λ", style="spectrum", s=50, ax=axes[1]
        )
        balanced = modes[modes.balanced]
        axes[1].scatter(
            balanced.predicted,
            balanced.fitted,
            facecolors="none",
            edgecolors="black",
            s=50,
            label="λ = 0 (diagnostic)",
        )
        axes[1].legend(fontsize=7)
    axes[1].set(xlabel="predicted sqrt(λ² + 4σ_i²)", ylabel="fitted", title="matrix, per mode")
    save(fig, out, "rates")


def _riccati(hist: pd.DataFrame, out: Path) -> None:
    data = _floor(hist[hist.kind == "riccati_err"])
    data = _lam_label(data)
    data["spectrum"] = data["spectrum"].astype(str)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    sns.lineplot(data=data, x="t", y="value", hue="λ", style="spectrum", estimator=None, ax=ax)
    ax.set(
        yscale="log", xlabel="t", ylabel="‖P_closed − ZZᵀ‖_F / ‖ZZᵀ‖_F", title="Riccati closed form vs flow"
    )
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    save(fig, out, "riccati_error")


def _hyperbolas(scalar_metrics: dict[str, Any], hist: pd.DataFrame, out: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    lams = [float(x) for x in scalar_metrics["lambdas"]]
    colors = _palette(len(lams))
    top = 0.0
    for lam, color in zip(lams, colors, strict=True):
        u = hist[(hist.kind == "u") & (hist.lam == lam)].value.to_numpy()
        v = hist[(hist.kind == "v") & (hist.lam == lam)].value.to_numpy()
        ax.plot(u, v, color=color, label=f"λ = {lam:g}")
        ax.plot(u[0], v[0], "o", color=color, ms=4)
        top = max(top, u.max(), v.max())
    y = scalar_metrics["y"]
    grid = np.linspace(y / (1.1 * top), 1.1 * top, 200)
    ax.plot(grid, y / grid, color="grey", lw=1, ls="--", label="uv = y")
    ax.set(
        xlim=(0, 1.1 * top),
        ylim=(0, 1.1 * top),
        xlabel="u",
        ylabel="v",
        aspect="equal",
        title="trajectories on u² − v² = λ",
    )
    ax.legend(fontsize=7)
    save(fig, out, "hyperbolas")


def _descent(hist: pd.DataFrame, out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    lams = sorted(x for x in hist[hist.kind == "imbalance"].lam.unique() if x != 0.0)
    colors = _palette(len(lams))
    for lam, color in zip(lams, colors, strict=True):
        measured = hist[(hist.kind == "imbalance") & (hist.lam == lam)]
        predicted = hist[(hist.kind == "imbalance_predicted") & (hist.lam == lam)]
        predicted = predicted.iloc[:: max(1, len(predicted) // 20)]
        axes[0].plot(
            measured.step, measured.value / measured.value.iloc[0], color=color, label=f"λ0 = {lam:g}"
        )
        axes[0].plot(
            predicted.step, predicted.value / measured.value.iloc[0], "o", mfc="none", color=color, ms=4
        )
    axes[0].set(xlabel="step k", ylabel="λ_k / λ_0", title="imbalance shrinks by Π(1 − η²r²)")
    axes[0].legend(fontsize=7)
    dev = _lam_label(_floor(hist[hist.kind.isin(["recursion_dev", "matrix_recursion_dev"])]))
    dev["model"] = dev["kind"].map({"recursion_dev": "scalar", "matrix_recursion_dev": "matrix"})
    sns.lineplot(data=dev, x="step", y="value", hue="λ", style="model", estimator=None, ax=axes[1])
    axes[1].set(
        yscale="log",
        ylim=(FLOOR / 2, 1e-10),
        xlabel="step k",
        ylabel="deviation / (1 + |Q_k|)",
        title="deviation from the exact recursion",
    )
    save(fig, out, "descent_imbalance")


def _matrix_modes(matrix_metrics: dict[str, Any], hist: pd.DataFrame, out: Path) -> None:
    lams = [float(x) for x in matrix_metrics["lambdas"]]
    fig, axes = plt.subplots(1, len(lams), figsize=(3.2 * len(lams), 3.6), sharey=True, squeeze=False)
    sigma = matrix_metrics["spectra"][0]
    for ax, lam in zip(axes[0], lams, strict=True):
        part = _floor(hist[(hist.kind == "mode_residual") & (hist.spectrum == 0) & (hist.lam == lam)])
        part = part.assign(σ=part["mode"].map(lambda i: f"σ = {sigma[int(i)]:g}"))
        sns.lineplot(data=part, x="t", y="value", hue="σ", estimator=None, ax=ax, legend=ax is axes[0][0])
        ax.set(yscale="log", ylim=(1e-16, 10), xlabel="t", ylabel="|p_iᵀ(Y − UVᵀ)q_i|", title=f"λ = {lam:g}")
    save(fig, out, "matrix_modes")


def plot(results: Results, out: Path) -> None:
    """Draw every figure in :data:`CAPTIONS` from the study's three runs into ``out``."""
    out = Path(out)
    scalar_metrics, scalar_hist = _load(results, ScalarFlowRun)
    matrix_metrics, matrix_hist = _load(results, MatrixFlowRun)
    _, descent_hist = _load(results, DescentRun)
    _conservation(scalar_hist, matrix_hist, descent_hist, out)
    _residual_closed_form(scalar_metrics, scalar_hist, out)
    _rates(scalar_metrics, matrix_metrics, out)
    _riccati(matrix_hist, out)
    _hyperbolas(scalar_metrics, scalar_hist, out)
    _descent(descent_hist, out)
    _matrix_modes(matrix_metrics, matrix_hist, out)
