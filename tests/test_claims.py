"""Claims: verdicts come from the comparison of the measured number, and the CSV has DESIGN.md's columns."""

import math

import pytest

from pipeline.core.claims import COLUMNS, check, make_claim, read_csv, write_csv


@pytest.mark.parametrize(
    ("measured", "comparison", "expected"),
    [
        (1e-9, "<= 1e-8", True),
        (2e-8, "<= 1e-8", False),
        (0.5, "> 0.5", False),
        (0.51, "> 0.5", True),
        (3, ">= 3", True),
        (True, "== True", True),
        (False, "== True", False),
        (math.nan, "<= 1", False),
        (math.inf, ">= 1", False),
    ],
)
def test_check(measured, comparison, expected):
    assert check(measured, comparison) is expected


def test_bad_operator_is_rejected():
    with pytest.raises(ValueError, match="operator"):
        check(1.0, "~= 1")


def test_make_claim_computes_the_verdict_and_round_trips(tmp_path):
    claims = [
        make_claim("s", "a", "small error", 1e-12, "<= 1e-8", scale="smoke", evidence="fig.png"),
        make_claim("s", "b", "fast", 0.2, ">= 1", scale="smoke", evidence="run/metrics.json"),
    ]
    assert [c.holds for c in claims] == [True, False]
    path = tmp_path / "claims.csv"
    write_csv(claims, path)
    rows = read_csv(path)
    assert tuple(rows[0]) == COLUMNS
    assert [r["holds"] for r in rows] == ["True", "False"]


def test_claim_maker_binds_study_scale_and_evidence_format():
    from pipeline.core.claims import claim_maker

    claim = claim_maker("s", "smoke", evidence_format="figures/s/{}.png")
    row = claim("c", "text", 0.2, "<= 0.1", "fig", "paper 0.05")
    assert (row.study, row.scale, row.evidence, row.paper_value) == (
        "s",
        "smoke",
        "figures/s/fig.png",
        "paper 0.05",
    )
    assert row.holds is False and claim("c", "text", 0.05, "<= 0.1", "fig").holds is True
