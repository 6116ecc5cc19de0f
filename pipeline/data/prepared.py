"""The prepared (fast-loading) form of a dataset, written by ``python -m pipeline.data.prepare NAME``.

Files under ``<out>/<name>/`` (default ``data/prepared/<name>/``):

``tensors.pt``
    ``torch.save`` of the bundle's tensor dict (names as in :mod:`pipeline.data.bundle`), written atomically;
``vocab.txt``
    text corpora only: one word per line, line i is token id i;
``meta.json``
    written last (its presence marks a complete preparation): the dataset's metadata (kind, classes,
    input shape, mean/std, vocab size, source, preprocessing, options), the shape and dtype of every
    tensor, byte size and sha256 of each file, ``load_seconds`` (raw load) and ``prepare_seconds``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from pipeline.core.atomic import atomic_write, atomic_write_json, atomic_write_text
from pipeline.data.bundle import DatasetBundle
from pipeline.paths import PREPARED

FORMAT_VERSION = 1
TENSORS_FILE = "tensors.pt"
VOCAB_FILE = "vocab.txt"
META_FILE = "meta.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _compact(tensor: torch.Tensor) -> torch.Tensor:
    """A tensor that owns exactly its data, so torch.save does not store a larger shared storage."""
    tensor = tensor.contiguous()
    if tensor.untyped_storage().nbytes() != tensor.numel() * tensor.element_size():
        tensor = tensor.clone()
    return tensor


def write_prepared(
    bundle: DatasetBundle, out: Path | str = PREPARED, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``bundle`` to ``out/<name>/`` (files as in the module docstring); returns that directory."""
    directory = Path(out) / bundle.name
    (directory / META_FILE).unlink(missing_ok=True)
    tensors = {key: _compact(value) for key, value in bundle.tensors.items()}
    atomic_write(directory / TENSORS_FILE, lambda handle: torch.save(tensors, handle))
    files = [TENSORS_FILE]
    if bundle.vocab is not None:
        atomic_write_text(directory / VOCAB_FILE, "".join(f"{word}\n" for word in bundle.vocab))
        files.append(VOCAB_FILE)
    meta = {
        **bundle.meta,
        **(extra or {}),
        "name": bundle.name,
        "format_version": FORMAT_VERSION,
        "tensors": {key: {"shape": list(t.shape), "dtype": str(t.dtype)} for key, t in tensors.items()},
        "files": {
            name: {"bytes": (directory / name).stat().st_size, "sha256": _sha256(directory / name)}
            for name in files
        },
    }
    atomic_write_json(directory / META_FILE, meta)
    return directory


def read_meta(name: str, root: Path | str = PREPARED) -> dict[str, Any] | None:
    """The prepared meta.json of ``name``, or None when it has not been prepared."""
    path = Path(root) / name / META_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def prepared_options(name: str, root: Path | str = PREPARED) -> dict[str, Any] | None:
    """The loader options a prepared dataset was built with (None when not prepared)."""
    meta = read_meta(name, root)
    return None if meta is None else meta.get("options", {})


def load_prepared(
    name: str, root: Path | str = PREPARED, mmap: bool = False, verify: bool = False
) -> DatasetBundle:
    """Read ``root/<name>/`` fast; sizes are always checked, sha256 too with ``verify=True``.

    ``mmap=True`` maps tensors.pt instead of reading it (useful for STL-10's 2.8 GB unlabeled split).
    Raises FileNotFoundError naming the prepare command when absent, ValueError naming the file when
    inconsistent.
    """
    directory = Path(root) / name
    meta = read_meta(name, root)
    if meta is None:
        raise FileNotFoundError(
            f"{directory / META_FILE} is missing; run: python -m pipeline.data.prepare {name} --out {root}"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{directory / META_FILE}: format_version {meta.get('format_version')} != {FORMAT_VERSION}"
        )
    for file_name, expected in meta["files"].items():
        path = directory / file_name
        if not path.is_file() or path.stat().st_size != expected["bytes"]:
            raise ValueError(
                f"{path}: missing or wrong size (expected {expected['bytes']} bytes); prepare it again"
            )
        if verify and _sha256(path) != expected["sha256"]:
            raise ValueError(f"{path}: sha256 mismatch with {META_FILE}; prepare it again")
    tensors = torch.load(directory / TENSORS_FILE, map_location="cpu", weights_only=True, mmap=mmap)
    for key, spec in meta["tensors"].items():
        if key not in tensors or list(tensors[key].shape) != spec["shape"]:
            raise ValueError(
                f"{directory / TENSORS_FILE}: tensor {key!r} missing or not of shape {spec['shape']}"
            )
    vocab = None
    if VOCAB_FILE in meta["files"]:
        vocab = (directory / VOCAB_FILE).read_text(encoding="utf-8").splitlines()
    skip = {"tensors", "files", "name", "format_version"}
    return DatasetBundle(name, tensors, {k: v for k, v in meta.items() if k not in skip}, vocab)
