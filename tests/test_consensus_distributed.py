"""torch.distributed (gloo, torchrun, n = 4 processes) against the vmap simulator: same parameters to 1e-6
after 5 steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from pipeline.decentralized.distributed import synthetic_data
from pipeline.decentralized.runner import build_problem, make_simulator

SPEC = {
    "model": {
        "name": "mlp",
        "options": {"in_features": 12, "num_classes": 4, "width": 16, "depth": 2, "norm": "group"},
    },
    "n_workers": 4,
    "topology": "ring",
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 1e-3,
    "batch_size": 8,
    "steps": 5,
    "partition": {"kind": "iid"},
}


ALGORITHMS = ["dsgdm_n", "allreduce_sgdm_n", "qg_dsgdm_n", "d2", "gradient_tracking"]


def test_gloo_processes_match_simulator(tmp_path):
    spec = {**SPEC, "algorithm": "dsgd"}
    payload = tmp_path / "spec.json"
    payload.write_text(
        json.dumps({"spec": spec, "seed": 3, "steps": 5, "data": "synthetic", "algorithms": ALGORITHMS})
    )
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "4",
        "--standalone",
        "-m",
        "pipeline.decentralized.distributed",
        "--spec",
        str(payload),
        "--out",
        str(out),
    ]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env={"OMP_NUM_THREADS": "1", **__import__("os").environ},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    problem = build_problem(spec, 3, data=synthetic_data(3))
    for algorithm in ALGORITHMS:
        sim = make_simulator(problem, {**spec, "algorithm": algorithm})
        for step in range(5):
            sim.step(step, problem.batch(step))
        processes = torch.stack([torch.load(out / f"{algorithm}_rank{i}.pt") for i in range(4)])
        if algorithm != "allreduce_sgdm_n":
            assert float((sim.X - sim.X.mean(0)).abs().max()) > 1e-4, algorithm  # workers disagree
        torch.testing.assert_close(processes, sim.X, atol=1e-6, rtol=0, msg=algorithm)


def test_timing_mode_writes_the_slowest_rank_step_times(tmp_path):
    """``time_steps``: rank 0 writes timing.json with one positive time per timed step (2 processes, the
    GN 1-D CNN of pipeline/consensus/bench.py on synthetic 40-long inputs); no parity rows are written."""
    spec = {
        **SPEC,
        "model": {"name": "gn_cnn1d", "options": {"length": 40, "channels": 4, "groups": 2}},
        "n_workers": 2,
        "algorithm": "dsgdm_n",
    }
    payload = {"spec": spec, "seed": 0, "steps": 0, "data": "synthetic", "time_steps": 3, "warmup_steps": 1}
    payload["synthetic"] = {"n_train": 64, "n_test": 8, "dim": 40, "classes": 10}
    (tmp_path / "spec.json").write_text(json.dumps(payload))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    command += ["-m", "pipeline.decentralized.distributed", "--spec", str(tmp_path / "spec.json")]
    completed = subprocess.run(
        [*command, "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    timing = json.loads((tmp_path / "out" / "timing.json").read_text())
    assert timing["world"] == 2 and timing["algorithm"] == "dsgdm_n" and timing["warmup_steps"] == 1
    assert len(timing["step_s"]) == 3 and all(0 < t < 10 for t in timing["step_s"])
    assert not list((tmp_path / "out").glob("*.pt"))
