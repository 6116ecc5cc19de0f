"""Fashion-MNIST (60,000 train / 10,000 test, 28x28 grey, 10 classes) from its original IDX files.

Search order for the four files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``:
``<data_root>/fashion-mnist``, ``<data_root>/FashionMNIST/raw`` (torchvision's layout),
``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``). With ``download=True``
(only where a network exists) torchvision fetches them into ``<data_root>/FashionMNIST/raw`` first.

Preprocessing: none; images are uint8 ``[N, 1, 28, 28]``, labels int64. ``meta`` holds the train-set mean
and std in [0, 1] units (about 0.286 and 0.353) for normalisation.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pipeline.data.bundle import DatasetBundle, DatasetMissingError
from pipeline.data.idx import read_idx
from pipeline.data.stats import channel_stats

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def candidate_dirs(data_root: Path | None) -> list[Path]:
    """Directories searched for the IDX files, in order."""
    dirs = [Path(data_root) / "fashion-mnist", Path(data_root) / "FashionMNIST" / "raw"] if data_root else []
    return [*dirs, DEBIAN_DIR]


def _find(directory: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def find_files(data_root: Path | None) -> dict[str, Path]:
    """The first directory holding all four IDX files; DatasetMissingError otherwise."""
    for directory in candidate_dirs(data_root):
        found = {key: _find(directory, stem) for key, stem in FILES.items()}
        if all(found.values()):
            return found  # type: ignore[return-value]
    root_hint = f"{Path(data_root) / 'fashion-mnist'}" if data_root else "<data_root>/fashion-mnist"
    raise DatasetMissingError(
        f"fashion_mnist: no IDX files under {DEBIAN_DIR} or {root_hint}; install the Debian package "
        "dataset-fashion-mnist (make run does) or set data_root (config key data_root, --data-root)"
    )


def load(data_root: Path | None = None, download: bool = False) -> DatasetBundle:
    """The Fashion-MNIST bundle (``train_x/train_y/test_x/test_y``)."""
    if download:
        if data_root is None:
            raise ValueError("fashion_mnist: download=True needs a data_root to download into")
        from torchvision.datasets import FashionMNIST

        for train in (True, False):
            FashionMNIST(str(data_root), train=train, download=True)
    files = find_files(data_root)
    arrays = {key: read_idx(path) for key, path in files.items()}
    tensors = {
        "train_x": torch.from_numpy(arrays["train_x"].copy()).unsqueeze(1),
        "train_y": torch.from_numpy(arrays["train_y"].astype("int64")),
        "test_x": torch.from_numpy(arrays["test_x"].copy()).unsqueeze(1),
        "test_y": torch.from_numpy(arrays["test_y"].astype("int64")),
    }
    for split in ("train", "test"):
        if len(tensors[f"{split}_x"]) != len(tensors[f"{split}_y"]):
            raise ValueError(f"fashion_mnist: {split} images and labels differ in length ({files})")
    mean, std = channel_stats(tensors["train_x"])
    meta = {
        "kind": "image",
        "num_classes": 10,
        "input_shape": list(tensors["train_x"].shape[1:]),
        "mean": mean,
        "std": std,
        "source": str(files["train_x"].parent),
        "preprocessing": "none; uint8 images [N, 1, 28, 28], int64 labels",
    }
    return DatasetBundle("fashion_mnist", tensors, meta)
