"""Launch a decentralized run on real processes (the ``torchrun`` backend) and read its result back.

:func:`run_torchrun` writes the job (``<run_dir>/<name>.job.json``: the runner spec, seed, data root,
device and driver options), runs ``python -m torch.distributed.run <launcher args> -m
pipeline.decentralized.distributed --job <job>`` and returns rank 0's result as a
:class:`~pipeline.core.engine.TrainResult`; the workflow's train job then writes the run's records exactly
as for the simulator. Checkpoints and snapshots live in the run directory as for the simulator (same
files, same layout), so an interrupted run resumes under either backend.

Launcher arguments: one node by default (``--standalone --nproc_per_node <n_workers>``). For several
nodes set ``PIPELINE_TORCHRUN_ARGS``, e.g. inside a SLURM allocation of 4 nodes with 8 GPUs each::

    export PIPELINE_TORCHRUN_ARGS="--nnodes 4 --nproc_per_node 8 --rdzv_backend c10d \\
        --rdzv_endpoint $(scontrol show hostnames $SLURM_JOB_NODELIST | head -1):29500"
    srun --nodes 4 --ntasks-per-node 1 python -m torch.distributed.run $PIPELINE_TORCHRUN_ARGS \\
        -m pipeline.decentralized.distributed --job results/paper/consensus/<run>/train.job.json

(the job file is what the train job wrote; the run directory must be on a file system every node sees).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pipeline.core.atomic import atomic_write_json
from pipeline.core.engine import TrainResult

ENV_ARGS = "PIPELINE_TORCHRUN_ARGS"
RESULT_FIELDS = ("metrics", "history", "diverged_at_step", "steps_completed", "resumed_from", "wall_seconds")


def result_path(job: Path) -> Path:
    """Where rank 0 writes the result of ``<name>.job.json``: ``<name>.result.json``."""
    return job.with_name(job.name.replace(".job.json", ".result.json"))


def launcher_args(n_workers: int) -> list[str]:
    """torchrun's arguments: ``$PIPELINE_TORCHRUN_ARGS`` when set, else one node, one process per worker."""
    given = os.environ.get(ENV_ARGS)
    return shlex.split(given) if given else ["--standalone", "--nproc_per_node", str(n_workers)]


def command(job: Path, n_workers: int) -> list[str]:
    """The torchrun command line of ``job``."""
    worker = ["-m", "pipeline.decentralized.distributed", "--job", str(job)]
    return [sys.executable, "-m", "torch.distributed.run", *launcher_args(n_workers), *worker]


def run_torchrun(
    spec: dict[str, Any],
    seed: int,
    run_dir: Path | None,
    *,
    data_root: str | Path | None,
    device: str,
    name: str,
    checkpoint_every: int = 0,
    snapshots: bool = False,
    start_from: Path | None = None,
) -> TrainResult:
    """Train ``spec`` with one process per worker; see the module docstring."""
    with tempfile.TemporaryDirectory(prefix="torchrun-") as scratch:
        directory = Path(run_dir) if run_dir is not None else Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        job = directory / f"{name}.job.json"
        payload = {
            "spec": spec,
            "seed": seed,
            "run_dir": str(directory.resolve()),
            "name": name,
            "data_root": None if data_root is None else str(Path(data_root).resolve()),
            "device": "cuda" if str(device).startswith("cuda") else "cpu",
            "threads": 1,
            "checkpoint_every": checkpoint_every if run_dir is not None else 0,
            "snapshots": snapshots,
            "start_from": None if start_from is None else str(Path(start_from).resolve()),
        }
        atomic_write_json(job, payload)
        result = result_path(job)
        result.unlink(missing_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        completed = subprocess.run(command(job, spec["n_workers"]), env=env, capture_output=True, text=True)
        if completed.returncode != 0 or not result.exists():
            tail = (completed.stdout + completed.stderr)[-4000:]
            raise RuntimeError(f"torchrun backend failed ({completed.returncode}) for {job}:\n{tail}")
        record = json.loads(result.read_text())
    values = {key: record[key] for key in RESULT_FIELDS}
    return TrainResult(**values, last_eval={})
