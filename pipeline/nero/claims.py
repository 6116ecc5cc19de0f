"""The nero study's claims, computed from the stored lr sweeps, the constraint ablation and the memory table.

**Scores.** A sweep scores every learning rate by test accuracy (classifiers) or minus the validation loss
(the language model); a diverged lr has no score. :class:`Arm` holds one optimiser's (or one ablation
setting's) scores on one task as a ``[seed index, lr]`` array, nan where the run diverged or is missing.

**Best learning rate.** An arm's seed-mean score at an lr is the mean over its seeds, nan when any seed
diverged there; its best lr is the argmax of the seed means over the lrs that did not diverge. Where a claim
says an arm does well at its best lr (Nero's best lr, Nero on the deep MLP, both constraints in the ablation,
the baselines' best lrs across tasks), the argmax is taken only over lrs whose seed mean is *above twice
chance* (accuracy above 2 / classes; for the language model a validation loss below log(V / 2), i.e. a
perplexity below half the vocabulary): an arm with no such lr did not train and has no best lr, so no claim
rests on an argmax over runs at chance. A reference arm that a claim says is worse (SGD and Adam on the deep
MLP, no constraints in the ablation, the best-tuned baseline) takes its best lr over every lr that did not
diverge: an argmax over runs at chance can only raise the reference, which makes the claim harder. Each
claim's text records how many lrs of each arm it reads are above twice chance.

**Intervals.** Every run of one task and seed index starts from the same initialisation and sees the same
batch order, whatever its optimiser, lr or ablation setting (:func:`pipeline.nero.sweep.run_sweep`), so
comparisons are paired per seed at each arm's best lr (chosen on the seed means). A statistic of best lrs
(the distance from 0.01, the spread over tasks) is bootstrapped over seed indices: every resample recomputes
the seed means and the argmax. With fewer than three seeds these claims are inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.core import stats
from pipeline.core.claims import Claim, ClaimSet
from pipeline.core.stats import Estimate
from pipeline.nero.runs import LANGUAGE_TASKS, AblationRun, MemoryRun, SweepRun, lr_key
from pipeline.results import Results

DEFAULT_LR = 0.01  # Nero's out-of-the-box learning rate (Algorithm 1)
CHANCE_FACTOR = 2.0  # a run trained when its score is above this multiple of chance
NUM_CLASSES = {"digits": 10, "fashion_mnist": 10, "cifar10": 10}
BASELINES = ("sgd", "sgdm", "adam", "lamb")
NAMES = {"nero": "Nero", "sgd": "SGD", "sgdm": "SGD+momentum", "adam": "Adam", "lamb": "LAMB"}
TASK_NAMES = {"mlp": "deep MLP", "cnn": "CNN", "resnet": "ResNet-18", "lstm": "LSTM language model"}
SETTING_NAMES = {"none": "no constraints", "mean": "zero mean only", "norm": "unit norm only", "both": "both"}

# The best learning rates of the paper's sweeps (official scripts): Fig. 6 on CIFAR-10, Fig. 7 on WikiText-2.
PAPER_BEST_LR: dict[str, dict[str, float]] = {
    "cnn": {"nero": 0.01, "sgd": 0.1, "adam": 0.001, "lamb": 0.01},  # VGG-11 (Fig. 6)
    "resnet": {"nero": 0.01, "sgd": 0.1, "adam": 0.01, "lamb": 0.1},  # ResNet-18 (Fig. 6)
    "lstm": {"nero": 0.01, "sgd": 1.0, "adam": 0.0001, "lamb": 0.01},  # Transformer LM (Fig. 7)
}

NOTE_SEEDS = "A statistic over seeds needs at least three seeds; the default scale runs one per sweep."
NOTE_LR = (
    NOTE_SEEDS + " The default scale trains a few hundred steps on data subsets with a cosine schedule, "
    "where the paper trains 199 epochs of CIFAR-10 with step decay; the best lrs may move with that."
)
NOTE_DEEP_MLP = (
    NOTE_SEEDS + " The default deep MLP has 20 layers on sklearn digits (the paper's has 100 on MNIST): "
    "a shallower net that Adam may still train in part."
)
NOTE_ABLATION = (
    NOTE_SEEDS + " The default ablation trains a small CNN without batch norm for 150 steps on a "
    "Fashion-MNIST subset, where the paper trains VGG-11 for 199 epochs on CIFAR-10."
)


# ------------------------------------------------------------------------------------- scores and arms


def chance_floor(spec: SweepRun | AblationRun) -> float:
    """The score above which a run of ``spec``'s task trained: twice chance (see the module docstring)."""
    if spec.task in LANGUAGE_TASKS:
        return -math.log(spec.settings.net.vocab_size / CHANCE_FACTOR)
    return CHANCE_FACTOR / NUM_CLASSES[spec.settings.net.dataset]


@dataclass(frozen=True)
class Arm:
    """One optimiser's (or ablation setting's) scores on one task: ``scores[seed index, lr]``, nan where
    the run diverged or is missing; ``floor`` is twice chance in score units."""

    lrs: tuple[float, ...]
    scores: np.ndarray
    floor: float

    @property
    def seeds(self) -> int:
        return int(self.scores.shape[0])

    def means(self, seeds: Sequence[int] | None = None) -> np.ndarray:
        """Seed-mean score per lr over ``seeds`` (default all; repeats allowed): nan where any diverged."""
        rows = self.scores if seeds is None else self.scores[list(seeds)]
        if rows.shape[0] == 0:
            return np.full(len(self.lrs), np.nan)
        return rows.mean(axis=0)

    def best(self, seeds: Sequence[int] | None = None, trained: bool = True) -> int | None:
        """Index of the best lr: argmax of the seed means over lrs that did not diverge and, when
        ``trained``, are above twice chance; None when no lr qualifies."""
        means = self.means(seeds)
        ok = np.isfinite(means)
        if trained:
            ok &= means > self.floor
        if not ok.any():
            return None
        return int(np.argmax(np.where(ok, means, -np.inf)))

    def best_lr(self, seeds: Sequence[int] | None = None, trained: bool = True) -> float:
        index = self.best(seeds, trained)
        return math.nan if index is None else self.lrs[index]

    def at(self, index: int | None) -> np.ndarray:
        """Per-seed scores at lr ``index`` (all nan for None)."""
        return np.full(self.seeds, np.nan) if index is None else self.scores[:, index]

    def at_lr(self, lr: float) -> np.ndarray:
        """Per-seed scores at learning rate ``lr`` (all nan when ``lr`` is not on the grid)."""
        matches = [i for i, value in enumerate(self.lrs) if math.isclose(value, lr)]
        return self.at(matches[0] if matches else None)

    def above_chance(self) -> tuple[int, int]:
        """(lrs whose seed mean is above twice chance, lrs on the grid)."""
        return int(np.sum(self.means() > self.floor)), len(self.lrs)


def _scores(metrics: dict[str, Any], lrs: Sequence[float]) -> list[float]:
    """A sweep's score per lr of ``lrs``, nan where it diverged."""
    out = []
    for lr in lrs:
        key = lr_key(lr)
        entry, score = metrics["per_lr"].get(key, {}), metrics["scores"].get(key)
        out.append(math.nan if score is None or entry.get("diverged", 0.0) else float(score))
    return out


def arm_of(results: Results, specs: list[Any]) -> Arm:
    """The :class:`Arm` of the runs ``specs`` (one per seed index of one task and optimiser or setting)."""
    seeds = results.section["seeds"]
    lrs = tuple(specs[0].lrs)
    scores = np.full((seeds, len(lrs)), np.nan)
    for spec in results.finished(specs):
        if spec.seed_index < seeds:
            scores[spec.seed_index] = _scores(results.metrics(spec), lrs)
    return Arm(lrs, scores, chance_floor(specs[0]))


def sweep_arms(results: Results) -> dict[str, dict[str, Arm]]:
    """task -> optimiser -> :class:`Arm` of every sweep the config lists, in config order."""
    sweeps = results.select(SweepRun)
    tasks = list(dict.fromkeys(spec.task for spec in sweeps))
    optimizers = list(dict.fromkeys(spec.optimizer for spec in sweeps))
    return {
        task: {opt: arm_of(results, results.select(SweepRun, task=task, optimizer=opt)) for opt in optimizers}
        for task in tasks
    }


def ablation_arms(results: Results) -> dict[str, Arm]:
    """setting -> :class:`Arm` of the constraint ablation, in config order."""
    settings = list(dict.fromkeys(spec.setting for spec in results.select(AblationRun)))
    return {s: arm_of(results, results.select(AblationRun, setting=s)) for s in settings}


def best_of(arms: dict[str, Arm], trained: bool = False) -> tuple[str | None, int | None]:
    """(arm, lr index) with the highest seed-mean score over several arms (e.g. every baseline)."""
    found = [(name, arm.best(trained=trained)) for name, arm in arms.items()]
    found = [(name, index) for name, index in found if index is not None]
    if not found:
        return None, None
    return max(found, key=lambda item: arms[item[0]].means()[item[1]])


def above_chance_text(arms: dict[str, Arm], names: dict[str, str] = NAMES) -> str:
    """ "Lrs above twice chance: Nero 7/9, SGD 0/9." (seed means) for the arms a claim reads."""
    counts = [
        f"{names.get(name, name)} {'/'.join(map(str, arm.above_chance()))}" for name, arm in arms.items()
    ]
    return "Lrs above twice chance: " + ", ".join(counts) + "."


def _seed_bootstrap(seeds: int, statistic: Callable[[list[int]], float]) -> Estimate:
    """``statistic`` of a list of seed indices, bootstrapped over the seed indices."""
    return stats.bootstrap(list(range(seeds)), statistic)


def _nan_estimate(estimate: Estimate, why: str) -> Estimate:
    return Estimate(math.nan, math.nan, math.nan, estimate.n, f"{estimate.method}; {why}")


def _factor(lr: float) -> float:
    """How far ``lr`` is from 0.01, as a factor >= 1 (nan for nan)."""
    return max(lr / DEFAULT_LR, DEFAULT_LR / lr) if math.isfinite(lr) else math.nan


def _largest(values: Sequence[float]) -> float:
    """The largest value (nan when any is nan: a task without a best lr)."""
    return max(values) if values and all(math.isfinite(v) for v in values) else math.nan


def _spread(lrs: Sequence[float]) -> float:
    """max / min of best lrs over tasks (nan when any task has none)."""
    return _largest(lrs) / min(lrs) if lrs and all(math.isfinite(lr) for lr in lrs) else math.nan


# ---------------------------------------------------------------------------------------------- claims


def _lr_claims(claims: ClaimSet, table: dict[str, dict[str, Arm]]) -> None:
    """Nero's best lr near 0.01, and the baselines' best lrs moving from task to task (Figs. 6-7 tasks)."""
    tasks = [task for task in table if task != "mlp"]  # the deep MLP is the Fig. 3 experiment
    if not tasks:
        return
    seeds = next(iter(table[tasks[0]].values())).seeds
    names = ", ".join(TASK_NAMES[t] for t in tasks)
    if "nero" in table[tasks[0]]:
        nero = {t: table[t]["nero"] for t in tasks}
        claims.reproduction(
            "nero_best_lr_near_default",
            f"Nero's best lr is within a factor of 3 of its default 0.01 on every task of the lr-tuning "
            f"comparison ({names}); measured: the largest factor over tasks. "
            + above_chance_text({TASK_NAMES[t]: a for t, a in nero.items()}, {}),
            _seed_bootstrap(seeds, lambda s: _largest([_factor(arm.best_lr(s)) for arm in nero.values()])),
            "<=",
            3.0,
            figure="lr_sweep",
            paper_value="best lr 0.01 for Nero on VGG-11 and ResNet-18 (CIFAR-10) and on the WikiText-2 "
            "Transformer, where the baselines' best lrs range from 1e-4 to 1",
            paper_source="Figs. 6-7; abstract ('little to no learning rate tuning')",
            note=NOTE_LR,
        )
    paper_spread = {
        "sgd": "SGD 0.1 on VGG-11 and ResNet-18 (Fig. 6), 1.0 on the WikiText-2 Transformer (Fig. 7): 10x",
        "adam": "Adam 0.001 on VGG-11, 0.01 on ResNet-18 (Fig. 6), 1e-4 on the WikiText-2 Transformer "
        "(Fig. 7): 100x",
    }
    if len(tasks) < 2:
        return
    for opt in ("sgd", "adam"):
        if opt not in table[tasks[0]]:
            continue
        arms = {t: table[t][opt] for t in tasks}
        claims.reproduction(
            f"{opt}_best_lr_varies",
            f"The best lr of {NAMES[opt]} varies by at least 10x across the tasks of the lr-tuning "
            f"comparison ({names}); measured: max / min best lr. "
            + above_chance_text({TASK_NAMES[t]: a for t, a in arms.items()}, {}),
            _seed_bootstrap(seeds, lambda s, arms=arms: _spread([arm.best_lr(s) for arm in arms.values()])),
            ">=",
            10.0,
            figure="lr_sweep",
            paper_value=paper_spread[opt],
            paper_source="Figs. 6-7",
            note=NOTE_LR,
        )


def _default_lr_claim(claims: ClaimSet, task: str, arms: dict[str, Arm]) -> None:
    """Nero at 0.01 against the best-tuned baseline on ``task``, paired per seed."""
    nero = arms["nero"]
    baselines = {name: arm for name, arm in arms.items() if name in BASELINES}
    name, index = best_of(baselines)
    base = baselines[name].at(index) if name else np.full(nero.seeds, np.nan)
    default = nero.at_lr(DEFAULT_LR)
    lm = task in LANGUAGE_TASKS
    if lm:  # scores are minus the losses: the paired geometric-mean ratio of the validation losses
        estimate = stats.paired_log_ratio(list(-default), list(-base))
    else:
        estimate = stats.paired_difference(list(100 * base), list(100 * default))
    default_mean = float(np.mean(default))  # nan when 0.01 is off the grid or diverged on a seed
    base_mean = baselines[name].means()[index] if name else math.nan
    if not (default_mean > nero.floor or base_mean > nero.floor):
        estimate = _nan_estimate(estimate, "neither Nero at 0.01 nor any baseline lr is above twice chance")
    tuned = f"{NAMES[name]} at lr {baselines[name].lrs[index]:g}" if name else "none"
    claims.reproduction(
        f"nero_default_vs_tuned_{task}",
        f"{TASK_NAMES[task]}: Nero at its default lr 0.01 is within "
        + ("5% in validation loss" if lm else "2 test-accuracy points")
        + f" of the best-tuned baseline ({', '.join(NAMES[b] for b in baselines)}, best over the lr grid; "
        + f"here {tuned}); measured: "
        + ("Nero's loss / the baseline's, paired per seed. " if lm else "points behind, paired per seed. ")
        + above_chance_text(arms),
        estimate,
        "<=",
        1.05 if lm else 2.0,
        figure="lr_sweep",
        paper_value="Nero out of the box (lr 0.01) is competitive with the best-tuned baselines on CIFAR-10 "
        "and WikiText-2 (statement; the paper's summary numbers are not confirmed)",
        paper_source="Figs. 6-7; abstract",
        note=NOTE_LR,
    )


def _deep_mlp_claim(claims: ClaimSet, results: Results, arms: dict[str, Arm]) -> None:
    """Only Nero trains the deep MLP: Nero's best beats the better of SGD's and Adam's bests, per seed."""
    nero = arms["nero"]
    baselines = {name: arms[name] for name in ("sgd", "adam")}
    name, index = best_of(baselines)
    base = baselines[name].at(index) if name else np.full(nero.seeds, np.nan)
    depth = results.select(SweepRun, task="mlp")[0].settings.net.depth
    estimate = stats.paired_difference(list(100 * nero.at(nero.best())), list(100 * base))
    if nero.best() is None:
        estimate = _nan_estimate(estimate, "Nero has no lr above twice chance")
    claims.reproduction(
        "deep_mlp_nero_beats_sgd_adam",
        f"Deep MLP (depth {depth}, no normalisation): Nero at its best lr beats the better of SGD and Adam "
        "at their best lrs by at least 10 test-accuracy points; measured: margin in points, paired per seed. "
        + above_chance_text({"nero": nero, **baselines}),
        estimate,
        ">=",
        10.0,
        figure="lr_sweep",
        paper_value="only Nero trains the 100-layer MLP on MNIST; SGD, Adam and LAMB do not (curves)",
        paper_source="Fig. 3 (right)",
        note=NOTE_DEEP_MLP,
    )


def _memory_claim(claims: ClaimSet, results: Results) -> None:
    """Nero's and Adam's optimiser state against their closed forms, on every task's model."""
    rows = [
        row
        for row in results.metrics(results.one(MemoryRun))["memory"]
        if row["optimizer"] in ("nero", "adam")
    ]
    if not rows:
        return
    expected = {"nero": lambda r: r["nero_expected_numel"], "adam": lambda r: 2 * r["params"]}
    wrong = sum(int(row["state_numel"] != expected[row["optimizer"]](row)) for row in rows)
    claims.check(
        "nero_state_one_per_neuron",
        "Nero keeps one state entry per neuron (per row of every >=2-D weight, per element of every 1-D "
        "parameter, plus one scale per tensor) and Adam two per parameter, on every task's model: the "
        "per-neuron state that makes Nero's memory about the square root of Adam's (abstract); measured: "
        f"(model, optimiser) pairs whose state size differs from these closed forms, of {len(rows)}",
        stats.exact(wrong, "exact count"),
        "==",
        0.0,
        figure="memory",
    )


def _ablation_claim(claims: ClaimSet, arms: dict[str, Arm], task: str) -> None:
    """Both constraints at least as accurate as none, each at its best lr, paired per seed."""
    both, none = arms["both"], arms["none"]
    estimate = stats.paired_difference(
        list(100 * both.at(both.best())), list(100 * none.at(none.best(trained=False)))
    )
    if both.best() is None:
        estimate = _nan_estimate(estimate, "both constraints have no lr above twice chance")
    claims.reproduction(
        "ablation_both_constraints_help",
        f"Constraint ablation ({TASK_NAMES[task]}): Nero with both constraints (zero mean, unit norm) is at "
        "least as accurate as without constraints, each at its best lr; measured: points gained, paired "
        "per seed. " + above_chance_text({"both": both, "none": none}, SETTING_NAMES),
        estimate,
        ">=",
        0.0,
        figure="ablation",
        paper_value="both constraints help: a lower VGG-11 / CIFAR-10 test error with both than with none "
        "(curves; best lrs none 0.02, mean only 0.01, norm only 0.02, both 0.02)",
        paper_source="Fig. 1",
        note=NOTE_ABLATION,
    )


def claims(results: Results) -> list[Claim]:
    """Every claim of the study, in the order of docs/nero.md."""
    claims = ClaimSet(results)
    table = sweep_arms(results)
    _lr_claims(claims, table)
    for task, arms in table.items():
        if "nero" in arms and any(name in BASELINES for name in arms):
            _default_lr_claim(claims, task, arms)
    if "mlp" in table and {"nero", "sgd", "adam"} <= set(table["mlp"]):
        _deep_mlp_claim(claims, results, table["mlp"])
    _memory_claim(claims, results)
    ablation = ablation_arms(results)
    if {"none", "both"} <= set(ablation):
        _ablation_claim(claims, ablation, results.select(AblationRun)[0].task)
    return claims.rows
