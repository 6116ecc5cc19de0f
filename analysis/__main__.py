"""``python -m analysis <study> [--results DIR] [--out DIR]``: draw one study's figures."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from pipeline import paths
from pipeline.core.atomic import atomic_write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    parser.add_argument("study")
    parser.add_argument("--results", type=Path, default=paths.RESULTS)
    parser.add_argument("--out", type=Path, default=None, help="default: figures/<study>")
    args = parser.parse_args(argv)
    out = args.out or paths.figure_dir(args.study)
    try:
        module = importlib.import_module(f"analysis.{args.study}")
    except ModuleNotFoundError:
        print(f"error: no analysis script analysis/{args.study}.py", file=sys.stderr)
        return 2
    module.plot(args.results / args.study, out)
    missing = [
        s for s in module.CAPTIONS if not (out / f"{s}.png").exists() or not (out / f"{s}.pdf").exists()
    ]
    if missing:
        print(f"error: analysis/{args.study}.py did not write {missing}", file=sys.stderr)
        return 1
    atomic_write_json(out / "captions.json", module.CAPTIONS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
