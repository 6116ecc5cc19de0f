"""The torchrun backend against the simulator: 4 real processes (gloo on CPU; NCCL with
``PIPELINE_DIST_BACKEND=nccl`` on a 4-GPU machine, scripts/gpu-check.sh) give the same records to 1e-5.

One consensus-style run (ring DSGDm-N, decentralized in phase 1 only, consensus control there, phase
snapshots) and one qgm-style run (QG-DSGDm-N on a Dirichlet partition), both on MNIST-1D through
:func:`pipeline.decentralized.runner.run`; then a torchrun run resumed from the simulator's phase-2
snapshot equals the simulator's run resumed from it (checkpoints are one layout for both backends).
"""

from __future__ import annotations

import math
import os

import pandas as pd
import pytest
import torch

from pipeline.core.checkpoint import load_checkpoint
from pipeline.decentralized import runner
from pipeline.decentralized.runner import snapshot_path

pytestmark = pytest.mark.slow
DEVICE = "cuda" if os.environ.get("PIPELINE_DIST_BACKEND") == "nccl" else "cpu"
BASE = {
    "dataset": "mnist1d",
    "train_subset": 640,
    "test_subset": 200,
    "valid_size": 100,
    "normalise": "scalar",
    "model": {"name": "gn_cnn1d", "options": {"length": 40, "channels": 4, "groups": 2}},
    "n_workers": 4,
    "topology": "ring",
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "batch_size": 16,
    "steps": 16,
    "milestones": [0.5, 0.75],
    "warmup_steps": 2,
    "warmup_from": 0.005,
    "eval_every": 4,
    "score_evals": 2,
    "log_every": 1,
}
CONSENSUS = {
    **BASE,
    "algorithm": "dsgdm_n",
    "partition": {"kind": "iid"},
    "decentralized_phases": [1],
    "targets": {1: 0.02},
    "max_rounds": 4,
}
QGM = {
    **BASE,
    "algorithm": "qg_dsgdm_n",
    "buffer_rate": 0.1,
    "partition": {"kind": "dirichlet", "alpha": 0.5},
}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _both(spec: dict, tmp_path, name: str, **options):
    simulated, _, _ = runner.run(spec, 7, tmp_path / f"{name}_sim", name="train", **options)
    torchrun = {**spec, "backend": "torchrun"}
    processes, _, _ = runner.run(torchrun, 7, tmp_path / f"{name}_proc", name="train", **options)
    return simulated, processes


def _assert_same_records(simulated, processes) -> None:
    assert processes.steps_completed == simulated.steps_completed and processes.diverged_at_step is None
    assert set(processes.metrics) == set(simulated.metrics)
    for key, value in simulated.metrics.items():
        assert math.isclose(processes.metrics[key], value, rel_tol=1e-5, abs_tol=1e-5), key
    theirs = pd.DataFrame(simulated.history)
    ours = pd.DataFrame(processes.history)
    assert set(ours.columns) == set(theirs.columns)
    pd.testing.assert_frame_equal(ours[theirs.columns], theirs, rtol=1e-5, atol=1e-5)


def test_consensus_run_with_phases_and_control_equals_the_simulator(tmp_path):
    simulated, processes = _both(CONSENSUS, tmp_path, "consensus", device=DEVICE, snapshots=True)
    history = pd.DataFrame(simulated.history)
    assert history["train_gossip_rounds"].max() > 1  # control gossiped more than once somewhere
    assert {"test_local_accuracy", "valid_avg_accuracy"} <= set(history.columns)
    _assert_same_records(simulated, processes)
    for phase in (2, 3):
        paths = [snapshot_path(tmp_path / f"consensus_{kind}", "train", phase) for kind in ("sim", "proc")]
        saved = [load_checkpoint(path) for path in paths]
        assert saved[0]["step"] == saved[1]["step"]
        torch.testing.assert_close(saved[1]["state"]["X"], saved[0]["state"]["X"], atol=1e-5, rtol=1e-5)


def test_qgm_run_on_a_dirichlet_partition_equals_the_simulator(tmp_path):
    _assert_same_records(*_both(QGM, tmp_path, "qgm", device=DEVICE))


def test_a_torchrun_run_resumes_from_a_simulator_snapshot(tmp_path):
    runner.run(CONSENSUS, 7, tmp_path / "parent", name="train", device=DEVICE, snapshots=True)
    start = snapshot_path(tmp_path / "parent", "train", 2)
    child = {**CONSENSUS, "decentralized_phases": [2], "targets": {}}
    simulated, processes = _both(child, tmp_path, "child", device=DEVICE, start_from=start)
    assert processes.resumed_from == simulated.resumed_from == 8
    _assert_same_records(simulated, processes)


@pytest.mark.parametrize("study", ["consensus", "qgm"])
def test_the_backend_key_reaches_every_training_run(study):
    from pipeline import studies
    from pipeline.core.config import section

    table = studies.runs(study, section(study, {"backend": "torchrun"}))
    trained = [spec for spec in table.values() if hasattr(spec, "training")]
    assert trained and all(spec.training.backend == "torchrun" for spec in trained)
    default = studies.runs(study, section(study))
    assert all(spec.training.backend == "simulator" for spec in default.values() if hasattr(spec, "training"))
