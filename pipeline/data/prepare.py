"""Command line: ``python -m pipeline.data.prepare NAME [--data-root DIR] [--out DIR] [--download]``.

Writes ``<out>/<NAME>/{tensors.pt, meta.json[, vocab.txt]}`` (see :mod:`pipeline.data.prepared`) and prints
one summary line. A missing dataset exits with status 1 and one message naming what provides it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.core.atomic import atomic_write_json
from pipeline.data.bundle import DatasetMissingError
from pipeline.data.prepared import META_FILE, read_meta, write_prepared
from pipeline.data.registry import dataset_names, load_raw
from pipeline.paths import PREPARED


def prepare(
    name: str,
    data_root: Path | str | None = None,
    out: Path | str = PREPARED,
    download: bool = False,
    **options: Any,
) -> Path:
    """Load ``name`` from its source, write its prepared form to ``out/<name>/`` and return that path."""
    start = time.perf_counter()
    bundle = load_raw(name, data_root, download=download, **options)
    directory = write_prepared(bundle, out, extra={"prepare_seconds": None})
    meta = json.loads((directory / META_FILE).read_text())
    meta["prepare_seconds"] = round(time.perf_counter() - start, 3)
    atomic_write_json(directory / META_FILE, meta)
    return directory


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.data.prepare", description=__doc__.splitlines()[0]
    )
    parser.add_argument("name", choices=dataset_names(), help="dataset to prepare")
    parser.add_argument("--data-root", type=Path, default=None, help="root of locally stored raw datasets")
    parser.add_argument(
        "--out", type=Path, default=PREPARED, help="prepared-data root (default data/prepared)"
    )
    parser.add_argument("--download", action="store_true", help="let torchvision download (needs a network)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Prepare one dataset; returns the exit status."""
    args = parse_args(argv)
    try:
        directory = prepare(args.name, args.data_root, args.out, download=args.download)
    except DatasetMissingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    meta = read_meta(args.name, args.out) or {}
    shapes = ", ".join(f"{key} {tuple(spec['shape'])}" for key, spec in meta["tensors"].items())
    vocab = f"; vocab {meta['vocab_size']}" if "vocab_size" in meta else ""
    print(
        f"{args.name}: {shapes}{vocab}; load {meta['load_seconds']} s, "
        f"prepare {meta['prepare_seconds']} s -> {directory}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
