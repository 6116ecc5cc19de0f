# Shared helpers: config validation, run lists, the resolved config passed to each job.
import json
import os
import sys
from pathlib import Path

from pipeline import paths, studies
from pipeline.core.config import ConfigError, validate


envvars:
    "PATH",


# Jobs call `python -m pipeline...`: make that the interpreter running Snakemake (the .venv).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

try:
    _validated = validate(config)
except ConfigError as error:
    sys.exit(f"config error: {error}")
config.clear()
config.update(_validated)

STUDIES = config["studies"]


wildcard_constraints:
    study="|".join(studies.STUDIES),
    run=r"[A-Za-z0-9_.=+-]+",
    dataset=r"[a-z0-9_]+",


def study_config_json(study):
    """The resolved config one study's jobs see; a change in it re-runs exactly that study."""
    resolved = {key: config[key] for key in ("scale", "seed", "device", "threads", "data_root")}
    return json.dumps({**resolved, "study": config[study]}, sort_keys=True)


def study_code(study):
    """The study's source files (its package and SHARED_CODE): editing them re-runs its jobs."""
    return studies.code_paths(study)


def study_data(study):
    """meta.json of every prepared dataset the study reads (written last by prepare_dataset)."""
    return [str(paths.PREPARED / name / "meta.json") for name in studies.datasets(study, config[study])]


def run_metrics(study):
    return [str(paths.metrics_json(study, run)) for run in studies.run_ids(study, config[study])]


def theory_outputs(study):
    return [str(paths.theory_json(study))] if studies.has_theory(study) else []


def all_targets():
    targets = [str(paths.PREPARED / name / "meta.json") for name in config["datasets"]]
    targets += [str(paths.CLAIMS_CSV), str(paths.REPORT_HTML)]
    return targets + [str(paths.figure_dir(study)) for study in STUDIES]
