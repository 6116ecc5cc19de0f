"""The consensus study's training runs on the shared engine (pipeline.decentralized.runner).

Every run trains one arm from the run seed ``derive_seed(base seed, "consensus", index) % 2**31`` (the
tuning runs use index 0), so the runs of one seed index share the initialisation and data order:

- a :class:`~pipeline.consensus.runs.TuneRun` trains all-reduce SGDm-N at one lr of the grid and records
  its validation score;
- a :class:`~pipeline.consensus.runs.ScaleRun` reads the tuning runs of its n, takes the lr with the best
  validation score (:func:`pipeline.decentralized.tuning.choose_lr`) and trains all-reduce or the ring at
  it; the all-reduce run of seed index 0 *is* the tuning run at that lr and takes its records;
- a :class:`~pipeline.consensus.runs.PhaseRun` resumes from its parent's snapshot at the first step of its
  phase (the all-reduce run of its seed; the ring run for dec-phase-1), at that run's lr, with the ring in
  its phase only; a control arm gossips after each local step of that phase until Ξ ≤ f·Ξ_max, where
  Ξ_max is the largest Ξ_t of the uncontrolled dec-phase-k run of its seed in that phase (Kong et al.:
  targets are fractions of the consensus distance of uncontrolled training in the phase, taken from an
  uncontrolled run).

Accuracies are the mean test accuracy of the local models (``test_local_accuracy``, as the paper
reports); the averaged model's accuracy is ``test_avg_accuracy``; ``score_*`` are the means over the last
``score_evals`` evaluations. Metrics add, per phase k, the mean and largest Ξ (``xi_mean_phase<k>``,
``xi_max_phase<k>``) and the mean gossip rounds per step (``gossip_rounds_mean_phase<k>``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.consensus.runs import PhaseRun, ScaleRun, Training, TuneRun, tune_id
from pipeline.core.engine import step_limited
from pipeline.core.seeding import derive_seed
from pipeline.core.study import RunContext, RunOutput
from pipeline.decentralized import tuning
from pipeline.decentralized.models import model_spec
from pipeline.decentralized.runner import Data, load_data, snapshot_path
from pipeline.decentralized.runner import run as run_engine

STUDY = "consensus"
ENGINE_ALGORITHM = {"allreduce": "allreduce_sgdm_n", "ring": "dsgdm_n"}
NAME = "train"  # the engine's checkpoint (and snapshot) name in every run directory


def run_seed(base_seed: int, index: int) -> int:
    """Seed of seed index ``index`` (every arm and setting of one index shares it)."""
    return derive_seed(base_seed, STUDY, index) % 2**31


def resolve_steps(training: Training, n: int, train_size: int) -> int:
    """``steps``, or with ``epochs`` > 0 that many passes of each of n workers over its shard."""
    if training.epochs <= 0:
        return training.steps
    return max(1, round(training.epochs * training.shard_steps(n, train_size)))


def engine_spec(
    training: Training, n: int, lr: float, steps: int, sample_shape: tuple[int, ...]
) -> dict[str, Any]:
    """The runner spec (pipeline.decentralized.runner) of ring DSGDm-N with ``n`` workers, IID shards,
    peak lr ``lr`` over ``steps`` steps (the warm-up is ``warmup_fraction`` of them, from ``warmup_from``)."""
    return {
        "dataset": training.dataset,
        "train_subset": training.train_subset,
        "test_subset": training.test_subset,
        "valid_size": training.valid_size,
        "normalise": training.normalise,
        "augment": training.augment,
        "model": model_spec(training.model, sample_shape),
        "n_workers": n,
        "topology": training.topology,
        "algorithm": "dsgdm_n",
        "lr": lr,
        "warmup_steps": round(training.warmup_fraction * steps),
        "warmup_from": training.warmup_from,
        "momentum": training.momentum,
        "weight_decay": training.weight_decay,
        "grad_clip": training.grad_clip,
        "batch_size": training.batch_size,
        "steps": steps,
        "milestones": list(training.milestones),
        "eval_every": training.eval_every,
        "score_evals": training.score_evals,
        "log_every": 1,
        "partition": {"kind": "iid"},
        "backend": training.backend,
    }


def _data(training: Training, ctx: RunContext) -> Data:
    """The normalised splits of the run's dataset (the same for every run)."""
    keys = {
        "dataset": training.dataset,
        "train_subset": training.train_subset,
        "test_subset": training.test_subset,
        "valid_size": training.valid_size,
        "normalise": training.normalise,
    }
    return load_data(keys, ctx.data_root)


def _engine(
    training: Training, n: int, lr: float, data: Data, algorithm: str, tuning: bool = False
) -> dict[str, Any]:
    """The engine spec of one arm; only a tuning run evaluates the validation split."""
    steps = resolve_steps(training, n, len(data.y_train))
    engine = engine_spec(training, n, lr, steps, tuple(data.x_train.shape[1:]))
    return {**engine, "algorithm": ENGINE_ALGORITHM[algorithm], "evaluate_valid": tuning}


def _train(
    engine: dict[str, Any],
    seed: int,
    ctx: RunContext,
    data: Data,
    training: Training,
    snapshots: bool = False,
    start_from: Path | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Train one arm; its metrics gain the mean and largest Ξ and the mean gossip rounds of every phase."""
    result, sim, _ = run_engine(
        engine,
        seed,
        ctx.run_dir,
        name=NAME,
        data=data,
        data_root=ctx.data_root,
        device=ctx.device,
        checkpoint_every=training.checkpoint_every,
        snapshots=snapshots,
        start_from=start_from,
    )
    history = result.history_frame()
    history["xi"] = np.sqrt(history["train_xi_sq"])
    history["phase"] = [sim.schedule.phase(int(s) - 1) for s in history["step"]]
    metrics = dict(result.metrics)
    phases = range(1, len(sim.schedule.boundaries()) + 2)  # NaN for a phase the run never reached
    for k in phases:
        frame = history[history["phase"] == k]
        metrics[f"xi_mean_phase{k}"] = float(frame["xi"].mean()) if len(frame) else math.nan
        metrics[f"xi_max_phase{k}"] = float(frame["xi"].max()) if len(frame) else math.nan
        rounds = frame["train_gossip_rounds"].mean() if len(frame) else math.nan
        metrics[f"gossip_rounds_mean_phase{k}"] = float(rounds)
    metrics["gossip_rounds_total"] = float(history["train_gossip_rounds"].sum())
    metrics["boundaries"] = sim.schedule.boundaries()
    return metrics, history


def _metrics_of(ctx: RunContext, run_id: str) -> dict[str, Any]:
    return json.loads((Path(ctx.study_dir) / run_id / "metrics.json").read_text())["metrics"]


def tune_run(spec: TuneRun, ctx: RunContext) -> RunOutput:
    """All-reduce SGDm-N at one lr of the grid, seed index 0 (validation score in ``score_valid_*``)."""
    seed, data = run_seed(ctx.seed, 0), _data(spec.training, ctx)
    engine = _engine(spec.training, spec.n_workers, spec.lr, data, "allreduce", tuning=True)
    metrics, history = _train(engine, seed, ctx, data, spec.training, snapshots=spec.snapshots)
    history["arm"] = "allreduce"
    out = {**metrics, "n_workers": spec.n_workers, "seed": seed, "algorithm": engine["algorithm"]}
    return RunOutput({**out, "lr": spec.lr}, history)


def scale_run(spec: ScaleRun, ctx: RunContext) -> RunOutput:
    """All-reduce SGDm-N or ring DSGDm-N with ``spec.n_workers`` workers at the tuned lr (one arm)."""
    trials = {lr: tune_id(spec.n_workers, lr) for lr in spec.lrs}
    lr, scores = tuning.choose_lr(Path(ctx.study_dir), trials)
    choice = {"lr": lr, "lr_scores": scores, "tuned_on": "validation split, seed index 0"}
    if spec.algorithm == "allreduce" and spec.seed_index == 0:
        source = tune_id(spec.n_workers, lr)
        metrics, history = tuning.reuse(Path(ctx.study_dir) / source, ctx.run_dir)
        return RunOutput({**metrics, **choice, "reused": source}, history)
    seed, data = run_seed(ctx.seed, spec.seed_index), _data(spec.training, ctx)
    engine = _engine(spec.training, spec.n_workers, lr, data, spec.algorithm)
    metrics, history = _train(engine, seed, ctx, data, spec.training, snapshots=spec.snapshots)
    history["arm"] = spec.algorithm
    out = {**metrics, "n_workers": spec.n_workers, "seed": seed, "algorithm": engine["algorithm"]}
    return RunOutput({**out, **choice}, history)


def _phase_xi_max(ctx: RunContext, reference_run: str, phase: int) -> float:
    """Ξ_max of ``phase`` in the uncontrolled ``reference_run``, the base of a control target. A run that
    never trained in that phase has none: an error, except in a step-limited check, whose reference stops
    before the phase (NaN: the control target is then never exceeded, so no extra rounds)."""
    value = _metrics_of(ctx, reference_run).get(f"xi_max_phase{phase}")
    if value is not None and math.isfinite(float(value)):
        return float(value)
    if step_limited():
        return math.nan
    raise RuntimeError(f"{reference_run} recorded no Ξ in phase {phase}: it must train through that phase")


def phase_run(spec: PhaseRun, ctx: RunContext) -> RunOutput:
    """Dec-phase-k (uncontrolled or controlled), resumed from the parent's snapshot of phase k."""
    phase, study_dir = spec.phase, Path(ctx.study_dir)
    lr = float(_metrics_of(ctx, spec.lr_source)["lr"])
    seed, data = run_seed(ctx.seed, spec.seed_index), _data(spec.training, ctx)
    engine = _engine(spec.training, spec.n_workers, lr, data, "ring")
    engine["decentralized_phases"] = [phase]
    out: dict[str, Any] = {"phase": phase, "arm": spec.arm, "fraction": spec.fraction, "lr": lr}
    if spec.reference:
        reference = _phase_xi_max(ctx, spec.reference, phase)
        target = spec.fraction * reference
        engine["targets"] = {phase: target}
        engine["max_rounds"] = spec.max_rounds
        out.update(xi_reference=reference, target_xi=target, reference_run=spec.reference)
    start = snapshot_path(study_dir / spec.parent, NAME, spec.start_phase) if spec.parent else None
    metrics, history = _train(engine, seed, ctx, data, spec.training, start_from=start)
    history["arm"] = spec.arm
    history["target"] = out.get("target_xi", math.nan)
    out.update(started_from=spec.parent or "initialisation")
    return RunOutput({**metrics, **out, "n_workers": spec.n_workers, "seed": seed}, history)
