"""Writers of tiny dataset files in each real format, for the loader tests (no real data needed)."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """An IDX file (uint8 payload) as the (Fashion-)MNIST releases ship it."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_fashion_mnist(directory: Path, n_train: int = 12, n_test: int = 5, compress: bool = True) -> dict:
    """The four IDX files in ``directory``; returns the arrays written."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for stem, array in arrays.items():
        write_idx(directory / (f"{stem}.gz" if compress else stem), array, compress)
    return arrays


def write_cifar10(root: Path, per_batch: int = 4) -> dict:
    """``root/cifar-10-batches-py`` with 5 train batches and a test batch of ``per_batch`` images each."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    written = {}
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        entry = {
            "batch_label": name,
            "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, per_batch).tolist(),
            "filenames": [f"img{i}.png" for i in range(per_batch)],
        }
        with open(folder / name, "wb") as handle:
            pickle.dump(entry, handle, protocol=2)
        written[name] = entry
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, handle)
    return written


def write_stl10(root: Path, n_train: int = 3, n_test: int = 2, n_unlabeled: int = 4) -> dict:
    """``root/stl10_binary`` binaries; images are stored column-major as in the release."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    images = {}
    for split, n in (("train", n_train), ("test", n_test), ("unlabeled", n_unlabeled)):
        row_major = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)
        row_major.transpose(0, 1, 3, 2).tofile(folder / f"{split}_X.bin")
        images[split] = row_major
        if split != "unlabeled":
            labels = rng.integers(1, 11, n, dtype=np.uint8)
            labels.tofile(folder / f"{split}_y.bin")
            images[f"{split}_labels"] = labels
    return images


PTB_LINES = {
    "train": [" the cat sat on the mat ", " the dog sat <unk> ", " a cat ran "],
    "valid": [" the cat ran ", " a bird sat "],
    "test": [" the mat sat on a dog "],
}


def write_text_corpus(root: Path, layout: str, lines: dict | None = None) -> dict:
    """Three split files under ``root`` following ``layout`` (e.g. ``ptb/ptb.{split}.txt``)."""
    lines = lines or PTB_LINES
    for split, content in lines.items():
        path = root / layout.format(split=split)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(content) + "\n", encoding="utf-8")
    return lines


KJV_VERSES = [
    "Ge1:1 In the beginning God created the heaven and the earth.",
    "Ge1:2 And the earth was without form, and void; and darkness was upon the face of the deep.",
    "Lev1:1 And the LORD called unto Moses, and spake unto him out of the tabernacle.",
    "Ruth1:1 Now it came to pass in the days when the judges ruled, that there was a famine.",
    "1Sm1:1 Now there was a certain man of Ramathaim-zophim, of mount Ephraim: the king's son.",
    "Rev22:21 The grace of our Lord Jesus Christ be with you all. Amen.",
]


def write_kjv(root: Path, verses: list[str] | None = None) -> Path:
    """``root/kjv/kjv.txt`` in the format of ``bible -f`` (one verse a line, reference first)."""
    path = root / "kjv" / "kjv.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(verses or KJV_VERSES) + "\n", encoding="utf-8")
    return path
