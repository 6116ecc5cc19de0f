"""Shared fixtures: a throw-away copy of the repository for workflow and DVC tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.paper_check import deep_merge

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool_env() -> dict[str, str]:
    """The environment for subprocesses: this interpreter's bin first, no colour, no DVC analytics."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_tool(
    args: list[str], cwd: Path, check: bool = True, timeout: int = 900
) -> subprocess.CompletedProcess:
    """Run a command in ``cwd``; on failure show its output (the test log then says why)."""
    result = subprocess.run(args, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def source_files() -> list[str]:
    """What a clean clone would hold: tracked files plus new files git does not ignore."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [name for name in listing.split("\0") if name and (ROOT / name).is_file()]


def copy_repository(dest: Path) -> Path:
    """Copy the working tree as a clean clone would see it into ``dest``, as a fresh git repository."""
    for name in source_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    run_tool(["git", "init", "-q", "-b", "main"], dest)
    run_tool(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], dest)
    run_tool(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "copy"], dest)
    return dest


@pytest.fixture(scope="session")
def smoke_repo(tmp_path_factory) -> Path:
    """A repository copy whose config/config.yaml is the smoke overlay merged in, run once end to end.

    Making smoke the copy's default config lets `snakemake` and `dvc repro` (whose params are read
    from config/config.yaml) agree on one configuration, so the workflow runs only once.
    """
    repo = copy_repository(tmp_path_factory.mktemp("smoke") / "repo")
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    smoke = yaml.safe_load((repo / "config" / "smoke.yaml").read_text())
    (repo / "config" / "config.yaml").write_text(yaml.safe_dump(deep_merge(config, smoke), sort_keys=False))
    run_tool(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "smoke"], repo)
    run_tool(["snakemake", "--cores", "2"], repo)
    return repo
