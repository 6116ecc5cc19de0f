"""One reader for stored results: a study's run table joined with its metrics, and each run's history.

Claims (``pipeline/<study>/claims.py``) and figures (``analysis/<study>.py``) both read results through a
:class:`Results`, built from the same config section as the runs themselves, so they see exactly the
runs the config asks for and select them by spec field, never by parsing an id::

    results = Results.from_config("qgm", section, Outputs("default"), scale="default")
    for spec in results.select(method="qg_dsgdm_n", alpha=0.1):
        accuracy = results.metrics(spec)["test_local_accuracy"]
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import studies
from pipeline.core.study import RunSpec
from pipeline.paths import Outputs


class MissingResultError(FileNotFoundError):
    """A run the config lists has no metrics.json yet (not run, or failed)."""


@dataclass(frozen=True)
class Results:
    """The stored results of one study under one output tree (see :mod:`pipeline.paths`)."""

    study: str
    section: dict[str, Any]
    outputs: Outputs
    scale: str
    specs: dict[str, RunSpec]

    @classmethod
    def from_config(cls, study: str, section: dict[str, Any], outputs: Outputs, scale: str) -> Results:
        return cls(study, section, outputs, scale, studies.runs(study, section))

    # ------------------------------------------------------------------------------------------ selection

    def select(self, spec_type: type[RunSpec] | None = None, **fields: Any) -> list[RunSpec]:
        """Specs (in config order) of type ``spec_type`` whose fields equal ``fields``."""
        return [
            spec
            for spec in self.specs.values()
            if (spec_type is None or isinstance(spec, spec_type)) and _matches(spec, fields)
        ]

    def one(self, spec_type: type[RunSpec] | None = None, **fields: Any) -> RunSpec:
        """The single spec matching; an error naming the selection otherwise."""
        found = self.select(spec_type, **fields)
        if len(found) != 1:
            raise LookupError(f"{self.study}: {len(found)} runs match {fields} (expected exactly one)")
        return found[0]

    def finished(self, specs: list[RunSpec] | None = None) -> list[RunSpec]:
        """The given specs (default: all) whose metrics.json exists."""
        return [s for s in (self.specs.values() if specs is None else specs) if self.metrics_path(s).exists()]

    # ---------------------------------------------------------------------------------------------- reads

    def run_dir(self, spec: RunSpec | str) -> Path:
        return self.outputs.run_dir(self.study, _id(spec))

    def metrics_path(self, spec: RunSpec | str) -> Path:
        return self.outputs.metrics_json(self.study, _id(spec))

    def record(self, spec: RunSpec | str) -> dict[str, Any]:
        """The whole metrics.json of a run: metrics plus provenance (config, seed, device, wall time)."""
        path = self.metrics_path(spec)
        if not path.exists():
            raise MissingResultError(f"{path} does not exist: run `snakemake {path}` first")
        return json.loads(path.read_text())

    def metrics(self, spec: RunSpec | str) -> dict[str, Any]:
        """The ``metrics`` block of a run's metrics.json."""
        return self.record(spec)["metrics"]

    def history(self, spec: RunSpec | str) -> pd.DataFrame:
        """The run's history.csv."""
        path = self.outputs.history_csv(self.study, _id(spec))
        if not path.exists():
            raise MissingResultError(f"{path} does not exist: run `snakemake {path}` first")
        return pd.read_csv(path)

    def frame(self, spec_type: type[RunSpec] | None = None, **fields: Any) -> pd.DataFrame:
        """One row per *finished* matching run: ``run`` (the id), the spec's fields (nested dataclass
        fields dropped), then the run's scalar metrics (numbers, strings, booleans, None). Where a
        metric has the name of a spec field, the spec's value is kept (the spec is what was asked for)."""
        rows = []
        for spec in self.finished(self.select(spec_type, **fields)):
            metrics = self.metrics(spec)
            scalars = {k: v for k, v in metrics.items() if not isinstance(v, dict | list)}
            rows.append({"run": spec.id, **scalars, **_flat_fields(spec)})
        return pd.DataFrame(rows)

    # --------------------------------------------------------------------------- evidence (repo-relative)

    def figure_path(self, stem: str) -> str:
        """figures/<tag>/<study>/<stem>.png, relative to the repository (a claim's evidence)."""
        return str(Outputs(self.outputs.tag).figure_dir(self.study) / f"{stem}.png")

    def file_path(self, spec: RunSpec | str | None = None, name: str = "metrics.json") -> str:
        """results/<tag>/<study>/[<run>/]<name>, relative to the repository (a claim's evidence)."""
        relative = Outputs(self.outputs.tag)
        base = relative.study_dir(self.study) if spec is None else relative.run_dir(self.study, _id(spec))
        return str(base / name)

    @cached_property
    def theory(self) -> dict[str, Any]:
        """results/<tag>/<study>/theory.json."""
        path = self.outputs.theory_json(self.study)
        if not path.exists():
            raise MissingResultError(f"{path} does not exist: run `snakemake {path}` first")
        return json.loads(path.read_text())

    def __iter__(self) -> Iterator[RunSpec]:
        return iter(self.specs.values())


def _id(spec: RunSpec | str) -> str:
    return spec if isinstance(spec, str) else spec.id


def _matches(spec: RunSpec, fields: dict[str, Any]) -> bool:
    return all(hasattr(spec, key) and getattr(spec, key) == value for key, value in fields.items())


def _flat_fields(spec: RunSpec) -> dict[str, Any]:
    return {
        f.name: getattr(spec, f.name)
        for f in dataclasses.fields(spec)
        if not dataclasses.is_dataclass(getattr(spec, f.name)) and not isinstance(getattr(spec, f.name), dict)
    }
