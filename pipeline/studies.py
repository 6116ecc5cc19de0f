"""The registry of studies: their names, manifests (``runs.py``) and implementations (``study.py``).

The interface a study keeps is described in :mod:`pipeline.core.study`. Building the workflow's DAG
touches only the manifests, which import no torch; :func:`implementation` imports a study's code when
a job runs, claims or theory need it. Adding a study means a new package ``pipeline/<study>/`` with
``runs.py``, ``study.py`` and ``claims.py``, its name in :data:`STUDIES`, a config section in the schema
and an analysis script; the Snakemake rules do not change.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from pipeline.core import imports
from pipeline.core.study import RunSpec
from pipeline.core.study import spec_from_dict as _rebuild

# The default report order (config key ``studies``).
STUDIES: tuple[str, ...] = (
    "gradient_flow",
    "nero",
    "fisher",
    "selfish_rnn",
    "directpred",
    "consensus",
    "qgm",
)


def _check(study: str) -> None:
    if study not in STUDIES:
        raise KeyError(f"unknown study {study!r}; known studies: {', '.join(STUDIES)}")


def manifest(study: str) -> ModuleType:
    """``pipeline.<study>.runs``: the run table, datasets and shared code (no torch)."""
    _check(study)
    return importlib.import_module(f"pipeline.{study}.runs")


def implementation(study: str) -> ModuleType:
    """``pipeline.<study>.study``: ``execute`` and, with ``HAS_THEORY``, ``theory``."""
    _check(study)
    return importlib.import_module(f"pipeline.{study}.study")


def claims_module(study: str) -> ModuleType:
    """``pipeline.<study>.claims``: ``claims(results)``."""
    _check(study)
    return importlib.import_module(f"pipeline.{study}.claims")


def runs(study: str, section: dict[str, Any]) -> dict[str, RunSpec]:
    """The study's runs for its (schema-resolved) config section, in config order, keyed by id."""
    table = manifest(study).runs(section)
    for run_id, spec in table.items():
        if run_id != spec.id:
            raise ValueError(f"study {study!r}: run table key {run_id!r} is not the spec's id {spec.id!r}")
    return table


def spec_from_dict(study: str, data: dict[str, Any]) -> RunSpec:
    """Rebuild one of the study's specs from its JSON form (:meth:`RunSpec.to_dict`)."""
    return _rebuild(manifest(study).SPECS, data)


def has_theory(study: str) -> bool:
    return bool(getattr(manifest(study), "HAS_THEORY", False))


def datasets(study: str, section: dict[str, Any]) -> list[str]:
    """Prepared datasets (data/prepared/<name>) the study's runs read; none when it declares none."""
    module = manifest(study)
    return sorted(module.datasets(section)) if hasattr(module, "datasets") else []


# Modules that describe runs or read results but compute no run's numbers: a run sees them only
# through its spec (its params), so editing them re-runs nothing.
INTERFACE_MODULES = frozenset(
    {
        "pipeline.core.config",
        "pipeline.core.study",
        "pipeline.core.claims",
        "pipeline.core.stats",
        "pipeline.results",
        "pipeline.paths",
        "pipeline.studies",
    }
)


def code_paths(study: str) -> list[str]:
    """Source files a run of the study executes: ``pipeline/<study>/study.py`` and every package
    module it imports, transitively (the study's own modules, pipeline/data, pipeline/models, the
    training engine, ...), read from the import statements. Editing one re-runs the study's jobs."""
    _check(study)
    stop = INTERFACE_MODULES | {f"pipeline.{study}.claims"}
    return imports.closure((f"pipeline.{study}.study",), stop=stop)


def claims_code(study: str) -> list[str]:
    """Source files the study's claims execute (``pipeline/<study>/claims.py`` and its imports)."""
    _check(study)
    return imports.closure((f"pipeline.{study}.claims",))
