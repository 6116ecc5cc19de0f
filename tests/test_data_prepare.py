"""The prepared form: the prepare CLI, the fast loader, its consistency checks, and load_dataset's choice."""

from __future__ import annotations

import json

import pytest
import torch
from helpers.data_fixtures import write_kjv

from pipeline.data import load_dataset, load_raw
from pipeline.data.prepare import main, prepare
from pipeline.data.prepared import load_prepared
from pipeline.data.sources import fashion_mnist, kjv


def test_prepare_cli_writes_documented_files_and_loads_back(tmp_path, capsys):
    out = tmp_path / "prepared"
    assert main(["digits", "--out", str(out)]) == 0
    assert "digits: test_x (397, 1, 8, 8)" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "digits").iterdir()) == ["meta.json", "tensors.pt"]
    meta = json.loads((out / "digits" / "meta.json").read_text())
    assert meta["tensors"]["train_x"] == {"shape": [1400, 1, 8, 8], "dtype": "torch.float32"}
    assert (
        meta["prepare_seconds"] >= meta["load_seconds"] >= 0
        and len(meta["files"]["tensors.pt"]["sha256"]) == 64
    )
    raw, prepared = load_raw("digits"), load_prepared("digits", out, verify=True)
    for key, value in raw.tensors.items():
        assert torch.equal(prepared.tensors[key], value)
    assert prepared.meta["num_classes"] == 10 and prepared.meta["mean"] == raw.meta["mean"]


def test_prepared_text_keeps_vocab(tmp_path, monkeypatch):
    monkeypatch.setattr(kjv.shutil, "which", lambda name: None)
    write_kjv(tmp_path)
    prepare("kjv", data_root=tmp_path, out=tmp_path / "prepared")
    assert (tmp_path / "prepared" / "kjv" / "vocab.txt").is_file()
    raw, prepared = (
        load_raw("kjv", data_root=tmp_path),
        load_prepared("kjv", tmp_path / "prepared", mmap=True),
    )
    assert prepared.vocab == raw.vocab and torch.equal(prepared.tokens("valid"), raw.tokens("valid"))


def test_load_dataset_uses_prepared_only_with_same_options(tmp_path, monkeypatch):
    monkeypatch.setattr(kjv.shutil, "which", lambda name: None)
    write_kjv(tmp_path)
    out = tmp_path / "prepared"
    assert "prepare_seconds" not in load_dataset("kjv", data_root=tmp_path, prepared_root=out).meta
    prepare("kjv", data_root=tmp_path, out=out)
    assert "prepare_seconds" in load_dataset("kjv", data_root=tmp_path, prepared_root=out).meta
    other = load_dataset("kjv", data_root=tmp_path, prepared_root=out, vocab_size=6)
    assert "prepare_seconds" not in other.meta and len(other.vocab) == 6


def test_damaged_prepared_files_are_reported(tmp_path):
    directory = prepare("digits", out=tmp_path)
    tensors = directory / "tensors.pt"
    data = tensors.read_bytes()
    tensors.write_bytes(data[:-10])
    with pytest.raises(ValueError, match=r"tensors.pt: missing or wrong size"):
        load_prepared("digits", tmp_path)
    tensors.write_bytes(data[:-10] + b"0123456789")
    with pytest.raises(ValueError, match=r"tensors.pt: sha256 mismatch"):
        load_prepared("digits", tmp_path, verify=True)
    with pytest.raises(FileNotFoundError, match=r"python -m pipeline.data.prepare mnist1d"):
        load_prepared("mnist1d", tmp_path)


def test_prepare_cli_missing_dataset_exits_with_one_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "nothing")
    assert main(["fashion_mnist", "--data-root", str(tmp_path), "--out", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: fashion_mnist: no IDX files") and "dataset-fashion-mnist" in err
    assert err.count("\n") == 1 and not (tmp_path / "p" / "fashion_mnist" / "meta.json").exists()
