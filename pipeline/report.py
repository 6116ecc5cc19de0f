"""The offline HTML report: every figure with its caption, and the claims table.

One self-contained file (figures embedded as base64 PNG, links to the PDFs beside it), readable in
a browser without a network or a server.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

import pandas as pd

from pipeline.core.atomic import atomic_write_text

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; width: 100%; }
th, td { border: 1px solid #ccc; padding: 4px 6px; text-align: left; vertical-align: top; }
tr.holds td.verdict { background: #e3f4e3; } tr.fails td.verdict { background: #fbe3e3; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
"""


def _claims_table(claims_csv: Path) -> str:
    if not claims_csv.exists():
        return "<p>No claims yet.</p>"
    frame = pd.read_csv(claims_csv, dtype=str, keep_default_na=False)
    held = int((frame["holds"] == "True").sum())
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        css = "holds" if row["holds"] == "True" else "fails"
        cells = "".join(
            f'<td class="{"verdict" if col == "holds" else ""}">{html.escape(str(row[col]))}</td>'
            for col in frame.columns
        )
        rows.append(f'<tr class="{css}">{cells}</tr>')
    return f"<p>{held} of {len(frame)} claims hold.</p><table><tr>{head}</tr>{''.join(rows)}</table>"


def _figures(study: str, figures: Path, out_dir: Path) -> str:
    captions_path = figures / study / "captions.json"
    if not captions_path.exists():
        return "<p>No figures.</p>"
    parts = []
    for stem, caption in json.loads(captions_path.read_text()).items():
        png = figures / study / f"{stem}.png"
        data = base64.b64encode(png.read_bytes()).decode()
        pdf = os.path.relpath(figures / study / f"{stem}.pdf", out_dir)
        parts.append(
            f'<figure id="{study}-{stem}"><img alt="{html.escape(stem)}" src="data:image/png;base64,{data}">'
            f'<figcaption><b>{html.escape(stem)}</b> (<a href="{html.escape(pdf)}">pdf</a>): {html.escape(caption)}'
            "</figcaption></figure>"
        )
    return "".join(parts)


def _bench_table(bench: Path) -> str:
    if not bench.exists():
        return "<p>No benchmarks recorded (run <code>make bench</code>).</p>"
    entries = json.loads(bench.read_text())
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(e['study'])}</td><td>{html.escape(e['what'])}</td>"
        f"<td>{e['ratio']:.3g}</td><td>{e.get('goal_is', '')} {e['goal'] if e['goal'] is not None else ''}</td></tr>"
        for name, e in entries.items()
    )
    return f"<table><tr><th>benchmark</th><th>study</th><th>what</th><th>ratio</th><th>goal</th></tr>{rows}</table>"


def write_report(studies: list[str], *, out: Path, claims_csv: Path, figures: Path, bench: Path) -> None:
    """Write ``out`` (report/index.html) for the given studies."""
    sections = [
        f'<section><h2 id="{html.escape(s)}">{html.escape(s)}</h2>{_figures(s, figures, out.parent)}</section>'
        for s in studies
    ]
    body = (
        "<h1>ICML 2021 Deep Learning Optimization: reproduction report</h1>"
        f"<h2>Claims</h2>{_claims_table(claims_csv)}{''.join(sections)}"
        f"<h2>Benchmarks</h2>{_bench_table(bench)}"
    )
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>Reproduction report</title><style>{_STYLE}</style></head><body>{body}</body></html>\n"
    atomic_write_text(out, page)
