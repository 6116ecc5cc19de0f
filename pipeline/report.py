"""The offline HTML report: every figure with its caption, and the claims table.

One self-contained file (figures embedded as base64 PNG, links to the PDFs beside it), readable in
a browser without a network or a server.
"""

from __future__ import annotations

import base64
import json
import os
from html import escape
from pathlib import Path

import pandas as pd

from pipeline.core.atomic import atomic_write_text

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; width: 100%; }
th, td { border: 1px solid #ccc; padding: 4px 6px; text-align: left; vertical-align: top; }
tr.holds td { background: #eef8ee; } tr.fails td { background: #fbeaea; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
"""


def _row(cells: list[str], tag: str = "td", css: str = "") -> str:
    """One table row of already-escaped cells."""
    attr = f' class="{css}"' if css else ""
    return f"<tr{attr}>" + "".join(f"<{tag}>{cell}</{tag}>" for cell in cells) + "</tr>"


def _claims_table(claims_csv: Path) -> str:
    if not claims_csv.exists():
        return "<p>No claims yet.</p>"
    frame = pd.read_csv(claims_csv, dtype=str, keep_default_na=False)
    held = int((frame["holds"] == "True").sum())
    rows = [_row([escape(c) for c in frame.columns], tag="th")]
    for _, row in frame.iterrows():
        css = "holds" if row["holds"] == "True" else "fails"
        rows.append(_row([escape(str(row[c])) for c in frame.columns], css=css))
    return f"<p>{held} of {len(frame)} claims hold.</p><table>{''.join(rows)}</table>"


def _figure(study: str, stem: str, caption: str, figures: Path, out_dir: Path) -> str:
    """A figure embedded as base64 PNG, its caption, and a relative link to its PDF."""
    data = base64.b64encode((figures / study / f"{stem}.png").read_bytes()).decode()
    pdf = escape(os.path.relpath(figures / study / f"{stem}.pdf", out_dir))
    return (
        f'<figure id="{escape(study)}-{escape(stem)}">'
        f'<img alt="{escape(stem)}" src="data:image/png;base64,{data}">'
        f'<figcaption><b>{escape(stem)}</b> (<a href="{pdf}">pdf</a>): {escape(caption)}</figcaption>'
        "</figure>"
    )


def _figures(study: str, figures: Path, out_dir: Path) -> str:
    captions_path = figures / study / "captions.json"
    if not captions_path.exists():
        return "<p>No figures.</p>"
    captions = json.loads(captions_path.read_text())
    return "".join(_figure(study, stem, caption, figures, out_dir) for stem, caption in captions.items())


def _bench_table(bench: Path) -> str:
    if not bench.exists():
        return "<p>No benchmarks recorded (run <code>make bench</code>).</p>"
    rows = [_row(["benchmark", "study", "what", "ratio", "goal"], tag="th")]
    for name, entry in json.loads(bench.read_text()).items():
        goal = "" if entry["goal"] is None else f"{entry.get('goal_is', '')} {entry['goal']:g}"
        cells = [name, entry["study"], entry["what"], f"{entry['ratio']:.3g}", goal]
        rows.append(_row([escape(c) for c in cells]))
    return f"<table>{''.join(rows)}</table>"


def write_report(studies: list[str], *, out: Path, claims_csv: Path, figures: Path, bench: Path) -> None:
    """Write ``out`` (report/index.html) for the given studies."""
    sections = "".join(
        f'<section><h2 id="{escape(s)}">{escape(s)}</h2>{_figures(s, figures, out.parent)}</section>'
        for s in studies
    )
    body = (
        "<h1>ICML 2021 Deep Learning Optimization: reproduction report</h1>"
        f"<h2>Claims</h2>{_claims_table(claims_csv)}{sections}"
        f"<h2>Benchmarks</h2>{_bench_table(bench)}"
    )
    head = f"<meta charset='utf-8'><title>Reproduction report</title><style>{_STYLE}</style>"
    atomic_write_text(out, f"<!doctype html><html><head>{head}</head><body>{body}</body></html>\n")
