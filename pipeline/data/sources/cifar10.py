"""CIFAR-10 (50,000 train / 10,000 test, 32x32 RGB, 10 classes) from torchvision's local layout.

Reads the python pickle batches ``cifar-10-batches-py/{data_batch_1..5,test_batch}`` under ``data_root`` or
``data_root/cifar10`` (torchvision's ``CIFAR10(root)`` layout). The batches are read directly (torchvision
would refuse files whose md5 differs, e.g. test fixtures); with ``download=True`` (only where a network
exists) torchvision first fetches them into ``data_root/cifar10``.

Preprocessing: none; uint8 ``[N, 3, 32, 32]``, int64 labels. ``meta`` carries the conventional
normalisation constants used by the papers' code (mean 0.4914, 0.4822, 0.4465; std 0.2023, 0.1994, 0.2010).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from pipeline.data.bundle import DatasetBundle, DatasetMissingError

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
MEAN = [0.4914, 0.4822, 0.4465]
STD = [0.2023, 0.1994, 0.2010]


def find_folder(data_root: Path | None) -> Path:
    """The ``cifar-10-batches-py`` folder; DatasetMissingError naming the paths looked at."""
    if data_root is not None:
        for base in (Path(data_root), Path(data_root) / "cifar10"):
            folder = base / FOLDER
            if all((folder / name).is_file() for name in TRAIN_BATCHES + TEST_BATCHES):
                return folder
    root = data_root if data_root is not None else "<data_root>"
    raise DatasetMissingError(
        f"cifar10: no {FOLDER} batches under {root} or {root}/cifar10; put torchvision's CIFAR-10 "
        "files there and set data_root (config key data_root, --data-root), or pass --download where a "
        "network exists"
    )


def read_batches(folder: Path, names: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``[N, 3, 32, 32]`` uint8 and labels int64 of the named pickle batches."""
    images, labels = [], []
    for name in names:
        with open(folder / name, "rb") as handle:
            entry = pickle.load(handle, encoding="latin1")
        images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(entry.get("labels", entry.get("fine_labels")), dtype=np.int64))
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def load(data_root: Path | None = None, download: bool = False) -> DatasetBundle:
    """The CIFAR-10 bundle (``train_x/train_y/test_x/test_y``)."""
    if download:
        if data_root is None:
            raise ValueError("cifar10: download=True needs a data_root to download into")
        from torchvision.datasets import CIFAR10

        CIFAR10(str(Path(data_root) / "cifar10"), train=True, download=True)
    folder = find_folder(data_root)
    train_x, train_y = read_batches(folder, TRAIN_BATCHES)
    test_x, test_y = read_batches(folder, TEST_BATCHES)
    meta = {
        "kind": "image",
        "num_classes": 10,
        "input_shape": [3, 32, 32],
        "mean": MEAN,
        "std": STD,
        "source": str(folder),
        "preprocessing": "none; uint8 images [N, 3, 32, 32], int64 labels",
    }
    tensors = {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}
    return DatasetBundle("cifar10", tensors, meta)
