"""Per-rule wall time and memory for a cluster profile, from the rules' Snakemake ``benchmark:`` records.

Every rule writes a benchmark record (``s`` = wall seconds, ``max_rss`` = peak resident memory in MB):
training jobs to ``results/<tag>/<study>/<run>/benchmark.tsv``, the others to
``logs/<tag>/<stage>/<name>.benchmark.tsv`` and ``logs/prepare/<dataset>.benchmark.tsv``. This module
takes the largest record of each rule and adds headroom, so that a profile's ``set-resources`` block is a
measured statement rather than a guess::

    python -m pipeline.core.cluster_resources --tag default --gpus 0 --cpus 1   # a set-resources: block

``--gpus`` and ``--cpus`` are what each training job asks for (a CPU-only cluster: ``--gpus 0``).

Headroom: ``runtime`` (minutes) = max(``MIN_RUNTIME_MIN``, ceil(``RUNTIME_FACTOR`` × largest s / 60));
``mem_mb`` = max(``MIN_MEM_MB``, the largest max_rss × ``MEM_FACTOR`` rounded up to 256 MB). A rule with no
record yet keeps the profile's defaults (it is omitted from the block).
"""

from __future__ import annotations

import argparse
import csv
import math
from dataclasses import dataclass
from pathlib import Path

from pipeline.paths import Outputs

RUNTIME_FACTOR = 3.0
MEM_FACTOR = 1.5
MIN_RUNTIME_MIN = 5
MIN_MEM_MB = 1000
MEM_STEP_MB = 256


@dataclass(frozen=True)
class RuleUsage:
    """The largest wall time (s) and peak memory (MB) over one rule's benchmark records."""

    rule: str
    records: int
    max_seconds: float
    max_rss_mb: float

    @property
    def runtime_min(self) -> int:
        return max(MIN_RUNTIME_MIN, math.ceil(RUNTIME_FACTOR * self.max_seconds / 60))

    @property
    def mem_mb(self) -> int:
        steps = math.ceil(MEM_FACTOR * self.max_rss_mb / MEM_STEP_MB)
        return max(MIN_MEM_MB, steps * MEM_STEP_MB)


def read_record(path: Path) -> tuple[float, float]:
    """(wall seconds, max_rss MB) of one benchmark.tsv (the last row when a job was repeated)."""
    with path.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows:
        raise ValueError(f"{path}: empty benchmark record")
    row = rows[-1]
    rss = row.get("max_rss", "NA")
    return float(row["s"]), (0.0 if rss in ("NA", "-", "") else float(rss))


def rule_records(outputs: Outputs) -> dict[str, list[Path]]:
    """Benchmark files of each rule under one tag (and the shared prepare stage)."""
    logs = outputs.logs
    claims = sorted((logs / "claims").glob("*.benchmark.tsv"))
    return {
        "prepare_dataset": sorted((outputs.root / "logs" / "prepare").glob("*.benchmark.tsv")),
        "train": sorted(outputs.results.glob("*/*/benchmark.tsv")),
        "theory": sorted((logs / "theory").glob("*.benchmark.tsv")),
        "study_claims": [path for path in claims if path.name != "all.benchmark.tsv"],
        "claims_table": [path for path in claims if path.name == "all.benchmark.tsv"],
        "figures": sorted((logs / "figures").glob("*.benchmark.tsv")),
        "report": sorted((logs / "report").glob("*.benchmark.tsv")),
    }


def usage(outputs: Outputs) -> list[RuleUsage]:
    """One RuleUsage per rule that has at least one record."""
    found = []
    for rule, files in rule_records(outputs).items():
        if not files:
            continue
        records = [read_record(path) for path in files]
        found.append(
            RuleUsage(rule, len(records), max(s for s, _ in records), max(rss for _, rss in records))
        )
    return found


def set_resources_yaml(rules: list[RuleUsage], tag: str, train_gpus: int, train_cpus: int) -> str:
    """A profile's ``set-resources:`` block, each rule commented with what it was sized from."""
    command = f"python -m pipeline.core.cluster_resources --tag {tag} --gpus {train_gpus} --cpus {train_cpus}"
    lines = [f"# generated from the benchmark records of tag '{tag}': {command}", "set-resources:"]
    for rule in rules:
        lines += [
            f"  {rule.rule}:  # {rule.records} record(s): at most {rule.max_seconds:.0f} s, "
            f"{rule.max_rss_mb:.0f} MB",
            f"    runtime: {rule.runtime_min}",
            f"    mem_mb: {rule.mem_mb}",
        ]
        if rule.rule == "train":
            lines += [f"    cpus_per_task: {train_cpus}", f"    gpu: {train_gpus}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="default", help="the output tag whose records to read")
    parser.add_argument("--root", type=Path, default=Path(), help="repository root")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs each training job asks for")
    parser.add_argument("--cpus", type=int, default=1, help="CPUs each training job asks for")
    args = parser.parse_args(argv)
    rules = usage(Outputs(args.tag, args.root))
    if not rules:
        raise SystemExit(f"error: no benchmark records for tag {args.tag!r} in {args.root}; run the workflow")
    print(set_resources_yaml(rules, args.tag, args.gpus, args.cpus), end="")


if __name__ == "__main__":
    main()
