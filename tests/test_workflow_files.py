"""Files the workflow depends on stay consistent with each other."""

import tomllib
from pathlib import Path

import yaml
from conftest import deep_merge

from pipeline import studies
from pipeline.core.config import validate

ROOT = Path(__file__).resolve().parents[1]


def test_conda_environment_pins_equal_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "envs" / "pipeline.yaml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(pip_section) == sorted(project)


def test_torch_is_pinned_as_the_brief_requires():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.14.1" in project and "torchvision==0.29.1" in project


def test_every_registered_study_has_schema_config_and_analysis():
    schema = yaml.safe_load((ROOT / "config" / "config.schema.yaml").read_text())
    enum = schema["properties"]["studies"]["items"]["enum"]
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for study in studies.STUDIES:
        assert study in enum
        assert study in schema["properties"]
        assert study in default, f"config/config.yaml needs a {study} section (DVC params read it)"
        assert (ROOT / "analysis" / f"{study}.py").exists()


def test_ci_calls_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_every_dvc_param_is_in_the_default_config():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    stages = [stage.get("do", stage) for stage in dvc["stages"].values()]
    for stage in stages:
        for entry in stage.get("params", []):
            for key in entry.get("config/config.yaml") or []:
                if "${" not in key:
                    assert key in config, f"dvc.yaml reads {key} from config/config.yaml, which lacks it"


def test_dvc_lists_every_study_and_depends_on_the_code_its_runs_execute():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    listed = next(entry["studies"] for entry in dvc["vars"] if isinstance(entry, dict) and "studies" in entry)
    assert tuple(listed) == studies.STUDIES
    deps = dvc["stages"]["study"]["do"]["deps"]
    for study in studies.STUDIES:
        watched = [dep.replace("${item}", study) for dep in deps]
        for path in studies.code_paths(study) + studies.claims_code(study):
            assert any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in watched), (
                f"dvc.yaml's study stage does not depend on {path}, which {study} executes"
            )


def test_every_dataset_a_study_reads_is_prepared_by_its_scale():
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    smoke = deep_merge(default, yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text()))
    for config in (validate(default), validate(smoke)):
        for study in config["studies"]:
            missing = set(studies.datasets(study, config[study])) - set(config["datasets"])
            assert not missing, f"{config['scale']}: {study} reads {missing}, not in `datasets` (DVC stage)"


def test_dvc_plots_name_existing_figures_and_runs_of_the_default_config():
    from analysis.catalog import captions

    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    config = validate(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    images, curves = [], []
    for entry in dvc["plots"]:
        if isinstance(entry, str):
            images.append(entry)
        else:
            (definition,) = entry.values()
            curves += list(definition["y"])
    for study in studies.STUDIES:
        for stem in captions(study):
            assert f"figures/${{scale}}/{study}/{stem}.png" in images, f"dvc.yaml plots lack {study}/{stem}"
    assert len(images) == sum(len(captions(study)) for study in studies.STUDIES)
    for path in curves:
        _, _, study, run, name = path.split("/")
        assert name == "history.csv" and run in studies.runs(study, config[study]), path
