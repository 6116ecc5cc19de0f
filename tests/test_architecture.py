"""The shape of the package: no import cycles, building the run table imports no torch, and the code
a study's runs execute is what the workflow watches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import networkx as nx

from pipeline import studies
from pipeline.core import imports

ROOT = Path(__file__).resolve().parents[1]


def test_pipeline_has_no_import_cycles() -> None:
    graph = nx.DiGraph([(a, b) for a, targets in imports.graph().items() for b in targets])
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import cycles in pipeline/: {cycles}"


def test_the_run_table_of_every_study_imports_no_torch() -> None:
    """What every `snakemake` call does to build the DAG: validate the config and list each study's runs."""
    code = (
        "import sys\n"
        "from pipeline import studies\n"
        "from pipeline.core.config import validate\n"
        "config = validate({})\n"
        "tables = {s: studies.runs(s, config[s]) for s in studies.STUDIES}\n"
        "data = {s: studies.datasets(s, config[s]) for s in studies.STUDIES}\n"
        "code = {s: studies.code_paths(s) for s in studies.STUDIES}\n"
        "heavy = sorted(m for m in ('torch', 'sympy', 'scipy', 'matplotlib') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "print(sum(len(t) for t in tables.values()))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 100


def test_a_study_watches_the_code_its_runs_execute_and_not_its_claims() -> None:
    consensus = studies.code_paths("consensus")
    assert "pipeline/consensus/study.py" in consensus
    assert "pipeline/decentralized/simulator.py" in consensus  # the shared engine
    assert "pipeline/models/cnn1d.py" in consensus or any(p.startswith("pipeline/models/") for p in consensus)
    assert "pipeline/data/partition.py" in consensus
    for study in studies.STUDIES:
        paths = studies.code_paths(study)
        assert f"pipeline/{study}/study.py" in paths
        assert not any(p.endswith("/claims.py") or p == "pipeline/results.py" for p in paths), study
        assert f"pipeline/{study}/claims.py" in studies.claims_code(study)
    assert not any(p.startswith("pipeline/decentralized") for p in studies.code_paths("nero"))


def test_the_code_digest_ignores_documentation_but_not_code(tmp_path: Path, monkeypatch) -> None:
    module = tmp_path / "pipeline" / "m.py"
    module.parent.mkdir()
    monkeypatch.setattr(imports, "REPO_ROOT", tmp_path)
    cache = tmp_path / "digests.json"

    def digest(source: str) -> str:
        module.write_text(source)
        return imports.code_digest(["pipeline/m.py"], cache)

    base = digest('"""Doc."""\n\n\ndef f(x):\n    """What f does."""\n    return x + 1\n')
    assert (
        digest('"""Other doc."""\n\n\ndef f(x):  # a comment\n    """Reworded."""\n    return x + 1\n')
        == base
    )
    assert digest('"""Doc."""\n\n\ndef f(x):\n    """What f does."""\n    return x + 2\n') != base
    assert cache.exists()
