"""The one figure style of every study: theme, a fixed colour / marker / label per method, units, saving.

Every figure of every study draws a method with the same colour, marker and human label, taken from
:data:`METHODS` (``style.color("qg_dsgdm_n")``, ``style.label("qg_dsgdm_n")``); accuracies are drawn in
percent (:func:`percent`); per-seed points go with their mean (:func:`seed_points`). Figures are saved
as PNG (150 dpi) and PDF side by side with :func:`save`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

sns.set_theme(context="paper", style="whitegrid", palette="colorblind")
_PALETTE = sns.color_palette("colorblind", 10)
_DARK = sns.color_palette("dark", 10)
_PASTEL = sns.color_palette("muted", 10)

ACCURACY_LABEL = "test accuracy (%)"


@dataclass(frozen=True)
class MethodStyle:
    """How one method is drawn everywhere."""

    label: str
    color: tuple[float, float, float]
    marker: str
    linestyle: str = "-"


METHODS: dict[str, MethodStyle] = {
    # references and optimisers
    "allreduce": MethodStyle("all-reduce SGDm-N", (0.1, 0.1, 0.1), "s"),
    "sgd": MethodStyle("SGD", _PALETTE[0], "o"),
    "sgdm": MethodStyle("SGD + momentum", _DARK[0], "v"),
    "adam": MethodStyle("Adam", _PALETTE[1], "^"),
    "lamb": MethodStyle("LAMB", _PALETTE[4], "D"),
    "nero": MethodStyle("Nero", _PALETTE[2], "*"),
    "sntasgd": MethodStyle("SNT-ASGD", _PALETTE[3], "P"),
    # decentralized methods
    "dsgd": MethodStyle("D-SGD", _PALETTE[7], "x"),
    "dsgdm_n": MethodStyle("DSGDm-N (local momentum)", _PALETTE[0], "o"),
    "qg_dsgdm_n": MethodStyle("QG-DSGDm-N (quasi-global)", _PALETTE[2], "*"),
    "d2": MethodStyle("D²", _PALETTE[5], "h"),
    "gradient_tracking": MethodStyle("gradient tracking", _PALETTE[6], "X"),
    # sparse training
    "dense": MethodStyle("dense", (0.1, 0.1, 0.1), "s"),
    "static": MethodStyle("static sparse", _PALETTE[7], "x"),
    "set": MethodStyle("SET", _PALETTE[4], "D"),
    "selfish": MethodStyle("Selfish-RNN", _PALETTE[2], "*"),
    # predictors (DirectPred)
    "untrained": MethodStyle("untrained encoder", (0.55, 0.55, 0.55), "x", ":"),
    "pixels": MethodStyle("raw pixels", (0.35, 0.35, 0.35), "+", ":"),
    "linear": MethodStyle("SGD linear predictor", _PALETTE[0], "o"),
    "twolayer": MethodStyle("two-layer predictor", _PALETTE[1], "^"),
    "directpred": MethodStyle("DirectPred", _PALETTE[2], "*"),
    "directpred_freq5": MethodStyle("DirectPred, freq 5", _DARK[2], "P"),
    "linear_sym": MethodStyle("symmetric linear predictor", _DARK[0], "s"),
    "linear_noema": MethodStyle("SGD linear predictor, no EMA", _PASTEL[0], "v"),
    "linear_sym_noema": MethodStyle("symmetric linear predictor, no EMA", _PALETTE[3], "X"),
    "linear_sym_noema_ap": MethodStyle("symmetric, no EMA, larger α_p", _PALETTE[4], "D"),
    # Fisher arms
    "small": MethodStyle("small lr", _PALETTE[3], "v"),
    "large": MethodStyle("large lr", (0.1, 0.1, 0.1), "s"),
    "small_fp": MethodStyle("small lr + Fisher penalty", _PALETTE[2], "*"),
    "small_gp": MethodStyle("small lr + gradient-norm penalty", _PALETTE[0], "o"),
    "small_gpx": MethodStyle("small lr + input-gradient penalty", _PALETTE[9], "<"),
    "small_gpr": MethodStyle("small lr + random-label penalty", _PALETTE[8], ">"),
    "noisy": MethodStyle("25% noisy labels", _PALETTE[7], "x"),
    "noisy_fp": MethodStyle("noisy labels + Fisher penalty", _DARK[2], "P"),
    # Nero constraint ablation
    "none": MethodStyle("no constraints", _PALETTE[7], "x"),
    "mean": MethodStyle("zero mean only", _PALETTE[0], "o"),
    "norm": MethodStyle("unit norm only", _PALETTE[1], "^"),
    "both": MethodStyle("both constraints (Nero)", _PALETTE[2], "*"),
}
ALIASES = {"allreduce_sgdm_n": "allreduce", "ring": "dsgdm_n", "nero_both": "both", "nero_none": "none",
           "nero_mean": "mean", "nero_norm": "norm"}  # fmt: skip


def _style(method: str) -> MethodStyle:
    key = ALIASES.get(method, method)
    if key not in METHODS:
        raise KeyError(f"analysis.style: no style for method {method!r}; add it to METHODS")
    return METHODS[key]


def label(method: str) -> str:
    return _style(method).label


def color(method: str) -> tuple[float, float, float]:
    return _style(method).color


def marker(method: str) -> str:
    return _style(method).marker


def palette(methods: Iterable[str]) -> dict[str, tuple[float, float, float]]:
    """{method: colour} for seaborn's ``palette=`` (keys as given)."""
    return {m: color(m) for m in methods}


def percent(fraction: float | np.ndarray) -> float | np.ndarray:
    """Accuracy as a fraction -> percent (every accuracy axis is in percent)."""
    return 100.0 * np.asarray(fraction) if not np.isscalar(fraction) else 100.0 * float(fraction)


def seed_points(ax: plt.Axes, x: Sequence[float], values: Sequence[Sequence[float]], method: str,
                offset: float = 0.0, connect: bool = True) -> None:  # fmt: skip
    """Per-seed values at each x (small dots) and their mean (the method's marker, joined by a line)."""
    style = _style(method)
    means = []
    for xi, seeds in zip(x, values, strict=True):
        seeds = np.asarray([v for v in seeds if v is not None and np.isfinite(v)], dtype=float)
        ax.scatter(np.full(seeds.size, xi + offset), seeds, s=10, color=style.color, alpha=0.45, linewidths=0)
        means.append(seeds.mean() if seeds.size else np.nan)
    ax.plot(np.asarray(x) + offset, means, marker=style.marker, color=style.color, label=style.label,
            linestyle=style.linestyle if connect else "none", markersize=6)  # fmt: skip


def save(fig: plt.Figure, out: Path, stem: str) -> None:
    """Write ``out/<stem>.png`` (150 dpi) and ``out/<stem>.pdf`` and close the figure.

    PDF metadata carries no creation date, so re-drawing the same results gives the same bytes.
    """
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out / f"{stem}.png", dpi=150, metadata={"Software": None})
    fig.savefig(out / f"{stem}.pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    plt.close(fig)
