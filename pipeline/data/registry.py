"""The dataset registry: name -> loader, and the two ways to get a dataset (raw or prepared).

============= ======= ================================================================================
name       scale   provided by
============= ======= ================================================================================
digits     smoke   scikit-learn's ``load_digits`` (ships with the package)
fashion_mnist default Debian package ``dataset-fashion-mnist`` or ``<data_root>/fashion-mnist``
mnist1d    default PyPI package ``mnist1d``, generated offline
mnist1d_large default the same generator with 25,000 samples (20,000 train / 5,000 test)
kjv        default Debian package ``bible-kjv`` (the ``bible`` command) or ``<data_root>/kjv/kjv.txt``
cifar10    paper   ``<data_root>/cifar10/cifar-10-batches-py`` (torchvision layout)
stl10      paper   ``<data_root>/stl10/stl10_binary`` (torchvision layout), unlabeled split included
ptb        paper   ``<data_root>/ptb/ptb.{train,valid,test}.txt``
wikitext2  paper   ``<data_root>/wikitext-2/wiki.{train,valid,test}.tokens``
============= ======= ================================================================================

Each source module documents its preprocessing; :mod:`pipeline.data.bundle` documents tensor names.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.data.bundle import DatasetBundle
from pipeline.data.prepared import load_prepared, prepared_options
from pipeline.data.sources import cifar10, digits, fashion_mnist, kjv, mnist1d, stl10, text_corpora
from pipeline.paths import PREPARED


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: loader ``(data_root, download, **options) -> DatasetBundle`` and provenance."""

    name: str
    loader: Callable[..., DatasetBundle]
    kind: str
    scale: str
    provided_by: str


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("digits", digits.load, "image", "smoke", "scikit-learn load_digits"),
        DatasetInfo("fashion_mnist", fashion_mnist.load, "image", "default", "Debian dataset-fashion-mnist"),
        DatasetInfo("mnist1d", mnist1d.load, "signal", "default", "PyPI mnist1d (generated offline)"),
        DatasetInfo(
            "mnist1d_large", mnist1d.load_large, "signal", "default", "PyPI mnist1d, 25,000 samples (offline)"
        ),
        DatasetInfo("kjv", kjv.load, "text", "default", "Debian bible-kjv"),
        DatasetInfo("cifar10", cifar10.load, "image", "paper", "<data_root>/cifar10 (torchvision layout)"),
        DatasetInfo("stl10", stl10.load, "image", "paper", "<data_root>/stl10 (torchvision layout)"),
        DatasetInfo("ptb", text_corpora.load_ptb, "text", "paper", "<data_root>/ptb"),
        DatasetInfo("wikitext2", text_corpora.load_wikitext2, "text", "paper", "<data_root>/wikitext-2"),
    )
}


def dataset_names() -> list[str]:
    """Registered dataset names."""
    return list(DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of ``name``; KeyError listing the known names otherwise."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return DATASETS[name]


def load_raw(
    name: str, data_root: Path | str | None = None, download: bool = False, **options: Any
) -> DatasetBundle:
    """Build a dataset from its source files; ``meta`` gains ``load_seconds`` and the ``options`` used."""
    info = dataset_info(name)
    start = time.perf_counter()
    bundle = info.loader(Path(data_root) if data_root is not None else None, download=download, **options)
    bundle.meta["load_seconds"] = round(time.perf_counter() - start, 3)
    bundle.meta["options"] = dict(sorted(options.items()))
    return bundle


def load_dataset(
    name: str,
    data_root: Path | str | None = None,
    prepared_root: Path | str | None = PREPARED,
    download: bool = False,
    **options: Any,
) -> DatasetBundle:
    """The prepared form ``prepared_root/<name>`` if present with the same options, else the raw load."""
    dataset_info(name)
    if prepared_root is not None and prepared_options(name, prepared_root) == dict(sorted(options.items())):
        return load_prepared(name, prepared_root)
    return load_raw(name, data_root, download=download, **options)
