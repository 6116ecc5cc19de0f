"""Every path the workflow reads or writes, named in one place (showyourwork style).

The Snakemake rules, the CLI, the results reader and the analysis scripts all build their paths here.
Paths are relative to the repository root (the Snakemake working directory).

Outputs live in one tree per *tag* (the config key ``tag``, by default the scale), so a paper-scale run
never overwrites the default-scale results::

    results/<tag>/<study>/<run>/{metrics.json,history.csv,run.log,benchmark.tsv,checkpoint.pt}
    results/<tag>/<study>/{theory.json,claims.csv,claims.json}
    results/<tag>/{claims.csv,claims.json}
    figures/<tag>/<study>/{<stem>.png,<stem>.pdf,captions.json}
    report/<tag>/index.html
    logs/<tag>/...

Prepared datasets (``data/prepared/<name>/``) do not depend on the scale and are shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATA = Path("data")
RAW = DATA / "raw"
PREPARED = DATA / "prepared"
BENCH_JSON = Path("results") / "bench.json"


def prepared_meta(dataset: str) -> Path:
    """data/prepared/<dataset>/meta.json, written last by the prepare step."""
    return PREPARED / dataset / "meta.json"


def prepare_log(dataset: str) -> Path:
    """logs/prepare/<dataset>.log (prepared data is shared by every scale, so is its log)."""
    return Path("logs") / "prepare" / f"{dataset}.log"


def prepare_benchmark(dataset: str) -> Path:
    """logs/prepare/<dataset>.benchmark.tsv."""
    return Path("logs") / "prepare" / f"{dataset}.benchmark.tsv"


@dataclass(frozen=True)
class Outputs:
    """The output tree of one tag (see the module docstring), under ``root`` (the repository root;
    tests use a temporary directory)."""

    tag: str
    root: Path = Path()

    @property
    def results(self) -> Path:
        return self.root / "results" / self.tag

    @property
    def figures(self) -> Path:
        return self.root / "figures" / self.tag

    @property
    def logs(self) -> Path:
        return self.root / "logs" / self.tag

    @property
    def claims_csv(self) -> Path:
        return self.results / "claims.csv"

    @property
    def claims_json(self) -> Path:
        """Per-study claim counts and estimates: the DVC metrics file."""
        return self.results / "claims.json"

    @property
    def report_html(self) -> Path:
        return self.root / "report" / self.tag / "index.html"

    def study_dir(self, study: str) -> Path:
        return self.results / study

    def run_dir(self, study: str, run: str) -> Path:
        return self.results / study / run

    def metrics_json(self, study: str, run: str) -> Path:
        return self.run_dir(study, run) / "metrics.json"

    def history_csv(self, study: str, run: str) -> Path:
        return self.run_dir(study, run) / "history.csv"

    def run_log(self, study: str, run: str) -> Path:
        return self.run_dir(study, run) / "run.log"

    def run_benchmark(self, study: str, run: str) -> Path:
        return self.run_dir(study, run) / "benchmark.tsv"

    def theory_json(self, study: str) -> Path:
        return self.results / study / "theory.json"

    def study_claims_csv(self, study: str) -> Path:
        return self.results / study / "claims.csv"

    def study_claims_json(self, study: str) -> Path:
        """Every field of the study's claims (with notes and interval methods), read by the report."""
        return self.results / study / "claims.json"

    def figure_dir(self, study: str) -> Path:
        return self.figures / study

    def captions_json(self, study: str) -> Path:
        """figures/<tag>/<study>/captions.json: {figure stem: caption}, read by the report."""
        return self.figures / study / "captions.json"

    def log(self, stage: str, name: str) -> Path:
        """logs/<tag>/<stage>/<name>.log (prepare, theory, claims, figures, report)."""
        return self.logs / stage / f"{name}.log"

    def benchmark(self, stage: str, name: str) -> Path:
        """logs/<tag>/<stage>/<name>.benchmark.tsv: Snakemake's wall time and memory record of a job."""
        return self.logs / stage / f"{name}.benchmark.tsv"
