"""Figures of the gradient_flow study, drawn only from its stored runs (pipeline.results.Results).

Nothing here integrates a flow: the numerics, the closed forms and the fitted rates all come from the
runs (pipeline/gradient_flow/scalar.py, matrix.py, descent.py); the plot only reads them.

One convention for the imbalance λ in every figure (:class:`LambdaStyle`): one colour per |λ|, ordered
from dark (balanced, λ = 0) to light (largest |λ|), solid for λ ≥ 0 and dashed for λ < 0, so λ and −λ,
whose residuals coincide, share a colour. Dotted horizontal lines are the claims' thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from analysis import style
from pipeline.core.study import RunSpec
from pipeline.gradient_flow.claims import (
    CLOSED_FORM_MAX,
    CONSERVATION_MAX,
    RATE_REL_ERR_MAX,
    RECURSION_DEV_MAX,
)
from pipeline.gradient_flow.runs import DescentRun, GeneralImbalanceRun, MatrixFlowRun, ScalarFlowRun
from pipeline.results import Results

FLOOR = 1e-17  # exact zeros (e.g. the error at t = 0) are drawn at this floor on log axes
LEGEND = {"fontsize": 8, "framealpha": 0.9}

CAPTIONS: dict[str, str] = {
    "hyperbolas": (
        "Scalar model: trajectories (u(t), v(t)) of the gradient flow from the same initial product "
        "u0·v0 = w0, one per imbalance λ = u0² − v0² (dots: starts). Each stays on its hyperbola "
        "u² − v² = λ and ends on the curve of global minima uv = y (grey dashed). Look for: the "
        "conservation law as geometry; λ and −λ are mirror images across u = v."
    ),
    "conservation": (
        "Imbalance drift |Q(t) − Q(0)| / (1 + |Q(0)|) against time. Top: scalar model (Q = u² − v²); "
        "bottom: matrix model (Q = UᵀU − VᵀV), λ-balanced starts with the first spectrum of Y (colours) "
        "and every general-imbalance start (thin grey). Left: gradient flow "
        "(DOP853); right: gradient descent with a finite step η, drawn at t = kη. The dotted line is the "
        "conservation claim's threshold (1e-8), which applies to the flow only. Look for: the flow at "
        "rounding level, descent drifting by its η² term until the residual vanishes. Exact zeros (the "
        "scalar λ = 0, which stays balanced) are drawn at 1e-17."
    ),
    "residual_closed_form": (
        "Scalar model, all λ from the same initial product w0. Left: residual |y − w(t)| of the integrated "
        "flow (lines), the implicit closed form t = G(w) − G(w0) (circles), the logistic solution at λ = 0 "
        "(crosses), the non-overparameterised Ẇ = Y − W (grey dashed) and the tolerance that defines the "
        "time to tolerance (black dotted). Right: relative error of the closed form in w, with the claim's "
        "threshold (1e-6, dotted). Look for: markers on the lines, curves that cross the tolerance earlier "
        "for larger |λ| (λ and −λ coincide), and the plateau of the balanced case."
    ),
    "riccati_error": (
        "λ-balanced matrix flow (UᵀU − VᵀV = λI): relative Frobenius error between P = ZZᵀ of the "
        "integrated flow and the Riccati closed form e^{Ft}Z0 N(t)⁻¹ Z0ᵀe^{Ft}, one panel per spectrum σ "
        "of Y (the last one rank-deficient, so F is singular at λ = 0), one line per λ; dotted: the claim's "
        "threshold (1e-6). Look for: every curve below the threshold over the whole horizon."
    ),
    "rates": (
        "Fitted convergence rates (least-squares slope of the log residual inside the fit window) against "
        "the derived predictions. Left: scalar model, fitted rate against λ (circles), sqrt(λ² + 4y²) "
        "(line), the balanced rate 2y (dash-dot) and the fitted rate of Ẇ = Y − W (dotted). Middle: "
        "matrix model, fitted rate of each mode of Y against sqrt(λ² + 4σ_i²) (diagonal), colour per λ "
        "(hollow for λ < 0), marker per spectrum; λ = 0 is drawn in black and is not part of the claim "
        "(its small modes are still on their plateau when the large ones reach the noise floor). Right: "
        "the rate test itself, |fitted / reference − 1| against λ with the derived rate as reference "
        "(filled) and with the balanced rate 2y or 2σ_i, i.e. no acceleration, as reference (hollow); "
        "circles scalar, squares matrix modes, λ ≠ 0 only; dotted: the tolerance 1e-3. Look for: every "
        "filled marker below the tolerance and every hollow one above it, so the test accepts the derived "
        "rate and rejects no acceleration at every λ of the grid."
    ),
    "matrix_modes": (
        "λ-balanced matrix flow, first spectrum of Y: residual projected on each singular pair, "
        "|p_iᵀ(Y − UVᵀ)q_i|, against time, one panel per λ. Look for: straight tails whose slopes are "
        "the per-mode rates sqrt(λ² + 4σ_i²) (steeper for larger σ_i and larger |λ|), the plateaus of the "
        "small modes at λ = 0, and the integrator's noise floor at the bottom."
    ),
    "general_residuals": (
        "Square matrix flow from general imbalances UᵀU − VᵀV = Q (random eigenvectors; one panel per "
        "eigenvalue list of Q, one line per random start): residual ‖R(t)‖_F / ‖R(0)‖_F against time. "
        "Grey dashed: the balanced starts (Q = 0) of the same draws. Black dotted, definite Q only: the "
        "derived bound e^{−q* t}, q* = min|q_i|, which every start must stay below from t = 0 on. Look for: "
        "definite-Q curves under the bound with no plateau, the balanced curves crossing it (their "
        "plateau), and the indefinite panel, which has no bound and can be slower than the balanced start."
    ),
    "general_rates": (
        "General imbalances. Left: fitted rate of the slowest residual mode against the rate of the "
        "linearised flow at the limit, λ_min(U∞U∞ᵀ) + λ_min(V∞V∞ᵀ) (diagonal); colour per eigenvalue list "
        "of Q, grey for the balanced starts. Right: fitted rates per start (one column per eigenvalue list "
        "of Q, starts side by side) with the derived bounds from the eigenvalues of Q: the upper bound "
        "sqrt(‖Q‖₂² + 4σ_min²) (bar top) and, for a definite Q, the lower bound q* = min|q_i| (bar "
        "bottom; an indefinite Q has none, its bar starts at 0); dash-dot: the balanced rate 2σ_min. Look "
        "for: points on the diagonal, points inside their bars, definite-Q points above 2σ_min, and the "
        "spread within a column (the rate is not a function of the eigenvalues of Q and σ alone)."
    ),
    "descent_imbalance": (
        "Gradient descent with a finite step η. Left: scalar imbalance λ_k / λ_0 (lines) and the exact "
        "recursion's product Π(1 − η²r_j²) (circles), for λ_0 ≠ 0. Middle (scalar) and right (matrix, "
        "first spectrum): the largest deviation so far from the exact per-step recursion, relative to "
        "1 + |Q_k|, with the claim's threshold (1e-12, dotted). Look for: circles on the lines and "
        "deviations at float64 rounding level."
    ),
}


def _number(x: float) -> str:
    """A λ or σ as text, with a true minus sign."""
    return f"{x:g}".replace("-", "−")


class LambdaStyle:
    """Colour, line style and label of an imbalance λ, the same in every figure of the study."""

    def __init__(self, lambdas: Iterable[float]) -> None:
        self.levels = sorted({abs(float(x)) for x in lambdas})
        self._cmap = plt.get_cmap("plasma")

    def color(self, lam: float) -> tuple[float, ...]:
        rank = self.levels.index(abs(float(lam)))
        return self._cmap(0.88 * rank / max(1, len(self.levels) - 1))

    @staticmethod
    def linestyle(lam: float) -> str:
        return "--" if lam < 0 else "-"

    @staticmethod
    def label(lam: float, name: str = "λ") -> str:
        return f"{name} = {_number(lam)}"

    def line(self, ax: plt.Axes, x: Any, y: Any, lam: float, name: str = "λ", **kwargs: Any) -> None:
        ax.plot(x, y, self.linestyle(lam), color=self.color(lam), label=self.label(lam, name), **kwargs)


def _spectrum_label(sigma: Iterable[float]) -> str:
    return "σ = (" + ", ".join(_number(s) for s in sigma) + ")"


def _load(results: Results, kind: type[RunSpec]) -> tuple[dict[str, Any], pd.DataFrame]:
    spec = results.one(kind)
    return results.metrics(spec), results.history(spec)


def _threshold(ax: plt.Axes, value: float, label: str | None = "claim threshold") -> None:
    ax.axhline(value, color="black", lw=0.9, ls=":", label=label)


def _curves(part: pd.DataFrame, kind: str) -> Iterable[tuple[float, pd.DataFrame]]:
    """(λ, rows) of one curve kind, λ in increasing order."""
    rows = part[part.kind == kind]
    for lam in sorted(rows.lam.unique()):
        yield float(lam), rows[rows.lam == lam]


def _hyperbolas(
    scalar_metrics: dict[str, Any], hist: pd.DataFrame, lam_style: LambdaStyle, out: Path
) -> None:
    fig, ax = plt.subplots(figsize=(5.6, 5.4))
    top = 0.0
    for lam in scalar_metrics["lambdas"]:
        u = hist[(hist.kind == "u") & (hist.lam == lam)].value.to_numpy()
        v = hist[(hist.kind == "v") & (hist.lam == lam)].value.to_numpy()
        lam_style.line(ax, u, v, lam)
        ax.plot(u[0], v[0], "o", color=lam_style.color(lam), ms=5, clip_on=False, zorder=3)
        top = max(top, u.max(), v.max())
    y = scalar_metrics["y"]
    grid = np.linspace(y / (1.1 * top), 1.1 * top, 200)
    ax.plot(grid, y / grid, color="grey", lw=1, ls="--", label=f"minima uv = y = {_number(y)}")
    ax.set(
        xlim=(0, 1.1 * top),
        ylim=(0, 1.1 * top),
        xlabel="u",
        ylabel="v",
        aspect="equal",
        title="Scalar flow: trajectories on u² − v² = λ",
    )
    ax.legend(loc="upper right", **LEGEND)
    style.save(fig, out, "hyperbolas")


def _drift_panel(ax: plt.Axes, rows: pd.DataFrame, kind: str, lam_style: LambdaStyle, name: str) -> None:
    for lam, curve in _curves(rows, kind):
        lam_style.line(ax, curve.t, curve.value.clip(lower=FLOOR), lam, name=name)


def _conservation(
    scalar_hist: pd.DataFrame,
    matrix_hist: pd.DataFrame,
    general_hist: pd.DataFrame,
    descent_metrics: dict[str, Any],
    descent_hist: pd.DataFrame,
    lam_style: LambdaStyle,
    out: Path,
) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    eta = _number(descent_metrics["eta"])
    scalar_gd, matrix_gd = (f"{model} model, gradient descent (η = {eta})" for model in ("Scalar", "Matrix"))
    matrix_flow = matrix_hist[matrix_hist.spectrum == 0]
    panels = [
        (axes[0, 0], scalar_hist, "conservation_err", "λ", "Scalar model, gradient flow", True),
        (axes[0, 1], descent_hist, "conservation_err", "λ₀", scalar_gd, False),
        (
            axes[1, 0],
            matrix_flow,
            "conservation_err",
            "λ",
            "Matrix model, gradient flow (λI and general Q)",
            True,
        ),
        (axes[1, 1], descent_hist, "matrix_conservation_err", "λ₀", matrix_gd, False),
    ]
    general = general_hist[general_hist.kind == "general_conservation_err"]
    for number, (_, curve) in enumerate(general.groupby(["imbalance", "draw"], dropna=False)):
        axes[1, 0].plot(curve.t, curve.value.clip(lower=FLOOR), color="grey", lw=0.6, alpha=0.6,
                        label="general Q (all starts)" if number == 0 else None)  # fmt: skip
    for ax, rows, kind, name, title, flow in panels:
        _drift_panel(ax, rows, kind, lam_style, name)
        if flow:
            _threshold(ax, CONSERVATION_MAX)
        ax.set(
            yscale="log",
            ylim=(FLOOR / 3, 1.0),
            xlabel="time t" if flow else "time t = kη",
            ylabel="|Q(t) − Q(0)| / (1 + |Q(0)|)" if flow else "|Q_k − Q_0| / (1 + |Q_0|)",
            title=title,
        )
        ax.legend(loc="center right", ncols=2, **LEGEND)
    style.save(fig, out, "conservation")


def _residual_closed_form(
    scalar_metrics: dict[str, Any], hist: pd.DataFrame, lam_style: LambdaStyle, out: Path
) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for lam, part in ((float(x), hist[hist.lam == x]) for x in scalar_metrics["lambdas"]):
        color = lam_style.color(lam)
        ode = part[part.kind == "residual"]
        stride = max(1, len(ode) // 30)
        lam_style.line(axes[0], ode.t, ode.value.clip(lower=FLOOR), lam)
        closed = part[part.kind == "residual_closed"].iloc[::stride]
        axes[0].plot(closed.t, closed.value, "o", mfc="none", ms=4, color=color)
        logistic = part[part.kind == "residual_logistic"].iloc[stride // 2 :: stride]
        if len(logistic):
            axes[0].plot(logistic.t, logistic.value, "x", ms=4, color=color)
        err = part[part.kind == "closed_form_err"]
        lam_style.line(axes[1], err.t, err.value.clip(lower=FLOOR), lam)
    linear = hist[hist.kind == "linear_residual"]
    axes[0].plot(linear.t, linear.value, "--", color="grey", label="Ẇ = Y − W (not overparameterised)")
    axes[0].axhline(scalar_metrics["tolerance"], color="black", lw=0.8, ls=":", label="tolerance")
    axes[0].plot([], [], "o", mfc="none", color="black", ms=4, label="implicit closed form")
    axes[0].plot([], [], "x", color="black", ms=4, label="logistic (λ = 0)")
    axes[0].set(
        yscale="log",
        ylim=(1e-16, 2),
        xlabel="time t",
        ylabel="residual |y − w(t)|",
        title="Residual: integrated flow and closed forms",
    )
    _threshold(axes[1], CLOSED_FORM_MAX)
    axes[1].set(
        yscale="log",
        ylim=(FLOOR / 3, 1e-4),
        xlabel="time t",
        ylabel="|w_closed − w_flow| / |w_flow|",
        title="Relative error of the closed form",
    )
    axes[0].legend(loc="lower left", ncols=2, **LEGEND)
    axes[1].legend(loc="upper right", ncols=2, **LEGEND)
    style.save(fig, out, "residual_closed_form")


def _mode_rates(matrix_metrics: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for record in matrix_metrics["records"]:
        pairs = zip(record["rates_fitted"], record["rates_predicted"], strict=True)
        for mode, (fit, pred) in enumerate(pairs):
            if fit is not None and pred > 0:
                rows.append({"lam": record["lam"], "spectrum": record["spectrum"], "mode": mode,
                             "predicted": pred, "fitted": fit})  # fmt: skip
    return pd.DataFrame(rows)


def _rates(
    scalar_metrics: dict[str, Any], matrix_metrics: dict[str, Any], lam_style: LambdaStyle, out: Path
) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    records = pd.DataFrame(scalar_metrics["records"])
    curve = scalar_metrics["rate_curve"]
    y = _number(scalar_metrics["y"])
    rate = np.asarray(curve["rate"], dtype=float)
    axes[0].plot(curve["lam"], rate, color="black", lw=1, label=f"derived sqrt(λ² + 4y²), y = {y}")
    axes[0].axhline(2 * scalar_metrics["y"], color="grey", lw=0.8, ls="-.", label="balanced rate 2y")
    for lam, rate in zip(records.lam, records.rate_fitted, strict=True):
        axes[0].plot(lam, rate, "o", ms=7, color=lam_style.color(lam), mec="black", mew=0.5, zorder=3)
    axes[0].plot([], [], "o", ms=7, color="white", mec="black", mew=0.5, label="fitted (colour: λ)")
    axes[0].axhline(scalar_metrics["linear_rate_fitted"], color="grey", ls=":", label="Ẇ = Y − W, fitted")
    axes[0].set(xlabel="imbalance λ", ylabel="convergence rate", title="Scalar model")
    axes[0].legend(loc="upper center", **LEGEND)

    modes = _mode_rates(matrix_metrics)
    markers = ["o", "s", "^", "D", "v", "P", "X"]
    spectra = matrix_metrics["spectra"]
    if len(modes):
        limits = [0.0, 1.05 * max(modes.predicted.max(), modes.fitted.max())]
        axes[1].plot(limits, limits, color="black", lw=1, label="fitted = predicted")
        for (lam, index), group in modes.groupby(["lam", "spectrum"]):
            color = "black" if lam == 0.0 else lam_style.color(lam)
            hollow = lam <= 0.0
            axes[1].scatter(group.predicted, group.fitted, s=45, marker=markers[int(index) % len(markers)],
                            facecolors="none" if hollow else color, edgecolors=color, linewidths=1.2,
                            zorder=3)  # fmt: skip
        handles = [
            Line2D([], [], ls="none", marker="o", ms=7, mfc="none" if lam <= 0 else lam_style.color(lam),
                   mec="black" if lam == 0 else lam_style.color(lam),
                   label=lam_style.label(lam) + (" (not in the claim)" if lam == 0 else ""))
            for lam in sorted(modes.lam.unique())
        ]  # fmt: skip
        handles += [
            Line2D([], [], ls="none", marker=markers[i % len(markers)], ms=7, mfc="none", mec="grey",
                   label=_spectrum_label(spectra[i]))
            for i in sorted(modes.spectrum.unique())
        ]  # fmt: skip
        first = axes[1].legend(handles=handles, loc="upper left", **LEGEND)
        axes[1].add_artist(first)
    axes[1].set(
        xlabel="predicted rate sqrt(λ² + 4σ_i²)",
        ylabel="fitted rate",
        title="Matrix model, per mode of Y",
    )
    _rate_test(axes[2], records, scalar_metrics["y"], modes, matrix_metrics, lam_style)
    style.save(fig, out, "rates")


def _rate_test(
    ax: plt.Axes,
    records: pd.DataFrame,
    y: float,
    modes: pd.DataFrame,
    matrix_metrics: dict[str, Any],
    lam_style: LambdaStyle,
) -> None:
    """|fitted / reference − 1| with the derived rate (filled) and the balanced rate (hollow) as reference."""
    scalar = records[records.lam != 0.0]
    sigma = {(r["spectrum"], r["lam"]): r["sigma"] for r in matrix_metrics["records"]}
    matrix_rows = modes[modes.lam != 0.0] if len(modes) else modes
    for lam, fitted, predicted in zip(scalar.lam, scalar.rate_fitted, scalar.rate_predicted, strict=True):
        color = lam_style.color(lam)
        ax.plot(lam, max(abs(fitted / predicted - 1), FLOOR), "o", color=color, mec="black", mew=0.5, ms=7)
        ax.plot(lam, abs(fitted / (2 * y) - 1), "o", mfc="none", color=color, mew=1.2, ms=7)
    for row in matrix_rows.itertuples():
        color = lam_style.color(row.lam)
        balanced = 2 * sigma[(row.spectrum, row.lam)][row.mode]
        ax.plot(row.lam, max(abs(row.fitted / row.predicted - 1), FLOOR), "s", color=color, ms=5, alpha=0.8)
        if balanced > 0:
            ax.plot(row.lam, abs(row.fitted / balanced - 1), "s", mfc="none", color=color, ms=5, mew=1.0)
    _threshold(ax, RATE_REL_ERR_MAX, label=f"rate tolerance ({RATE_REL_ERR_MAX:g})")
    handles = [
        Line2D(
            [], [], ls="none", marker="o", ms=7, color="grey", mec="black", label="scalar vs sqrt(λ² + 4y²)"
        ),
        Line2D(
            [], [], ls="none", marker="o", ms=7, mfc="none", color="grey", label="scalar vs 2y (balanced)"
        ),
        Line2D([], [], ls="none", marker="s", ms=5, color="grey", label="matrix modes vs sqrt(λ² + 4σ_i²)"),
        Line2D([], [], ls="none", marker="s", ms=5, mfc="none", color="grey", label="matrix modes vs 2σ_i"),
        Line2D([], [], color="black", lw=0.9, ls=":", label=f"rate tolerance ({RATE_REL_ERR_MAX:g})"),
    ]
    ax.legend(handles=handles, loc="lower right", **LEGEND)
    ax.set(
        yscale="log",
        ylim=(1e-9, 2.0),
        xlabel="imbalance λ",
        ylabel="|fitted rate / reference rate − 1|",
        title="The rate test: derived rate accepted, no acceleration rejected",
    )


def _riccati(matrix_metrics: dict[str, Any], hist: pd.DataFrame, lam_style: LambdaStyle, out: Path) -> None:
    spectra = matrix_metrics["spectra"]
    fig, axes = plt.subplots(1, len(spectra), figsize=(4.2 * len(spectra), 4), squeeze=False)
    data = hist[hist.kind == "riccati_err"]
    for index, ax in enumerate(axes[0]):
        for lam, curve in _curves(data[data.spectrum == index], "riccati_err"):
            lam_style.line(ax, curve.t, curve.value.clip(lower=FLOOR), lam)
        _threshold(ax, CLOSED_FORM_MAX)
        ax.set(
            yscale="log",
            ylim=(FLOOR, 1e-4),
            xlabel="time t",
            ylabel="‖P_closed − ZZᵀ‖_F / ‖ZZᵀ‖_F",
            title=_spectrum_label(spectra[index]),
        )
        ax.legend(loc="upper right", ncols=2, **LEGEND)
    style.save(fig, out, "riccati_error")


def _matrix_modes(matrix_metrics: dict[str, Any], hist: pd.DataFrame, out: Path) -> None:
    lams = [float(x) for x in matrix_metrics["lambdas"]]
    fig, axes = plt.subplots(1, len(lams), figsize=(3.6 * len(lams), 3.8), squeeze=False)
    sigma = matrix_metrics["spectra"][0]
    colors = sns.color_palette("colorblind", len(sigma))
    for ax, lam in zip(axes[0], lams, strict=True):
        part = hist[(hist.kind == "mode_residual") & (hist.spectrum == 0) & (hist.lam == lam)]
        for mode in sorted(part["mode"].unique()):
            curve = part[part["mode"] == mode]
            ax.plot(curve.t, curve.value.clip(lower=FLOOR), color=colors[int(mode)],
                    label=f"σ_{int(mode) + 1} = {_number(sigma[int(mode)])}")  # fmt: skip
        ax.set(
            yscale="log",
            ylim=(1e-16, 10),
            xlabel="time t",
            ylabel="|p_iᵀ(Y − UVᵀ)q_i|",
            title=f"{_spectrum_label(sigma)}, λ = {_number(lam)}",
        )
        ax.legend(loc="upper right", **LEGEND)
    style.save(fig, out, "matrix_modes")


class ImbalanceStyle:
    """Colour and label of each eigenvalue list of Q in the general-imbalance figures (balanced: grey)."""

    BALANCED = (0.45, 0.45, 0.45)

    def __init__(self, imbalances: list[list[float]]) -> None:
        self.imbalances = imbalances
        self._colors = sns.color_palette("colorblind", max(3, len(imbalances)))

    def color(self, index: int | None) -> tuple[float, ...]:
        return self.BALANCED if index is None else self._colors[index % len(self._colors)]

    def label(self, index: int | None) -> str:
        if index is None:
            return "balanced start, Q = 0"
        values = self.imbalances[index]
        kind = "definite" if all(q > 0 for q in values) or all(q < 0 for q in values) else "indefinite"
        return "eig Q = (" + ", ".join(_number(q) for q in values) + f"), {kind}"


def _index(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _general_residuals(metrics: dict[str, Any], hist: pd.DataFrame, out: Path) -> None:
    imbalances = metrics["imbalances"]
    q_style = ImbalanceStyle(imbalances)
    fig, axes = plt.subplots(1, len(imbalances), figsize=(4.4 * len(imbalances), 4.2), squeeze=False)
    balanced = hist[hist.kind == "balanced_residual"]
    general = hist[hist.kind == "general_residual"]
    records = {(_index(r["imbalance"]), r["draw"]): r for r in metrics["records"]}
    for index, ax in enumerate(axes[0]):
        t_end = 0.0
        for draw, curve in balanced.groupby("draw"):
            ax.plot(curve.t, curve.value / curve.value.iloc[0], "--", color=q_style.color(None), lw=1,
                    label=q_style.label(None) if draw == 0 else None)  # fmt: skip
            t_end = max(t_end, float(curve.t.max()))
        for draw, curve in general[general.imbalance == index].groupby("draw"):
            ax.plot(curve.t, curve.value / curve.value.iloc[0], color=q_style.color(index), lw=1.2,
                    label="starts with this Q" if draw == 0 else None)  # fmt: skip
            t_end = max(t_end, float(curve.t.max()))
        q_star = records[(index, 0)]["lower_bound"]
        if q_star is not None and np.isfinite(q_star):
            grid = np.linspace(0.0, t_end, 200)
            ax.plot(grid, np.exp(-q_star * grid), ":", color="black", lw=1.2,
                    label=f"bound e^(−q* t), q* = {_number(q_star)}")  # fmt: skip
        ax.set(
            yscale="log",
            ylim=(1e-13, 5.0),
            xlim=(0.0, 1.05 * t_end),
            xlabel="time t",
            ylabel="‖R(t)‖_F / ‖R(0)‖_F",
            title=q_style.label(index),
        )
        ax.legend(loc="upper right", **LEGEND)
    style.save(fig, out, "general_residuals")


def _general_rates(metrics: dict[str, Any], out: Path) -> None:
    imbalances = metrics["imbalances"]
    q_style = ImbalanceStyle(imbalances)
    records = pd.DataFrame(metrics["records"])
    records["index"] = [_index(x) for x in records["imbalance"]]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    top = float(np.nanmax([records.rate_fitted.max(), records.rate_linearised.max()]))
    axes[0].plot([0, 1.05 * top], [0, 1.05 * top], color="black", lw=1, label="fitted = linearised")
    for index in [None, *range(len(imbalances))]:
        part = records[records["index"].isna()] if index is None else records[records["index"] == index]
        axes[0].plot(part.rate_linearised, part.rate_fitted, "o", color=q_style.color(index), ms=6,
                     mec="black", mew=0.4, label=q_style.label(index))  # fmt: skip
    axes[0].set(
        xlabel="linearised rate λ_min(U∞U∞ᵀ) + λ_min(V∞V∞ᵀ)",
        ylabel="fitted rate (slowest mode)",
        title="Rate of the linearised flow at the limit",
    )
    axes[0].legend(loc="upper left", **LEGEND)
    draws = int(metrics["draws"])
    columns = [None, *range(len(imbalances))]
    for column, index in enumerate(columns):
        part = records[records["index"].isna()] if index is None else records[records["index"] == index]
        color = q_style.color(index)
        first = part.iloc[0]
        low = first.lower_bound if first.lower_bound is not None and np.isfinite(first.lower_bound) else 0.0
        axes[1].bar(column, first.upper_bound - low, bottom=low, width=0.7, color=color, alpha=0.18,
                    edgecolor=color, label=None)  # fmt: skip
        offsets = np.linspace(-0.25, 0.25, draws) if draws > 1 else np.zeros(1)
        axes[1].plot(column + offsets[: len(part)], part.rate_fitted, "o", color=color, mec="black", mew=0.4,
                     ms=6, label=q_style.label(index))  # fmt: skip
    axes[1].axhline(2 * min(metrics["sigma"]), color="grey", lw=0.9, ls="-.", label="balanced rate 2σ_min")
    axes[1].set_xticks(range(len(columns)), ["Q = 0", *[f"Q{i + 1}" for i in range(len(imbalances))]])
    axes[1].set(
        ylabel="fitted convergence rate",
        title="Rates within the bounds from the eigenvalues of Q",
        ylim=(0.0, None),
    )
    axes[1].legend(loc="upper left", **LEGEND)
    style.save(fig, out, "general_rates")


def _running_max(values: pd.Series) -> np.ndarray:
    return np.maximum.accumulate(values.clip(lower=FLOOR).to_numpy())


def _descent(hist: pd.DataFrame, lam_style: LambdaStyle, out: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    for lam, measured in _curves(hist, "imbalance"):
        if lam == 0.0:
            continue
        predicted = hist[(hist.kind == "imbalance_predicted") & (hist.lam == lam)]
        predicted = predicted.iloc[:: max(1, len(predicted) // 20)]
        start = measured.value.iloc[0]
        lam_style.line(axes[0], measured.step, measured.value / start, lam, name="λ₀")
        color = lam_style.color(lam)
        axes[0].plot(predicted.step, predicted.value / start, "o", mfc="none", color=color, ms=4)
    axes[0].plot([], [], "o", mfc="none", color="black", ms=4, label="λ₀·Π(1 − η²r_j²)")
    axes[0].set(xlabel="step k", ylabel="λ_k / λ_0", title="Scalar imbalance under gradient descent")
    axes[0].legend(loc="upper right", **LEGEND)
    for ax, kind, title in (
        (axes[1], "recursion_dev", "Scalar: deviation from the recursion"),
        (axes[2], "matrix_recursion_dev", "Matrix: deviation from the recursion"),
    ):
        for lam, curve in _curves(hist, kind):
            lam_style.line(ax, curve.step, _running_max(curve.value), lam, name="λ₀")
        _threshold(ax, RECURSION_DEV_MAX)
        ax.set(
            yscale="log",
            ylim=(FLOOR / 3, 1e-10),
            xlabel="step k",
            ylabel="largest deviation so far / (1 + |Q_k|)",
            title=title,
        )
        ax.legend(loc="center right", ncols=2, **LEGEND)
    style.save(fig, out, "descent_imbalance")


def plot(results: Results, out: Path) -> None:
    """Draw every figure in :data:`CAPTIONS` from the study's four runs into ``out``."""
    out = Path(out)
    scalar_metrics, scalar_hist = _load(results, ScalarFlowRun)
    matrix_metrics, matrix_hist = _load(results, MatrixFlowRun)
    general_metrics, general_hist = _load(results, GeneralImbalanceRun)
    descent_metrics, descent_hist = _load(results, DescentRun)
    lam_style = LambdaStyle(
        [*scalar_metrics["lambdas"], *matrix_metrics["lambdas"], *descent_metrics["lambdas"]]
    )
    _hyperbolas(scalar_metrics, scalar_hist, lam_style, out)
    _conservation(scalar_hist, matrix_hist, general_hist, descent_metrics, descent_hist, lam_style, out)
    _residual_closed_form(scalar_metrics, scalar_hist, lam_style, out)
    _riccati(matrix_metrics, matrix_hist, lam_style, out)
    _rates(scalar_metrics, matrix_metrics, lam_style, out)
    _matrix_modes(matrix_metrics, matrix_hist, out)
    _general_residuals(general_metrics, general_hist, out)
    _general_rates(general_metrics, out)
    _descent(descent_hist, lam_style, out)
