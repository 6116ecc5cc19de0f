"""The long-format history.csv of the gradient_flow runs: one row per (curve, time point).

Columns :data:`HISTORY_COLUMNS`: ``kind`` names the curve (``residual``, ``conservation_err``, ...),
``lam``/``spectrum``/``mode`` (and ``imbalance``/``draw`` for the general-imbalance run) say which case it
belongs to, ``t`` (and ``step`` for descent) the time.
The figures (analysis/gradient_flow.py) draw from these rows and never recompute a flow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

HISTORY_COLUMNS = ("kind", "lam", "spectrum", "mode", "imbalance", "draw", "t", "step", "value")


def frame(
    kind: str,
    t: np.ndarray,
    value: np.ndarray,
    *,
    lam: float | None = None,
    spectrum: int | None = None,
    mode: int | None = None,
    imbalance: int | None = None,
    draw: int | None = None,
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
            "imbalance": pd.array([imbalance] * count, dtype="Int64"),
            "draw": pd.array([draw] * count, dtype="Int64"),
            "t": np.asarray(t, dtype=float),
            "step": pd.array([None] * count if step is None else list(step), dtype="Int64"),
            "value": np.asarray(value, dtype=float),
        }
    )


def history(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The curves of one run, in :data:`HISTORY_COLUMNS` order."""
    return pd.concat(frames, ignore_index=True)[list(HISTORY_COLUMNS)]


def floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float).ravel()]


def nanmax(values: list[float]) -> float:
    """Max that turns any NaN (a failed fit or check) into +inf, so a claim on it cannot hold."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return float("nan")
    return float("inf") if np.isnan(arr).any() else float(arr.max())


def nanmin(values: list[float]) -> float:
    """Min that turns any NaN (a failed fit) into −inf, so a claim of the form ``>=`` on it cannot hold."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return float("nan")
    return float("-inf") if np.isnan(arr).any() else float(arr.min())
