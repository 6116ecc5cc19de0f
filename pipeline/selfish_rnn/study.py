"""The selfish_rnn study: dense / static / SET / Selfish-RNN LSTM LMs, each with SGD and SNT-ASGD.

Runs are ``<method>_<optimizer>_s<k>`` (e.g. ``selfish_sntasgd_s0``) for every method in ``methods``, every
optimiser in ``optimizers`` and seed index k < ``seeds``. Methods (selfish_rnn.md §2):

- ``dense``: no masks;
- ``static``: masks fixed at initialisation (density ``density``);
- ``set``: magnitude death + random regrowth every epoch, each LSTM gate block keeping its own budget
  (no redistribution across gates);
- ``selfish``: the same on whole stacked LSTM matrices, so the four gates compete (cell-gate redistribution).

Optimisers: ``sgd`` (constant lr, keeps the best-validation weights) and ``sntasgd`` (§2.6). All runs of a
seed index share the model initialisation, so comparisons are paired. Metrics hold the numbers the claims
read; history.csv has one row per epoch (validation perplexity, averaging flag, death rate, per-gate
densities, parameter count).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.claims import Claim, make_claim
from pipeline.core.engine import TrainSpec, train
from pipeline.core.records import read_metrics
from pipeline.core.seeding import derive_seed, seed_everything
from pipeline.data.batches import SequenceBatches
from pipeline.models import build_model
from pipeline.selfish_rnn.corpus import load_corpus
from pipeline.selfish_rnn.masking import GATES, SparseMasks
from pipeline.selfish_rnn.trainer import SparseLMTrainer, TrainSettings
from pipeline.studies import RunContext, RunOutput

STUDY = "selfish_rnn"
METHODS = ("dense", "static", "set", "selfish")
SPARSE_METHODS = ("static", "set", "selfish")
OPTIMIZERS = ("sgd", "sntasgd")
CORPORA = ("synthetic", "kjv", "ptb", "wikitext2")

DEFAULTS: dict[str, Any] = {
    "corpus": "kjv",
    "vocab_size": 1000,
    "train_tokens": 30000,
    "eval_tokens": 6000,
    "emsize": 100,
    "nhid": 100,
    "nlayers": 2,
    "dropout": 0.3,
    "tie_weights": False,
    "init_range": 0.1,
    "batch_size": 10,
    "bptt": 35,
    "eval_batch_size": 10,
    "epochs": 20,
    "lr": 20.0,
    "clip": 0.25,
    "weight_decay": 1.2e-6,
    "nonmono": 3,
    "density": 0.33,
    "death_rate": 0.5,
    "sparse_init": "uniform",
    "growth": "random",
    "methods": list(METHODS),
    "optimizers": list(OPTIMIZERS),
    "seeds": 2,
    "checkpoint_every": 500,
    "gate_spread_min": 0.02,
}


# ----------------------------------------------------------------------------------------------- config


def resolve(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """The study's config with :data:`DEFAULTS` filled in, validated."""
    out = {**copy.deepcopy(DEFAULTS), **(cfg or {})}
    unknown = sorted(set(out) - set(DEFAULTS))
    if unknown:
        raise KeyError(f"selfish_rnn: unknown config keys {unknown}")
    if out["corpus"] not in CORPORA:
        raise ValueError(f"selfish_rnn.corpus must be one of {CORPORA}, got {out['corpus']!r}")
    for key, allowed in (("methods", METHODS), ("optimizers", OPTIMIZERS)):
        bad = [value for value in out[key] if value not in allowed]
        if bad or not out[key]:
            raise ValueError(f"selfish_rnn.{key}: {bad or 'empty'}; allowed {allowed}")
    if not 0.0 < out["density"] <= 1.0:
        raise ValueError(f"selfish_rnn.density must be in (0, 1], got {out['density']}")
    if out["seeds"] < 1 or out["epochs"] < 1:
        raise ValueError("selfish_rnn: seeds and epochs must be >= 1")
    return out


def run_ids(cfg: dict[str, Any]) -> list[str]:
    """``<method>_<optimizer>_s<k>`` for every method, optimiser and seed index."""
    cfg = resolve(cfg)
    return [
        f"{method}_{optimizer}_s{k}"
        for method in cfg["methods"]
        for optimizer in cfg["optimizers"]
        for k in range(cfg["seeds"])
    ]


def parse_run(run_id: str) -> tuple[str, str, int]:
    """``(method, optimizer, seed index)`` of a run id."""
    method, optimizer, seed = run_id.split("_")
    if method not in METHODS or optimizer not in OPTIMIZERS or not seed.startswith("s"):
        raise ValueError(f"selfish_rnn: malformed run id {run_id!r}")
    return method, optimizer, int(seed[1:])


def datasets(cfg: dict[str, Any]) -> list[str]:
    """The prepared corpus the runs read (none for the synthetic smoke corpus)."""
    corpus = resolve(cfg)["corpus"]
    return [] if corpus == "synthetic" else [corpus]


# ------------------------------------------------------------------------------------------------- runs


def _masks(method: str, cfg: dict[str, Any], model: Any, seed: int) -> SparseMasks | None:
    if method == "dense":
        return None
    return SparseMasks(
        model,
        cfg["density"],
        init=cfg["sparse_init"],
        growth=cfg["growth"],
        gate_groups=method == "set",
        seed=derive_seed(seed, "masks"),
    )


def execute(run_id: str, ctx: RunContext) -> RunOutput:
    """Train one LM run (resumable from ctx.run_dir/checkpoint.pt) and test on the best-validation weights."""
    cfg = resolve(ctx.cfg)
    method, optimizer, seed_index = parse_run(run_id)
    seed = derive_seed(ctx.seed, STUDY, seed_index)
    corpus = load_corpus(
        cfg["corpus"],
        cfg["vocab_size"],
        cfg["train_tokens"],
        cfg["eval_tokens"],
        ctx.extras.get("data_root", "data/raw"),
    )
    seed_everything(seed, device=ctx.device)
    model = build_model(
        "lstm_lm",
        vocab_size=corpus.vocab_size,
        emsize=cfg["emsize"],
        nhid=cfg["nhid"],
        nlayers=cfg["nlayers"],
        dropout=cfg["dropout"],
        tie_weights=cfg["tie_weights"],
        init_range=cfg["init_range"],
    ).to(ctx.device)
    masks = _masks(method, cfg, model, seed)
    batches = SequenceBatches(corpus.train, cfg["batch_size"], cfg["bptt"])
    steps = cfg["epochs"] * batches.steps_per_epoch
    settings = TrainSettings(
        lr=cfg["lr"],
        clip=cfg["clip"],
        weight_decay=cfg["weight_decay"],
        nonmono=cfg["nonmono"],
        use_asgd=optimizer == "sntasgd",
        dynamic=method in ("set", "selfish"),
        death_rate=cfg["death_rate"],
        total_steps=steps,
        eval_batch_size=cfg["eval_batch_size"],
        bptt=cfg["bptt"],
    )
    trainer = SparseLMTrainer(model, masks, settings, batches, corpus.valid.to(ctx.device), cfg["batch_size"])
    initial_parameters = trainer.nonzero_weights()
    spec = TrainSpec(
        steps=steps,
        seed=seed,
        eval_every=batches.steps_per_epoch,
        log_every=batches.steps_per_epoch,
        checkpoint_path=Path(ctx.run_dir) / "checkpoint.pt",
        checkpoint_every=cfg["checkpoint_every"],
        desc=f"{STUDY}/{run_id}",
    )
    result = train(spec, trainer.step, batches, {"trainer": trainer}, evaluate=trainer.end_of_epoch)
    test = trainer.test(corpus.test.to(ctx.device))
    history = result.history_frame()
    metrics = {
        "method": method,
        "optimizer": optimizer,
        "seed_index": seed_index,
        "run_seed": seed,
        "corpus": corpus.source,
        "vocab_size": corpus.vocab_size,
        "train_tokens": len(corpus.train),
        "epochs": cfg["epochs"],
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


# ------------------------------------------------------------------------------------------------ claims


def _records(ctx: RunContext, cfg: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for run in run_ids(cfg):
        path = Path(ctx.results_dir) / STUDY / run / "metrics.json"
        if path.exists():
            rows.append({"run": run, **read_metrics(path)})
    return pd.DataFrame(rows)


def _mean(frame: pd.DataFrame, column: str, **where: str) -> float:
    """Mean of ``column`` over the runs matching ``where`` (NaN when none; inf stays inf)."""
    if frame.empty:
        return math.nan
    selected = frame
    for key, value in where.items():
        selected = selected[selected[key] == value]
    values = pd.to_numeric(selected[column], errors="coerce").to_numpy(dtype=float)
    return float(np.mean(values)) if len(values) else math.nan


def claims(cfg: dict[str, Any], ctx: RunContext) -> list[Claim]:
    """The issue's claims, computed from the stored run metrics (means over seeds)."""
    cfg = resolve(cfg)
    frame = _records(ctx, cfg)
    common = {"study": STUDY, "scale": ctx.scale}
    out: list[Claim] = []
    for method in [m for m in SPARSE_METHODS if m in cfg["methods"]]:
        gain = _mean(frame, "test_ppl", method=method, optimizer="sgd") - _mean(
            frame, "test_ppl", method=method, optimizer="sntasgd"
        )
        out.append(
            make_claim(
                claim_id=f"snt_asgd_helps_{method}",
                claim=f"SNT-ASGD lowers the test perplexity of {method} sparse training compared with SGD "
                "(measured: mean test ppl with SGD minus with SNT-ASGD)",
                measured=gain,
                comparison="> 0",
                evidence=f"figures/{STUDY}/ppl_table.png",
                **common,
            )
        )
    for optimizer in cfg["optimizers"]:
        gap = _mean(frame, "test_ppl", method="static", optimizer=optimizer) - _mean(
            frame, "test_ppl", method="selfish", optimizer=optimizer
        )
        out.append(
            make_claim(
                claim_id=f"selfish_beats_static_{optimizer}",
                claim=f"Selfish-RNN beats static sparse training at the same density ({optimizer}; measured: "
                "mean test ppl static minus Selfish)",
                measured=gap,
                comparison="> 0",
                evidence=f"figures/{STUDY}/ppl_table.png",
                **common,
            )
        )
    out += _dense_gap_claim(frame, cfg, common)
    out += _mask_claims(frame, cfg, common)
    return out


def _dense_gap_claim(frame: pd.DataFrame, cfg: dict[str, Any], common: dict[str, str]) -> list[Claim]:
    if "dense" not in cfg["methods"]:
        return []
    dense = min(_mean(frame, "test_ppl", method="dense", optimizer=o) for o in cfg["optimizers"])
    sparse = min(
        _mean(frame, "test_ppl", method=m, optimizer=o)
        for m in SPARSE_METHODS
        if m in cfg["methods"]
        for o in cfg["optimizers"]
    )
    return [
        make_claim(
            claim_id="best_sparse_vs_dense",
            claim="The best sparse run (method x optimiser, density "
            f"{cfg['density']}) reaches the dense test perplexity (measured: best sparse mean test ppl / "
            "best dense mean test ppl; the paper reports sparse below dense on PTB)",
            measured=sparse / dense if dense > 0 else math.nan,
            comparison="<= 1.0",
            evidence=f"figures/{STUDY}/ppl_table.png",
            **common,
        )
    ]


def _mask_claims(frame: pd.DataFrame, cfg: dict[str, Any], common: dict[str, str]) -> list[Claim]:
    out = []
    sparse = frame[frame["method"].isin(SPARSE_METHODS)] if not frame.empty else frame
    if not sparse.empty:
        out.append(
            make_claim(
                claim_id="budget_preserved",
                claim="Every sparse tensor holds exactly its parameter budget after every prune/regrow "
                "(measured: max |sum M - budget| over runs, tensors and epochs)",
                measured=float(pd.to_numeric(sparse["budget_error_max"]).abs().max()),
                comparison="<= 0",
                evidence=f"figures/{STUDY}/gate_share.png",
                **common,
            )
        )
    if "selfish" in cfg["methods"]:
        out.append(
            make_claim(
                claim_id="non_uniform_gates",
                claim="Cell-gate redistribution makes the four gates of every LSTM matrix end at different "
                f"densities (measured: mean over Selfish runs of the smallest max-min gate density spread; "
                f"threshold {cfg['gate_spread_min']})",
                measured=_mean(frame, "gate_spread_min", method="selfish"),
                comparison=f"> {cfg['gate_spread_min']}",
                evidence=f"figures/{STUDY}/gate_share.png",
                **common,
            )
        )
    return out
