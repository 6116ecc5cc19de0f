"""Shared fixtures: a throw-away copy of the repository for workflow and DVC tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
IGNORE = shutil.ignore_patterns(
    ".git", ".venv", ".snakemake", "results", "figures", "report", "logs", "data", "__pycache__",
    ".pytest_cache", ".ruff_cache", "*.egg-info", "tmp", "cache",
)


def tool_env() -> dict[str, str]:
    """The environment for subprocesses: this interpreter's bin first, no colour, no DVC analytics."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_tool(args: list[str], cwd: Path, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run a command in ``cwd``; on failure show its output (the test log then says why)."""
    result = subprocess.run(args, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def deep_merge(base: dict, overlay: dict) -> dict:
    """Snakemake's --configfile semantics: nested dicts merge, everything else is replaced."""
    merged = dict(base)
    for key, value in overlay.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(value, dict) and key in merged else value
    return merged


def copy_repository(dest: Path) -> Path:
    """Copy the working tree (no outputs, no .git) to ``dest`` and make it a fresh git repository."""
    shutil.copytree(ROOT, dest, ignore=IGNORE)
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
