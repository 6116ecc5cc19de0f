"""The consensus study's training runs on the shared engine (pipeline.decentralized.runner).

A :class:`~pipeline.consensus.runs.ScaleRun` trains one arm; a :class:`~pipeline.consensus.runs.PhaseRun`
trains the uncontrolled ``dec`` arm, then one consensus-control arm ``ctrl<f>`` per control fraction f with
the target Ξ ≤ f · Ξ_ref in its phase, where Ξ_ref is the ``dec`` arm's mean Ξ over that phase
(the paper's target is the uncontrolled level from a previous uncontrolled run; here it is computed in the
same job). Every arm of a run starts from the run seed ``derive_seed(base seed, "consensus", index) %
2**31``. Accuracies are the mean test accuracy of the local models (``test_local_accuracy``, as the paper
reports); the averaged model's accuracy is ``test_avg_accuracy``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline.consensus.runs import PhaseRun, ScaleRun, Training, fraction_label
from pipeline.core.seeding import derive_seed
from pipeline.core.study import RunContext, RunOutput
from pipeline.decentralized.models import model_spec
from pipeline.decentralized.runner import load_data
from pipeline.decentralized.runner import run as run_engine
from pipeline.decentralized.simulator import Simulator

STUDY = "consensus"
ENGINE_ALGORITHM = {"allreduce": "allreduce_sgdm_n", "ring": "dsgdm_n"}


def run_seed(base_seed: int, index: int) -> int:
    """Seed of seed index ``index`` (every arm and setting of one index shares it)."""
    return derive_seed(base_seed, STUDY, index) % 2**31


def engine_spec(training: Training, n: int, sample_shape: tuple[int, ...]) -> dict[str, Any]:
    """The runner spec (pipeline.decentralized.runner) of ring DSGDm-N with ``n`` workers, IID shards.

    No ``warmup_from``: the warm-up starts from lr itself (a later change forwards it)."""
    return {
        "dataset": training.dataset,
        "train_subset": training.train_subset,
        "test_subset": training.test_subset,
        "model": model_spec(training.model, sample_shape),
        "n_workers": n,
        "topology": training.topology,
        "algorithm": "dsgdm_n",
        "lr": training.lr,
        "warmup_steps": training.warmup_steps,
        "momentum": training.momentum,
        "weight_decay": training.weight_decay,
        "batch_size": training.batch_size,
        "steps": training.steps,
        "milestones": list(training.milestones),
        "max_rounds": training.max_rounds,
        "eval_every": training.eval_every,
        "log_every": 1,
        "partition": {"kind": "iid"},
    }


def _arm(
    spec: dict[str, Any],
    seed: int,
    ctx: RunContext,
    data: tuple[torch.Tensor, ...],
    name: str,
    checkpoint_every: int,
) -> tuple[dict[str, Any], pd.DataFrame, Simulator]:
    """Train one arm; its metrics gain the mean Ξ and gossip rounds of every phase."""
    result, sim, _ = run_engine(
        spec, seed, ctx.run_dir, name=name, data=data, device=ctx.device, checkpoint_every=checkpoint_every
    )
    history = result.history_frame()
    history["xi"] = np.sqrt(history["train_xi_sq"])
    history["phase"] = [sim.schedule.phase(int(s) - 1) for s in history["step"]]
    metrics = dict(result.metrics)
    for k, frame in history.groupby("phase"):
        metrics[f"xi_mean_phase{k}"] = float(frame["xi"].mean())
        metrics[f"gossip_rounds_mean_phase{k}"] = float(frame["train_gossip_rounds"].mean())
    return metrics, history, sim


def scale_run(spec: ScaleRun, ctx: RunContext) -> RunOutput:
    """All-reduce SGDm-N or ring DSGDm-N with ``spec.n_workers`` workers (one arm)."""
    seed = run_seed(ctx.seed, spec.seed_index)
    data = _data(spec.training, ctx)
    engine = engine_spec(spec.training, spec.n_workers, tuple(data[0].shape[1:]))
    engine["algorithm"] = ENGINE_ALGORITHM[spec.algorithm]
    metrics, history, _ = _arm(engine, seed, ctx, data, spec.algorithm, spec.training.checkpoint_every)
    history["arm"] = spec.algorithm
    out = {**metrics, "n_workers": spec.n_workers, "seed": seed, "algorithm": engine["algorithm"]}
    return RunOutput(out, history)


def phase_run(spec: PhaseRun, ctx: RunContext) -> RunOutput:
    """The ``dec`` arm of dec-phase-k, then the control arms of ``spec.control_fractions``."""
    seed, phase = run_seed(ctx.seed, spec.seed_index), spec.phase
    data = _data(spec.training, ctx)
    engine = engine_spec(spec.training, spec.n_workers, tuple(data[0].shape[1:]))
    engine["decentralized_phases"] = [phase]
    every = spec.training.checkpoint_every
    metrics, history, _ = _arm(engine, seed, ctx, data, "dec", every)
    arms: dict[str, dict[str, Any]] = {"dec": metrics}
    frames = [history.assign(arm="dec", target=math.nan)]
    reference = metrics[f"xi_mean_phase{phase}"]
    for fraction in spec.control_fractions:
        label, target = fraction_label(fraction), fraction * reference
        metrics, history, _ = _arm({**engine, "targets": {phase: target}}, seed, ctx, data, label, every)
        arms[label] = {**metrics, "fraction": fraction, "target_xi": target}
        frames.append(history.assign(arm=label, target=target))
    out = {"n_workers": spec.n_workers, "seed": seed, "phase": phase, "arms": arms, "xi_reference": reference}
    return RunOutput(out, pd.concat(frames, ignore_index=True))


def _data(training: Training, ctx: RunContext) -> tuple[torch.Tensor, ...]:
    """The standardised train/test tensors of the run's dataset (the same for every arm)."""
    keys = {
        "dataset": training.dataset,
        "train_subset": training.train_subset,
        "test_subset": training.test_subset,
    }
    return load_data(keys, ctx.data_root)
