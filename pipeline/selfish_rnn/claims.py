"""The selfish_rnn study's claims, computed from the stored runs (see docs/selfish_rnn.md, "Claims").

Reproductions (paired over seed indices: all runs of one seed index share the model initialisation and
the data order, so each comparison is a paired difference over seeds):

- ``snt_asgd_helps_<method>``: SNT-ASGD lowers the test perplexity of every sparse method against SGD
  (paper: abstract); estimate ppl(SGD) − ppl(SNT-ASGD), claimed > 0;
- ``selfish_beats_static_<optimizer>``: Selfish-RNN reaches lower test perplexity than static sparse
  training at the same density, per optimiser; estimate ppl(static) − ppl(Selfish), claimed > 0;
- ``selfish_vs_dense_<optimizer>``: the sparse Selfish-RNN model does not lose to the dense model trained
  with the *same* optimiser (paper: abstract, "without compromising performance"); estimate the paired
  geometric-mean ratio ppl(Selfish) / ppl(dense), claimed <= 1.

Checks (exact numbers over the finished runs; they hold by construction when the code is right):

- ``budget_preserved``: every sparse tensor holds exactly its parameter budget after every prune/regrow;
- ``non_uniform_gates``: under Selfish-RNN's one budget per stacked LSTM matrix, the four gates of every
  LSTM matrix of every Selfish run end at densities that differ by more than ``gate_spread_min``.

A run the config lists but that has not finished, or that diverged, is excluded from its pairs (the
estimate's method says how many); a stochastic estimate on fewer than 3 pairs is inconclusive.
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.core.claims import Claim, ClaimSet
from pipeline.core.stats import exact, paired_difference, paired_log_ratio
from pipeline.results import Results
from pipeline.selfish_rnn.runs import SPARSE_METHODS, SelfishRun

STUDY = "selfish_rnn"
LABELS = {"static": "static sparse", "set": "SET", "selfish": "Selfish-RNN", "dense": "dense"}
OPTIMIZER_LABELS = {"sgd": "SGD", "sntasgd": "SNT-ASGD"}

# The paper's statements (abstract of Liu et al., ICML 2021, arXiv 2101.09048) and the one number quoted.
PAPER_SNT_ASGD = (
    "SNT-ASGD 'significantly improves the performance of all sparse training methods for RNNs' "
    "(lower test perplexity than without it, for every sparse method)"
)
PAPER_SELFISH_STATIC = (
    "'state-of-the-art sparse training results': Selfish-RNN below the other sparse training methods at "
    "the same parameter count (static sparse training, fixed masks, is this study's baseline for them)"
)
PAPER_DENSE = (
    "sparse RNNs trained 'without compromising performance' against their dense counterparts; Selfish "
    "stacked LSTM on PTB: test perplexity 71.65 at 67% sparsity (official code README; the dense "
    "baseline's number is not quoted here)"
)
SOURCE_SNT_ASGD = "abstract; experiments section (sparse methods with and without SNT-ASGD)"
SOURCE_SELFISH_STATIC = "abstract; experiments section (PTB comparison of sparse training methods)"
SOURCE_DENSE = "abstract; experiments section (stacked LSTM on PTB); official code README"

# How a difference becomes resolvable: the paired 95% t-interval has half-width t(0.975, n-1)·s/sqrt(n).
RESOLUTION_PPL = (
    "Resolution: the paired 95% interval has half-width t(0.975, n-1)·s_d/sqrt(n), with s_d the sd of the "
    "per-seed differences (read it off the report's interval: s_d = half-width·sqrt(n)/t(0.975, n-1)); "
    "resolving a 0.5 ppl difference needs about n = (2·s_d/0.5)^2 = 16·s_d^2 pairs."
)
RESOLUTION_RATIO = (
    "Resolution: the interval is exp of a paired t-interval on log ratios, half-width t(0.975, n-1)·s_l/"
    "sqrt(n) with s_l the sd of the per-seed log ratios (see the report's interval); resolving a 1% ratio "
    "needs about n = (2·s_l/0.01)^2 = 40000·s_l^2 pairs."
)


def _seeds_note(section: dict[str, Any]) -> str:
    seeds = section["seeds"]
    return (
        f"This scale runs {seeds} seed{'s' if seeds != 1 else ''} per arm; a verdict needs at least 3 "
        "finished pairs."
    )


def _diverged(metrics: dict[str, Any]) -> bool:
    return bool(metrics.get("diverged")) or metrics.get("diverged_at_step") is not None


def per_seed(results: Results, column: str, method: str, optimizer: str) -> list[float]:
    """``column`` of run ``<method>_<optimizer>_s<k>`` for every seed index k the config lists (NaN for a
    run that has not finished, diverged, or has no finite value), so two arms pair by seed index."""
    values = []
    for k in range(results.section["seeds"]):
        spec = results.one(SelfishRun, method=method, optimizer=optimizer, seed_index=k)
        if not results.finished([spec]):
            values.append(math.nan)
            continue
        metrics = results.metrics(spec)
        value = metrics.get(column)
        finite = isinstance(value, int | float) and math.isfinite(value)
        values.append(float(value) if finite and not _diverged(metrics) else math.nan)
    return values


def claims(results: Results) -> list[Claim]:
    """The study's claims (see the module docstring) from the stored run metrics."""
    out = ClaimSet(results)
    section = results.section
    methods, optimizers = section["methods"], section["optimizers"]
    _snt_asgd_claims(out, results, [m for m in SPARSE_METHODS if m in methods], optimizers)
    if "static" in methods and "selfish" in methods:
        _selfish_static_claims(out, results, optimizers)
    if "dense" in methods and "selfish" in methods:
        _dense_claims(out, results, optimizers)
    _mask_checks(out, results)
    return out.rows


def _snt_asgd_claims(out: ClaimSet, results: Results, methods: list[str], optimizers: list[str]) -> None:
    if not {"sgd", "sntasgd"} <= set(optimizers):
        return
    note = (
        "SNT-ASGD differs from SGD only after its non-monotone trigger fires (validation perplexity above "
        "the best of all but the last nonmono epochs); in a short run (smoke and default scales) the "
        "switch comes late or never (then both runs are identical and the difference is exactly 0), "
        "leaving few averaged epochs, and the paper's gain is measured at convergence. "
        + _seeds_note(results.section)
        + " "
        + RESOLUTION_PPL
    )
    for method in methods:
        out.reproduction(
            f"snt_asgd_helps_{method}",
            f"SNT-ASGD lowers the test perplexity of {LABELS[method]} training compared with SGD "
            "(estimate: test ppl with SGD minus with SNT-ASGD, paired per seed)",
            paired_difference(
                per_seed(results, "test_ppl", method, "sgd"),
                per_seed(results, "test_ppl", method, "sntasgd"),
            ),
            ">",
            0.0,
            figure="paired_gaps",
            paper_value=PAPER_SNT_ASGD,
            paper_source=SOURCE_SNT_ASGD,
            note=note,
        )


def _selfish_static_claims(out: ClaimSet, results: Results, optimizers: list[str]) -> None:
    note = (
        "Selfish-RNN differs from static sparse training only through its prune/regrow steps, one per epoch "
        "end at a cosine-decaying death rate (none in the epoch of the SNT-ASGD switch); a short run has few "
        "of them, and the paper's gap is measured after 100 epochs or more on PTB. "
        + _seeds_note(results.section)
        + " "
        + RESOLUTION_PPL
    )
    for optimizer in optimizers:
        out.reproduction(
            f"selfish_beats_static_{optimizer}",
            "Selfish-RNN beats static sparse training at the same density with "
            f"{OPTIMIZER_LABELS[optimizer]} (estimate: test ppl of static sparse minus Selfish-RNN, paired "
            "per seed)",
            paired_difference(
                per_seed(results, "test_ppl", "static", optimizer),
                per_seed(results, "test_ppl", "selfish", optimizer),
            ),
            ">",
            0.0,
            figure="paired_gaps",
            paper_value=PAPER_SELFISH_STATIC,
            paper_source=SOURCE_SELFISH_STATIC,
            note=note,
        )


def _dense_claims(out: ClaimSet, results: Results, optimizers: list[str]) -> None:
    note = (
        "The paper's sparse models match or beat dense ones at 1500 hidden units with dropout 0.65 after "
        "100 epochs, where the dense model over-fits and sparsity acts as a regulariser; at the smoke and "
        "default scales the model is small and trained briefly on a small corpus, so it is capacity-limited "
        "rather than over-fitted, and there the dense model, with every weight available, can be expected "
        "to win. " + _seeds_note(results.section) + " " + RESOLUTION_RATIO
    )
    density = results.section["density"]
    for optimizer in optimizers:
        out.reproduction(
            f"selfish_vs_dense_{optimizer}",
            f"Selfish-RNN at density {density} reaches the test perplexity of the dense model trained "
            f"with the same optimiser, {OPTIMIZER_LABELS[optimizer]} (estimate: geometric-mean ratio of "
            "test ppl Selfish-RNN / dense, paired per seed)",
            paired_log_ratio(
                per_seed(results, "test_ppl", "selfish", optimizer),
                per_seed(results, "test_ppl", "dense", optimizer),
            ),
            "<=",
            1.0,
            figure="paired_gaps",
            paper_value=PAPER_DENSE,
            paper_source=SOURCE_DENSE,
            note=note,
        )


def _mask_checks(out: ClaimSet, results: Results) -> None:
    section = results.section
    sparse_specs = [spec for spec in results.select(SelfishRun) if spec.method in SPARSE_METHODS]
    if sparse_specs:
        finished = results.finished(sparse_specs)
        errors = [results.metrics(spec).get("budget_error_max") for spec in finished]
        numbers = [abs(float(e)) for e in errors if e is not None]
        worst = max(numbers) if finished and len(numbers) == len(finished) else math.nan
        out.check(
            "budget_preserved",
            "Every sparse tensor holds exactly its parameter budget after every prune/regrow (estimate: max "
            "|sum M - budget| over sparse runs, tensors and epochs)",
            exact(worst, f"max over {len(numbers)} of {len(sparse_specs)} sparse runs (exact count)"),
            "<=",
            0.0,
            figure="gate_share",
            note=(
                "Initial masks and regrowth draw exact counts, so every group keeps its budget by "
                "construction; a non-zero value is a bug, and a missing value (a sparse run without the "
                "number, or none finished) fails the check."
            ),
        )
    selfish_specs = results.select(SelfishRun, method="selfish")
    if selfish_specs:
        finished = results.finished(selfish_specs)
        spreads = [results.metrics(spec).get("gate_spread_min") for spec in finished]
        numbers = [float(s) for s in spreads if s is not None]
        smallest = min(numbers) if finished and len(numbers) == len(finished) else math.nan
        threshold = section["gate_spread_min"]
        out.check(
            "non_uniform_gates",
            "Cell-gate redistribution makes the four gates of every LSTM matrix end at different densities "
            "(estimate: smallest max-min gate density spread over every LSTM matrix of every Selfish-RNN "
            f"run; threshold gate_spread_min = {threshold})",
            exact(smallest, f"min over {len(numbers)} of {len(selfish_specs)} Selfish-RNN runs"),
            ">",
            threshold,
            figure="gate_share",
            note=(
                "One magnitude ranking over a whole stacked LSTM matrix moves weights between gates only at "
                "prune/regrow steps (one per epoch end, none in the epoch of the SNT-ASGD switch, at a "
                "cosine-decaying death rate); with few of them the spread stays near that of the initial "
                "random masks."
            ),
        )
