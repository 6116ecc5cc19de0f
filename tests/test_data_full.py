"""The full default-scale datasets, offline from the Debian packages (skipped cleanly when absent)."""

from __future__ import annotations

import shutil
import time

import pytest
import torch

from pipeline.data import load_raw
from pipeline.data.prepared import load_prepared, write_prepared
from pipeline.data.sources.fashion_mnist import DEBIAN_DIR

needs_fashion = pytest.mark.skipif(
    not (DEBIAN_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"Debian package dataset-fashion-mnist not installed (no {DEBIAN_DIR})",
)
needs_bible = pytest.mark.skipif(
    shutil.which("bible") is None, reason="Debian package bible-kjv not installed"
)


@needs_fashion
def test_full_fashion_mnist_offline(tmp_path):
    start = time.perf_counter()
    bundle = load_raw("fashion_mnist")
    seconds = time.perf_counter() - start
    assert bundle.tensors["train_x"].shape == (60000, 1, 28, 28) and bundle.tensors["test_x"].shape == (
        10000,
        1,
        28,
        28,
    )
    assert torch.bincount(bundle.tensors["train_y"]).tolist() == [6000] * 10
    assert torch.bincount(bundle.tensors["test_y"]).tolist() == [1000] * 10
    assert abs(bundle.meta["mean"][0] - 0.2860) < 1e-3 and abs(bundle.meta["std"][0] - 0.3530) < 1e-3
    write_prepared(bundle, tmp_path)
    start = time.perf_counter()
    prepared = load_prepared("fashion_mnist", tmp_path)
    fast = time.perf_counter() - start
    assert torch.equal(prepared.tensors["train_x"], bundle.tensors["train_x"])
    print(f"fashion_mnist: raw load {seconds:.2f} s, prepared load {fast:.3f} s")


@needs_bible
def test_full_kjv_offline(tmp_path):
    bundle = load_raw("kjv")
    meta = bundle.meta
    sizes = {split: len(bundle.tokens(split)) for split in ("train", "valid", "test")}
    assert meta["verses"] == 31102 and len(bundle.vocab) == 10000 and meta["vocab_size"] == 10000
    assert 900_000 < sum(sizes.values()) < 1_000_000
    assert 0.80 < sizes["train"] / sum(sizes.values()) < 0.86
    assert meta["unk_rate"]["train"] < 0.005 and meta["unk_rate"]["test"] < 0.02
    assert bundle.vocab[:4] == ["<eos>", "<unk>", ",", "the"]
    assert meta["books"]["valid"] == ["Lev", "2Chr", "Lam", "Zep", "2Cor", "Heb"]
    write_prepared(bundle, tmp_path)
    start = time.perf_counter()
    prepared = load_prepared("kjv", tmp_path)
    fast = time.perf_counter() - start
    assert prepared.vocab == bundle.vocab and torch.equal(prepared.tokens("train"), bundle.tokens("train"))
    print(
        f"kjv: {sizes}, vocab {len(bundle.vocab)}, raw load {meta['load_seconds']} s, prepared {fast:.3f} s"
    )
