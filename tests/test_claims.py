"""The claims contract: kinds, computed verdicts from intervals, the CSV's columns, number formatting."""

import math

import pytest

from pipeline.core.claims import COLUMNS, ClaimSet, format_number, make_claim, read_csv, write_csv
from pipeline.core.stats import Estimate, exact, mean_interval


def _claim(estimate, comparison=">", threshold=0.0, kind="reproduction", **extra):
    extra = {"paper_value": "A > B", "paper_source": "Table 1", **extra} if kind == "reproduction" else extra
    return make_claim("s", "c", kind, "text", estimate, comparison, threshold, scale="smoke",
                      evidence="figures/smoke/s/fig.png", **extra)  # fmt: skip


def test_the_verdict_is_computed_from_the_interval():
    assert _claim(mean_interval([1.0, 1.2, 0.9, 1.1, 1.0])).verdict == "holds"
    assert _claim(mean_interval([1.0, -1.2, 0.9, -1.1, 1.0])).verdict == "inconclusive"
    assert _claim(mean_interval([-1.0, -1.2, -0.9, -1.1, -1.0])).verdict == "fails"
    assert _claim(mean_interval([1.0, 1.1])).verdict == "inconclusive"  # two seeds cannot decide
    assert _claim(exact(1e-12), "<=", 1e-8, kind="check").verdict == "holds"
    assert _claim(exact(math.nan), "<=", 1e-8, kind="check").verdict == "fails"


def test_a_reproduction_needs_the_papers_value_and_source_and_kinds_are_fixed():
    with pytest.raises(ValueError, match="paper_value and paper_source"):
        make_claim("s", "c", "reproduction", "t", exact(1.0), ">", 0.0, scale="smoke", evidence="f.png")
    with pytest.raises(ValueError, match="kind"):
        _claim(exact(1.0), kind="guess")


def test_the_csv_has_the_contract_columns_and_readable_numbers(tmp_path):
    rows = [_claim(Estimate(0.123456789, 0.1, 0.15, 5, "t")), _claim(exact(1e-15), "<=", 1e-8, kind="check")]
    path = tmp_path / "claims.csv"
    write_csv(rows, path)
    read = read_csv(path)
    assert tuple(read[0]) == COLUMNS
    assert read[0]["estimate"] == "0.123457" and read[0]["n"] == "5" and read[0]["verdict"] == "holds"
    assert read[1]["kind"] == "check" and read[1]["ci_low"] == read[1]["ci_high"] == "1e-15"


def test_claim_set_binds_study_scale_and_figure():
    class Results:
        study, scale = "s", "smoke"

        def figure_path(self, stem):
            return f"figures/smoke/s/{stem}.png"

    claims = ClaimSet(Results())
    claims.check("identity", "holds by construction", 1e-16, "<=", 1e-12, figure="conservation")
    claims.reproduction("wins", "A beats B", mean_interval([1.0, 2.0, 3.0]), ">", 0.0, figure="bars",
                        paper_value="77.9 vs 75.1", paper_source="Table 8", note="small scale")  # fmt: skip
    first, second = claims.rows
    assert (first.kind, first.evidence, first.n, first.verdict) == (
        "check",
        "figures/smoke/s/conservation.png",
        1,
        "holds",
    )
    assert (second.kind, second.paper_source, second.note, second.scale) == (
        "reproduction",
        "Table 8",
        "small scale",
        "smoke",
    )


def test_format_number():
    assert format_number(0.000123456) == "0.000123"
    assert format_number(123456.0) == "1.23e+05"
    assert format_number(math.nan) == "" and format_number(math.inf) == "inf"
