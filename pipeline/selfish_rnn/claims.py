"""The selfish_rnn study's claims, computed from the stored runs (see docs/selfish_rnn.md, "Claims").

Reproductions, per corpus (the first corpus of ``corpora`` gives the plain ids, every further corpus adds
``_<corpus>``), paired over seed indices (all runs of one seed index share the model initialisation and the
data order, so each comparison is a paired difference or ratio over seeds):

- ``snt_asgd_helps_<method>``: SNT-ASGD lowers the test perplexity of every sparse method against SGD
  (paper: abstract); estimate ppl(SGD) − ppl(SNT-ASGD), claimed > 0;
- ``selfish_beats_static_<optimizer>``: Selfish-RNN reaches lower test perplexity than static sparse
  training at the same density, per optimiser; estimate ppl(static) − ppl(Selfish), claimed > 0;
- ``selfish_vs_dense_<optimizer>``: like for like, the sparse Selfish-RNN model does not lose to the dense
  model trained with the *same* optimiser; estimate the paired geometric-mean ratio ppl(Selfish) /
  ppl(dense), claimed <= 1;
- ``selfish_sntasgd_vs_dense_sgd``: the paper's own comparison, Selfish-RNN trained with SNT-ASGD against
  the dense model trained with SGD (the paper's dense stacked LSTM is the classic SGD-trained one); the same
  ratio, claimed <= 1. It mixes the optimiser with sparsity; the like-for-like rows separate them.

Every reproduction's note ends with its resolution: from the per-seed differences, how many pairs a 95%
interval needs to exclude zero at the observed mean difference (and at a fixed reference difference).

Checks (exact numbers over the finished runs of every corpus):

- ``budget_preserved``: every sparse tensor holds exactly its parameter budget after every prune/regrow;
- ``non_uniform_gates``: under Selfish-RNN's one budget per stacked LSTM matrix, the four gates of every
  LSTM matrix of every Selfish run end at densities that differ by more than ``gate_spread_min``;
- ``beats_unigram``: every run's test perplexity is below that of the unigram model of its training tokens
  (the trained models learned more than word frequencies: the regime in which the comparisons mean
  something).

A run the config lists but that has not finished, or that diverged, is excluded from its pairs (the
estimate's method says how many); a stochastic estimate on fewer than 3 pairs is inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from pipeline.core.claims import Claim, ClaimSet
from pipeline.core.stats import LEVEL, exact, paired_difference, paired_log_ratio
from pipeline.results import Results
from pipeline.selfish_rnn.runs import SPARSE_METHODS, SelfishRun

STUDY = "selfish_rnn"
LABELS = {"static": "static sparse", "set": "SET", "selfish": "Selfish-RNN", "dense": "dense"}
OPTIMIZER_LABELS = {"sgd": "SGD", "sntasgd": "SNT-ASGD"}
CORPUS_LABELS = {"synthetic": "synthetic", "kjv": "KJV", "ptb": "PTB", "wikitext2": "WikiText-2"}
REFERENCE_PPL = 0.5  # the fixed difference every resolution is also quoted for (ppl)
REFERENCE_RATIO = 0.01  # the same for ratios (1%)
MAX_PAIRS = 100_000

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
    "sparse RNNs trained 'without compromising performance', better than their dense counterparts; "
    "Selfish stacked LSTM on PTB: test perplexity 71.65 at 67% sparsity (official code README)"
)
PAPER_OWN = (
    "Selfish-RNN trained with SNT-ASGD below the dense stacked LSTM of the paper's PTB table, the classic "
    "model trained with SGD (Zaremba et al. 2014); Selfish stacked LSTM 71.65 test perplexity at 67% "
    "sparsity (official code README; the dense number is not quoted here)"
)
SOURCE_SNT_ASGD = "abstract; experiments section (sparse methods with and without SNT-ASGD)"
SOURCE_SELFISH_STATIC = "abstract; experiments section (PTB comparison of sparse training methods)"
SOURCE_DENSE = "abstract; experiments section (stacked LSTM on PTB); official code README"
SOURCE_OWN = "experiments section, table of stacked LSTMs on PTB (dense baseline row); official code README"


def _seeds_note(section: dict[str, Any]) -> str:
    seeds = section["seeds"]
    return (
        f"This scale runs {seeds} seed{'s' if seeds != 1 else ''} per arm; a verdict needs at least 3 "
        "finished pairs."
    )


def _diverged(metrics: dict[str, Any]) -> bool:
    return bool(metrics.get("diverged")) or metrics.get("diverged_at_step") is not None


def per_seed(
    results: Results, column: str, method: str, optimizer: str, corpus: str | None = None
) -> list[float]:
    """``column`` of run ``<corpus>_<method>_<optimizer>_s<k>`` for every seed index k the config lists (NaN
    for a run that has not finished, diverged, or has no finite value), so two arms pair by seed index.
    ``corpus`` defaults to the first of ``corpora``."""
    corpus = corpus or results.section["corpora"][0]
    values = []
    for k in range(results.section["seeds"]):
        spec = results.one(SelfishRun, corpus=corpus, method=method, optimizer=optimizer, seed_index=k)
        if not results.finished([spec]):
            values.append(math.nan)
            continue
        metrics = results.metrics(spec)
        value = metrics.get(column)
        finite = isinstance(value, int | float) and math.isfinite(value)
        values.append(float(value) if finite and not _diverged(metrics) else math.nan)
    return values


def pairs_needed(sd: float, effect: float, level: float = LEVEL) -> int | None:
    """Smallest n with t(0.5 + level/2, n − 1) · sd / sqrt(n) < |effect| (a paired t-interval of n pairs
    excluding zero at mean ``effect``); None when it cannot be computed or exceeds :data:`MAX_PAIRS`."""
    if not (math.isfinite(sd) and math.isfinite(effect)) or effect == 0:
        return None
    if sd == 0:
        return 2
    n = 2
    while n <= MAX_PAIRS:
        if scipy_stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n) < abs(effect):
            return n
        n = n + 1 if n < 100 else int(n * 1.05) + 1
    return None


def _count(n: int | None) -> str:
    return f"about {n}" if n is not None else f"more than {MAX_PAIRS:,}"


def resolution(
    differences: Sequence[float],
    unit: str,
    reference: float,
    scale: float = 1.0,
    what: str = "differences",
    reference_text: str | None = None,
) -> str:
    """The sentence that says how many pairs would resolve a paired claim, from its per-seed differences
    (``scale`` multiplies them for display, e.g. 100 for log ratios shown in percent)."""
    data = np.asarray([d for d in differences if math.isfinite(d)], dtype=float)
    if data.size < 2:
        return "Resolution: fewer than 2 finished pairs, so the per-seed spread is unknown."
    mean, sd = float(data.mean()), float(data.std(ddof=1))
    at_mean = pairs_needed(sd, mean)
    at_reference = pairs_needed(sd, reference)
    return (
        f"Resolution: over {data.size} pairs the per-seed {what} have mean {mean * scale:.3g}{unit} and "
        f"sd {sd * scale:.3g}{unit}; a 95% paired interval excluding zero at that mean needs "
        f"{_count(at_mean)} pairs, and at {reference_text or f'{reference * scale:.3g}{unit}'} "
        f"{_count(at_reference)}."
    )


def _ppl_resolution(a: list[float], b: list[float]) -> str:
    return resolution([x - y for x, y in zip(a, b, strict=True)], " ppl", REFERENCE_PPL)


def _ratio_resolution(a: list[float], b: list[float]) -> str:
    logs = [math.log(x / y) if x > 0 and y > 0 else math.nan for x, y in zip(a, b, strict=True)]
    reference = math.log1p(REFERENCE_RATIO)
    text = f"a {REFERENCE_RATIO:.0%} ratio (log ratio {100 * reference:.3g}%)"
    return resolution(logs, "%", reference, scale=100.0, what="log ratios (x100)", reference_text=text)


class _Corpus:
    """The claims of one corpus: ids with its suffix, texts naming it when the config has several."""

    def __init__(self, results: Results, corpus: str) -> None:
        self.results, self.corpus = results, corpus
        corpora = results.section["corpora"]
        self.suffix = "" if corpus == corpora[0] else f"_{corpus}"
        self.where = f" on {CORPUS_LABELS[corpus]}" if len(corpora) > 1 else ""

    def values(self, method: str, optimizer: str) -> list[float]:
        return per_seed(self.results, "test_ppl", method, optimizer, self.corpus)

    def switched(self, method: str) -> tuple[int, int]:
        """(SNT-ASGD runs of ``method`` whose trigger fired, finished SNT-ASGD runs of ``method``)."""
        specs = self.results.finished(
            self.results.select(SelfishRun, corpus=self.corpus, method=method, optimizer="sntasgd")
        )
        fired = [spec for spec in specs if (self.results.metrics(spec).get("switch_epoch") or -1) > 0]
        return len(fired), len(specs)


def claims(results: Results) -> list[Claim]:
    """The study's claims (see the module docstring) from the stored run metrics."""
    out = ClaimSet(results)
    section = results.section
    methods, optimizers = section["methods"], section["optimizers"]
    for corpus in section["corpora"]:
        scope = _Corpus(results, corpus)
        _snt_asgd_claims(out, scope, [m for m in SPARSE_METHODS if m in methods], optimizers)
        if "static" in methods and "selfish" in methods:
            _selfish_static_claims(out, scope, optimizers)
        if "dense" in methods and "selfish" in methods:
            _dense_claims(out, scope, optimizers)
    _mask_checks(out, results)
    _unigram_check(out, results)
    return out.rows


def _snt_asgd_claims(out: ClaimSet, scope: _Corpus, methods: list[str], optimizers: list[str]) -> None:
    if not {"sgd", "sntasgd"} <= set(optimizers):
        return
    section = scope.results.section
    for method in methods:
        sgd, snt = scope.values(method, "sgd"), scope.values(method, "sntasgd")
        fired, finished = scope.switched(method)
        note = (
            "SNT-ASGD differs from SGD only after its non-monotone trigger fires (validation perplexity "
            f"above the best of all but the last {section['nonmono']} epochs); a run whose trigger never "
            "fires is identical to its SGD run (difference exactly 0), and a late switch leaves few averaged "
            "epochs, while the paper's gain is measured at convergence. The trigger fired in "
            f"{fired} of {finished} finished {LABELS[method]} SNT-ASGD runs. "
            + _seeds_note(section)
            + " "
            + _ppl_resolution(sgd, snt)
        )
        out.reproduction(
            f"snt_asgd_helps_{method}{scope.suffix}",
            f"SNT-ASGD lowers the test perplexity of {LABELS[method]} training compared with "
            f"SGD{scope.where} (estimate: test ppl with SGD minus with SNT-ASGD, paired per seed)",
            paired_difference(sgd, snt),
            ">",
            0.0,
            figure="paired_gaps",
            paper_value=PAPER_SNT_ASGD,
            paper_source=SOURCE_SNT_ASGD,
            note=note,
        )


def _selfish_static_claims(out: ClaimSet, scope: _Corpus, optimizers: list[str]) -> None:
    for optimizer in optimizers:
        static, selfish = scope.values("static", optimizer), scope.values("selfish", optimizer)
        note = (
            "Selfish-RNN differs from static sparse training only through its prune/regrow steps, one per "
            "epoch end at a cosine-decaying death rate (none in the epoch of the SNT-ASGD switch); a short "
            "run has few of them, and the paper's gap is measured after 100 epochs or more on PTB. "
            + _seeds_note(scope.results.section)
            + " "
            + _ppl_resolution(static, selfish)
        )
        out.reproduction(
            f"selfish_beats_static_{optimizer}{scope.suffix}",
            "Selfish-RNN beats static sparse training at the same density with "
            f"{OPTIMIZER_LABELS[optimizer]}{scope.where} (estimate: test ppl of static sparse minus "
            "Selfish-RNN, paired per seed)",
            paired_difference(static, selfish),
            ">",
            0.0,
            figure="paired_gaps",
            paper_value=PAPER_SELFISH_STATIC,
            paper_source=SOURCE_SELFISH_STATIC,
            note=note,
        )


def _dense_claims(out: ClaimSet, scope: _Corpus, optimizers: list[str]) -> None:
    section = scope.results.section
    regime = (
        "The paper's sparse models beat dense ones at 1500 hidden units with dropout 0.65 after 100 epochs, "
        "where the dense model over-fits and sparsity acts as a regulariser; at the smoke and default scales "
        "the model is small and trained briefly on a small corpus, and every run is tested on its "
        "best-validation weights (early stopping), which takes much of the over-fitting away from the dense "
        "model. "
    )
    density = section["density"]
    for optimizer in optimizers:
        selfish, dense = scope.values("selfish", optimizer), scope.values("dense", optimizer)
        out.reproduction(
            f"selfish_vs_dense_{optimizer}{scope.suffix}",
            f"Selfish-RNN at density {density} reaches the test perplexity of the dense model trained "
            f"with the same optimiser, {OPTIMIZER_LABELS[optimizer]}{scope.where} (like for like; estimate: "
            "geometric-mean ratio of test ppl Selfish-RNN / dense, paired per seed)",
            paired_log_ratio(selfish, dense),
            "<=",
            1.0,
            figure="paired_gaps",
            paper_value=PAPER_DENSE,
            paper_source=SOURCE_DENSE,
            note=regime + _seeds_note(section) + " " + _ratio_resolution(selfish, dense),
        )
    if not {"sgd", "sntasgd"} <= set(optimizers):
        return
    selfish, dense = scope.values("selfish", "sntasgd"), scope.values("dense", "sgd")
    out.reproduction(
        f"selfish_sntasgd_vs_dense_sgd{scope.suffix}",
        f"The paper's comparison{scope.where}: Selfish-RNN at density {density} trained with SNT-ASGD "
        "against the dense model trained with SGD (estimate: geometric-mean ratio of test ppl, paired per "
        "seed). It credits sparsity with the optimiser's gain; selfish_vs_dense_* compare like for like",
        paired_log_ratio(selfish, dense),
        "<=",
        1.0,
        figure="paired_gaps",
        paper_value=PAPER_OWN,
        paper_source=SOURCE_OWN,
        note=(
            "The two arms differ in two things, sparsity and the optimiser: SNT-ASGD's averaging alone "
            "lowers the dense model's perplexity (compare the dense SGD and SNT-ASGD rows of ppl_table), so "
            "this ratio can lie below 1 while the like-for-like ratios do not. "
            + regime
            + _seeds_note(section)
            + " "
            + _ratio_resolution(selfish, dense)
        ),
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


def _unigram_check(out: ClaimSet, results: Results) -> None:
    specs = results.select(SelfishRun)
    finished = results.finished(specs)
    ratios = []
    for spec in finished:
        metrics = results.metrics(spec)
        test, unigram = metrics.get("test_ppl"), metrics.get("unigram_test_ppl")
        usable = all(isinstance(v, int | float) and math.isfinite(v) for v in (test, unigram))
        ratios.append(test / unigram if usable and unigram > 0 and not _diverged(metrics) else math.nan)
    worst = max(ratios) if finished and all(math.isfinite(r) for r in ratios) else math.nan
    out.check(
        "beats_unigram",
        "Every run learned more than word frequencies (estimate: largest ratio of a run's test perplexity to "
        "that of the add-one unigram model of its training tokens)",
        exact(worst, f"max over {len(finished)} of {len(specs)} runs"),
        "<",
        1.0,
        figure="ppl_table",
        note=(
            "A trained LSTM language model that does not beat the unigram model has not left its start-up "
            "plateau (or diverged), and then no comparison between its methods or optimisers means anything; "
            "a missing or diverged run fails the check."
        ),
    )
