"""The shape of the package: no import cycles, and building the run table imports no torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipeline"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> nx.DiGraph:
    """Every import statement (module level or inside a function) between modules of ``pipeline``."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}: relative import (the package uses absolute imports)"
                base = node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph.add_edge(name, target)
    return graph


def test_pipeline_has_no_import_cycles() -> None:
    cycles = list(nx.simple_cycles(_import_graph()))
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
        "heavy = sorted(m for m in ('torch', 'sympy', 'scipy', 'matplotlib') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "print(sum(len(t) for t in tables.values()))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 100
