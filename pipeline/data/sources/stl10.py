"""STL-10 (5,000 train / 8,000 test labelled, 100,000 unlabeled, 96x96 RGB) from its binary release.

Reads ``stl10_binary/{train,test}_{X,y}.bin`` and ``unlabeled_X.bin`` under ``data_root`` or
``data_root/stl10`` (torchvision's ``STL10(root)`` layout); with ``download=True`` (only where a network
exists) torchvision first fetches them into ``data_root/stl10``. The binaries store each image
column-major (channel, column, row); they are transposed to ``[N, 3, 96, 96]`` (row-major, as
torchvision does). Labels 1..10 become 0..9.

Preprocessing: none; uint8 images, int64 labels. ``unlabeled_x`` (2.8 GB as uint8) is included unless
``unlabeled=False``. ``meta`` carries mean and std of the labelled train images in [0, 1] units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pipeline.data.bundle import DatasetBundle, DatasetMissingError
from pipeline.data.stats import channel_stats

FOLDER = "stl10_binary"
SIZE = 96


def find_folder(data_root: Path | None, unlabeled: bool) -> Path:
    """The ``stl10_binary`` folder holding the needed files; DatasetMissingError otherwise."""
    needed = ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"] + (
        ["unlabeled_X.bin"] if unlabeled else []
    )
    if data_root is not None:
        for base in (Path(data_root), Path(data_root) / "stl10"):
            if all((base / FOLDER / name).is_file() for name in needed):
                return base / FOLDER
    root = data_root if data_root is not None else "<data_root>"
    raise DatasetMissingError(
        f"stl10: no {FOLDER}/{{{','.join(needed)}}} under {root} or {root}/stl10; put torchvision's STL-10 "
        "files there and set data_root (config key data_root, --data-root), or pass --download where a "
        "network exists"
    )


def read_images(path: Path) -> torch.Tensor:
    """uint8 ``[N, 3, 96, 96]`` from an STL-10 ``*_X.bin`` file."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % (3 * SIZE * SIZE):
        raise ValueError(f"{path}: size {raw.size} is not a whole number of 3x96x96 images")
    images = raw.reshape(-1, 3, SIZE, SIZE).transpose(0, 1, 3, 2)
    return torch.from_numpy(np.ascontiguousarray(images))


def read_labels(path: Path) -> torch.Tensor:
    """int64 labels 0..9 from an STL-10 ``*_y.bin`` file (stored as 1..10)."""
    return torch.from_numpy(np.fromfile(path, dtype=np.uint8).astype(np.int64) - 1)


def load(data_root: Path | None = None, download: bool = False, unlabeled: bool = True) -> DatasetBundle:
    """The STL-10 bundle (``train_x/train_y/test_x/test_y`` and, by default, ``unlabeled_x``)."""
    if download:
        if data_root is None:
            raise ValueError("stl10: download=True needs a data_root to download into")
        from torchvision.datasets import STL10

        STL10(str(Path(data_root) / "stl10"), split="train", download=True)
    folder = find_folder(data_root, unlabeled)
    tensors = {}
    for split in ("train", "test"):
        tensors[f"{split}_x"] = read_images(folder / f"{split}_X.bin")
        tensors[f"{split}_y"] = read_labels(folder / f"{split}_y.bin")
        if len(tensors[f"{split}_x"]) != len(tensors[f"{split}_y"]):
            raise ValueError(f"stl10: {split} images and labels differ in length under {folder}")
    if unlabeled:
        tensors["unlabeled_x"] = read_images(folder / "unlabeled_X.bin")
    mean, std = channel_stats(tensors["train_x"])
    meta = {
        "kind": "image",
        "num_classes": 10,
        "input_shape": [3, SIZE, SIZE],
        "mean": mean,
        "std": std,
        "source": str(folder),
        "preprocessing": "none; uint8 images [N, 3, 96, 96] (transposed from column-major), labels 0..9",
    }
    return DatasetBundle("stl10", tensors, meta)
