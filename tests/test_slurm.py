"""Jobs through a real SLURM scheduler: a one-node cluster on localhost (scripts/slurm-local.sh).

A representative subset of the smoke workflow (one gradient-flow training run and the study's sympy checks,
one Nero training run and the data preparation it needs: each kind of job, in two waves) goes through
``--profile profiles/slurm-cpu`` and must give the same results as the local smoke run. Then: a job no
node can hold fails at once with SLURM's reason, and on a node with a (fake) GPU the GPU profile's training
job really holds the GPU. Skipped, with the reason, where the cluster cannot start (not root, no apt).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, copy_repository, deep_merge, tool_env

from pipeline import studies
from pipeline.core.config import validate
from pipeline.paths import Outputs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.slurm,
]
SCRIPT = ROOT / "scripts" / "slurm-local.sh"
SMOKE = Outputs("smoke")
# First status check after 8 s instead of the plugin's 40 s (then +10 s per check until a job ends): the
# test's jobs last 15-20 s, so each wave is seen done at 26 s.
FAST_POLL = ["--slurm-init-seconds-before-status-checks", "8"]


@contextmanager
def local_cluster(tmp: Path, gpu: bool) -> Iterator[dict[str, str]]:
    """Start the cluster (skip the test when it cannot run here), yield its client environment, stop it."""
    state = tmp / ("slurm-gpu" if gpu else "slurm")
    env = {**tool_env(), "SLURM_LOCAL_DIR": str(state)}
    start = subprocess.run(
        ["bash", str(SCRIPT), "start", *(["--gpu"] if gpu else [])],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        if start.returncode == 2:
            pytest.skip(f"no SLURM cluster here: {start.stderr.strip().splitlines()[-1]}")
        assert start.returncode == 0, f"slurm-local.sh start failed:\n{start.stdout}\n{start.stderr}"
        yield {**env, "SLURM_CONF": str(state / "slurm.conf")}
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)


def _smoke_copy(dest: Path) -> Path:
    """A repository copy whose default config is the smoke overlay (as the smoke_repo fixture builds it)."""
    repo = copy_repository(dest)
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    smoke = yaml.safe_load((repo / "config" / "smoke.yaml").read_text())
    (repo / "config" / "config.yaml").write_text(yaml.safe_dump(deep_merge(config, smoke), sort_keys=False))
    return repo


def _snakemake(
    repo: Path, env: dict, targets: list[str], *options: str, timeout: int = 900
) -> subprocess.CompletedProcess:
    """``snakemake <targets> <options>``: targets first, since --set-resources and --set-threads take every
    word after them."""
    return subprocess.run(
        ["snakemake", *targets, *options], cwd=repo, env=env, capture_output=True, text=True, timeout=timeout
    )


def _first_nero_run(repo: Path) -> str:
    config = validate(yaml.safe_load((repo / "config" / "config.yaml").read_text()))
    return sorted(studies.runs("nero", config["nero"]))[0]


def _slurm_job_ids(log: str) -> list[str]:
    return re.findall(r"has been submitted with SLURM jobid (\d+)", log)


def _checks(theory_json: Path) -> dict:
    """A theory.json without its wall time (the one field that differs between two machines' runs)."""
    record = json.loads(theory_json.read_text())
    record.pop("wall_time_s")
    return record


def _metrics(repo: Path, study: str, run: str) -> dict:
    return json.loads((repo / SMOKE.metrics_json(study, run)).read_text())["metrics"]


@pytest.fixture(scope="module")
def slurm_repo(tmp_path_factory) -> Iterator[tuple[Path, str, str, subprocess.CompletedProcess]]:
    """The subset through profiles/slurm-cpu on a CPU-only cluster, then a job no node can hold.

    Yields (repo, Snakemake's log, the nero run, the unschedulable attempt).
    """
    tmp = tmp_path_factory.mktemp("slurm")
    repo = _smoke_copy(tmp / "repo")
    nero_run = _first_nero_run(repo)
    targets = [
        str(SMOKE.metrics_json("gradient_flow", "scalar")),
        str(SMOKE.theory_json("gradient_flow")),
        str(SMOKE.metrics_json("nero", nero_run)),
    ]
    with local_cluster(tmp, gpu=False) as env:
        result = _snakemake(repo, env, targets, "--profile", "profiles/slurm-cpu", *FAST_POLL)
        log = result.stdout + result.stderr
        assert result.returncode == 0, log
        # A run the subset did not make (a forced re-run would delete the subset's outputs first). A
        # --set-resources entry on the command line replaces the profile's for that rule: keep gpu 0.
        matrix = str(SMOKE.metrics_json("gradient_flow", "matrix"))
        unschedulable = _snakemake(
            repo,
            env,
            [matrix],
            "--profile",
            "profiles/slurm-cpu",
            *FAST_POLL,
            "--set-resources",
            "train:cpus_per_task=64",
            "train:gpu=0",
            timeout=240,
        )
    yield repo, log, nero_run, unschedulable


def test_jobs_went_through_the_scheduler(slurm_repo):
    _, log, _, _ = slurm_repo
    ids = _slurm_job_ids(log)
    # the flow run, the flow theory, nero's run and its dataset's preparation
    assert len(ids) == len(set(ids)) == 4, log


def test_slurm_outputs_equal_the_local_smoke_run(slurm_repo, smoke_repo):
    repo, _, nero_run, _ = slurm_repo
    assert _metrics(repo, "gradient_flow", "scalar") == _metrics(smoke_repo, "gradient_flow", "scalar")
    assert _metrics(repo, "nero", nero_run) == _metrics(smoke_repo, "nero", nero_run)
    theory = SMOKE.theory_json("gradient_flow")
    assert _checks(repo / theory) == _checks(smoke_repo / theory)


def test_a_job_no_node_can_hold_fails_at_once_with_the_reason(slurm_repo):
    _, _, _, unschedulable = slurm_repo
    log = unschedulable.stdout + unschedulable.stderr
    assert unschedulable.returncode != 0, log
    assert "Batch job submission failed: More processors requested than permitted" in log, log


def test_the_gpu_profile_holds_a_gpu_on_a_gpu_node(tmp_path, smoke_repo):
    repo = _smoke_copy(tmp_path / "repo")
    target = str(SMOKE.metrics_json("gradient_flow", "scalar"))
    # The GPU profile sized for a 2-CPU node; the rule's own request (gpu=1) is kept.
    fit = ["--set-resources", "train:cpus_per_task=1", "train:mem_mb=1000", "train:runtime=10", "train:gpu=1"]
    with local_cluster(tmp_path, gpu=True) as env:
        result = _snakemake(
            repo, env, [target], "--profile", "profiles/slurm", *FAST_POLL, *fit, "--set-threads", "train=1"
        )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert len(_slurm_job_ids(log)) == 1, log
    run_log = (repo / SMOKE.run_log("gradient_flow", "scalar")).read_text()
    assert "job holds 1 GPU(s); CUDA_VISIBLE_DEVICES=0" in run_log, run_log
    assert _metrics(repo, "gradient_flow", "scalar") == _metrics(smoke_repo, "gradient_flow", "scalar")


def test_profiles_never_hard_code_a_partition_or_account():
    for name in ("slurm", "slurm-cpu"):
        profile = yaml.safe_load((ROOT / "profiles" / name / "config.yaml").read_text())
        assert profile["slurm-status-command"] == "squeue"
        flat = json.dumps(profile)
        assert "slurm_partition" not in flat and "slurm_account" not in flat
    default = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())
    # merged into every cluster profile: it must not override resources, threads or cores
    assert not {"resources", "set-resources", "set-threads", "cores", "default-resources"} & set(default)
