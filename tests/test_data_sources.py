"""Each dataset loader on tiny fixture files written in the real format, and the missing-data messages."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from helpers.data_fixtures import (
    PTB_LINES,
    write_cifar10,
    write_fashion_mnist,
    write_idx,
    write_kjv,
    write_stl10,
    write_text_corpus,
)

from pipeline.data import DatasetMissingError, dataset_names, load_raw
from pipeline.data.idx import read_idx
from pipeline.data.sources import fashion_mnist, kjv
from pipeline.data.text import EOS, UNK, batchify, build_vocab


@pytest.fixture
def no_system_data(monkeypatch):
    """Hide the Debian packages so that only the fixture files count."""
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", fashion_mnist.DEBIAN_DIR.with_name("absent-for-test"))
    monkeypatch.setattr(kjv.shutil, "which", lambda name: None)


def test_registry_names_every_dataset():
    assert dataset_names() == [
        "digits",
        "fashion_mnist",
        "mnist1d",
        "mnist1d_large",
        "kjv",
        "cifar10",
        "stl10",
        "ptb",
        "wikitext2",
    ]
    with pytest.raises(KeyError, match=r"unknown dataset 'mnist'.*fashion_mnist"):
        load_raw("mnist")


def test_idx_reader_roundtrip_and_bad_file(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for compress in (True, False):
        path = write_idx(tmp_path / f"a{int(compress)}{'.gz' if compress else ''}", array, compress)
        np.testing.assert_array_equal(read_idx(path), array)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="bad"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2]))
    with pytest.raises(ValueError, match=r"short.*header says 9"):
        read_idx(tmp_path / "short")


def test_digits_split_and_scaling():
    bundle = load_raw("digits")
    x, y = bundle.xy("train")
    assert x.shape == (1400, 1, 8, 8) and bundle.xy("test")[0].shape == (397, 1, 8, 8)
    assert x.dtype == torch.float32 and float(x.min()) >= 0 and float(x.max()) == 1.0
    assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
    again = load_raw("digits")
    assert torch.equal(again.tensors["test_x"], bundle.tensors["test_x"])


@pytest.mark.parametrize("layout", ["fashion-mnist", "FashionMNIST/raw"])
@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_from_idx_fixture(tmp_path, no_system_data, layout, compress):
    arrays = write_fashion_mnist(tmp_path / layout, compress=compress)
    bundle = load_raw("fashion_mnist", data_root=tmp_path)
    assert (
        bundle.tensors["train_x"].shape == (12, 1, 28, 28) and bundle.tensors["train_x"].dtype == torch.uint8
    )
    np.testing.assert_array_equal(bundle.tensors["train_x"][:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(bundle.tensors["test_y"].numpy(), arrays["t10k-labels-idx1-ubyte"])
    assert bundle.meta["num_classes"] == 10 and len(bundle.meta["mean"]) == 1


def test_fashion_mnist_missing_names_package_and_root(tmp_path, no_system_data):
    with pytest.raises(DatasetMissingError) as err:
        load_raw("fashion_mnist", data_root=tmp_path)
    message = str(err.value)
    assert "dataset-fashion-mnist" in message and str(tmp_path / "fashion-mnist") in message
    assert "data_root" in message and "absent-for-test" in message


def test_mnist1d_offline_and_leaves_global_rng_alone():
    random.seed(123)
    np.random.seed(123)
    expected_py, expected_np = random.random(), np.random.rand()
    random.seed(123)
    np.random.seed(123)
    bundle = load_raw("mnist1d")
    assert (random.random(), np.random.rand()) == (expected_py, expected_np)
    assert bundle.tensors["train_x"].shape == (4000, 40) and bundle.tensors["test_x"].shape == (1000, 40)
    assert bundle.tensors["train_x"].dtype == torch.float32 and set(
        bundle.tensors["train_y"].tolist()
    ) == set(range(10))
    assert torch.equal(load_raw("mnist1d").tensors["train_x"], bundle.tensors["train_x"])


def test_text_helpers():
    vocab = build_vocab(["b", "a", "b", "c", EOS, "c", "b"], max_size=4)
    assert vocab == [EOS, UNK, "b", "c"]
    data = batchify(torch.arange(10), 3)
    assert data.shape == (3, 3) and data[:, 0].tolist() == [0, 1, 2] and data[:, 1].tolist() == [3, 4, 5]


def test_kjv_fixture_reference_stripping_split_and_vocab(tmp_path, no_system_data):
    write_kjv(tmp_path)
    bundle = load_raw("kjv", data_root=tmp_path)
    vocab = bundle.vocab
    words = [vocab[i] for i in bundle.tokens("train").tolist()]
    assert words[:6] == ["in", "the", "beginning", "god", "created", "the"]
    assert "ge1" not in vocab and "1" not in vocab and all(":" not in w or w == ":" for w in vocab)
    assert words.count(EOS) == 4  # Ge1:1, Ge1:2, 1Sm1:1, Rev22:21
    assert "ramathaim-zophim" in vocab and "'s" in vocab and "lord" in vocab
    valid = [vocab[i] for i in bundle.tokens("valid").tolist()]
    test = [vocab[i] for i in bundle.tokens("test").tolist()]
    assert valid[:3] == ["and", "the", "lord"] and valid[-1] == EOS  # Leviticus
    assert test[:3] == ["now", UNK, UNK]  # Ruth: "it" and "came" are not training words
    assert "famine" not in vocab and UNK in test  # vocabulary comes from train only
    assert bundle.meta["verses"] == 6 and bundle.meta["books"]["valid"] == ["Lev"]
    small = load_raw("kjv", data_root=tmp_path, vocab_size=5)
    assert (
        len(small.vocab) == 5 and small.vocab[:2] == [EOS, UNK] and small.meta["options"] == {"vocab_size": 5}
    )


def test_kjv_missing_names_package_and_path(tmp_path, no_system_data):
    with pytest.raises(DatasetMissingError, match=r"bible-kjv.*data_root") as err:
        load_raw("kjv", data_root=tmp_path)
    assert str(tmp_path / "kjv" / "kjv.txt") in str(err.value)


def test_kjv_rejects_line_without_reference(tmp_path, no_system_data):
    write_kjv(tmp_path, ["Ge1:1 In the beginning.", "no reference here"])
    with pytest.raises(ValueError, match="line 2 has no verse reference"):
        load_raw("kjv", data_root=tmp_path)


@pytest.mark.parametrize("base", ["", "cifar10"])
def test_cifar10_from_pickle_batches(tmp_path, base):
    written = write_cifar10(tmp_path / base if base else tmp_path)
    bundle = load_raw("cifar10", data_root=tmp_path)
    x, y = bundle.xy("train")
    assert (
        x.shape == (20, 3, 32, 32) and x.dtype == torch.uint8 and bundle.xy("test")[0].shape == (4, 3, 32, 32)
    )
    first = written["data_batch_1"]
    np.testing.assert_array_equal(x[0, 0].numpy().ravel(), first["data"][0, :1024])  # red plane first
    np.testing.assert_array_equal(x[0, 2].numpy().ravel(), first["data"][0, 2048:])
    assert y[:4].tolist() == first["labels"] and y.dtype == torch.int64


def test_stl10_from_binaries_transposes_and_shifts_labels(tmp_path):
    written = write_stl10(tmp_path / "stl10")
    bundle = load_raw("stl10", data_root=tmp_path)
    assert bundle.tensors["train_x"].shape == (3, 3, 96, 96)
    np.testing.assert_array_equal(bundle.tensors["train_x"].numpy(), written["train"])
    np.testing.assert_array_equal(bundle.tensors["unlabeled_x"].numpy(), written["unlabeled"])
    assert bundle.tensors["test_y"].tolist() == (written["test_labels"].astype(int) - 1).tolist()
    assert "unlabeled_x" not in load_raw("stl10", data_root=tmp_path, unlabeled=False).tensors


@pytest.mark.parametrize(
    ("name", "layout"),
    [
        ("ptb", "ptb/ptb.{split}.txt"),
        ("ptb", "penn/{split}.txt"),
        ("wikitext2", "wikitext-2/wiki.{split}.tokens"),
    ],
)
def test_word_corpora_from_standard_files(tmp_path, name, layout):
    write_text_corpus(tmp_path, layout)
    bundle = load_raw(name, data_root=tmp_path)
    vocab = bundle.vocab
    train = [vocab[i] for i in bundle.tokens("train").tolist()]
    assert train == " ".join(f"{line} {EOS}" for line in PTB_LINES["train"]).split()
    assert vocab[:3] == [EOS, UNK, "the"]
    test = [vocab[i] for i in bundle.tokens("test").tolist()]
    assert test == ["the", "mat", "sat", "on", "a", "dog", EOS]
    valid = [vocab[i] for i in bundle.tokens("valid").tolist()]
    assert valid[-3:] == [UNK, "sat", EOS]  # "bird" is not a training word


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("cifar10", "cifar-10-batches-py"),
        ("stl10", "stl10_binary"),
        ("ptb", "ptb/ptb.{train,valid,test}.txt"),
        ("wikitext2", "wikitext-2/wiki.{train,valid,test}.tokens"),
    ],
)
def test_paper_scale_missing_messages(tmp_path, name, hint):
    with pytest.raises(DatasetMissingError) as err:
        load_raw(name, data_root=tmp_path)
    message = str(err.value)
    assert message.startswith(f"{name}: ") and hint in message and "data_root" in message
    assert str(tmp_path) in message
