# Shared helpers: config validation, the run table, and what each job receives.
import functools
import json
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from analysis.catalog import captions
from pipeline import paths, studies
from pipeline.core.config import ConfigError, output_tag, validate
from pipeline.core.imports import code_digest


envvars:
    "PATH",


# Jobs call `python -m pipeline...`: make that the interpreter running Snakemake (the .venv).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

try:
    _validated = validate(config)
    RUNS = {study: studies.runs(study, _validated[study]) for study in _validated["studies"]}
except (ConfigError, ValueError) as error:
    sys.exit(f"config error: {error}")
config.clear()
config.update(_validated)

STUDIES = config["studies"]
OUT = paths.Outputs(output_tag(config))


def _alternatives(names):
    """A regex matching exactly ``names`` (the run ids the config lists, nothing else)."""
    import re

    return "|".join(re.escape(name) for name in sorted(set(names), key=len, reverse=True)) or "(?!)"


wildcard_constraints:
    study=_alternatives(STUDIES),
    run=_alternatives(run for table in RUNS.values() for run in table),
    dataset=r"[a-z0-9_]+",


def run_spec(study, run):
    """The spec of one run; a clear error for a run another study lists."""
    if run not in RUNS[study]:
        raise WorkflowError(f"study {study!r} has no run {run!r}; its runs: {', '.join(RUNS[study])}")
    return RUNS[study][run]


def run_json(study, run):
    """A train job's params: the run's own spec plus the scale, base seed and device (never threads)."""
    spec = run_spec(study, run).to_dict()
    return json.dumps({key: config[key] for key in ("scale", "seed", "device")} | {"spec": spec}, sort_keys=True)


def study_json(study):
    """What claims and figures of a study receive: its config section, the scale and the output tag."""
    payload = {"scale": config["scale"], "tag": OUT.tag, "section": config[study]}
    return json.dumps(payload, sort_keys=True)


CODE_DIGESTS = Path(".snakemake") / "pipeline" / "code_digests.json"


@functools.cache
def study_code(study):
    """Digest of the code the study's runs execute (study.py and every module it imports, docstrings and
    comments left out): a param, so editing that code re-runs the study's jobs and editing its
    documentation does not."""
    return code_digest(studies.code_paths(study), CODE_DIGESTS)


@functools.cache
def claims_code(study):
    """Digest of the code the study's claims execute (claims.py and its imports)."""
    return code_digest(studies.claims_code(study), CODE_DIGESTS)


def study_data(study):
    """meta.json of every prepared dataset the study reads (written last by prepare_dataset)."""
    return [str(paths.prepared_meta(name)) for name in studies.datasets(study, config[study])]


def needed_metrics(study, run):
    """metrics.json of the runs this run reads (its spec's needs())."""
    return [str(OUT.metrics_json(study, other)) for other in run_spec(study, run).needs()]


def run_metrics(study):
    return [str(OUT.metrics_json(study, run)) for run in RUNS[study]]


def theory_outputs(study):
    return [str(OUT.theory_json(study))] if studies.has_theory(study) else []


def all_targets():
    targets = [str(paths.prepared_meta(name)) for name in config["datasets"]]
    targets += [str(OUT.claims_csv), str(OUT.report_html)]
    return targets + [str(OUT.figure_dir(study)) for study in STUDIES]
