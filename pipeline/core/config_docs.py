"""``python -m pipeline.core.config_docs [--check]``: write config/README.md from the schema.

Every key is documented once, in config/config.schema.yaml (type, default, description); this renders
that documentation as a table per section. ``--check`` exits non-zero when config/README.md is stale
(the tests run it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipeline.core.config import SCHEMA_PATH, load_schema

README = SCHEMA_PATH.parent / "README.md"

INTRO = """# Configuration

Generated from `config/config.schema.yaml` by `python -m pipeline.core.config_docs`; do not edit by hand.

The schema is the single source of every key's type, default and meaning. Its defaults are the default
scale, so `config/config.yaml` only names the scale; `config/smoke.yaml` (tests and CI) and
`config/paper.yaml` (the papers' settings, for GPUs) are overlays that list only what they change:

```bash
snakemake --cores all                                   # default scale (config/config.yaml)
snakemake --cores all --configfile config/smoke.yaml    # smoke overlay
snakemake --cores all --config seed=1 tag=seed1 'nero={seeds: 2, cnn: {steps: 300}}'
dvc exp run -S 'config/config.yaml:++nero.seeds=2'
```

An unknown key or a value of the wrong type stops the workflow with one line naming the key. Each run's
spec holds only the keys it reads, so changing a key re-runs exactly the runs that read it.
"""


def _type(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    if kind == "array" and isinstance(schema.get("items"), dict):
        inner = schema["items"]
        kind = f"list of {_type(inner)}" if inner.get("type") != "object" else "list of objects"
    if "enum" in schema:
        kind += " (" + ", ".join(str(v) for v in schema["enum"]) + ")"
    return kind


def _default(schema: dict[str, Any]) -> str:
    if "default" not in schema or schema.get("type") == "object":
        return ""
    text = json.dumps(schema["default"], ensure_ascii=False)
    return f"`{text}`" if len(text) <= 60 else f"`{text[:57]}...`"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _rows(schema: dict[str, Any], prefix: str) -> list[str]:
    rows = []
    for key, sub in schema.get("properties", {}).items():
        name = f"{prefix}{key}"
        cells = [f"`{name}`", _cell(_type(sub)), _cell(_default(sub)), _cell(sub.get("description", ""))]
        rows.append("| " + " | ".join(cells) + " |")
        if sub.get("type") == "object":
            rows += _rows(sub, f"{name}.")
            values = sub.get("additionalProperties")
            if isinstance(values, dict):
                rows += _rows(values, f"{name}.<name>.")
        items = sub.get("items")
        if sub.get("type") == "array" and isinstance(items, dict) and items.get("type") == "object":
            rows += _rows(items, f"{name}[].")
    return rows


def render(schema: dict[str, Any]) -> str:
    """config/README.md: the intro, then one table of keys per top-level section."""
    header = "| key | type | default | meaning |\n|---|---|---|---|"
    top = {k: v for k, v in schema["properties"].items() if v.get("type") != "object"}
    parts = [INTRO, "## Workflow keys\n", header, *_rows({"properties": top}, "")]
    for key, sub in schema["properties"].items():
        if sub.get("type") == "object":
            parts += [
                f"\n## `{key}`\n",
                _cell(sub.get("description", "")) + "\n",
                header,
                *_rows(sub, f"{key}."),
            ]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.core.config_docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when config/README.md is out of date")
    args = parser.parse_args(argv)
    text = render(load_schema())
    if args.check:
        if not README.exists() or README.read_text() != text:
            print(f"{README} is out of date: run python -m pipeline.core.config_docs", file=sys.stderr)
            return 1
        return 0
    Path(README).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
