"""Every path the workflow reads or writes, named in one place (showyourwork style).

The Snakemake rules, the CLI and the analysis scripts all build their paths here, so a path changes
in exactly one spot. Paths are relative to the repository root (the Snakemake working directory).
"""

from pathlib import Path

DATA = Path("data")
PREPARED = DATA / "prepared"
RESULTS = Path("results")
FIGURES = Path("figures")
REPORT = Path("report")

CLAIMS_CSV = RESULTS / "claims.csv"
CLAIMS_METRICS = RESULTS / "claims.json"
BENCH_JSON = RESULTS / "bench.json"
REPORT_HTML = REPORT / "index.html"


def study_dir(study: str) -> Path:
    """results/<study>/: everything one study computes."""
    return RESULTS / study


def run_dir(study: str, run: str) -> Path:
    """results/<study>/<run>/: metrics.json, history.csv, checkpoint.pt, run.log."""
    return RESULTS / study / run


def metrics_json(study: str, run: str) -> Path:
    return run_dir(study, run) / "metrics.json"


def history_csv(study: str, run: str) -> Path:
    return run_dir(study, run) / "history.csv"


def checkpoint_pt(study: str, run: str) -> Path:
    return run_dir(study, run) / "checkpoint.pt"


def theory_json(study: str) -> Path:
    return RESULTS / study / "theory.json"


def study_claims_csv(study: str) -> Path:
    return RESULTS / study / "claims.csv"


def figure_dir(study: str) -> Path:
    return FIGURES / study


def captions_json(study: str) -> Path:
    """figures/<study>/captions.json: {figure stem: caption}, read by the report."""
    return FIGURES / study / "captions.json"
