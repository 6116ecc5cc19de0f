"""DVC drives the workflow: repro is idempotent, and results survive a push / delete / pull round trip."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import run_tool

from pipeline.paths import Outputs

pytestmark = pytest.mark.slow
SMOKE = Outputs("smoke")

OUTPUTS = ("results", "figures", "report")


def _snapshot(repo):
    return {
        str(path.relative_to(repo)): path.read_bytes()
        for top in OUTPUTS
        for path in sorted((repo / top).rglob("*"))
        if path.is_file()
    }


def test_repro_push_delete_pull_leaves_snakemake_nothing_to_do(smoke_repo, tmp_path):
    first = run_tool(["dvc", "repro"], smoke_repo)
    assert "Running stage 'study@gradient_flow'" in first.stdout
    again = run_tool(["dvc", "repro"], smoke_repo)
    assert "Data and pipelines are up to date" in again.stdout
    before = _snapshot(smoke_repo)
    assert str(SMOKE.claims_csv) in before and str(SMOKE.report_html) in before

    run_tool(["dvc", "remote", "add", "-d", "local", str(tmp_path / "remote")], smoke_repo)
    run_tool(["dvc", "push"], smoke_repo)
    for top in OUTPUTS:
        shutil.rmtree(smoke_repo / top)
    run_tool(["dvc", "pull"], smoke_repo)
    assert _snapshot(smoke_repo) == before

    run_tool(["snakemake", "--touch", "--cores", "1"], smoke_repo)
    dry = run_tool(["snakemake", "-n", "--cores", "1"], smoke_repo)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    assert "Data and pipelines are up to date" in run_tool(["dvc", "repro"], smoke_repo).stdout


def test_an_experiment_with_one_param_changed_reruns_only_what_reads_it(smoke_repo):
    """`dvc exp run -S` on config/config.yaml: only the gradient_flow stage's runs that read `y` re-run."""
    run_tool(["dvc", "repro"], smoke_repo)
    records = {
        run: smoke_repo / SMOKE.metrics_json("gradient_flow", run) for run in ("scalar", "matrix", "descent")
    }
    before = {run: path.read_bytes() for run, path in records.items()}  # a re-run writes a new wall time
    result = run_tool(["dvc", "exp", "run", "-S", "config/config.yaml:++gradient_flow.y=2.0"], smoke_repo)
    assert "Running stage 'study@gradient_flow'" in result.stdout
    assert "Running stage 'study@nero'" not in result.stdout
    after = {run: path.read_bytes() for run, path in records.items()}
    changed = {run for run in records if after[run] != before[run]}
    assert changed == {"scalar", "descent"}  # the runs whose spec holds y; matrix does not read it
    assert json.loads(records["scalar"].read_text())["metrics"]["y"] == 2.0
    # Leave the shared smoke repository as the other tests expect it: the original params, re-run.
    run_tool(["git", "checkout", "--", "config/config.yaml"], smoke_repo)
    run_tool(["dvc", "repro"], smoke_repo)
    assert "Nothing to be done" in run_tool(["snakemake", "-n", "--cores", "1"], smoke_repo).stdout
