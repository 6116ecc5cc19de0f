"""Shared figure style and saving: seaborn theme, png + pdf side by side."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import seaborn as sns

sns.set_theme(context="paper", style="whitegrid", palette="colorblind")


def save(fig: plt.Figure, out: Path, stem: str) -> None:
    """Write ``out/<stem>.png`` (150 dpi) and ``out/<stem>.pdf`` and close the figure.

    PDF metadata carries no creation date, so re-drawing the same results gives the same bytes.
    """
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out / f"{stem}.png", dpi=150, metadata={"Software": None})
    fig.savefig(out / f"{stem}.pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    plt.close(fig)
