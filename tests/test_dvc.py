"""DVC drives the workflow: repro is idempotent, and results survive a push / delete / pull round trip."""

from __future__ import annotations

import shutil

import pytest
from conftest import run_tool

pytestmark = pytest.mark.slow

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
    assert "results/claims.csv" in before and "report/index.html" in before

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
