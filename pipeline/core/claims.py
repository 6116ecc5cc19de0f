"""Claims: a paper's statement, the number we measured for it, and a verdict computed from that number.

Every study returns a list of :class:`Claim`; ``holds`` is always the result of evaluating
``comparison`` on ``measured`` (see :func:`check`), never typed by hand.
"""

from __future__ import annotations

import csv
import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

COLUMNS = (
    "study",
    "claim_id",
    "claim",
    "paper_value",
    "measured",
    "comparison",
    "holds",
    "scale",
    "evidence",
)

_OPERATORS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq}


@dataclass(frozen=True)
class Claim:
    """One row of results/claims.csv (columns as in DESIGN.md)."""

    study: str
    claim_id: str
    claim: str
    paper_value: str
    measured: float | bool
    comparison: str
    holds: bool
    scale: str
    evidence: str


def check(measured: float | bool, comparison: str) -> bool:
    """Evaluate ``measured <op> threshold`` for a comparison string such as ``"<= 1e-8"`` or ``"== True"``.

    A non-finite measurement never holds.
    """
    op_text, _, threshold_text = comparison.strip().partition(" ")
    if op_text not in _OPERATORS:
        raise ValueError(f"comparison {comparison!r}: operator must be one of {sorted(_OPERATORS)}")
    if threshold_text.strip() in ("True", "False"):
        return _OPERATORS[op_text](bool(measured), threshold_text.strip() == "True")
    value = float(measured)
    if not math.isfinite(value):
        return False
    return bool(_OPERATORS[op_text](value, float(threshold_text)))


def make_claim(
    study: str,
    claim_id: str,
    claim: str,
    measured: float | bool,
    comparison: str,
    *,
    scale: str,
    evidence: str,
    paper_value: str = "",
) -> Claim:
    """Build a claim whose verdict is computed from ``measured`` and ``comparison``."""
    measured = bool(measured) if isinstance(measured, bool) else float(measured)
    return Claim(
        study=study,
        claim_id=claim_id,
        claim=claim,
        paper_value=paper_value,
        measured=measured,
        comparison=comparison,
        holds=check(measured, comparison),
        scale=scale,
        evidence=evidence,
    )


def claim_maker(study: str, scale: str, evidence_format: str = "{}") -> Callable[..., Claim]:
    """:func:`make_claim` with ``study`` and ``scale`` bound, for a study's ``claims``:
    ``claim(claim_id, text, measured, comparison, evidence, paper_value="")``, where ``evidence`` fills
    ``evidence_format`` (e.g. ``"figures/nero/{}.png"`` takes a figure stem)."""

    def claim(
        claim_id: str,
        text: str,
        measured: float | bool,
        comparison: str,
        evidence: str,
        paper_value: str = "",
    ) -> Claim:
        return make_claim(
            study,
            claim_id,
            text,
            measured,
            comparison,
            scale=scale,
            evidence=evidence_format.format(evidence),
            paper_value=paper_value,
        )

    return claim


def write_csv(claims: Iterable[Claim], path: Path) -> None:
    """Write claims with the DESIGN.md columns, in order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for claim in claims:
            writer.writerow(asdict(claim))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


assert tuple(f.name for f in fields(Claim)) == COLUMNS
