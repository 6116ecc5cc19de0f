"""The offline HTML report (report/<tag>/index.html): per study its claims, its figures, its provenance.

One self-contained page (figures embedded as base64 PNG, relative links to the PDFs and run logs),
readable in a browser without a network or a server, laid out for a 1400 px window:

1. a summary: per study, reproductions held / inconclusive / failed and checks passed;
2. per study, in the config's order: its claims (estimate with its 95% interval and n, the verdict
   coloured, the paper's value and source, the documented reason where a claim does not hold), then its
   figures in the order the study lists them, then provenance (scale, base seed, devices, git revisions,
   wall time, the config section used, links to every run's log);
3. the benchmarks (``make bench``), when recorded.
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.atomic import atomic_write_text
from pipeline.core.claims import format_number
from pipeline.paths import Outputs

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1360px; margin: 1.5em auto; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; width: 100%; table-layout: fixed; }
th, td { border: 1px solid #ccc; padding: 4px 6px; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.holds { background: #e3f4e3; } .fails { background: #f9dede; } .inconclusive { background: #fdf3d6; }
.verdict { font-weight: 600; text-align: center; }
.kind-check td { color: #555; }
.note { color: #7a4b00; font-size: 0.95em; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; max-width: 1100px; }
details { margin: 0.5em 0; } pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
.summary td:first-child { font-weight: 600; }
"""

CLAIM_COLUMNS = (
    ("claim", "claim", "30%"),
    ("estimate", "estimate [95% interval] (n)", "15%"),
    ("comparison", "claimed", "7%"),
    ("verdict", "verdict", "8%"),
    ("paper", "paper value (source)", "22%"),
    ("why", "reason, where it does not hold", "18%"),
)


def _table(header: list[str], rows: list[str], widths: list[str] | None = None) -> str:
    cols = "".join(f'<col style="width:{w}">' for w in widths) if widths else ""
    head = "".join(f"<th>{cell}</th>" for cell in header)
    return f"<table><colgroup>{cols}</colgroup><tr>{head}</tr>{''.join(rows)}</table>"


def interval_text(claim: dict[str, Any]) -> str:
    """``1.23 [0.98, 1.48] (n=5)``; a deterministic value prints alone."""
    value = format_number(_float(claim["estimate"]))
    low, high = _float(claim["ci_low"]), _float(claim["ci_high"])
    if claim["n"] in (1, "1") and low == high:
        return value or "—"
    interval = f" [{format_number(low)}, {format_number(high)}]" if low == low and high == high else ""
    return f"{value or '—'}{interval} (n={claim['n']})"


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _claim_row(claim: dict[str, Any]) -> str:
    verdict = claim["verdict"]
    comparison = f"{escape(claim['comparison'])} {escape(format_number(_float(claim['threshold']), 4))}"
    paper = escape(claim.get("paper_value", ""))
    if claim.get("paper_source"):
        paper += f" <i>({escape(claim['paper_source'])})</i>"
    why = escape(claim.get("note", "")) if verdict != "holds" else ""
    cells = [
        f'<b id="{escape(claim["study"])}-{escape(claim["claim_id"])}">{escape(claim["claim_id"])}</b>: '
        f"{escape(claim['claim'])}",
        f'<span title="{escape(claim.get("method", ""))}">{escape(interval_text(claim))}</span>',
        comparison,
        escape(verdict),
        paper,
        f'<span class="note">{why}</span>',
    ]
    classes = ["", "num", "", f"verdict {verdict}", "", ""]
    tds = "".join(
        f'<td class="{c}">{cell}</td>' if c else f"<td>{cell}</td>"
        for c, cell in zip(classes, cells, strict=True)
    )
    return f'<tr class="kind-{escape(claim["kind"])}">{tds}</tr>'


def _claims_section(claims: list[dict[str, Any]]) -> str:
    if not claims:
        return "<p>No claims.</p>"
    header = [label for _, label, _ in CLAIM_COLUMNS]
    widths = [width for *_, width in CLAIM_COLUMNS]
    parts = []
    for kind, title in (("reproduction", "Reproductions of the paper's results"), ("check", "Checks")):
        rows = [_claim_row(c) for c in claims if c["kind"] == kind]
        if rows:
            parts.append(f"<h3>{title}</h3>{_table(header, rows, widths)}")
    return "".join(parts)


def counts(claims: list[dict[str, Any]]) -> dict[str, int]:
    """Reproductions by verdict and checks passed/failed (what the summary and claims.json report)."""
    tally = Counter((c["kind"], c["verdict"]) for c in claims)
    return {
        "reproductions": sum(v for (kind, _), v in tally.items() if kind == "reproduction"),
        "holds": tally[("reproduction", "holds")],
        "inconclusive": tally[("reproduction", "inconclusive")],
        "fails": tally[("reproduction", "fails")],
        "checks": sum(v for (kind, _), v in tally.items() if kind == "check"),
        "checks_passed": tally[("check", "holds")],
    }


def _summary(by_study: dict[str, list[dict[str, Any]]]) -> str:
    header = ["study", "reproductions", "holds", "inconclusive", "fails", "checks passed"]
    rows = []
    for study, claims in by_study.items():
        c = counts(claims)
        cells = [
            f'<a href="#{escape(study)}">{escape(study)}</a>',
            str(c["reproductions"]),
            str(c["holds"]),
            str(c["inconclusive"]),
            str(c["fails"]),
            f"{c['checks_passed']} of {c['checks']}",
        ]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return f'<div class="summary">{_table(header, rows)}</div>'


def _figure(study: str, stem: str, caption: str, figures: Path, out_dir: Path) -> str:
    """A figure embedded as base64 PNG, its caption, and a relative link to its PDF."""
    data = base64.b64encode((figures / f"{stem}.png").read_bytes()).decode()
    pdf = escape(os.path.relpath(figures / f"{stem}.pdf", out_dir))
    return (
        f'<figure id="{escape(study)}-{escape(stem)}">'
        f'<img alt="{escape(stem)}" src="data:image/png;base64,{data}">'
        f'<figcaption><b>{escape(stem)}</b> (<a href="{pdf}">pdf</a>): {escape(caption)}</figcaption>'
        "</figure>"
    )


def read_captions(path: Path) -> list[tuple[str, str]]:
    """captions.json: ``[{"stem", "caption"}, ...]`` in the study's order."""
    if not path.exists():
        return []
    return [(entry["stem"], entry["caption"]) for entry in json.loads(path.read_text())]


def _figures(study: str, outputs: Outputs, out_dir: Path) -> str:
    captions = read_captions(outputs.captions_json(study))
    if not captions:
        return "<p>No figures.</p>"
    folder = outputs.figure_dir(study)
    return "".join(_figure(study, stem, caption, folder, out_dir) for stem, caption in captions)


def _records(study: str, outputs: Outputs) -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, json.loads(path.read_text()))
        for path in sorted(outputs.study_dir(study).glob("*/metrics.json"))
    ]


def _provenance(study: str, outputs: Outputs, section: dict[str, Any] | None, out_dir: Path) -> str:
    records = _records(study, outputs)
    if not records:
        return "<p>No run records.</p>"
    revisions = sorted({str(r.get("git_revision")) for _, r in records})
    devices = sorted({str(r.get("device")) for _, r in records})
    seeds = sorted({str(r.get("seed")) for _, r in records})
    scales = sorted({str(r.get("config", {}).get("scale")) for _, r in records})
    wall = sum(float(r.get("wall_time_s") or 0.0) for _, r in records)
    facts = [
        ("scale", ", ".join(scales)),
        ("base seed", ", ".join(seeds)),
        ("runs", str(len(records))),
        ("wall time of the runs", f"{wall / 60:.1f} CPU-min" if "cpu" in devices else f"{wall / 60:.1f} min"),
        ("devices", ", ".join(devices)),
        ("git revision", ", ".join(revisions)),
    ]
    rows = [f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in facts]
    links = [(os.path.relpath(path.parent / "run.log", out_dir), path.parent.name) for path, _ in records]
    logs = " ".join(f'<a href="{escape(href)}">{escape(name)}</a>' for href, name in links)
    config = escape(yaml.safe_dump({study: section}, sort_keys=False)) if section is not None else ""
    return (
        f"<h3>Provenance</h3>{_table(['', ''], rows, ['20%', '80%'])}"
        f"<details><summary>config used ({escape(study)} section)</summary><pre>{config}</pre></details>"
        f"<details><summary>run logs ({len(records)})</summary><p>{logs}</p></details>"
    )


def _bench_table(bench: Path) -> str:
    if not bench.exists():
        return "<p>No benchmarks recorded (run <code>make bench</code>).</p>"
    rows = []
    for name, entry in json.loads(bench.read_text()).items():
        goal = "" if entry["goal"] is None else f"{entry.get('goal_is', '')} {entry['goal']:g}"
        cells = [name, entry["study"], entry["what"], f"{entry['ratio']:.3g}", goal]
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    return _table(["benchmark", "study", "what", "ratio", "goal"], rows)


def study_claims(outputs: Outputs, study: str) -> list[dict[str, Any]]:
    """results/<tag>/<study>/claims.json: every claim with its note and interval method."""
    path = outputs.study_claims_json(study)
    return json.loads(path.read_text()) if path.exists() else []


def write_report(
    studies: list[str], *, outputs: Outputs, out: Path, config: dict[str, Any] | None = None, bench: Path
) -> None:
    """Write ``out`` (report/<tag>/index.html) for ``studies`` from the output tree ``outputs``."""
    by_study = {study: study_claims(outputs, study) for study in studies}
    sections = "".join(
        f'<section><h2 id="{escape(s)}">{escape(s)}</h2>{_claims_section(by_study[s])}'
        f"<h3>Figures</h3>{_figures(s, outputs, out.parent)}"
        f"{_provenance(s, outputs, (config or {}).get(s), out.parent)}</section>"
        for s in studies
    )
    body = (
        "<h1>ICML 2021 Deep Learning Optimization: reproduction report</h1>"
        f"<p>Output tree <code>{escape(outputs.tag)}</code>. A verdict is <b>holds</b> when the whole 95% "
        "interval lies on the claimed side of the threshold, <b>fails</b> when it lies wholly on the other "
        "side, and <b>inconclusive</b> otherwise (and below 3 seeds). Hover an estimate for its interval "
        "method.</p>"
        f"<h2>Summary</h2>{_summary(by_study)}{sections}<h2>Benchmarks</h2>{_bench_table(bench)}"
    )
    head = (
        "<meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
        f"<title>Reproduction report ({escape(outputs.tag)})</title><style>{_STYLE}</style>"
    )
    atomic_write_text(out, f"<!doctype html><html><head>{head}</head><body>{body}</body></html>\n")
