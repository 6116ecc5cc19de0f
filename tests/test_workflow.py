"""The whole workflow at smoke scale: outputs, claims, report, idempotence, config errors, dry runs."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml
from conftest import ROOT, run_tool

from pipeline import studies
from pipeline.core.claims import COLUMNS
from pipeline.core.config import validate
from pipeline.paths import Outputs
from pipeline.report import read_captions

pytestmark = pytest.mark.slow
SMOKE = Outputs("smoke")


def _smoke_config(repo):
    return validate(yaml.safe_load((repo / "config" / "config.yaml").read_text()))


def _smoke_studies(repo):
    return _smoke_config(repo)["studies"]


def _planned_runs(output: str) -> set[tuple[str, str]]:
    """(study, run) of every train job a `snakemake -n` plans."""
    return set(re.findall(r"wildcards: study=(\w+), run=([\w.=+-]+)", output))


def _dry_run(repo, *config: str) -> str:
    result = run_tool(["snakemake", "-n", "--cores", "1", "--config", *config], repo)
    return result.stdout + result.stderr


def test_smoke_run_leaves_every_output(smoke_repo):
    assert set(_smoke_studies(smoke_repo)) == set(studies.STUDIES)
    for study in _smoke_studies(smoke_repo):
        captions = [stem for stem, _ in read_captions(smoke_repo / SMOKE.captions_json(study))]
        assert captions
        for stem in captions:
            assert (smoke_repo / SMOKE.figure_dir(study) / f"{stem}.png").stat().st_size > 1000
            assert (smoke_repo / SMOKE.figure_dir(study) / f"{stem}.pdf").stat().st_size > 1000
    assert (smoke_repo / SMOKE.report_html).stat().st_size > 10_000


def test_every_run_record_has_provenance(smoke_repo):
    records = list((smoke_repo / SMOKE.results).glob("*/*/metrics.json"))
    assert records
    for path in records:
        record = json.loads(path.read_text())
        for key in ("metrics", "config", "seed", "device", "versions", "git_revision", "wall_time_s"):
            assert key in record, f"{path} lacks {key}"
        assert record["config"]["scale"] == "smoke"
        assert record["config"]["spec"]["spec"]  # the run's own spec, by class name
        assert (path.parent / "history.csv").exists() and (path.parent / "run.log").exists()
        assert (path.parent / "benchmark.tsv").exists()


def test_claims_table_has_the_contract_columns_and_the_gradient_flow_checks_pass(smoke_repo):
    claims = pd.read_csv(smoke_repo / SMOKE.claims_csv, dtype=str, keep_default_na=False)
    assert tuple(claims.columns) == COLUMNS
    assert set(claims["kind"]) <= {"reproduction", "check"} and set(claims["study"]) == set(studies.STUDIES)
    assert set(claims["verdict"]) <= {"holds", "inconclusive", "fails"}
    reproductions = claims[claims["kind"] == "reproduction"]
    assert (reproductions["paper_value"] != "").all() and (reproductions["paper_source"] != "").all()
    flow = claims[claims["study"] == "gradient_flow"]
    assert len(flow) >= 5 and (flow["scale"] == "smoke").all()
    failing = flow[flow["verdict"] != "holds"]
    assert failing.empty, failing.to_string()
    summary = json.loads((smoke_repo / SMOKE.claims_json).read_text())
    counts = summary["gradient_flow"]["counts"]
    assert counts["reproductions"] + counts["checks"] == len(flow)


def test_every_claims_evidence_is_a_figure_the_workflow_wrote(smoke_repo):
    claims = pd.read_csv(smoke_repo / SMOKE.claims_csv, dtype=str, keep_default_na=False)
    for study, evidence in zip(claims["study"], claims["evidence"], strict=True):
        assert evidence.startswith(f"{SMOKE.figure_dir(study)}/") and evidence.endswith(".png"), evidence
        assert (smoke_repo / evidence).is_file(), f"{evidence} was not written"


def test_the_summary_prints_every_study(smoke_repo):
    printed = run_tool(["python", "-m", "pipeline.cli", "summary", "--tag", "smoke"], smoke_repo).stdout
    for study in studies.STUDIES:
        assert study in printed
    assert "reproductions:" in printed and "checks:" in printed


def test_snakemakes_own_report_shows_the_figures_with_captions(smoke_repo, tmp_path):
    from analysis.catalog import captions

    out = tmp_path / "snakemake-report.zip"
    run_tool(["snakemake", "--report", str(out)], smoke_repo)
    import zipfile

    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        text = " ".join(
            archive.read(n).decode(errors="ignore") for n in names if n.endswith((".html", ".js"))
        )
    stem, caption = next(iter(captions("consensus").items()))
    assert any(name.endswith(f"{stem}.png") for name in names)
    assert caption.split(".")[0][:40] in text


def test_report_shows_every_figure_and_claim(smoke_repo):
    page = (smoke_repo / SMOKE.report_html).read_text()
    for study in _smoke_studies(smoke_repo):
        for stem, _ in read_captions(smoke_repo / SMOKE.captions_json(study)):
            assert f'id="{study}-{stem}"' in page
    claims = pd.read_csv(smoke_repo / SMOKE.claims_csv, dtype=str)
    for claim_id in claims["claim_id"]:
        assert claim_id in page
    assert "http://" not in page.replace("http://www.w3.org", "")  # readable offline: nothing fetched


def test_second_run_has_nothing_to_do(smoke_repo):
    result = run_tool(["snakemake", "-n", "--cores", "1"], smoke_repo)
    assert "Nothing to be done" in result.stdout + result.stderr


def test_threads_make_no_job_stale(smoke_repo):
    assert "Nothing to be done" in _dry_run(smoke_repo, "threads=2")


def test_changing_one_task_key_replans_exactly_the_runs_that_read_it(smoke_repo):
    config = _smoke_config(smoke_repo)
    steps = config["nero"]["cnn"]["steps"] + 1
    planned = _planned_runs(_dry_run(smoke_repo, f"nero={{cnn: {{steps: {steps}}}}}"))
    cnn = {
        spec.id
        for spec in studies.runs("nero", config["nero"]).values()
        if getattr(spec, "task", "") == "cnn"
    }
    assert cnn and planned == {("nero", run) for run in cnn}


def test_adding_a_seed_replans_only_the_new_seed(smoke_repo):
    config = _smoke_config(smoke_repo)
    seeds = config["fisher"]["seeds"]
    planned = _planned_runs(_dry_run(smoke_repo, f"fisher={{seeds: {seeds + 1}}}"))
    old = set(studies.runs("fisher", config["fisher"]))
    new = set(studies.runs("fisher", {**config["fisher"], "seeds": seeds + 1})) - old
    assert new and all(run.endswith(f"_s{seeds}") for run in new)
    assert planned == {("fisher", run) for run in new}


def test_an_unknown_run_target_fails_at_once_and_leaves_nothing(smoke_repo):
    target = SMOKE.metrics_json("nero", "sweep_cnn_nero_s99")
    result = run_tool(["snakemake", "-n", "--cores", "1", str(target)], smoke_repo, check=False)
    assert result.returncode != 0
    assert f"No rule to produce {target}" in result.stdout + result.stderr
    assert not (smoke_repo / target).parent.exists()


def test_nested_command_line_numbers_are_accepted(smoke_repo):
    plan = _dry_run(
        smoke_repo, "nero={seeds: 2, lrs: [0.001, 0.01]}", "directpred={ssl: {symmetric_predictor: true}}"
    )
    assert ("nero", "sweep_cnn_nero_s1") in _planned_runs(plan)


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
def test_dry_run_of_each_scale_plans_every_study_in_its_own_tree(configfile):
    scale = yaml.safe_load((ROOT / configfile).read_text())["scale"]
    # --forceall: the plan lists every job whatever outputs this checkout already holds
    result = run_tool(["snakemake", "-n", "--forceall", "--cores", "1", "--configfile", configfile], ROOT)
    plan = result.stdout + result.stderr
    for study in studies.STUDIES:
        assert str(Outputs(scale).study_claims_csv(study)) in plan
    others = {"smoke", "default", "paper"} - {scale}
    assert not any(f"results/{other}/" in plan for other in others)


def test_lint_is_clean():
    result = run_tool(["snakemake", "--lint"], ROOT)
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr
