"""Synthetic stand-ins for the paper-scale datasets, written in each release's own file format.

Used to exercise the paper-scale code path where the real datasets are absent (the tests, and the GPU
check ``python -m pipeline.paper_check --fixtures``): the loaders, shapes, vocabularies and models are
those of a paper run; only the pixels and words are random, so accuracies mean nothing.

- CIFAR-10: ``cifar10/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`` (pickled dicts
  with uint8 ``data [N, 3072]`` and ``labels``), as torchvision ships it;
- STL-10: ``stl10/stl10_binary/{train,test,unlabeled}_X.bin`` (uint8, column-major 3×96×96) and
  ``{train,test}_y.bin`` (labels 1..10);
- PTB: ``ptb/ptb.{train,valid,test}.txt``; WikiText-2: ``wikitext-2/wiki.{train,valid,test}.tokens``
  (space-separated words, one sentence a line);
- Fashion-MNIST (the deep-MLP task of the paper config): ``fashion-mnist/*-ubyte.gz`` IDX files, found
  under ``data_root`` before the Debian package, so a small stand-in replaces the 70,000 real images.
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class FixtureSizes:
    """How much of each dataset to write (large enough for the paper configs' batch sizes and workers)."""

    # 5 train batches -> 6,000 train images (qgm's paper config holds 5,000 out for validation and leaves
    # 1,000, about 62 per worker of 16), and a 1,200-image test batch
    cifar_per_batch: int = 1200
    stl_train: int = 100
    stl_test: int = 50
    stl_unlabeled: int = 300
    text_vocab: int = 300
    text_train_lines: int = 2000
    text_eval_lines: int = 200
    words_per_line: int = 12
    fashion_train: int = 600
    fashion_test: int = 200

    def train_size(self, dataset: str) -> int | None:
        """Examples (tokens for the corpora, one ``<eos>`` per line) in the fixture's training split of
        ``dataset``; None for a dataset the fixtures do not write."""
        text = self.text_train_lines * (self.words_per_line + 1) + self.text_vocab + 1  # + the all-words line
        return {
            "cifar10": 5 * self.cifar_per_batch,
            "fashion_mnist": self.fashion_train,
            "ptb": text,
            "wikitext2": text,
        }.get(dataset)


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


def write_cifar10(root: Path, per_batch: int = 4, seed: int = 1) -> dict:
    """``root/cifar-10-batches-py`` with 5 train batches and a test batch of ``per_batch`` images each."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
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


def write_stl10(root: Path, n_train: int = 3, n_test: int = 2, n_unlabeled: int = 4, seed: int = 2) -> dict:
    """``root/stl10_binary`` binaries; images are stored column-major as in the release."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
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


def write_text_corpus(root: Path, layout: str, lines: dict[str, list[str]]) -> dict[str, list[str]]:
    """Three split files under ``root`` following ``layout`` (e.g. ``ptb/ptb.{split}.txt``)."""
    for split, content in lines.items():
        path = root / layout.format(split=split)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(content) + "\n", encoding="utf-8")
    return lines


def random_corpus(sizes: FixtureSizes, seed: int) -> dict[str, list[str]]:
    """Lines of words drawn from a ``text_vocab``-word vocabulary (Zipf-like, every word in train)."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(sizes.text_vocab)])
    weights = 1.0 / np.arange(1, sizes.text_vocab + 1)
    weights /= weights.sum()

    def lines(count: int) -> list[str]:
        return [
            " " + " ".join(rng.choice(words, sizes.words_per_line, p=weights)) + " " for _ in range(count)
        ]

    train = lines(sizes.text_train_lines)
    train.append(" " + " ".join(words) + " ")  # every word occurs in the training split
    return {"train": train, "valid": lines(sizes.text_eval_lines), "test": lines(sizes.text_eval_lines)}


def write_paper_fixtures(root: Path, sizes: FixtureSizes | None = None) -> Path:
    """All four paper-scale datasets under ``root`` (a ``data_root``); returns ``root``."""
    sizes = sizes or FixtureSizes()
    write_cifar10(root / "cifar10", per_batch=sizes.cifar_per_batch)
    write_stl10(root / "stl10", sizes.stl_train, sizes.stl_test, sizes.stl_unlabeled)
    write_text_corpus(root, "ptb/ptb.{split}.txt", random_corpus(sizes, seed=3))
    write_text_corpus(root, "wikitext-2/wiki.{split}.tokens", random_corpus(sizes, seed=4))
    write_fashion_mnist(root / "fashion-mnist", sizes.fashion_train, sizes.fashion_test)
    return root
