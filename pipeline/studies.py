"""The registry of studies and the small interface each one keeps.

A study is a module (``pipeline/<study>/study.py``) that defines:

``run_ids(cfg) -> list[str]``
    the runs its config section asks for (one training run, one sweep point, one simulation family);
``execute(run_id, ctx) -> RunOutput``
    compute one run; checkpoints, if any, are ``ctx.run_dir/*.pt`` (discarded when the config or
    code changed, see pipeline.core.fingerprint);
``theory(cfg) -> dict``  (optional)
    symbolic checks written to results/<study>/theory.json;
``claims(cfg, ctx) -> list[Claim]``
    the paper's claims, with verdicts computed from the stored results;
``SHARED_CODE: tuple[str, ...]``  (optional)
    shared packages (e.g. ``"pipeline/decentralized"``) whose edits should re-run the study;
``datasets(cfg) -> list[str]``  (optional)
    prepared datasets its runs read (``pipeline.data`` names); the train rule waits for them.

Figures live in ``analysis/<study>.py`` (see analysis/__init__.py). Adding a study means a new
package, one line in :data:`STUDIES`, a config section with its schema and an analysis script; the
Snakemake rules do not change.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

STUDIES: dict[str, str] = {
    "consensus": "pipeline.consensus.study",
    "directpred": "pipeline.directpred.study",
    "gradient_flow": "pipeline.gradient_flow.study",
    "nero": "pipeline.nero.study",
    "fisher": "pipeline.fisher.study",
    "selfish_rnn": "pipeline.selfish_rnn.study",
    "qgm": "pipeline.qgm.study",
}


@dataclass(frozen=True)
class RunContext:
    """What a run receives besides its id: the study's config section and where it may write."""

    study: str
    cfg: dict[str, Any]
    seed: int
    device: str
    scale: str
    run_dir: Path
    results_dir: Path = Path("results")
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunOutput:
    """Final numbers (metrics.json) and the curves (history.csv) of one run."""

    metrics: dict[str, Any]
    history: pd.DataFrame


def load(study: str) -> ModuleType:
    """Import a study's module, with a clear error for an unknown name."""
    if study not in STUDIES:
        raise KeyError(f"unknown study {study!r}; known studies: {', '.join(sorted(STUDIES))}")
    return importlib.import_module(STUDIES[study])


def has_theory(study: str) -> bool:
    return hasattr(load(study), "theory")


def code_paths(study: str) -> list[str]:
    """Source files whose edits re-run the study's jobs: its own package plus its SHARED_CODE."""
    folders = [f"pipeline/{study}", *getattr(load(study), "SHARED_CODE", ())]
    return sorted(str(path) for folder in folders for path in Path(folder).rglob("*.py"))


def datasets(study: str, cfg: dict[str, Any]) -> list[str]:
    """Prepared datasets (data/prepared/<name>) the study's runs read; none when it declares none."""
    module = load(study)
    return list(module.datasets(cfg)) if hasattr(module, "datasets") else []


def run_ids(study: str, cfg: dict[str, Any]) -> list[str]:
    ids = list(load(study).run_ids(cfg))
    if len(set(ids)) != len(ids):
        raise ValueError(f"study {study!r} returned duplicate run ids: {ids}")
    return ids
