"""Datasets (registry, prepared form), batch sources, augmentations and partitions.

Typical use::

    from pipeline.data import load_dataset
    bundle = load_dataset("fashion_mnist", data_root="data/raw")   # prepared form if present
    x, y = bundle.xy("train")
"""

from pipeline.data.bundle import DatasetBundle, DatasetMissingError
from pipeline.data.registry import DATASETS, dataset_names, load_dataset, load_raw

__all__ = ["DATASETS", "DatasetBundle", "DatasetMissingError", "dataset_names", "load_dataset", "load_raw"]
