"""The HTML report and the terminal summary, built from a small fake output tree."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from pipeline import cli
from pipeline.core.atomic import atomic_write_json
from pipeline.core.claims import ClaimSet, records, write_csv
from pipeline.core.records import write_metrics
from pipeline.core.stats import Estimate, exact
from pipeline.paths import Outputs
from pipeline.report import counts, interval_text, write_report


class _Results:
    """What ClaimSet needs from pipeline.results.Results."""

    def __init__(self, study: str, outputs: Outputs) -> None:
        self.study, self.scale, self.outputs = study, "smoke", outputs

    def figure_path(self, stem: str) -> str:
        return str(Outputs(self.outputs.tag).figure_dir(self.study) / f"{stem}.png")


def _figure(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    fig.savefig(path.with_suffix(".png"))
    fig.savefig(path.with_suffix(".pdf"))
    plt.close(fig)


@pytest.fixture
def tree(tmp_path: Path) -> Outputs:
    """Two studies with claims of every verdict, two figures each (listed b before a), one run each."""
    outputs = Outputs("smoke", tmp_path)
    for study in ("alpha", "beta"):
        claims = ClaimSet(_Results(study, outputs))
        claims.reproduction("wins", "A beats B", Estimate(1.0, 0.5, 1.5, 5, "paired t"), ">", 0.0,
                            figure="b_first", paper_value="77.9 vs 75.1", paper_source="Table 8")  # fmt: skip
        claims.reproduction("unclear", "C beats D", Estimate(0.2, -0.1, 0.5, 5, "paired t"), ">", 0.0,
                            figure="a_second", paper_value="better", paper_source="§4",
                            note="at this scale the gap is below the seed noise")  # fmt: skip
        claims.reproduction("loses", "E beats F", Estimate(-1.0, -1.2, -0.8, 5, "paired t"), ">", 0.0,
                            figure="a_second", paper_value="better", paper_source="Fig. 2")  # fmt: skip
        claims.check("identity", "an identity at float precision", exact(1e-15), "<=", 1e-8, figure="b_first")
        write_csv(claims.rows, outputs.study_claims_csv(study))
        atomic_write_json(outputs.study_claims_json(study), records(claims.rows))
        folder = outputs.figure_dir(study)
        folder.mkdir(parents=True)
        for stem in ("b_first", "a_second"):
            _figure(folder / stem)
        captions = [
            {"stem": "b_first", "caption": "shown first"},
            {"stem": "a_second", "caption": "then this"},
        ]
        atomic_write_json(outputs.captions_json(study), captions)
        run_dir = outputs.run_dir(study, "run_s0")
        record = {
            "metrics": {},
            "config": {"scale": "smoke"},
            "seed": 0,
            "device": "cpu",
            "wall_time_s": 12.0,
        }
        write_metrics(run_dir / "metrics.json", study=study, run="run_s0", **record)
        (run_dir / "run.log").write_text("log\n")
    rows = [
        row for study in ("alpha", "beta") for row in json.loads(outputs.study_claims_json(study).read_text())
    ]
    write_csv([], outputs.claims_csv)
    assert rows
    return outputs


def _page(outputs: Outputs) -> str:
    out = outputs.report_html
    write_report(
        ["alpha", "beta"], outputs=outputs, out=out, config={"alpha": {"seeds": 5}}, bench=Path("none")
    )
    return out.read_text()


def test_every_claim_and_figure_is_on_the_page_in_the_study_order(tree: Outputs) -> None:
    page = _page(tree)
    for study in ("alpha", "beta"):
        for claim_id in ("wins", "unclear", "loses", "identity"):
            assert f'id="{study}-{claim_id}"' in page
        assert page.index(f'id="{study}-b_first"') < page.index(f'id="{study}-a_second"')  # not alphabetical
    assert page.index('id="alpha"') < page.index('id="beta"')
    assert "at this scale the gap is below the seed noise" in page  # the documented reason of a non-hold
    assert "1 [0.5, 1.5] (n=5)" in page and "77.9 vs 75.1" in page and "Table 8" in page
    assert "run_s0" in page and "seeds: 5" in page  # provenance: run logs and the config used


def test_the_page_fetches_nothing_from_the_network(tree: Outputs) -> None:
    page = _page(tree)
    references = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert references
    for reference in references:
        assert reference.startswith(("data:image/png;base64,", "#", "../")), reference
    assert "<script" not in page and "@import" not in page and "url(" not in page


def test_verdict_counts_and_interval_text() -> None:
    claims = [
        {"kind": "reproduction", "verdict": "holds"},
        {"kind": "reproduction", "verdict": "inconclusive"},
        {"kind": "reproduction", "verdict": "fails"},
        {"kind": "check", "verdict": "holds"},
        {"kind": "check", "verdict": "fails"},
    ]
    assert counts(claims) == {"reproductions": 3, "holds": 1, "inconclusive": 1, "fails": 1, "checks": 2,
                              "checks_passed": 1}  # fmt: skip
    assert (
        interval_text({"estimate": 0.123456, "ci_low": 0.1, "ci_high": 0.15, "n": 5})
        == "0.123 [0.1, 0.15] (n=5)"
    )
    assert interval_text({"estimate": 1e-15, "ci_low": 1e-15, "ci_high": 1e-15, "n": 1}) == "1e-15"


def test_the_terminal_summary_names_every_claim_that_does_not_hold(
    tree: Outputs, capsys, monkeypatch
) -> None:
    rows = [
        row for study in ("alpha", "beta") for row in json.loads(tree.study_claims_json(study).read_text())
    ]
    from pipeline.core.claims import Claim

    write_csv([Claim(**row) for row in rows], tree.claims_csv)
    monkeypatch.chdir(tree.root)
    cli.main(["summary", "--tag", "smoke"])
    printed = capsys.readouterr().out
    assert (
        "alpha" in printed and "1 hold, 1 inconclusive, 1 fail" in printed and "checks: 1/1 pass" in printed
    )
    assert "? unclear" in printed and "x loses" in printed and "wins" not in printed


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_the_page_renders_in_headless_chromium_without_network(tree: Outputs, tmp_path: Path) -> None:
    _page(tree)
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1400,1000", "--dump-dom", tree.report_html.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert dom.returncode == 0, dom.stderr
    assert 'id="alpha-wins"' in dom.stdout and 'id="beta-a_second"' in dom.stdout
