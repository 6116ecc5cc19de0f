"""One training run of the fisher study: data, model, SGD with an optional penalty, Tr F tracking.

The arms (docs/fisher.md):

========== ============ =========================================================================
arm        lr           update
========== ============ =========================================================================
small      lr_small     plain SGD (the sub-optimal small learning rate)
large      lr_large     plain SGD (the tuned, large learning rate)
small_fp   lr_small     SGD + alpha_fp · Fisher penalty every penalty_every steps
small_gp   lr_small     SGD + alpha_gp · gradient-norm penalty (true labels), the paper's control
small_gpx  lr_small     SGD + alpha_gpx · input-gradient-norm penalty (true labels), control
small_gpr  lr_small     SGD + alpha_gpr · gradient-norm penalty with uniformly random labels, control
noisy      noise_lr     plain SGD on labels with noise_fraction flipped
noisy_fp   noise_lr     the same + alpha_fp · Fisher penalty
========== ============ =========================================================================

The arm's settings are resolved into its run spec (:func:`pipeline.fisher.runs.arm_spec`).

Tr F is measured on a fixed training subset with labels sampled from the model (own generator,
seeded by ``(seed, "trace", step)``, so it never perturbs training and a resumed run measures the same
numbers): every ``trace_every`` steps up to ``trace_until`` (the early phase), then every ``eval_every``
steps, in the mode ``fisher_mode`` the penalties are computed in (train: dropout active; eval).
Accuracies (test; train on the labels trained on; for noisy arms, the fit of the noisy and of the clean
subsets) are measured every ``eval_every`` steps and at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from pipeline.core.engine import TrainSpec, evaluation_cap, train
from pipeline.core.evaluation import eval_mode, evaluate_classifier
from pipeline.core.seeding import derive_seed, make_generator, seed_everything
from pipeline.data import load_dataset
from pipeline.data.batches import TensorBatches
from pipeline.data.transforms import normalize, to_float
from pipeline.fisher.noise import flip_labels
from pipeline.fisher.penalty import PenalizedStep
from pipeline.fisher.runs import FisherRun
from pipeline.fisher.trace import fisher_trace_sampled
from pipeline.models import build_model

NUM_CLASSES = 10
FIT_LEVEL = 0.99  # train accuracy at which a run counts as having fitted its training set


# --------------------------------------------------------------------------------------------------- data


@dataclass
class Data:
    """Float inputs and labels on the run's device; ``is_noisy`` marks flipped training labels."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    is_noisy: torch.Tensor
    clean_y: torch.Tensor


def _subset(n: int, size: int, seed: int, *keys: object) -> torch.Tensor:
    if size <= 0 or size >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=make_generator(seed, *keys))[:size].sort().values


def _as_float(x: torch.Tensor, meta: dict[str, Any]) -> torch.Tensor:
    x = to_float(x)
    if x.dim() == 4 and "mean" in meta and "std" in meta:
        x = normalize(x, meta["mean"], meta["std"])
    return x


def load_data(spec: FisherRun, base_seed: int, data_root: str | Path, device: torch.device | str) -> Data:
    """The experiment's train/test subsets (fixed by ``base_seed`` and the experiment name, equal across
    arms and seeds) and the arm's label noise (its positions seeded the same way)."""
    bundle = load_dataset(spec.dataset, data_root=data_root)
    (x, y), (xt, yt) = bundle.xy("train"), bundle.xy("test")
    keep = _subset(len(x), spec.train_size, base_seed, spec.experiment, "train_subset")
    keep_test = _subset(len(xt), spec.test_size, base_seed, spec.experiment, "test_subset")
    x, y = _as_float(x[keep], bundle.meta), y[keep]
    xt, yt = _as_float(xt[keep_test], bundle.meta), yt[keep_test]
    noisy_y, is_noisy = flip_labels(
        y, spec.noise_fraction, NUM_CLASSES, make_generator(base_seed, spec.experiment, "label_noise")
    )
    return Data(
        x.to(device), noisy_y.to(device), xt.to(device), yt.to(device), is_noisy.to(device), y.to(device)
    )


def build(spec: FisherRun, input_shape: torch.Size) -> nn.Module:
    """The experiment's model (no batch norm, so per-example gradients are well defined)."""
    name, width = spec.model, spec.width
    if name == "cnn1d":
        return build_model("cnn1d", length=int(input_shape[-1]), channels=width)
    if name == "small_cnn":
        return build_model(
            "small_cnn", in_channels=int(input_shape[0]), channels=(width, 2 * width, 2 * width)
        )
    if name == "mlp":
        return build_model("mlp", in_features=int(math.prod(input_shape)), depth=3, width=width)
    if name == "vgg11":
        return build_model("vgg11", in_channels=int(input_shape[0]))
    raise KeyError(f"fisher: unknown model {name!r}")


# ----------------------------------------------------------------------------------------------- training


class _Clock:
    """Wraps the step so the evaluation knows which step it follows (the engine's evaluate takes none)."""

    def __init__(self, update: PenalizedStep) -> None:
        self.update, self.step = update, 0

    def __call__(self, step: int, batch: Any) -> dict[str, Any]:
        self.step = step + 1
        return self.update(step, batch)


def _fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> float:
    """Fraction of the examples selected by ``mask`` whose prediction equals ``y``."""
    if not bool(mask.any()):
        return math.nan
    with eval_mode(model):
        predicted = torch.cat([model(chunk).argmax(-1) for chunk in x[mask].split(1024)])
    return float((predicted == y[mask]).float().mean())


def _evaluator(spec: FisherRun, model: nn.Module, data: Data, clock: _Clock, total: int, seed: int):
    trace_x = data.train_x[: evaluation_cap(spec.trace_examples)]
    fit = slice(0, evaluation_cap(len(data.train_x)))  # every training example, except in a short check
    train_x, train_y, clean_y, is_noisy = (
        t[fit] for t in (data.train_x, data.train_y, data.clean_y, data.is_noisy)
    )

    def evaluate() -> dict[str, float]:
        step, out = clock.step, {}
        last = step == total
        if step <= spec.trace_until or step % spec.eval_every == 0 or last:
            generator = make_generator(seed, "trace", step, device=trace_x.device)
            out["fisher_trace"] = fisher_trace_sampled(model, trace_x, generator, mode=spec.fisher_mode)
        if step % spec.eval_every == 0 or last:
            out.update(evaluate_classifier(model, data.test_x, data.test_y, prefix="test_"))
            out.update(evaluate_classifier(model, train_x, train_y, prefix="fit_"))
            if bool(data.is_noisy.any()):
                out["noisy_fit"] = _fit(model, train_x, train_y, is_noisy)
                out["clean_fit"] = _fit(model, train_x, train_y, ~is_noisy)
                out["noisy_true_accuracy"] = _fit(model, train_x, clean_y, is_noisy)
        return out

    return evaluate


def _first_step(history: pd.DataFrame, key: str, level: float) -> float:
    """The first evaluated step at which ``key`` reached ``level`` (NaN if it never did)."""
    if key not in history:
        return math.nan
    rows = history[["step", key]].dropna()
    reached = rows[rows[key] >= level]
    return float(reached["step"].iloc[0]) if len(reached) else math.nan


def _summary(history: pd.DataFrame, trace_until: int) -> dict[str, float]:
    """Tr F peak in the early phase, its step, first and last values; the first step at which the training
    set was fitted (train accuracy ≥ FIT_LEVEL); time-averaged fits (noisy arms)."""
    out: dict[str, float] = {"fit_step": _first_step(history, "fit_accuracy", FIT_LEVEL)}
    if "fisher_trace" in history:
        trace = history[["step", "fisher_trace"]].dropna()
        early = trace[trace["step"] <= trace_until]
        if len(early):
            peak = early.loc[early["fisher_trace"].idxmax()]
            out.update(trace_peak_early=float(peak["fisher_trace"]), trace_peak_step=float(peak["step"]))
            out["trace_first"] = float(early["fisher_trace"].iloc[0])
        out["trace_final"] = float(trace["fisher_trace"].iloc[-1]) if len(trace) else math.nan
    for key in ("noisy_fit", "clean_fit"):
        if key in history:
            out[f"{key}_mean"] = float(history[key].dropna().mean())
    return out


def run(
    spec: FisherRun, base_seed: int, device: str, run_dir: Path, data_root: str | Path
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Train arm ``spec.arm`` of experiment ``spec.experiment`` with seed number ``spec.seed_index``;
    (metrics, history)."""
    seed = derive_seed(base_seed, spec.experiment, "seed", spec.seed_index)  # shared by the arms: paired
    data = load_data(spec, base_seed, data_root, device)
    seed_everything(seed, device=device)
    model = build(spec, data.train_x.shape[1:]).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=spec.momentum)
    # penalty_every is None for the arms without a penalty, which never read it
    update = PenalizedStep(
        model, optimizer, spec.penalty, spec.alpha, spec.penalty_every or 1, seed, mode=spec.fisher_mode
    )
    clock = _Clock(update)
    batches = TensorBatches(data.train_x, data.train_y, batch_size=spec.batch_size, seed=seed)
    steps = spec.epochs * batches.steps_per_epoch
    every = math.gcd(spec.trace_every, spec.eval_every)
    train_spec = TrainSpec(
        steps=steps,
        seed=seed,
        eval_every=every,
        log_every=every,
        checkpoint_path=run_dir / "checkpoint.pt",
        checkpoint_every=spec.checkpoint_every,
        desc=f"fisher {spec.experiment} {spec.arm} s{spec.seed_index}",
    )
    result = train(
        train_spec,
        clock,
        batches,
        {"train": update},
        evaluate=_evaluator(spec, model, data, clock, steps, seed),
    )
    history = result.history_frame()
    metrics: dict[str, Any] = {
        **result.metrics,
        "experiment": spec.experiment,
        "arm": spec.arm,
        "seed_index": spec.seed_index,
        "lr": spec.lr,
        "penalty": spec.penalty,
        "alpha": spec.alpha,
        "noise_fraction": spec.noise_fraction,
        "trace_until": spec.trace_until,
        "train_examples": len(data.train_x),
        "steps_per_epoch": batches.steps_per_epoch,
        **_summary(history, spec.trace_until),
    }
    return metrics, history
