"""``python -m analysis <study> [--results DIR] [--out DIR] [--config-json JSON]``: draw one study's figures.

With ``--config-json`` (the resolved config the workflow passes to every job of the study) the figures
read only the runs that config asks for; without it, every finished run under results/<study>/.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from pipeline import paths, studies
from pipeline.core.atomic import atomic_write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    parser.add_argument("study")
    parser.add_argument("--results", type=Path, default=paths.RESULTS)
    parser.add_argument("--out", type=Path, default=None, help="default: figures/<study>")
    parser.add_argument(
        "--config-json", default=None, help="resolved study config: draw only the runs it asks for"
    )
    args = parser.parse_args(argv)
    out = args.out or paths.figure_dir(args.study)
    try:
        module = importlib.import_module(f"analysis.{args.study}")
    except ModuleNotFoundError:
        print(f"error: no analysis script analysis/{args.study}.py", file=sys.stderr)
        return 2
    runs = None
    if args.config_json is not None:
        runs = studies.run_ids(args.study, json.loads(args.config_json)["study"])
    module.plot(args.results / args.study, out, runs)
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
