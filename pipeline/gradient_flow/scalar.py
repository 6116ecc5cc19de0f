"""Scalar gradient flow u̇ = (y − uv)v, v̇ = (y − uv)u: ODE, closed forms and rate fitting.

All equations are derived (docs/gradient_flow.md §2.3; the § numbers below are that file's):
λ = u² − v² is conserved, w = uv obeys ẇ = (y − w)·sqrt(λ² + 4w²), the implicit closed form is
t = G(w(t)) − G(w(0)) with G(w) = (1/a)·ln[(a·sqrt(λ² + 4w²) + λ² + 4yw)/(y − w)], a = sqrt(λ² + 4y²),
and the residual decays as |y − w| ~ C·e^{−a t}. Everything is float64 numpy/scipy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

from pipeline.core.study import RunOutput
from pipeline.gradient_flow.history import floats, frame, history, nanmax, nanmin
from pipeline.gradient_flow.runs import ScalarFlowRun

_BISECTION_STEPS = 80
_NEWTON_STEPS = 3


def predicted_rate(lam: float | np.ndarray, sigma: float | np.ndarray) -> np.ndarray:
    """Linearised rate sqrt(λ² + 4σ²) (derived, §2.3 and §2.4 per mode)."""
    return np.sqrt(np.square(lam) + 4.0 * np.square(sigma))


def init_fixed_product(lam: float, w0: float) -> tuple[float, float]:
    """(u0, v0) > 0 with u0² − v0² = λ and u0·v0 = w0 (derived, §2.3).

    u0² = (λ + s)/2 and v0² = (s − λ)/2 with s = sqrt(λ² + 4w0²); the larger of the two is computed
    from the sum formula and the other from w0²/(·), which avoids cancellation for either sign of λ
    (the trap for negative λ, §3).
    """
    if w0 <= 0.0:
        raise ValueError(f"w0 must be positive (the saddle w = 0 never moves), got {w0}")
    s = np.hypot(lam, 2.0 * w0)
    if lam >= 0.0:
        u_sq = 0.5 * (lam + s)
        v_sq = w0 * w0 / u_sq
    else:
        v_sq = 0.5 * (s - lam)
        u_sq = w0 * w0 / v_sq
    return float(np.sqrt(u_sq)), float(np.sqrt(v_sq))


def flow_rhs(_t: float, state: np.ndarray, y: float) -> np.ndarray:
    """u̇ = (y − uv)v, v̇ = (y − uv)u: gradient flow of ½(y − uv)² (derived, §2.1)."""
    u, v = state
    r = y - u * v
    return np.array([r * v, r * u])


@dataclass(frozen=True)
class ScalarFlow:
    """A solved scalar flow on a time grid, with the first time |y − w| drops below ``tolerance``."""

    t: np.ndarray
    u: np.ndarray
    v: np.ndarray
    y: float
    tolerance: float
    time_to_tolerance: float

    @property
    def w(self) -> np.ndarray:
        return self.u * self.v

    @property
    def residual(self) -> np.ndarray:
        return self.y - self.u * self.v

    def conservation_error(self) -> np.ndarray:
        """|λ(t) − λ(0)| / (1 + |λ(0)|), λ = u² − v² (conserved, derived, §2.3)."""
        lam = self.u**2 - self.v**2
        return np.abs(lam - lam[0]) / (1.0 + abs(lam[0]))


def integrate(
    u0: float, v0: float, y: float, t_eval: np.ndarray, *, rtol: float, atol: float, tolerance: float
) -> ScalarFlow:
    """Integrate the scalar flow with DOP853; the tolerance crossing is located by an event."""

    def reached(_t: float, state: np.ndarray, y: float) -> float:
        return abs(y - state[0] * state[1]) - tolerance

    reached.direction = -1.0
    sol = solve_ivp(
        flow_rhs,
        (float(t_eval[0]), float(t_eval[-1])),
        np.array([u0, v0]),
        method="DOP853",
        t_eval=t_eval,
        rtol=rtol,
        atol=atol,
        args=(y,),
        events=reached,
    )
    if not sol.success:
        raise RuntimeError(f"scalar flow failed: {sol.message}")
    hits = sol.t_events[0]
    return ScalarFlow(
        t=sol.t,
        u=sol.y[0],
        v=sol.y[1],
        y=y,
        tolerance=tolerance,
        time_to_tolerance=float(hits[0]) if hits.size else float("nan"),
    )


def integrate_linear(
    w0: float, y: float, t_eval: np.ndarray, *, rtol: float, atol: float
) -> tuple[np.ndarray, np.ndarray]:
    """The non-overparameterised flow ẇ = y − w (rate 1, derived, §2.1): (t, y − w)."""
    sol = solve_ivp(
        lambda _t, w: y - w,
        (float(t_eval[0]), float(t_eval[-1])),
        np.array([w0]),
        method="DOP853",
        t_eval=t_eval,
        rtol=rtol,
        atol=atol,
    )
    return sol.t, y - sol.y[0]


def _numerator(w: np.ndarray, lam: float, y: float, a: float) -> np.ndarray:
    return a * np.sqrt(lam * lam + 4.0 * w * w) + lam * lam + 4.0 * y * w


def potential(w: np.ndarray | float, lam: float, y: float) -> np.ndarray:
    """G(w) = (1/a)·ln[(a·sqrt(λ² + 4w²) + λ² + 4yw)/|y − w|] (derived, §2.3)."""
    a = float(predicted_rate(lam, y))
    w = np.asarray(w, dtype=float)
    return (np.log(_numerator(w, lam, y, a)) - np.log(np.abs(y - w))) / a


def _check_start(w0: float, y: float) -> None:
    if not 0.0 < w0 < y:
        raise ValueError(f"closed forms here need 0 < w0 < y, got w0={w0}, y={y}")


def closed_form_residual(t: np.ndarray, w0: float, lam: float, y: float) -> np.ndarray:
    """y − w(t) from the implicit closed form t = G(w(t)) − G(w0) (derived, §2.3).

    Solved for s = ln(y − w), so the residual keeps full relative precision even where w rounds to y:
    h(s) = ln num(y − e^s) − s − a·(G(w0) + t) is decreasing in s; vectorised bisection on a bracket
    followed by a few Newton steps.
    """
    _check_start(w0, y)
    a = float(predicted_rate(lam, y))
    target = a * (float(potential(w0, lam, y)) + np.asarray(t, dtype=float))
    s_hi = np.full_like(target, np.log(y - w0))
    s_lo = np.minimum(np.log(_numerator(np.array(y), lam, y, a)) - target - 1.0, s_hi - 1.0)

    def h(s: np.ndarray) -> np.ndarray:
        return np.log(_numerator(y - np.exp(s), lam, y, a)) - s - target

    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (s_lo + s_hi)
        positive = h(mid) > 0.0
        s_lo = np.where(positive, mid, s_lo)
        s_hi = np.where(positive, s_hi, mid)
    s = 0.5 * (s_lo + s_hi)
    for _ in range(_NEWTON_STEPS):
        w = y - np.exp(s)
        d_num = 4.0 * a * w / np.sqrt(lam * lam + 4.0 * w * w) + 4.0 * y
        slope = -np.exp(s) * d_num / _numerator(w, lam, y, a) - 1.0
        s = s - h(s) / slope
    return np.exp(s)


def logistic_residual(t: np.ndarray, w0: float, y: float) -> np.ndarray:
    """Balanced case λ = 0: y − w(t) for w(t) = y·w0·e^{2yt}/(y + w0(e^{2yt} − 1)).

    Written as y(y − w0)/(y + w0·expm1(2yt)) to keep relative precision (derived, §2.3).
    """
    _check_start(w0, y)
    t = np.asarray(t, dtype=float)
    return y * (y - w0) / (y + w0 * np.expm1(2.0 * y * t))


def closed_form_time_to_tolerance(w0: float, lam: float, y: float, tolerance: float) -> float:
    """First t with y − w(t) = tolerance: G(y − tolerance) − G(w0) (derived, §2.3)."""
    _check_start(w0, y)
    if y - w0 <= tolerance:
        return 0.0
    return float(potential(y - tolerance, lam, y) - potential(w0, lam, y))


def tail_window(t: np.ndarray, err: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Indices of the final descent through ``window`` = (lo, hi) of |err| (§3 trap).

    Only points after the last time |err| ≥ hi and before |err| first falls to ≤ lo are kept, so neither
    the transient nor the integrator's noise floor enters the fit.
    """
    lo, hi = window
    mag = np.abs(err)
    above = np.flatnonzero(mag >= hi)
    start = above[-1] + 1 if above.size else 0
    below = np.flatnonzero(mag[start:] <= lo)
    stop = start + below[0] if below.size else mag.size
    idx = np.arange(start, stop)
    return idx[(mag[idx] > lo) & (mag[idx] < hi)]


def fit_rate(t: np.ndarray, err: np.ndarray, window: tuple[float, float], min_points: int = 4) -> float:
    """Decay rate −slope of a least-squares line through log|err| against t inside ``window``.

    NaN when fewer than ``min_points`` points fall in the window (the grid is too coarse or too short).
    """
    idx = tail_window(t, err, window)
    if idx.size < min_points:
        return float("nan")
    slope = np.polyfit(t[idx], np.log(np.abs(err[idx])), 1)[0]
    return float(-slope)


# ------------------------------------------------------------------------------------ the scalar run


def _lambda_case(spec: ScalarFlowRun, lam: float, t: np.ndarray) -> tuple[dict[str, Any], list[pd.DataFrame]]:
    """One imbalance λ at the fixed initial product w0: ODE, closed forms, rate, time to tolerance."""
    y, w0 = spec.y, spec.w0
    u0, v0 = init_fixed_product(lam, w0)
    flow = integrate(u0, v0, y, t, rtol=spec.rtol, atol=spec.atol, tolerance=spec.tolerance)
    closed = closed_form_residual(flow.t, w0, lam, y)
    closed_err = np.abs((y - closed) - flow.w) / np.abs(flow.w)
    window = spec.fit_window
    record = {
        "lam": lam,
        "u0": u0,
        "v0": v0,
        "conservation_rel_err": float(flow.conservation_error().max()),
        "closed_form_rel_err": float(closed_err.max()),
        "rate_fitted": fit_rate(flow.t, flow.residual, window),
        "rate_predicted": float(predicted_rate(lam, y)),
        "fit_points": int(tail_window(flow.t, flow.residual, window).size),
        "time_to_tolerance": flow.time_to_tolerance,
        "time_to_tolerance_closed": closed_form_time_to_tolerance(w0, lam, y, spec.tolerance),
        "logistic_rel_err": None,
    }
    frames = [
        frame("u", flow.t, flow.u, lam=lam),
        frame("v", flow.t, flow.v, lam=lam),
        frame("residual", flow.t, np.abs(flow.residual), lam=lam),
        frame("residual_closed", flow.t, closed, lam=lam),
        frame("closed_form_err", flow.t, closed_err, lam=lam),
        frame("conservation_err", flow.t, flow.conservation_error(), lam=lam),
    ]
    if lam == 0.0:
        logistic = logistic_residual(flow.t, w0, y)
        record["logistic_rel_err"] = float((np.abs((y - logistic) - flow.w) / np.abs(flow.w)).max())
        frames.append(frame("residual_logistic", flow.t, logistic, lam=lam))
    return record, frames


def acceleration_violations(lams: list[float], times: list[float], tie: float = 1e-12) -> int:
    """Pairs with |λ_i| < |λ_j| whose time to tolerance is not strictly smaller for λ_j (§2.3)."""
    count = 0
    for lam_i, t_i in zip(lams, times, strict=True):
        for lam_j, t_j in zip(lams, times, strict=True):
            if abs(lam_i) + tie < abs(lam_j) and not t_j < t_i:
                count += 1
    return count


def run(spec: ScalarFlowRun) -> RunOutput:
    """The ``scalar`` run: every λ of the spec, the linear model Ẇ = y − W, and the claims summary."""
    t = np.linspace(0.0, spec.t_max, spec.n_points)
    records, frames = [], []
    for lam in spec.lambdas:
        record, lam_frames = _lambda_case(spec, float(lam), t)
        records.append(record)
        frames += lam_frames
    lin_t, lin_res = integrate_linear(spec.w0, spec.y, t, rtol=spec.rtol, atol=spec.atol)
    frames.append(frame("linear_residual", lin_t, np.abs(lin_res)))
    linear_rate = fit_rate(lin_t, lin_res, spec.fit_window)
    metrics = _summary(spec, records, linear_rate)
    return RunOutput(metrics=metrics, history=history(frames))


def _vs_balanced(lams: list[float], fitted: list[float], balanced: float) -> float:
    """min over λ ≠ 0 of |fitted − 2y| / 2y: the rate test applied to "no acceleration" (the balanced rate).

    Above the rate tolerance, the same test that accepts sqrt(λ² + 4y²) rejects 2y at every λ of the grid;
    NaN (a missing fit) gives −inf; no λ ≠ 0 gives NaN.
    """
    gaps = [abs(f - balanced) / balanced for lam, f in zip(lams, fitted, strict=True) if lam != 0.0]
    return nanmin(gaps)


def _summary(spec: ScalarFlowRun, records: list[dict[str, Any]], linear_rate: float) -> dict[str, Any]:
    def column(key: str) -> list[Any]:
        return [r[key] for r in records]

    fitted, predicted = np.array(column("rate_fitted")), np.array(column("rate_predicted"))
    rate_err = np.abs(fitted - predicted) / predicted
    closed = column("closed_form_rel_err") + [e for e in column("logistic_rel_err") if e is not None]
    ttt, ttt_closed = np.array(column("time_to_tolerance")), np.array(column("time_to_tolerance_closed"))
    lams = [float(x) for x in spec.lambdas]
    curve = np.linspace(min(lams) - 0.5, max(lams) + 0.5, 101)
    return {
        "y": spec.y,
        "w0": spec.w0,
        "tolerance": spec.tolerance,
        "fit_window": [float(x) for x in spec.fit_window],
        "lambdas": lams,
        "records": records,
        "rate_rel_err": floats(rate_err),
        "conservation_rel_err_max": nanmax(column("conservation_rel_err")),
        "closed_form_rel_err_max": nanmax(closed),
        "rate_rel_err_max": nanmax(list(rate_err)),
        "time_to_tolerance_closed_rel_err_max": nanmax(list(np.abs(ttt - ttt_closed) / ttt_closed)),
        "acceleration_violations": acceleration_violations(lams, list(ttt)),
        "acceleration_strict": acceleration_violations(lams, list(ttt)) == 0,
        "linear_rate_fitted": linear_rate,
        "min_rate_fitted": float(np.min(fitted)),
        "rate_over_linear_min": float(np.min(fitted) / linear_rate),
        "balanced_rate": float(predicted_rate(0.0, spec.y)),
        "rate_vs_balanced_min": _vs_balanced(lams, list(fitted), float(predicted_rate(0.0, spec.y))),
        "rate_curve": {"lam": floats(curve), "rate": floats(predicted_rate(curve, spec.y))},
    }
