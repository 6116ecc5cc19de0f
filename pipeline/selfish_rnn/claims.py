"""The selfish_rnn study's claims, computed from the stored runs (means over seeds; see runs.py).

SNT-ASGD against SGD for every sparse method, Selfish-RNN against static sparse training for every
optimiser, the best sparse run against dense, exact parameter budgets, and non-uniform gate densities
under cell-gate redistribution. Runs the config lists but that have not finished count as missing (a mean
over no runs is NaN, which never holds).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pipeline.core.claims import Claim, claim_maker
from pipeline.results import Results
from pipeline.selfish_rnn.runs import SPARSE_METHODS, SelfishRun

STUDY = "selfish_rnn"


def _values(results: Results, column: str, **fields: str) -> pd.Series:
    """``column`` of every finished run matching ``fields`` (missing and JSON null values become NaN)."""
    specs = results.finished(results.select(SelfishRun, **fields))
    return pd.Series([results.metrics(spec).get(column) for spec in specs], dtype=object)


def _mean(results: Results, column: str, **fields: str) -> float:
    """Mean of ``column`` over the finished runs matching ``fields`` (NaN when none; inf stays inf)."""
    values = pd.to_numeric(_values(results, column, **fields), errors="coerce").to_numpy(dtype=float)
    return float(np.mean(values)) if len(values) else math.nan


def claims(results: Results) -> list[Claim]:
    """The issue's claims, computed from the stored run metrics (means over seeds)."""
    section = results.section
    claim = claim_maker(STUDY, results.scale)
    table = results.figure_path("ppl_table")
    out: list[Claim] = []
    for method in [m for m in SPARSE_METHODS if m in section["methods"]]:
        gain = _mean(results, "test_ppl", method=method, optimizer="sgd") - _mean(
            results, "test_ppl", method=method, optimizer="sntasgd"
        )
        out.append(
            claim(
                f"snt_asgd_helps_{method}",
                f"SNT-ASGD lowers the test perplexity of {method} sparse training compared with SGD "
                "(measured: mean test ppl with SGD minus with SNT-ASGD)",
                gain,
                "> 0",
                table,
            )
        )
    for optimizer in section["optimizers"]:
        gap = _mean(results, "test_ppl", method="static", optimizer=optimizer) - _mean(
            results, "test_ppl", method="selfish", optimizer=optimizer
        )
        out.append(
            claim(
                f"selfish_beats_static_{optimizer}",
                f"Selfish-RNN beats static sparse training at the same density ({optimizer}; measured: "
                "mean test ppl static minus Selfish)",
                gap,
                "> 0",
                table,
            )
        )
    out += _dense_gap_claim(results)
    out += _mask_claims(results)
    return out


def _dense_gap_claim(results: Results) -> list[Claim]:
    section = results.section
    if "dense" not in section["methods"]:
        return []
    # Python's min is order-dependent with NaN: keep this iteration order (sparse methods, then optimisers)
    dense = min(_mean(results, "test_ppl", method="dense", optimizer=o) for o in section["optimizers"])
    sparse = min(
        _mean(results, "test_ppl", method=m, optimizer=o)
        for m in SPARSE_METHODS
        if m in section["methods"]
        for o in section["optimizers"]
    )
    claim = claim_maker(STUDY, results.scale)
    return [
        claim(
            "best_sparse_vs_dense",
            "The best sparse run (method x optimiser, density "
            f"{section['density']}) reaches the dense test perplexity (measured: best sparse mean test ppl / "
            "best dense mean test ppl; the paper reports sparse below dense on PTB)",
            sparse / dense if dense > 0 else math.nan,
            "<= 1.0",
            results.figure_path("ppl_table"),
        )
    ]


def _mask_claims(results: Results) -> list[Claim]:
    section = results.section
    claim = claim_maker(STUDY, results.scale)
    gates = results.figure_path("gate_share")
    out = []
    sparse = [spec for spec in results.finished() if spec.method in SPARSE_METHODS]
    if sparse:
        errors = pd.Series([results.metrics(spec).get("budget_error_max") for spec in sparse], dtype=object)
        out.append(
            claim(
                "budget_preserved",
                "Every sparse tensor holds exactly its parameter budget after every prune/regrow "
                "(measured: max |sum M - budget| over runs, tensors and epochs)",
                float(pd.to_numeric(errors).abs().max()),
                "<= 0",
                gates,
            )
        )
    if "selfish" in section["methods"]:
        out.append(
            claim(
                "non_uniform_gates",
                "Cell-gate redistribution makes the four gates of every LSTM matrix end at different "
                f"densities (measured: mean over Selfish runs of the smallest max-min gate density spread; "
                f"threshold {section['gate_spread_min']})",
                _mean(results, "gate_spread_min", method="selfish"),
                f"> {section['gate_spread_min']}",
                gates,
            )
        )
    return out
