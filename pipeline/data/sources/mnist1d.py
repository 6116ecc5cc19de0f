"""MNIST-1D (4,000 train / 1,000 test signals of length 40, 10 classes), generated offline; and
``mnist1d_large``, the same generator with 25,000 samples (20,000 train / 5,000 test).

Generated with the PyPI package ``mnist1d``: ``make_dataset(get_dataset_args())`` with the package's
defaults (seed 42), never ``get_dataset``, which downloads. ``make_dataset`` reseeds Python's and NumPy's
global RNGs; this loader saves and restores them so that generating the data never changes a run's
random stream. Results are cached in-process; the prepared form (``python -m pipeline.data.prepare
mnist1d``) is the on-disk cache.

``mnist1d_large`` (:func:`load_large`) changes only ``num_samples`` (the package's 80/20 train/test split
and seed 42 kept), so that 32 workers of a decentralized run still hold over 500 training signals each
(consensus, qgm); ``mnist1d`` itself is unchanged.

Preprocessing: none; signals float32 ``[N, 40]``, labels int64.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

import numpy as np
import torch

from pipeline.data.bundle import DatasetBundle, DatasetMissingError


@functools.lru_cache(maxsize=4)
def _generate(overrides: tuple[tuple[str, object], ...]) -> dict[str, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
        from mnist1d.utils import ObjectView
    except ImportError as err:
        raise DatasetMissingError(
            f"mnist1d: the PyPI package mnist1d is not importable ({err}); "
            "install the project (pip install -e .)"
        ) from err
    args = get_dataset_args(as_dict=True)
    unknown = set(dict(overrides)) - set(args)
    if unknown:
        raise KeyError(f"mnist1d: unknown dataset argument(s) {sorted(unknown)}; known: {sorted(args)}")
    args.update(dict(overrides))
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(ObjectView(args))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {key: data[key] for key in ("x", "y", "x_test", "y_test")}


def load(data_root: Path | None = None, download: bool = False, **overrides: object) -> DatasetBundle:
    """The MNIST-1D bundle; ``overrides`` change ``get_dataset_args()`` entries (e.g. ``num_samples``)."""
    data = _generate(tuple(sorted(overrides.items())))
    tensors = {
        "train_x": torch.from_numpy(data["x"].astype(np.float32)),
        "train_y": torch.from_numpy(data["y"].astype(np.int64)),
        "test_x": torch.from_numpy(data["x_test"].astype(np.float32)),
        "test_y": torch.from_numpy(data["y_test"].astype(np.int64)),
    }
    meta = {
        "kind": "signal",
        "num_classes": 10,
        "input_shape": list(tensors["train_x"].shape[1:]),
        "source": "mnist1d.data.make_dataset(get_dataset_args()) (generated offline)",
        "preprocessing": "none; float32 signals [N, 40], int64 labels",
    }
    return DatasetBundle("mnist1d", tensors, meta)


LARGE_SAMPLES = 25_000


def load_large(data_root: Path | None = None, download: bool = False) -> DatasetBundle:
    """MNIST-1D generated with ``num_samples = 25,000`` (20,000 train / 5,000 test), else the defaults."""
    bundle = load(data_root, download, num_samples=LARGE_SAMPLES)
    meta = {
        **bundle.meta,
        "source": f"mnist1d.data.make_dataset(get_dataset_args() with num_samples={LARGE_SAMPLES}) "
        "(generated offline)",
    }
    return DatasetBundle("mnist1d_large", bundle.tensors, meta)
