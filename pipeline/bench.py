"""``python -m pipeline.bench`` (``make bench``): run every study's benchmarks and write results/bench.json.

Each study may define ``BENCHMARKS`` in ``pipeline/<study>/bench.py`` (see pipeline.core.bench).
Both variants of a benchmark run with the same torch thread count (``--threads``, default 1, as
each workflow job does). Prints one table; the JSON maps each benchmark name to
``{"study", "what", "ratio", "goal", "goal_is", "meets_goal", ...}``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from pipeline import paths, studies
from pipeline.core.atomic import atomic_write_json
from pipeline.core.bench import Benchmark, measure


def collect(selected: list[str]) -> list[Benchmark]:
    """Every ``BENCHMARKS`` entry of the selected studies (studies without bench.py contribute none)."""
    found: list[Benchmark] = []
    for study in selected:
        try:
            module = importlib.import_module(f"pipeline.{study}.bench")
        except ModuleNotFoundError as error:
            if error.name != f"pipeline.{study}.bench":
                raise
            continue
        found.extend(module.BENCHMARKS)
    return found


def format_table(results: dict[str, dict]) -> str:
    lines = [f"{'benchmark':44} {'ratio':>8} {'goal':>12} {'meets':>6}  what"]
    for name, entry in results.items():
        goal = "" if entry["goal"] is None else f"{entry['goal_is']} {entry['goal']:g}"
        meets = "" if entry["meets_goal"] is None else ("yes" if entry["meets_goal"] else "NO")
        lines.append(f"{name:44} {entry['ratio']:8.3g} {goal:>12} {meets:>6}  {entry['what']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench", description=__doc__)
    parser.add_argument("--studies", nargs="*", default=list(studies.STUDIES))
    parser.add_argument("--out", type=Path, default=paths.BENCH_JSON)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every timed variant")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    results = {}
    for bench in collect(args.studies):
        print(f"timing {bench.name} ...", file=sys.stderr, flush=True)
        results[bench.name] = measure(bench)
    atomic_write_json(args.out, results)
    print(format_table(results))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
