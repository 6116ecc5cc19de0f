"""The whole workflow at smoke scale: outputs, claims, report, idempotence, config errors, dry runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from conftest import ROOT, run_tool

from pipeline import studies
from pipeline.core.claims import COLUMNS

pytestmark = pytest.mark.slow


def _smoke_studies(repo):
    return yaml.safe_load((repo / "config" / "config.yaml").read_text())["studies"]


def test_smoke_run_leaves_every_output(smoke_repo):
    assert set(_smoke_studies(smoke_repo)) == set(studies.STUDIES)
    for study in _smoke_studies(smoke_repo):
        captions = json.loads((smoke_repo / "figures" / study / "captions.json").read_text())
        assert captions
        for stem in captions:
            assert (smoke_repo / "figures" / study / f"{stem}.png").stat().st_size > 1000
            assert (smoke_repo / "figures" / study / f"{stem}.pdf").stat().st_size > 1000
    assert (smoke_repo / "report" / "index.html").stat().st_size > 10_000


def test_every_run_record_has_provenance(smoke_repo):
    records = list((smoke_repo / "results").glob("*/*/metrics.json"))
    assert records
    for path in records:
        record = json.loads(path.read_text())
        for key in ("metrics", "config", "seed", "device", "versions", "git_revision", "wall_time_s"):
            assert key in record, f"{path} lacks {key}"
        assert record["config"]["scale"] == "smoke"
        assert (path.parent / "history.csv").exists() and (path.parent / "run.log").exists()
        assert (path.parent / "benchmark.tsv").exists()


def test_claims_table_has_the_design_columns_and_all_gradient_flow_claims_hold(smoke_repo):
    claims = pd.read_csv(smoke_repo / "results" / "claims.csv", dtype=str, keep_default_na=False)
    assert tuple(claims.columns) == COLUMNS
    flow = claims[claims["study"] == "gradient_flow"]
    assert len(flow) >= 5
    assert (flow["scale"] == "smoke").all()
    failing = flow[flow["holds"] != "True"]
    assert failing.empty, failing.to_string()
    summary = json.loads((smoke_repo / "results" / "claims.json").read_text())
    assert summary["gradient_flow"]["claims"] == len(flow)


def test_report_shows_every_figure_and_claim(smoke_repo):
    page = (smoke_repo / "report" / "index.html").read_text()
    for study in _smoke_studies(smoke_repo):
        captions = json.loads((smoke_repo / "figures" / study / "captions.json").read_text())
        for stem in captions:
            assert f'id="{study}-{stem}"' in page
    claims = pd.read_csv(smoke_repo / "results" / "claims.csv", dtype=str)
    for claim_id in claims["claim_id"]:
        assert claim_id in page
    assert "http://" not in page.replace("http://www.w3.org", "")  # readable offline: nothing fetched


def test_second_run_has_nothing_to_do(smoke_repo):
    result = run_tool(["snakemake", "-n", "--cores", "1"], smoke_repo)
    assert "Nothing to be done" in result.stdout + result.stderr


def test_unknown_config_key_fails_with_one_line_naming_it(smoke_repo):
    result = run_tool(["snakemake", "-n", "--config", "gradient_flow={bogus: 1}"], smoke_repo, check=False)
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "config error" in line]
    assert len(errors) == 1
    assert "'gradient_flow.bogus'" in errors[0]


def test_mistyped_config_value_fails(smoke_repo):
    result = run_tool(["snakemake", "-n", "--config", "seed=zero"], smoke_repo, check=False)
    assert result.returncode != 0
    assert "config error: key 'seed': expected integer" in result.stdout + result.stderr


@pytest.mark.parametrize("configfile", ["config/smoke.yaml", "config/paper.yaml", "config/config.yaml"])
def test_dry_run_of_each_scale_plans_every_study(configfile):
    result = run_tool(["snakemake", "-n", "--cores", "1", "--configfile", configfile], ROOT)
    plan = result.stdout + result.stderr
    for study in studies.STUDIES:
        assert f"results/{study}/claims.csv" in plan or "Nothing to be done" in plan


def test_lint_is_clean():
    result = run_tool(["snakemake", "--lint"], ROOT)
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr
