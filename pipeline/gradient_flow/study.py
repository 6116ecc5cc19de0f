"""The gradient_flow study: runs ``scalar``, ``matrix`` and ``descent``, sympy theory, and the claims.

Equations: derived, gradient_flow.md §2 (conservation §2.2, scalar closed forms and rate §2.3, λ-balanced
matrix flow and Riccati closed form §2.4, finite-step GD §2.5). Metrics hold the final numbers the claims
read; history.csv is long format with columns :data:`HISTORY_COLUMNS` and holds everything the figures
draw (analysis/gradient_flow.py never recomputes a flow).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.claims import Claim, claim_maker
from pipeline.core.config import with_defaults
from pipeline.core.records import read_metrics
from pipeline.gradient_flow import descent, matrix, scalar
from pipeline.gradient_flow import theory as symbolic
from pipeline.studies import RunContext, RunOutput

STUDY = "gradient_flow"
RUNS = ("scalar", "matrix", "descent")
HISTORY_COLUMNS = ("kind", "lam", "spectrum", "mode", "t", "step", "value")

DEFAULTS: dict[str, Any] = {
    "y": 1.0,
    "w0": 0.0025,
    "lambdas": [-2.0, 0.0, 0.5, 1.0, 2.0, 3.0],
    "t_max": 20.0,
    "n_points": 401,
    "rtol": 1e-13,
    "atol": 1e-16,
    "fit_window": [1e-9, 1e-4],
    "tolerance": 1e-3,
    "matrix": {
        "m": 3,
        "n": 3,
        "k": 3,
        "init_scale": 0.1,
        "lambdas": [-1.0, 0.0, 0.7, 2.0],
        "spectra": [[2.0, 1.0, 0.5], [1.0, 1.0, 1.0], [1.0, 0.5, 0.0]],
        "t_max": 40.0,
        "n_points": 401,
    },
    "descent": {"eta": 0.05, "steps": 400, "lambdas": [-2.0, 0.0, 1.0, 3.0]},
}


# ----------------------------------------------------------------------------------------------- config


def resolve(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """The study's config with :data:`DEFAULTS` filled in (nested), validated."""
    out = with_defaults(DEFAULTS, cfg)
    _validate(out)
    return out


def _validate(cfg: dict[str, Any]) -> None:
    if not 0.0 < cfg["w0"] < cfg["y"]:
        raise ValueError(f"gradient_flow: need 0 < w0 < y, got w0={cfg['w0']}, y={cfg['y']}")
    lo, hi = cfg["fit_window"]
    if not 0.0 < lo < hi:
        raise ValueError(f"gradient_flow: fit_window must be 0 < lo < hi, got {cfg['fit_window']}")
    mat = cfg["matrix"]
    if mat["k"] > min(mat["m"], mat["n"]):
        raise ValueError("gradient_flow.matrix: the λ-balanced init needs k ≤ min(m, n)")
    for spectrum in mat["spectra"]:
        if len(spectrum) > min(mat["m"], mat["n"]) or sum(s > 0 for s in spectrum) > mat["k"]:
            raise ValueError(
                f"gradient_flow.matrix: spectrum {spectrum} does not fit m, n, k = "
                f"{mat['m']}, {mat['n']}, {mat['k']}"
            )


# ---------------------------------------------------------------------------------------------- history


def _frame(
    kind: str,
    t: np.ndarray,
    value: np.ndarray,
    *,
    lam: float | None = None,
    spectrum: int | None = None,
    mode: int | None = None,
    step: np.ndarray | None = None,
) -> pd.DataFrame:
    """Rows of the long-format history for one curve."""
    count = len(t)
    return pd.DataFrame(
        {
            "kind": kind,
            "lam": np.nan if lam is None else float(lam),
            "spectrum": pd.array([spectrum] * count, dtype="Int64"),
            "mode": pd.array([mode] * count, dtype="Int64"),
            "t": np.asarray(t, dtype=float),
            "step": pd.array([None] * count if step is None else list(step), dtype="Int64"),
            "value": np.asarray(value, dtype=float),
        }
    )


def _history(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True)[list(HISTORY_COLUMNS)]


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float).ravel()]


def _nanmax(values: list[float]) -> float:
    """Max that turns any NaN (a failed fit or check) into +inf, so a claim on it cannot hold."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return float("nan")
    return float("inf") if np.isnan(arr).any() else float(arr.max())


# ----------------------------------------------------------------------------------------------- scalar


def _scalar_lambda(
    cfg: dict[str, Any], lam: float, t: np.ndarray
) -> tuple[dict[str, Any], list[pd.DataFrame]]:
    """One imbalance λ at the fixed initial product w0: ODE, closed forms, rate, time to tolerance."""
    y, w0 = cfg["y"], cfg["w0"]
    u0, v0 = scalar.init_fixed_product(lam, w0)
    flow = scalar.integrate(u0, v0, y, t, rtol=cfg["rtol"], atol=cfg["atol"], tolerance=cfg["tolerance"])
    closed = scalar.closed_form_residual(flow.t, w0, lam, y)
    closed_err = np.abs((y - closed) - flow.w) / np.abs(flow.w)
    window = tuple(cfg["fit_window"])
    record = {
        "lam": lam,
        "u0": u0,
        "v0": v0,
        "conservation_rel_err": float(flow.conservation_error().max()),
        "closed_form_rel_err": float(closed_err.max()),
        "rate_fitted": scalar.fit_rate(flow.t, flow.residual, window),
        "rate_predicted": float(scalar.predicted_rate(lam, y)),
        "fit_points": int(scalar.tail_window(flow.t, flow.residual, window).size),
        "time_to_tolerance": flow.time_to_tolerance,
        "time_to_tolerance_closed": scalar.closed_form_time_to_tolerance(w0, lam, y, cfg["tolerance"]),
        "logistic_rel_err": None,
    }
    frames = [
        _frame("u", flow.t, flow.u, lam=lam),
        _frame("v", flow.t, flow.v, lam=lam),
        _frame("residual", flow.t, np.abs(flow.residual), lam=lam),
        _frame("residual_closed", flow.t, closed, lam=lam),
        _frame("closed_form_err", flow.t, closed_err, lam=lam),
        _frame("conservation_err", flow.t, flow.conservation_error(), lam=lam),
    ]
    if lam == 0.0:
        logistic = scalar.logistic_residual(flow.t, w0, y)
        record["logistic_rel_err"] = float((np.abs((y - logistic) - flow.w) / np.abs(flow.w)).max())
        frames.append(_frame("residual_logistic", flow.t, logistic, lam=lam))
    return record, frames


def acceleration_violations(lams: list[float], times: list[float], tie: float = 1e-12) -> int:
    """Pairs with |λ_i| < |λ_j| whose time to tolerance is not strictly smaller for λ_j (§2.3)."""
    count = 0
    for lam_i, t_i in zip(lams, times, strict=True):
        for lam_j, t_j in zip(lams, times, strict=True):
            if abs(lam_i) + tie < abs(lam_j) and not t_j < t_i:
                count += 1
    return count


def _scalar_run(cfg: dict[str, Any]) -> RunOutput:
    t = np.linspace(0.0, cfg["t_max"], cfg["n_points"])
    records, frames = [], []
    for lam in cfg["lambdas"]:
        record, lam_frames = _scalar_lambda(cfg, float(lam), t)
        records.append(record)
        frames += lam_frames
    lin_t, lin_res = scalar.integrate_linear(cfg["w0"], cfg["y"], t, rtol=cfg["rtol"], atol=cfg["atol"])
    frames.append(_frame("linear_residual", lin_t, np.abs(lin_res)))
    linear_rate = scalar.fit_rate(lin_t, lin_res, tuple(cfg["fit_window"]))
    metrics = _scalar_summary(cfg, records, linear_rate)
    return RunOutput(metrics=metrics, history=_history(frames))


def _scalar_summary(cfg: dict[str, Any], records: list[dict[str, Any]], linear_rate: float) -> dict[str, Any]:
    def column(key: str) -> list[Any]:
        return [r[key] for r in records]

    fitted, predicted = np.array(column("rate_fitted")), np.array(column("rate_predicted"))
    rate_err = np.abs(fitted - predicted) / predicted
    closed = column("closed_form_rel_err") + [e for e in column("logistic_rel_err") if e is not None]
    ttt, ttt_closed = np.array(column("time_to_tolerance")), np.array(column("time_to_tolerance_closed"))
    lams = [float(x) for x in cfg["lambdas"]]
    curve = np.linspace(min(lams) - 0.5, max(lams) + 0.5, 101)
    return {
        "y": cfg["y"],
        "w0": cfg["w0"],
        "tolerance": cfg["tolerance"],
        "fit_window": [float(x) for x in cfg["fit_window"]],
        "lambdas": lams,
        "records": records,
        "rate_rel_err": _floats(rate_err),
        "conservation_rel_err_max": _nanmax(column("conservation_rel_err")),
        "closed_form_rel_err_max": _nanmax(closed),
        "rate_rel_err_max": _nanmax(list(rate_err)),
        "time_to_tolerance_closed_rel_err_max": _nanmax(list(np.abs(ttt - ttt_closed) / ttt_closed)),
        "acceleration_violations": acceleration_violations(lams, list(ttt)),
        "acceleration_strict": acceleration_violations(lams, list(ttt)) == 0,
        "linear_rate_fitted": linear_rate,
        "min_rate_fitted": float(np.min(fitted)),
        "rate_over_linear_min": float(np.min(fitted) / linear_rate),
        "rate_curve": {"lam": _floats(curve), "rate": _floats(scalar.predicted_rate(curve, cfg["y"]))},
    }


# ----------------------------------------------------------------------------------------------- matrix


def _target(cfg: dict[str, Any], seed: int, index: int) -> matrix.Target:
    mat = cfg["matrix"]
    return matrix.make_target(mat["spectra"][index], mat["m"], mat["n"], np.random.default_rng([seed, index]))


def _init(cfg: dict[str, Any], seed: int, index: int, lam: float, Y: np.ndarray) -> tuple[np.ndarray, ...]:
    """λ-balanced init; the same random draw for every λ of one spectrum (fixed data, varied imbalance)."""
    mat = cfg["matrix"]
    rng = np.random.default_rng([seed, index, 1])
    return matrix.balanced_init(mat["m"], mat["n"], mat["k"], lam, mat["init_scale"], rng, Y)


def _matrix_case(
    cfg: dict[str, Any], seed: int, index: int, lam: float
) -> tuple[dict[str, Any], list[pd.DataFrame]]:
    """One (spectrum, λ): ODE, conservation, Riccati closed form, F spectrum and per-mode rates."""
    mat = cfg["matrix"]
    target = _target(cfg, seed, index)
    U0, V0 = _init(cfg, seed, index, lam, target.Y)
    t = np.linspace(0.0, mat["t_max"], mat["n_points"])
    U, V = matrix.integrate(target.Y, U0, V0, t, rtol=cfg["rtol"], atol=cfg["atol"])
    Q, Q0 = matrix.imbalance(U, V), matrix.imbalance(U0, V0)
    conservation = np.abs(Q - Q0).max(axis=(1, 2)) / (1.0 + np.abs(Q0).max())
    F = matrix.flow_matrix(target.Y, lam)
    Z = np.concatenate([U, V], axis=1)
    P_ode = Z @ np.swapaxes(Z, 1, 2)
    P_closed = matrix.riccati_closed_form(F, np.vstack([U0, V0]), t)
    riccati = np.linalg.norm(P_closed - P_ode, axis=(1, 2)) / np.linalg.norm(P_ode, axis=(1, 2))
    eig, eig_pred = np.linalg.eigvalsh(F), matrix.predicted_spectrum(target.sigma, lam, mat["m"], mat["n"])
    modes = matrix.mode_residuals(target, U, V)
    predicted = scalar.predicted_rate(lam, target.sigma)
    window = tuple(cfg["fit_window"])
    fitted = [
        scalar.fit_rate(t, modes[:, i], window) if predicted[i] > 0 else math.nan
        for i in range(modes.shape[1])
    ]
    record = {
        "spectrum": index,
        "sigma": _floats(target.sigma),
        "lam": lam,
        "init_balance_err": float(np.abs(Q0 - lam * np.eye(mat["k"])).max()),
        "conservation_rel_err": float(conservation.max()),
        "riccati_rel_err": float(riccati.max()),
        "spectrum_err": float(np.abs(eig - eig_pred).max() / max(1.0, np.abs(eig_pred).max())),
        "rates_fitted": _floats(fitted),
        "rates_predicted": _floats(predicted),
        "final_residual": float(np.linalg.norm(target.Y - U[-1] @ V[-1].T)),
    }
    frames = [
        _frame("conservation_err", t, conservation, lam=lam, spectrum=index),
        _frame("riccati_err", t, riccati, lam=lam, spectrum=index),
        _frame(
            "residual_norm",
            t,
            np.linalg.norm(target.Y - U @ np.swapaxes(V, 1, 2), axis=(1, 2)),
            lam=lam,
            spectrum=index,
        ),
    ]
    frames += [
        _frame("mode_residual", t, np.abs(modes[:, i]), lam=lam, spectrum=index, mode=i)
        for i in range(modes.shape[1])
    ]
    return record, frames


def _rate_errors(records: list[dict[str, Any]], balanced: bool) -> list[float]:
    """Relative errors of the fitted per-mode rates, λ = 0 cases (``balanced``) or λ ≠ 0 cases.

    Modes with predicted rate 0 (σ = 0 at λ = 0: algebraic, not exponential convergence) are skipped;
    a missing fit (NaN) is kept and makes the maximum infinite.
    """
    errors = []
    for record in records:
        if (record["lam"] == 0.0) != balanced:
            continue
        for fit, pred in zip(record["rates_fitted"], record["rates_predicted"], strict=True):
            if pred > 0:
                errors.append(abs(fit - pred) / pred if not math.isnan(fit) else math.nan)
    return errors


def _matrix_run(cfg: dict[str, Any], seed: int) -> RunOutput:
    records, frames = [], []
    for index in range(len(cfg["matrix"]["spectra"])):
        for lam in cfg["matrix"]["lambdas"]:
            record, case_frames = _matrix_case(cfg, seed, index, float(lam))
            records.append(record)
            frames += case_frames

    def worst(key: str) -> float:
        return _nanmax([r[key] for r in records])

    imbalanced, balanced = _rate_errors(records, balanced=False), _rate_errors(records, balanced=True)
    metrics = {
        "m": cfg["matrix"]["m"],
        "n": cfg["matrix"]["n"],
        "k": cfg["matrix"]["k"],
        "spectra": cfg["matrix"]["spectra"],
        "lambdas": [float(x) for x in cfg["matrix"]["lambdas"]],
        "records": records,
        "init_balance_err_max": worst("init_balance_err"),
        "conservation_rel_err_max": worst("conservation_rel_err"),
        "riccati_rel_err_max": worst("riccati_rel_err"),
        "spectrum_err_max": worst("spectrum_err"),
        "rate_rel_err_max": _nanmax(imbalanced),
        "rate_fits": len(imbalanced),
        "rate_rel_err_max_balanced": _nanmax(balanced),
        "rate_fits_balanced": len(balanced),
    }
    return RunOutput(metrics=metrics, history=_history(frames))


# ---------------------------------------------------------------------------------------------- descent


def _descent_scalar(cfg: dict[str, Any], lam: float) -> tuple[dict[str, Any], list[pd.DataFrame]]:
    gd, y = cfg["descent"], cfg["y"]
    eta, steps = gd["eta"], gd["steps"]
    u, v = descent.scalar_descent(*scalar.init_fixed_product(lam, cfg["w0"]), y, eta, steps)
    k = np.arange(steps + 1)
    imbalance = u**2 - v**2
    predicted = descent.scalar_product_prediction(u, v, y, eta)
    deviation = descent.scalar_recursion_deviation(u, v, y, eta)
    drift = np.abs(imbalance - imbalance[0]) / (1.0 + abs(imbalance[0]))
    small_step = eta * np.abs(y - u[:-1] * v[:-1]) < 1.0
    grew = (np.abs(imbalance[1:]) > np.abs(imbalance[:-1])) & small_step
    record = {
        "lam": lam,
        "recursion_dev_max": float(deviation.max()),
        "product_rel_err": float(np.abs(imbalance[-1] - predicted[-1]) / (1.0 + abs(imbalance[0]))),
        "imbalance_final": float(imbalance[-1]),
        "drift_final": float(drift[-1]),
        "monotone_violations": int(grew.sum()),
        "final_residual": float(abs(y - u[-1] * v[-1])),
    }
    frames = [
        _frame("imbalance", k * eta, imbalance, lam=lam, step=k),
        _frame("imbalance_predicted", k * eta, predicted, lam=lam, step=k),
        _frame("conservation_err", k * eta, drift, lam=lam, step=k),
        _frame("recursion_dev", k[1:] * eta, deviation, lam=lam, step=k[1:]),
        _frame("residual", k * eta, np.abs(y - u * v), lam=lam, step=k),
    ]
    return record, frames


def _descent_matrix(cfg: dict[str, Any], seed: int, lam: float) -> tuple[dict[str, Any], list[pd.DataFrame]]:
    gd = cfg["descent"]
    target = _target(cfg, seed, 0)
    U0, V0 = _init(cfg, seed, 0, lam, target.Y)
    U, V = descent.matrix_descent(target.Y, U0, V0, gd["eta"], gd["steps"])
    k = np.arange(gd["steps"] + 1)
    deviation = descent.matrix_recursion_deviation(U, V, target.Y, gd["eta"])
    Q = matrix.imbalance(U, V)
    drift = np.abs(Q - Q[0]).max(axis=(1, 2)) / (1.0 + np.abs(Q[0]).max())
    record = {
        "lam": lam,
        "spectrum": 0,
        "recursion_dev_max": float(deviation.max()),
        "drift_final": float(drift[-1]),
    }
    frames = [
        _frame("matrix_conservation_err", k * gd["eta"], drift, lam=lam, spectrum=0, step=k),
        _frame("matrix_recursion_dev", k[1:] * gd["eta"], deviation, lam=lam, spectrum=0, step=k[1:]),
    ]
    return record, frames


def _descent_run(cfg: dict[str, Any], seed: int) -> RunOutput:
    scalar_records, matrix_records, frames = [], [], []
    for lam in cfg["descent"]["lambdas"]:
        record, new = _descent_scalar(cfg, float(lam))
        scalar_records.append(record)
        frames += new
        record, new = _descent_matrix(cfg, seed, float(lam))
        matrix_records.append(record)
        frames += new
    scalar_dev = _nanmax([r["recursion_dev_max"] for r in scalar_records])
    matrix_dev = _nanmax([r["recursion_dev_max"] for r in matrix_records])
    metrics = {
        "eta": cfg["descent"]["eta"],
        "steps": cfg["descent"]["steps"],
        "lambdas": [float(x) for x in cfg["descent"]["lambdas"]],
        "scalar": scalar_records,
        "matrix": matrix_records,
        "scalar_recursion_dev_max": scalar_dev,
        "matrix_recursion_dev_max": matrix_dev,
        "recursion_dev_max": _nanmax([scalar_dev, matrix_dev]),
        "product_rel_err_max": _nanmax([r["product_rel_err"] for r in scalar_records]),
        "monotone_violations": int(sum(r["monotone_violations"] for r in scalar_records)),
        "drift_final_max": _nanmax([r["drift_final"] for r in scalar_records + matrix_records]),
    }
    return RunOutput(metrics=metrics, history=_history(frames))


# -------------------------------------------------------------------------------------------- interface


def run_ids(cfg: dict[str, Any]) -> list[str]:
    """The three runs: the scalar flow, the λ-balanced matrix flow and finite-step descent."""
    return list(RUNS)


def execute(run_id: str, ctx: RunContext) -> RunOutput:
    """Compute one run (CPU, float64; seconds)."""
    cfg = resolve(ctx.cfg)
    if run_id == "scalar":
        return _scalar_run(cfg)
    if run_id == "matrix":
        return _matrix_run(cfg, ctx.seed)
    if run_id == "descent":
        return _descent_run(cfg, ctx.seed)
    raise KeyError(f"gradient_flow has no run {run_id!r}; runs: {', '.join(RUNS)}")


def theory(cfg: dict[str, Any]) -> dict[str, Any]:
    """The sympy checks of gradient_flow.md §2 (see pipeline/gradient_flow/theory.py)."""
    return symbolic.run_all()


def _failed_checks(obj: dict[str, Any]) -> int:
    """Number of failing checks in a theory.json (accepts the dict of :func:`theory` or a wrapper)."""
    if "checks" in obj:
        return sum(not check["passes"] for check in obj["checks"].values())
    for key in ("theory", "metrics", "result"):
        if isinstance(obj.get(key), dict):
            return _failed_checks(obj[key])
    raise ValueError("theory.json holds no 'checks'")


def _measured(value: Any) -> float:
    """A stored number; JSON null (how non-finite values are written) becomes NaN, which never holds."""
    return math.nan if value is None else float(value)


def _worst(*values: float) -> float:
    """Max that propagates NaN (Python's max silently drops it when it is not first)."""
    return math.nan if any(math.isnan(v) for v in values) else max(values)


def claims(cfg: dict[str, Any], ctx: RunContext) -> list[Claim]:
    """The study's claims, each with a verdict computed from the stored metrics by make_claim."""
    cfg = resolve(cfg)
    base = Path(ctx.results_dir) / STUDY
    sc, mx, gd = (read_metrics(base / run / "metrics.json") for run in RUNS)
    failed = _failed_checks(json.loads((base / "theory.json").read_text()))

    claim = claim_maker(STUDY, ctx.scale)

    fig = "figures/gradient_flow"
    out = [
        claim(
            "conservation",
            "The flow conserves the imbalance UᵀU − VᵀV (max relative error over the grid, "
            "scalar and matrix).",
            _worst(_measured(sc["conservation_rel_err_max"]), _measured(mx["conservation_rel_err_max"])),
            "<= 1e-08",
            f"{fig}/conservation.png",
        ),
        claim(
            "closed_form_scalar",
            "The scalar implicit closed form t = G(w) − G(w0) (and the logistic at "
            "λ = 0) matches the integrated flow (max relative error in w).",
            _measured(sc["closed_form_rel_err_max"]),
            "<= 1e-06",
            f"{fig}/residual_closed_form.png",
        ),
        claim(
            "closed_form_riccati",
            "For λ-balanced init, P = ZZᵀ equals the Riccati closed form "
            "e^{Ft}Z0 N(t)⁻¹ Z0ᵀe^{Ft} (max relative Frobenius error over the grid).",
            _measured(mx["riccati_rel_err_max"]),
            "<= 1e-06",
            f"{fig}/riccati_error.png",
        ),
        claim(
            "rate_scalar",
            "The scalar residual |y − w| decays at rate sqrt(λ² + 4y²) (max relative error "
            "of the fitted rate over λ).",
            _measured(sc["rate_rel_err_max"]),
            "<= 0.02",
            f"{fig}/rates.png",
        ),
        claim(
            "rate_matrix_modes",
            "Mode i of Y converges at rate sqrt(λ² + 4σ_i²) for λ-balanced init with "
            "λ ≠ 0 (max relative error over modes, λ and spectra).",
            _measured(mx["rate_rel_err_max"]),
            "<= 0.02",
            f"{fig}/rates.png",
        ),
        claim(
            "spectrum_of_F",
            "The spectrum of F is ±sqrt(λ²/4 + σ_i²) (± λ/2 for unmatched dimensions) "
            "(max error relative to max(1, |μ|)).",
            _measured(mx["spectrum_err_max"]),
            "<= 1e-10",
            "results/gradient_flow/matrix/metrics.json",
        ),
        claim(
            "acceleration",
            "At a fixed initial product, the time to reach |y − w| < tolerance strictly "
            "decreases with |λ| (number of violating pairs).",
            _measured(sc["acceleration_violations"]),
            "== 0",
            f"{fig}/residual_closed_form.png",
        ),
        claim(
            "descent_recursion",
            "Gradient descent changes the imbalance exactly as η²(W2GᵀGW2ᵀ − W1ᵀGGᵀW1) "
            "(scalar: λ' = (1 − η²r²)λ); max deviation per step relative to 1 + |Q|.",
            _measured(gd["recursion_dev_max"]),
            "<= 1e-12",
            f"{fig}/descent_imbalance.png",
        ),
        claim(
            "theory",
            "The sympy checks of the conservation law, closed forms, Riccati equation and GD "
            "recursion all pass (number of failing checks).",
            failed,
            "== 0",
            "results/gradient_flow/theory.json",
        ),
    ]
    if cfg["y"] > 0.5:
        out.append(
            claim(
                "overparameterised_faster",
                "For y > 1/2 the overparameterised rate exceeds the rate 1 "
                "of Ẇ = Y − W (min over λ of fitted rate / fitted linear rate).",
                _measured(sc["rate_over_linear_min"]),
                "> 1.0",
                f"{fig}/rates.png",
            )
        )
    return out
