"""The interface every study keeps: typed run specs, what a run receives, and what it returns.

A study ``pipeline/<study>/`` has three modules the workflow calls:

``runs.py`` (the manifest; imports no torch, so building the workflow's DAG is fast)
    ``SPECS``: its :class:`RunSpec` classes; ``runs(section) -> dict[str, RunSpec]``: the runs its
    (schema-resolved) config section asks for, keyed by ``spec.id``; ``datasets(section)``: the prepared
    datasets the runs read; ``HAS_THEORY``: whether it has a symbolic (sympy) step.
``study.py`` (the implementation)
    ``execute(spec, ctx) -> RunOutput``: compute one run; ``theory(section) -> dict`` when ``HAS_THEORY``.
    The workflow re-runs the study's jobs when ``study.py`` or any package module it imports changes
    (:func:`pipeline.studies.code_paths`).
``claims.py``
    ``claims(results) -> list[Claim]``: the paper's claims from stored results
    (:class:`pipeline.results.Results`); editing it re-computes claims, never runs.

A run spec is a frozen dataclass holding everything one run reads (the workflow passes it, and only it,
as the job's params: editing one key re-runs exactly the runs whose spec holds it). Its ``id`` is derived
from its fields in one place, the ``id`` property; nothing parses an id back.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pandas as pd


@dataclass(frozen=True)
class RunSpec:
    """Base class of every study's run specs (frozen dataclasses with named fields)."""

    @property
    def id(self) -> str:
        """The run's id: its directory name under results/<tag>/<study>/ (derived from the fields)."""
        raise NotImplementedError

    def needs(self) -> tuple[str, ...]:
        """Ids of runs of the same study whose results this run reads (the workflow runs them first)."""
        return ()

    def check_variant(self) -> tuple[RunSpec, int]:
        """What a short paper-scale check (:mod:`pipeline.paper_check`) executes for this run, and how many
        of those trainings the full run does: the run itself, once. A run that repeats one training loop
        (an lr sweep) returns one repetition and the count, so the check covers its code path once."""
        return self, 1

    def epoch_steps(self, train_size: int) -> int | None:
        """Training steps of one epoch when the dataset's training split holds ``train_size`` examples
        (tokens for a corpus), for a run that trains whole epochs; None for a run of a fixed step count.
        The paper check scales the steps a run takes on a small fixture to the real split with it."""
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields plus ``spec``: the class name, so :func:`spec_from_dict` can rebuild it."""
        return {"spec": type(self).__name__, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Rebuild a spec from :meth:`to_dict` output (JSON lists become the tuples the fields declare)."""
        hints = typing.get_type_hints(cls)
        values = {f.name: _typed(hints[f.name], data[f.name]) for f in dataclasses.fields(cls) if f.init}
        return cls(**values)


def spec_from_dict(classes: tuple[type[RunSpec], ...], data: dict[str, Any]) -> RunSpec:
    """The spec of ``data["spec"]`` among ``classes`` (a study's ``SPECS``)."""
    by_name = {cls.__name__: cls for cls in classes}
    name = data.get("spec")
    if name not in by_name:
        raise ValueError(f"unknown run spec {name!r}; this study's specs: {', '.join(by_name)}")
    return by_name[name].from_dict(data)


def _typed(hint: Any, value: Any) -> Any:
    """``value`` (from JSON) converted to ``hint``: nested dataclasses and tuples rebuilt, rest as is."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        return value if value is None or len(options) != 1 else _typed(options[0], value)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        inner = typing.get_type_hints(hint)
        return hint(**{k: _typed(inner[k], v) for k, v in value.items()})
    if origin is tuple and isinstance(value, list | tuple):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(args[0], v) for v in value)
        return tuple(_typed(a, v) for a, v in zip(args, value, strict=True)) if args else tuple(value)
    return value


@dataclass(frozen=True)
class RunContext:
    """What a run receives besides its spec: the base seed, scale, device and where it may read and write."""

    study: str
    seed: int
    scale: str
    device: str
    run_dir: Path
    data_root: Path = Path("data/raw")
    study_dir: Path | None = None  # results/<tag>/<study>/: where the runs of ``spec.needs()`` are


@dataclass
class RunOutput:
    """Final numbers (metrics.json) and the curves (history.csv) of one run."""

    metrics: dict[str, Any]
    history: pd.DataFrame
