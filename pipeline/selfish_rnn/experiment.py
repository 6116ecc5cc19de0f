"""One selfish_rnn run: build the corpus, the LSTM LM and its masks from a :class:`SelfishRun`, train it on
the shared engine (resumable) and test it on the best-validation weights.

Seeds: the run seed is ``derive_seed(base seed, "selfish_rnn", seed_index)`` (so the runs of one seed index
share the model initialisation and comparisons are paired); the masks draw from ``derive_seed(run seed,
"masks")``. Metrics hold the numbers the claims read; history.csv has one row per epoch (validation
perplexity, averaging flag, death rate, per-gate densities, parameter count).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from pipeline.core.engine import TrainSpec, train
from pipeline.core.seeding import derive_seed, seed_everything
from pipeline.core.study import RunContext, RunOutput
from pipeline.data.batches import SequenceBatches
from pipeline.models import build_model
from pipeline.selfish_rnn.corpus import load_corpus
from pipeline.selfish_rnn.masking import GATES, SparseMasks
from pipeline.selfish_rnn.runs import SelfishRun
from pipeline.selfish_rnn.trainer import SparseLMTrainer, TrainSettings

STUDY = "selfish_rnn"


def _masks(spec: SelfishRun, model: nn.Module, seed: int) -> SparseMasks | None:
    if not spec.sparse:
        return None
    return SparseMasks(
        model,
        spec.density,
        init=spec.sparse_init,
        # static masks never regrow: the growth rule is not read (SparseMasks wants a valid name)
        growth=spec.growth if spec.dynamic else "random",
        gate_groups=spec.method == "set",
        seed=derive_seed(seed, "masks"),
    )


def _settings(spec: SelfishRun, total_steps: int) -> TrainSettings:
    """The trainer's settings; the trigger window and death rate are not read where the spec has none."""
    return TrainSettings(
        lr=spec.lr,
        clip=spec.clip,
        weight_decay=spec.weight_decay,
        nonmono=spec.nonmono if spec.use_asgd else 0,
        use_asgd=spec.use_asgd,
        dynamic=spec.dynamic,
        death_rate=spec.death_rate if spec.dynamic else 0.0,
        total_steps=total_steps,
        eval_batch_size=spec.eval_batch_size,
        bptt=spec.bptt,
    )


def run(spec: SelfishRun, ctx: RunContext) -> RunOutput:
    """Train one LM run (resumable from ctx.run_dir/checkpoint.pt) and test on the best-validation weights."""
    seed = derive_seed(ctx.seed, STUDY, spec.seed_index)
    corpus = load_corpus(spec.corpus, spec.vocab_size, spec.train_tokens, spec.eval_tokens, ctx.data_root)
    seed_everything(seed, device=ctx.device)
    model = build_model(
        "lstm_lm",
        vocab_size=corpus.vocab_size,
        emsize=spec.emsize,
        nhid=spec.nhid,
        nlayers=spec.nlayers,
        dropout=spec.dropout,
        tie_weights=spec.tie_weights,
        init_range=spec.init_range,
    ).to(ctx.device)
    masks = _masks(spec, model, seed)
    batches = SequenceBatches(corpus.train, spec.batch_size, spec.bptt)
    steps = spec.epochs * batches.steps_per_epoch
    trainer = SparseLMTrainer(
        model, masks, _settings(spec, steps), batches, corpus.valid.to(ctx.device), spec.batch_size
    )
    initial_parameters = trainer.nonzero_weights()
    train_spec = TrainSpec(
        steps=steps,
        seed=seed,
        eval_every=batches.steps_per_epoch,
        log_every=batches.steps_per_epoch,
        checkpoint_path=Path(ctx.run_dir) / "checkpoint.pt",
        checkpoint_every=spec.checkpoint_every,
        desc=f"{STUDY}/{spec.id}",
    )
    result = train(train_spec, trainer.step, batches, {"trainer": trainer}, evaluate=trainer.end_of_epoch)
    test = trainer.test(corpus.test.to(ctx.device))
    history = result.history_frame()
    metrics = {
        "method": spec.method,
        "optimizer": spec.optimizer,
        "seed_index": spec.seed_index,
        "run_seed": seed,
        "corpus": corpus.source,
        "vocab_size": corpus.vocab_size,
        "train_tokens": len(corpus.train),
        "epochs": spec.epochs,
        "steps": result.steps_completed,
        "diverged_at_step": result.diverged_at_step,
        "test_ppl": test["test_ppl"],
        "test_loss": test["test_loss"],
        "best_val_ppl": math.exp(trainer.best_val) if math.isfinite(trainer.best_val) else math.inf,
        "switch_epoch": trainer.switch_epoch,
        "parameters": trainer.nonzero_weights(),
        "initial_parameters": initial_parameters,
        "dense_parameters": sum(param.numel() for param in model.parameters()),
        **_mask_metrics(masks, history),
    }
    return RunOutput(metrics=metrics, history=history)


def _mask_metrics(masks: SparseMasks | None, history: pd.DataFrame) -> dict[str, Any]:
    """Budget errors over the run and the final per-gate densities (sparse runs only)."""
    if masks is None:
        return {}
    column = history.get("budget_error_max")
    gates = {name: masks.gate_densities(name) for name in masks.lstm_names()}
    spreads = [max(values) - min(values) for values in gates.values()]
    return {
        "sparse_density": masks.nonzero_count() / masks.total_count(),
        "budget_error_max": float(column.max()) if column is not None and column.notna().any() else 0.0,
        "gate_densities": {name: dict(zip(GATES, values, strict=True)) for name, values in gates.items()},
        "gate_spread_min": min(spreads) if spreads else 0.0,
    }
