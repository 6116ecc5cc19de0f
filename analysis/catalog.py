"""Each study's figure captions, read from ``analysis/<study>.py`` without importing it (no matplotlib).

The workflow uses this when it builds the DAG, to caption the figures in Snakemake's own ``--report``.
``CAPTIONS`` must therefore stay a literal ``dict[str, str]`` assignment at module level.
"""

from __future__ import annotations

import ast
from pathlib import Path

ANALYSIS = Path(__file__).resolve().parent


def captions(study: str) -> dict[str, str]:
    """{figure stem: caption} of ``analysis/<study>.py``, in the order the study lists them."""
    tree = ast.parse((ANALYSIS / f"{study}.py").read_text())
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "CAPTIONS" for t in targets) and node.value is not None:
            return dict(ast.literal_eval(node.value))
    raise ValueError(f"analysis/{study}.py defines no literal CAPTIONS dict")
