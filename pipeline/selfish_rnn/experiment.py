"""One selfish_rnn run: build the corpus, the LSTM LM and its masks from a :class:`SelfishRun`, train it on
the shared engine (resumable) and test it on the best-validation weights.

Seeds: the run seed is ``derive_seed(base seed, "selfish_rnn", seed_index)`` (so the runs of one seed index
share the model initialisation and comparisons are paired); the masks draw from ``derive_seed(run seed,
"masks")``. Metrics hold the numbers the claims read; history.csv has one row per epoch (validation
perplexity, averaging flag, death rate, per-gate densities, parameter count).

Forks (docs/selfish_rnn.md, "Forked SGD runs"): every SNT-ASGD run writes ``fork.pt`` into its run
directory, the state just before its switch to averaging (or before its last epoch end). A forked SGD run
(``spec.forked``) loads it from the SNT-ASGD run's directory, checks that it was written by the run its spec
continues, finishes that epoch with SGD and trains the remaining steps; its history is the SNT-ASGD run's
history up to the fork followed by its own. On CPU this equals training the SGD run from scratch bit for bit
(a test checks it); on a GPU it makes the pair share its trajectory exactly up to the switch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from pipeline.core.checkpoint import load_checkpoint, save_checkpoint
from pipeline.core.engine import TrainResult, TrainSpec, train
from pipeline.core.records import read_metrics
from pipeline.core.seeding import derive_seed, seed_everything, set_rng_state
from pipeline.core.study import RunContext, RunOutput
from pipeline.data.batches import SequenceBatches
from pipeline.models import build_model
from pipeline.selfish_rnn.corpus import Corpus, load_corpus
from pipeline.selfish_rnn.masking import GATES, SparseMasks
from pipeline.selfish_rnn.runs import SelfishRun
from pipeline.selfish_rnn.trainer import SparseLMTrainer, TrainSettings

STUDY = "selfish_rnn"
FORK_FILE = "fork.pt"


class ForkError(RuntimeError):
    """A forked SGD run found no usable fork state of the SNT-ASGD run it continues."""


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


@dataclass
class _Setup:
    """Everything one run builds before training."""

    seed: int
    corpus: Corpus
    model: nn.Module
    masks: SparseMasks | None
    batches: SequenceBatches
    steps: int
    trainer: SparseLMTrainer


def _setup(spec: SelfishRun, ctx: RunContext) -> _Setup:
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
    return _Setup(seed, corpus, model, masks, batches, steps, trainer)


def _train_spec(
    spec: SelfishRun, ctx: RunContext, setup: _Setup, steps: int, identity: int | None = None
) -> TrainSpec:
    """The engine's spec; ``identity`` (default: the run seed) is what a checkpoint must match to resume."""
    every = setup.batches.steps_per_epoch
    return TrainSpec(
        steps=steps,
        seed=setup.seed if identity is None else identity,
        eval_every=every,
        log_every=every,
        checkpoint_path=Path(ctx.run_dir) / "checkpoint.pt",
        checkpoint_every=spec.checkpoint_every,
        desc=f"{STUDY}/{spec.id}",
    )


def run(spec: SelfishRun, ctx: RunContext) -> RunOutput:
    """Train one LM run (resumable from ctx.run_dir/checkpoint.pt) and test on the best-validation weights."""
    setup = _setup(spec, ctx)
    if spec.forked:
        return _run_fork(spec, ctx, setup)
    trainer = setup.trainer
    if spec.use_asgd:
        fork_path = Path(ctx.run_dir) / FORK_FILE
        trainer.fork_hook = lambda state: save_checkpoint(
            fork_path, {"spec": spec.to_dict(), "seed": setup.seed, **state}
        )
    initial_parameters = trainer.nonzero_weights()
    result = train(
        _train_spec(spec, ctx, setup, setup.steps),
        trainer.step,
        setup.batches,
        {"trainer": trainer},
        evaluate=trainer.end_of_epoch,
    )
    return _output(spec, ctx, setup, result.history_frame(), result, initial_parameters, 0)


def _source_spec(spec: SelfishRun) -> SelfishRun:
    """The SNT-ASGD run a forked SGD run continues (same settings, optimiser sntasgd, not forked)."""
    return dataclasses.replace(spec, optimizer="sntasgd", forked=False)


def _load_fork(spec: SelfishRun, ctx: RunContext, seed: int) -> tuple[dict[str, Any] | None, Path]:
    """The fork state of the SNT-ASGD run ``spec`` continues (checked against its spec and seed) and that
    run's directory; the state is None when that run diverged before reaching its fork point."""
    if ctx.study_dir is None:
        raise ForkError(f"{spec.id}: a forked SGD run needs the study directory (RunContext.study_dir)")
    source = Path(ctx.study_dir) / spec.fork_source
    path, history = source / FORK_FILE, source / "history.csv"
    if not path.exists() and _diverged_before_fork(source):
        return None, source
    if not path.exists() or not history.exists():
        raise ForkError(
            f"{spec.id}: {path} or {history} is missing; run {spec.fork_source} first (or set "
            "selfish_rnn.fork_sgd: false to train the SGD runs from scratch)"
        )
    state = load_checkpoint(path)
    if state.get("spec") != _source_spec(spec).to_dict() or state.get("seed") != seed:
        raise ForkError(f"{spec.id}: {path} was written by another run or config; re-run {spec.fork_source}")
    state["identity"] = int(hashlib.sha256(path.read_bytes()).hexdigest()[:15], 16)
    return state, source


def _drop_checkpoint_of_another_fork(path: Path, identity: int) -> None:
    """Remove a forked run's own checkpoint written after a different fork state (a re-run SNT-ASGD run
    on a non-deterministic device), so that the run restarts from the new fork instead of mixing them."""
    if path.exists() and load_checkpoint(path).get("seed") != identity:
        path.unlink()


def _diverged_before_fork(source: Path) -> bool:
    """Whether the finished SNT-ASGD run in ``source`` diverged (then it never wrote its fork state)."""
    record = source / "metrics.json"
    return record.exists() and read_metrics(record).get("diverged_at_step") is not None


def _run_fork(spec: SelfishRun, ctx: RunContext, setup: _Setup) -> RunOutput:
    """A forked SGD run: the SNT-ASGD run's state at its fork point, then SGD to the end."""
    fork, source = _load_fork(spec, ctx, setup.seed)
    if fork is None:  # diverged in its SGD phase: this run would have diverged at the same step
        metrics = read_metrics(source / "metrics.json")
        copied = {**metrics, "optimizer": spec.optimizer, "fork_epoch": None, "trained_steps": 0}
        return RunOutput(metrics=copied, history=pd.read_csv(source / "history.csv"))
    source_history = pd.read_csv(source / "history.csv")
    trainer, batches = setup.trainer, setup.batches
    initial_parameters = trainer.nonzero_weights()  # the masks before any prune/regrow, as in the source
    trainer.load_state_dict(fork["trainer"])
    set_rng_state(fork["rng"])
    epoch = int(fork["epoch"])
    offset = epoch * batches.steps_per_epoch
    # the fork epoch: its training steps are the source's (its train_* columns), its end is SGD's
    row = trainer.close_epoch({name: float(value) for name, value in fork["validation"].items()})
    before = source_history[source_history["epoch"].notna() & (source_history["epoch"] < epoch)]
    at_fork = source_history[source_history["epoch"] == epoch].iloc[0]
    train_columns = {name: at_fork[name] for name in source_history.columns if name.startswith("train_")}
    prefix = pd.concat([before, pd.DataFrame([{"step": float(offset), **train_columns, **row}])])
    result = None
    if offset < setup.steps:
        train_spec = _train_spec(spec, ctx, setup, setup.steps - offset, identity=fork["identity"])
        _drop_checkpoint_of_another_fork(train_spec.checkpoint_path, fork["identity"])
        result = train(
            train_spec,
            lambda step, batch: trainer.step(step + offset, batch),
            lambda step: batches(step + offset),
            {"trainer": trainer},
            evaluate=trainer.end_of_epoch,
        )
        rest = result.history_frame()
        rest["step"] = rest["step"] + offset
        history = pd.concat([prefix, rest], ignore_index=True)
    else:
        history = prefix.reset_index(drop=True)
    return _output(spec, ctx, setup, history, result, initial_parameters, offset, fork_epoch=epoch)


def _output(
    spec: SelfishRun,
    ctx: RunContext,
    setup: _Setup,
    history: pd.DataFrame,
    result: TrainResult | None,
    initial_parameters: int,
    offset: int,
    fork_epoch: int | None = None,
) -> RunOutput:
    trainer, corpus = setup.trainer, setup.corpus
    test = trainer.test(corpus.test.to(ctx.device))
    diverged = result.diverged_at_step + offset if result is not None and result.diverged else None
    metrics = {
        "corpus": spec.corpus,
        "method": spec.method,
        "optimizer": spec.optimizer,
        "seed_index": spec.seed_index,
        "run_seed": setup.seed,
        "corpus_source": corpus.source,
        "vocab_size": corpus.vocab_size,
        "train_tokens": len(corpus.train),
        "epochs": spec.epochs,
        "steps": offset + (result.steps_completed if result is not None else 0),
        "trained_steps": result.steps_completed if result is not None else 0,
        "fork_epoch": fork_epoch,
        "diverged_at_step": diverged,
        "test_ppl": test["test_ppl"],
        "test_loss": test["test_loss"],
        "best_val_ppl": math.exp(trainer.best_val) if math.isfinite(trainer.best_val) else math.inf,
        "unigram_test_ppl": unigram_perplexity(corpus.train, corpus.test, corpus.vocab_size),
        "switch_epoch": trainer.switch_epoch,
        "parameters": trainer.nonzero_weights(),
        "initial_parameters": initial_parameters,
        "dense_parameters": sum(param.numel() for param in setup.model.parameters()),
        **_mask_metrics(setup.masks, history),
    }
    return RunOutput(metrics=metrics, history=history)


def unigram_perplexity(train: torch.Tensor, test: torch.Tensor, vocab_size: int) -> float:
    """Test perplexity of the add-one-smoothed unigram model of the training tokens: what a language
    model that learned only word frequencies reaches (the untrained-baseline regime check)."""
    counts = torch.bincount(train, minlength=vocab_size).double() + 1.0
    log_probs = torch.log(counts / counts.sum())
    return float(torch.exp(-log_probs[test].mean()))


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
