"""Every paper-scale run kind, a few steps each: a paper launch must not die on a shape, a key or a loader.

The runs are those ``config/paper.yaml`` asks for, grouped into *kinds*: runs of one spec class whose
text and switch fields (model, dataset, optimiser, algorithm, topology, variant, ...) agree, so that
runs differing only in numbers (learning rate, seed, α, n) count once. One run of each kind executes
through its study's own ``execute`` (the code path of the workflow's train job) with every training loop
capped at ``--steps`` steps (:func:`pipeline.core.engine.step_limit`); a run that repeats one training loop
(Nero's lr sweeps) checks one repetition (:meth:`~pipeline.core.study.RunSpec.check_variant`) and counts
the rest in its steps; schedules, models, loaders and
evaluation are those of the paper config. AMP and ``torch.compile`` follow the config (``auto``: on for
CUDA only)::

    python -m pipeline.paper_check --fixtures               # synthetic data in each real format
    python -m pipeline.paper_check --data-root data/raw     # the real datasets
    python -m pipeline.paper_check --merge a.json b.json --markdown docs/paper_estimates.md  # join runs

For each kind it reports the runs it stands for, the training steps one such full run takes (as its
training loops request them), the wall time of its last step taken (the first may include compilation)
and the FLOPs of a step (torch's FlopCounterMode: matrix products and convolutions, forward and
backward), and from them the paper config's compute: ``steps × FLOPs`` summed over the kind's runs, and
GPU-hours at ``--tflops`` sustained TFLOP/s (an assumption, printed with the table; small models are
latency-bound, so it is a lower bound). A table goes to stdout and, with ``--out``, to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline import studies
from pipeline.core.config import validate
from pipeline.core.engine import StepProbe
from pipeline.core.study import RunContext, RunSpec
from pipeline.data.fixtures import FixtureSizes, write_paper_fixtures

CONFIG = Path("config") / "config.yaml"
PAPER = Path("config") / "paper.yaml"

# Training-split sizes of the real datasets (examples; tokens with one <eos> per line for the corpora).
# A run that trains whole epochs (RunSpec.epoch_steps) has its fixture step count scaled to these; runs of
# a fixed step count (nero, qgm, directpred's SSL: set in config/paper.yaml for the real sizes) keep it.
REAL_TRAIN_SIZES = {"cifar10": 50_000, "fashion_mnist": 60_000, "ptb": 929_589, "wikitext2": 2_088_628}


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Snakemake's ``--configfile`` semantics: nested mappings merge, everything else is replaced."""
    merged = dict(base)
    for key, value in overlay.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = deep_merge(merged[key], value) if both else value
    return merged


def paper_config(root: Path = Path()) -> dict[str, Any]:
    """config/config.yaml with config/paper.yaml merged in, validated (the workflow's paper config)."""
    base = yaml.safe_load((root / CONFIG).read_text())
    return validate(deep_merge(base, yaml.safe_load((root / PAPER).read_text())))


def _labels(value: Any) -> Any:
    """The text and switch leaves of a spec's fields (numbers dropped), as a hashable value."""
    if isinstance(value, dict):
        kept = ((key, _labels(item)) for key, item in sorted(value.items()))
        return tuple((key, item) for key, item in kept if item != ())
    if isinstance(value, list | tuple):
        return tuple(item for item in map(_labels, value) if item != ())
    return value if isinstance(value, str | bool) else ()


def kind_of(spec: RunSpec) -> tuple:
    """The kind of a run: its spec class and its text/switch fields."""
    return (type(spec).__name__, _labels(spec.to_dict()))


def kinds(study: str, section: dict[str, Any]) -> list[RunSpec]:
    """The last run (in config order) of each kind of the study's paper-scale runs (the last seed: a
    first seed's run may reuse a tuning run's records instead of training)."""
    chosen: dict[tuple, RunSpec] = {}
    for spec in studies.runs(study, section).values():
        chosen[kind_of(spec)] = spec
    return list(chosen.values())


@dataclass
class KindResult:
    """One kind's check: the run standing for it, how many runs it covers, and what the probe saw."""

    study: str
    run: str
    runs: int
    seconds: float
    full_steps: int
    step_seconds: float
    step_flops: int

    def total_flops(self) -> float:
        """Training FLOPs of all the kind's runs at full length (steps × FLOPs of a step)."""
        return float(self.runs) * self.full_steps * self.step_flops


def _dataset_of(value: Any) -> str | None:
    """The first ``dataset`` or ``corpus`` field of a spec's (nested) fields, None without one."""
    if isinstance(value, dict):
        for key in ("dataset", "corpus"):
            if isinstance(value.get(key), str):
                return value[key]
        value = list(value.values())
    if isinstance(value, list | tuple):
        return next((found for found in map(_dataset_of, value) if found), None)
    return None


def real_size_factor(spec: RunSpec, fixtures: FixtureSizes | None) -> float:
    """How many times more steps the run takes on the real training split than on the fixture it was
    checked on: the ratio of its epoch lengths (:meth:`~pipeline.core.study.RunSpec.epoch_steps`) on the
    two sizes, so that epochs × steps per epoch on the fixture becomes the real count exactly. 1 for real
    data, runs of a fixed step count, and datasets without a fixture size."""
    dataset = _dataset_of(spec.to_dict())
    if fixtures is None or dataset not in REAL_TRAIN_SIZES:
        return 1.0
    on_fixture = spec.epoch_steps(fixtures.train_size(dataset))
    if on_fixture is None:
        return 1.0
    if on_fixture <= 0:
        raise ValueError(f"{spec.id}: the {dataset} fixture is smaller than one batch; enlarge FixtureSizes")
    return spec.epoch_steps(REAL_TRAIN_SIZES[dataset]) / on_fixture


def _execute(spec: RunSpec, table: dict[str, RunSpec], ctx: RunContext, steps: int) -> tuple[StepProbe, int]:
    """Run the check variant of ``spec`` (after the runs it needs) with every training loop capped at
    ``steps``; the probe, and how many of the variant's trainings the full run does."""
    from pipeline.core.engine import step_limit
    from pipeline.execute import execute_run

    variant, repeats = spec.check_variant()
    for needed in variant.needs():
        _execute(table[needed], table, ctx, steps)
    run_ctx = RunContext(**{**vars(ctx), "run_dir": ctx.study_dir / spec.id})
    with step_limit(steps) as probe:
        execute_run(variant, run_ctx, {"scale": "paper", "spec": variant.to_dict(), "step_limit": steps})
    return probe, repeats


def check_kind(
    study: str,
    spec: RunSpec,
    table: dict[str, RunSpec],
    work: Path,
    data_root: Path,
    device: str,
    steps: int,
    fixtures: FixtureSizes | None = None,
) -> KindResult:
    """Execute one kind in a fresh study directory under ``work`` and summarise its probe; ``fixtures``:
    the sizes of the synthetic data it runs on (its epoch-sized step counts are rescaled to the real
    data's), None for real data."""
    study_dir = work / "run" / study
    start = time.perf_counter()
    probe, repeats = _execute(
        spec, table, RunContext(study, 0, "paper", device, study_dir / spec.id, data_root, study_dir), steps
    )
    seconds = time.perf_counter() - start
    runs = sum(kind_of(other) == kind_of(spec) for other in table.values())
    step_seconds = probe.step_seconds[-1] if probe.step_seconds else 0.0
    step_flops = max(probe.step_flops, default=0)
    full_steps = round(repeats * probe.full_steps() * real_size_factor(spec, fixtures))
    return KindResult(study, spec.id, runs, seconds, full_steps, step_seconds, step_flops)


def run_checks(
    config: dict[str, Any],
    data_root: Path,
    work: Path,
    device: str,
    steps: int,
    only: list[str],
    fixtures: FixtureSizes | None = None,
) -> list[KindResult]:
    """Every kind of every study of ``config`` (or of ``only``), in study order, with progress on stderr."""
    import sys

    results = []
    for study in only or config["studies"]:
        table = studies.runs(study, config[study])
        for spec in kinds(study, config[study]):
            print(f"paper check: {study}/{spec.id} ...", file=sys.stderr, flush=True)
            results.append(check_kind(study, spec, table, work, data_root, device, steps, fixtures))
    return results


def table(results: list[KindResult], tflops: float) -> str:
    """A plain-text table per kind, then GPU-hours per study at ``tflops`` sustained TFLOP/s."""
    lines = [
        f"{'study':<14}{'run standing for its kind':<44}{'runs':>5}{'steps/run':>11}{'ms/step':>9}"
        f"{'GFLOP/step':>12}{'GPU-h':>8}"
    ]
    per_study: dict[str, float] = {}
    for r in results:
        hours = gpu_hours(r, tflops)
        per_study[r.study] = per_study.get(r.study, 0.0) + hours
        lines.append(
            f"{r.study:<14}{r.run:<44}{r.runs:>5}{r.full_steps:>11}{1000 * r.step_seconds:>9.1f}"
            f"{r.step_flops / 1e9:>12.2f}{hours:>8.2f}"
        )
    lines.append(f"GPU-hours at {tflops:g} TFLOP/s sustained (training steps only; a lower bound):")
    lines += [f"  {study:<14}{hours:>10.1f}" for study, hours in per_study.items()]
    return "\n".join(lines)


def gpu_hours(result: KindResult, tflops: float) -> float:
    """Training GPU-hours of all the kind's runs at ``tflops`` sustained TFLOP/s."""
    return result.total_flops() / (tflops * 1e12) / 3600


def markdown(results: list[KindResult], tflops: float, header: str) -> str:
    """The GPU-hour estimate as a Markdown page: a table of kinds per study, then the study's total."""
    lines = [
        "# Paper-scale compute, estimated",
        "",
        "Generated by `python -m pipeline.paper_check --fixtures --markdown docs/paper_estimates.md` (or",
        "by `--merge` from the `--out` files of runs of some studies each); do not edit by hand. "
        + f"{header} {len(results)} run kinds.",
        "",
        f"GPU-hours assume {tflops:g} TFLOP/s sustained on the counted FLOPs (matrix products and",
        "convolutions, forward and backward, of one training step, times the steps of a full run on the",
        "real training split, times the runs of the kind). Evaluation, data loading and gossip are not",
        "counted, and small models are latency-bound, so the figures are lower bounds, with four",
        "approximations: a step's FLOPs are the largest of the steps checked (for an arm that adds a",
        "penalty every k-th step, a penalty step: an overcount of that arm); every run of a kind is",
        "counted at the steps of the one checked (runs of a kind differ in numbers only; the consensus",
        "kinds' runs at n = 16, 32 and 64 take fewer steps of more workers, the same epochs; directpred's",
        "Table 8 runs of 300 and 500 epochs are one kind, counted at 500: an overcount); and a run",
        "resumed from another run's snapshot (consensus's dec-phase-k runs) counts the whole run's steps,",
        "though it trains from its phase's first step on (an overcount of up to 4 times). On the",
        "fixtures, the corpora have a vocabulary of a few hundred words, so a language model's embedding",
        "and decoder FLOPs are those of that vocabulary, not of PTB's 10,000 or WikiText-2's 33,278 words",
        "(an undercount of the LSTM kinds of selfish_rnn and nero).",
    ]
    for study in dict.fromkeys(r.study for r in results):
        rows = [r for r in results if r.study == study]
        total = sum(gpu_hours(r, tflops) for r in rows)
        lines += ["", f"## {study}: {total:.1f} GPU-hours", ""]
        lines += ["| run standing for its kind | runs | steps per run | GFLOP per step | GPU-hours |"]
        lines += ["|---|---:|---:|---:|---:|"]
        for r in rows:
            gflops, hours = r.step_flops / 1e9, gpu_hours(r, tflops)
            lines.append(f"| `{r.run}` | {r.runs} | {r.full_steps:,} | {gflops:.2f} | {hours:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--fixtures", action="store_true", help="synthetic data in each real file format")
    source.add_argument("--data-root", type=Path, help="root of the real paper-scale datasets")
    source.add_argument("--merge", type=Path, nargs="+", help="no checks: join the --out files of runs")
    parser.add_argument("--steps", type=int, default=2, help="training steps per run (default 2)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--tflops", type=float, default=50.0, help="sustained TFLOP/s for GPU-hours (50)")
    parser.add_argument("--studies", nargs="*", default=[], help="only these studies")
    parser.add_argument("--threads", type=int, help="torch threads (default: the paper config's threads)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the GPU-hour estimate as a Markdown page here")
    args = parser.parse_args(argv)

    import os

    import torch

    from pipeline.core.device import select_device

    if args.merge:
        return merged(args.merge, args.tflops, args.out, args.markdown)
    config = paper_config()
    device = str(select_device(args.device, gpus_held=1))
    out = args.out.resolve() if args.out else None
    page = args.markdown.resolve() if args.markdown else None
    with tempfile.TemporaryDirectory(prefix="paper-check-") as tmp:
        work = Path(tmp)
        fixtures = FixtureSizes() if args.fixtures else None
        data_root = write_paper_fixtures(work / "raw", fixtures) if fixtures else args.data_root.resolve()
        if args.fixtures:
            os.chdir(work)  # no prepared copy of the real data (data/prepared/) can stand in
        torch.set_num_threads(args.threads or int(config["threads"]))
        results = run_checks(config, data_root, work, device, args.steps, args.studies, fixtures)
    source = "synthetic fixtures, steps rescaled to the real splits" if args.fixtures else "the real data"
    header = f"Measured on {device} with {source}, {args.steps} step(s) per kind."
    print(f"device {device}; {len(results)} run kinds; {args.steps} step(s) each")
    return report(results, header, args.tflops, out, page)


def merged(paths: list[Path], tflops: float, out: Path | None, page: Path | None) -> int:
    """Join the ``--out`` files of several runs (e.g. one per study) into one table, JSON and page."""
    runs = [json.loads(Path(path).read_text()) for path in paths]
    results = [KindResult(**row) for run in runs for row in run["results"]]
    return report(results, " ".join(dict.fromkeys(run["header"] for run in runs)), tflops, out, page)


def report(results: list[KindResult], header: str, tflops: float, out: Path | None, page: Path | None) -> int:
    """The table on stdout; with ``out`` the results as JSON, with ``page`` the Markdown estimate."""
    print(table(results, tflops))
    if out is not None:
        out.write_text(json.dumps({"header": header, "results": [vars(r) for r in results]}, indent=1))
    if page is not None:
        page.write_text(markdown(results, tflops, header))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
