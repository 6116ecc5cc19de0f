"""The import graph of the ``pipeline`` package, read from the source (nothing is imported).

Used for two things: the workflow's code dependencies (a study's runs re-run when a module they
execute changes, :func:`closure`) and the architecture test (no import cycles). Every ``import`` or
``from ... import`` statement counts, at module level or inside a function.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_ROOT.parent


def module_name(path: Path) -> str:
    """``pipeline/core/engine.py`` -> ``pipeline.core.engine`` (a package's ``__init__`` is the package)."""
    parts = path.resolve().relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {module_name(path): path for path in sorted(PACKAGE_ROOT.rglob("*.py"))}


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise ValueError(f"{path}: relative import (the package uses absolute imports)")
            base = node.module or ""
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return {name for name in found if name in known}


@functools.cache
def graph() -> dict[str, frozenset[str]]:
    """Module -> the package modules it imports."""
    known = modules()
    return {name: frozenset(_imports(path, known) - {name}) for name, path in known.items()}


def closure(roots: tuple[str, ...], stop: frozenset[str] = frozenset()) -> list[str]:
    """Files of ``roots`` and of every package module they import, transitively, not entering ``stop``."""
    edges, seen, todo = graph(), set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name in stop:
            continue
        seen.add(name)
        todo += edges.get(name, ())
    return sorted(str(modules()[name].relative_to(REPO_ROOT)) for name in seen if name in modules())


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(getattr(statement, "value", None), ast.Constant)


def _tree_digest(source: str) -> str:
    """sha256 of a module's syntax tree with docstrings and bare string statements removed."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and any(_is_docstring(s) for s in body):
            node.body = [s for s in body if not _is_docstring(s)] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def code_digest(paths: list[str], cache: Path | None = None) -> str:
    """sha256 of what the files *do* (comments and docstrings left out), so editing documentation
    changes nothing and editing code changes the digest. ``cache`` (a JSON file) keeps each file's
    digest by its content hash, so a call on unchanged files only reads them."""
    known = json.loads(cache.read_text()) if cache is not None and cache.exists() else {}
    digest, fresh = hashlib.sha256(), {}
    for path in sorted(paths):
        source = (REPO_ROOT / path).read_text()
        key = hashlib.sha256(source.encode()).hexdigest()
        fresh[key] = known.get(key) or _tree_digest(source)
        digest.update(f"{path}:{fresh[key]}\n".encode())
    if cache is not None and any(key not in known for key in fresh):
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({**known, **fresh}))
        temporary.replace(cache)
    return digest.hexdigest()
