"""Kill a training subprocess with SIGKILL halfway and resume it: bitwise the same as an uninterrupted run.

The uninterrupted reference and the resumption run in this process (a fresh process for the resumed run
would only repeat the ~3 s import and warm-up of torch); the killed run is a real subprocess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers.engine_run import run_small
from helpers.threads import single_thread  # noqa: F401 (fixture)

from pipeline.core.checkpoint import CheckpointError, load_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "helpers" / "engine_run.py"
STEPS, EVERY = 40, 4


def launch(checkpoint: Path, out: Path, sleep: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    args = [sys.executable, str(SCRIPT), str(checkpoint), str(out), "0", str(STEPS), str(EVERY), str(sleep)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def checkpoint_step(path: Path) -> int:
    try:
        return load_checkpoint(path)["step"] if path.exists() else -1
    except (CheckpointError, OSError):
        return -1


@pytest.mark.slow
def test_sigkill_halfway_then_resume_is_bitwise_identical(tmp_path):
    victim = launch(tmp_path / "run.pt", tmp_path / "run.out", 0.05)
    deadline = time.monotonic() + 120
    while checkpoint_step(tmp_path / "run.pt") < STEPS // 2:
        assert victim.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL and not (tmp_path / "run.out").exists()
    killed_at = checkpoint_step(tmp_path / "run.pt")
    assert STEPS // 2 <= killed_at < STEPS
    resumed, resumed_model = run_small(0, STEPS, tmp_path / "run.pt", EVERY)
    straight, straight_model = run_small(0, STEPS)
    assert resumed.resumed_from == killed_at and straight.resumed_from is None
    assert resumed.metrics == straight.metrics and resumed.history == straight.history
    for name, tensor in straight_model.state_dict().items():
        assert torch.equal(resumed_model.state_dict()[name], tensor), name
    assert straight.metrics["steps"] == STEPS and straight.metrics["test_accuracy"] > 0.5
