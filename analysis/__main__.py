"""``python -m analysis <study> [--study-json JSON] [--out DIR]``: draw one study's figures.

``--study-json`` is what the workflow passes: ``{"scale", "tag", "section"}``; the figures then read the
runs that config section asks for, under results/<tag>/. Without it the default config
(config/config.yaml, schema defaults filled) is used.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import yaml

from pipeline import paths
from pipeline.core.atomic import atomic_write_json
from pipeline.core.config import output_tag, validate
from pipeline.results import Results


def _default_study_json(study: str) -> str:
    config = validate(yaml.safe_load(Path("config/config.yaml").read_text()))
    return json.dumps({"scale": config["scale"], "tag": output_tag(config), "section": config[study]})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    parser.add_argument("study")
    parser.add_argument(
        "--study-json", default=None, help='{"scale", "tag", "section"} (default: config.yaml)'
    )
    parser.add_argument("--out", type=Path, default=None, help="default: figures/<tag>/<study>")
    args = parser.parse_args(argv)
    try:
        module = importlib.import_module(f"analysis.{args.study}")
    except ModuleNotFoundError:
        print(f"error: no analysis script analysis/{args.study}.py", file=sys.stderr)
        return 2
    given = json.loads(args.study_json or _default_study_json(args.study))
    outputs = paths.Outputs(given["tag"])
    results = Results.from_config(args.study, given["section"], outputs, given["scale"])
    out = args.out or outputs.figure_dir(args.study)
    np.random.seed(0)  # seaborn's jitter draws from numpy's global generator: same results, same figures
    module.plot(results, out)
    missing = [
        s for s in module.CAPTIONS if not (out / f"{s}.png").exists() or not (out / f"{s}.pdf").exists()
    ]
    if missing:
        print(f"error: analysis/{args.study}.py did not write {missing}", file=sys.stderr)
        return 1
    captions = [{"stem": stem, "caption": caption} for stem, caption in module.CAPTIONS.items()]
    atomic_write_json(out / "captions.json", captions)  # a list: the study's order survives
    return 0


if __name__ == "__main__":
    sys.exit(main())
