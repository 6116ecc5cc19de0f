"""Claims: a paper's statement, the estimate we measured for it with its interval, and a computed verdict.

One row of ``results/<tag>/claims.csv`` per claim, with the columns :data:`COLUMNS`:

- ``kind``: ``reproduction`` (a result the paper reports about its experiments or theory; counted in the
  summaries) or ``check`` (a sanity or identity check that holds by construction when the code is right:
  a conservation law at float64 precision, a sympy identity, an exact budget);
- ``estimate``, ``ci_low``, ``ci_high``, ``n``: the estimate over ``n`` independent seeds (or pairs of runs
  sharing a seed) with its 95% interval (see :mod:`pipeline.core.stats` for the methods; a deterministic
  computation has n = 1 and a zero-width interval);
- ``comparison`` and ``threshold``: the claimed side, fixed from the paper's statement before looking at
  the data (each study's docs give the rule for its thresholds);
- ``verdict``: ``holds`` / ``inconclusive`` / ``fails``, always computed from the interval by
  :func:`pipeline.core.stats.verdict`, never typed;
- ``paper_value`` and ``paper_source``: the paper's number or statement and where it is (table, figure,
  section), required for every reproduction;
- ``evidence``: the figure that shows it (``figures/<tag>/<study>/<stem>.png``).

A claim may carry a ``note``: the documented reason it may not hold at this scale, fixed in the study's
code before the run (shown by the report next to a verdict other than ``holds``; not a CSV column).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from pipeline.core import stats
from pipeline.core.stats import Estimate

COLUMNS = (
    "study",
    "claim_id",
    "kind",
    "claim",
    "paper_value",
    "paper_source",
    "estimate",
    "ci_low",
    "ci_high",
    "n",
    "comparison",
    "threshold",
    "verdict",
    "scale",
    "evidence",
)
KINDS = ("reproduction", "check")


@dataclass(frozen=True)
class Claim:
    """One row of the claims table (see the module docstring); build it with :func:`make_claim`."""

    study: str
    claim_id: str
    kind: str
    claim: str
    paper_value: str
    paper_source: str
    estimate: float
    ci_low: float
    ci_high: float
    n: int
    comparison: str
    threshold: float
    verdict: str
    scale: str
    evidence: str
    note: str = ""
    method: str = ""

    def row(self) -> dict[str, Any]:
        """The CSV row: the contract columns, numbers with 6 significant digits."""
        values = asdict(self)
        for key in ("estimate", "ci_low", "ci_high", "threshold"):
            values[key] = format_number(values[key], digits=6)
        return {key: values[key] for key in COLUMNS}


def format_number(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits ("" for NaN, "inf" for infinities)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def make_claim(
    study: str,
    claim_id: str,
    kind: str,
    claim: str,
    estimate: Estimate,
    comparison: str,
    threshold: float,
    *,
    scale: str,
    evidence: str,
    paper_value: str = "",
    paper_source: str = "",
    note: str = "",
) -> Claim:
    """A claim whose verdict is computed from ``estimate`` against ``comparison threshold``."""
    if kind not in KINDS:
        raise ValueError(f"claim {study}/{claim_id}: kind must be one of {KINDS}, got {kind!r}")
    if kind == "reproduction" and not (paper_value and paper_source):
        raise ValueError(f"claim {study}/{claim_id}: a reproduction needs paper_value and paper_source")
    return Claim(
        study=study,
        claim_id=claim_id,
        kind=kind,
        claim=claim,
        paper_value=paper_value,
        paper_source=paper_source,
        estimate=estimate.value,
        ci_low=estimate.low,
        ci_high=estimate.high,
        n=estimate.n,
        comparison=comparison,
        threshold=float(threshold),
        verdict=stats.verdict(estimate, comparison, threshold),
        scale=scale,
        evidence=evidence,
        note=note,
        method=estimate.method,
    )


class ClaimSet:
    """The claims of one study, collected in order; ``results`` is the study's
    :class:`pipeline.results.Results` (it supplies the study, the scale and the figure paths)::

        claims = ClaimSet(results)
        claims.reproduction("gap_grows", "...", paired_difference(a, b), ">", 0.0, figure="accuracy_vs_n",
                            paper_value="...", paper_source="Table 2")
        claims.check("conservation", "...", exact(err), "<=", 1e-8, figure="conservation")
        return claims.rows
    """

    def __init__(self, results: Any) -> None:
        self.results = results
        self.rows: list[Claim] = []

    def _add(self, kind: str, claim_id: str, text: str, estimate: Estimate | float, comparison: str,
             threshold: float, figure: str, **extra: str) -> Claim:  # fmt: skip
        if not isinstance(estimate, Estimate):
            estimate = stats.exact(estimate)
        row = make_claim(
            self.results.study,
            claim_id,
            kind,
            text,
            estimate,
            comparison,
            threshold,
            scale=self.results.scale,
            evidence=self.results.figure_path(figure),
            **extra,
        )
        self.rows.append(row)
        return row

    def reproduction(
        self,
        claim_id: str,
        text: str,
        estimate: Estimate,
        comparison: str,
        threshold: float,
        *,
        figure: str,
        paper_value: str,
        paper_source: str,
        note: str = "",
    ) -> Claim:
        """A result the paper reports; ``paper_value`` and ``paper_source`` say what and where."""
        return self._add(
            "reproduction", claim_id, text, estimate, comparison, threshold, figure,
            paper_value=paper_value, paper_source=paper_source, note=note,
        )  # fmt: skip

    def check(
        self,
        claim_id: str,
        text: str,
        estimate: Estimate | float,
        comparison: str,
        threshold: float,
        *,
        figure: str,
        note: str = "",
    ) -> Claim:
        """A check that holds by construction when the code is right (a number is taken as exact)."""
        return self._add("check", claim_id, text, estimate, comparison, threshold, figure, note=note)


def write_csv(claims: Iterable[Claim], path: Path) -> None:
    """Write claims with the contract columns, in order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for claim in claims:
            writer.writerow(claim.row())


def read_csv(path: Path) -> list[dict[str, str]]:
    with Path(path).open(newline="") as handle:
        return list(csv.DictReader(handle))


def records(claims: Iterable[Claim]) -> list[dict[str, Any]]:
    """Every field of every claim (the CSV's columns plus ``note`` and the interval ``method``), for JSON."""
    return [asdict(claim) for claim in claims]


assert tuple(f.name for f in fields(Claim))[: len(COLUMNS)] == COLUMNS
