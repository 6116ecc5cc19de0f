"""directpred data and per-dataset settings: STL-10's unlabeled split joins the SSL set, never the probe."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from helpers.data_fixtures import write_stl10

from pipeline import studies
from pipeline.core.config import ConfigError, section
from pipeline.directpred import experiment
from pipeline.directpred.runs import SSLRun, SSLSettings, ssl_settings

STL10_SETTINGS = {
    "n_train": 4,
    "n_val": 2,
    "n_test": 3,
    "unlabeled": -1,
    "image_size": 96,
    "augment": "stl10",
    "channels": [4, 4, 4],
    "batch_size": 4,
    "steps": 2,
    "track_every": 1,
    "track_top_k": 4,
    "align_rel_eig": 0.05,
    "proj_hidden": 8,
    "proj_dim": 4,
    "pred_hidden": 8,
    "probe_iters": 5,
    "probe_weight_decays": [1.0e-3],
    "checkpoint_every": 1,
}
TWO_DATASETS = {
    "ssl": {
        "datasets": ["digits", "stl10"],
        "variants": ["directpred"],
        "seeds": 1,
        "per_dataset": {"stl10": STL10_SETTINGS},
    }
}


@pytest.fixture
def stl10_root(tmp_path: Path) -> tuple[Path, dict]:
    return tmp_path, write_stl10(tmp_path / "stl10", n_train=6, n_test=4, n_unlabeled=5)


def _stl10(**changes) -> SSLSettings:
    return dataclasses.replace(ssl_settings(section("directpred", TWO_DATASETS), "stl10"), **changes)


def test_unlabeled_images_join_the_ssl_set_only(stl10_root) -> None:
    root, written = stl10_root
    data = experiment.load_images("stl10", _stl10(), str(root), seed=0)
    assert [len(data[s][0]) for s in ("train", "val", "test")] == [4, 2, 3]
    assert data["ssl"].shape == (4 + 2 + 5, 3, 96, 96) and data["ssl"].dtype == torch.uint8
    unlabeled = torch.from_numpy(written["unlabeled"])
    assert torch.equal(data["ssl"][6:], unlabeled)  # all of them, in order, unconverted
    labelled = torch.cat([data["train"][0], data["val"][0]])
    assert torch.equal(data["ssl"][:6], labelled)
    train_rows = {tuple(img.flatten()[:20].tolist()) for img in torch.from_numpy(written["train"])}
    assert all(tuple(img.flatten()[:20].tolist()) in train_rows for img in labelled)


def test_n_train_minus_one_takes_every_labelled_image_not_held_out(stl10_root) -> None:
    root, _ = stl10_root  # 6 labelled training images; the settings hold 2 out for validation
    data = experiment.load_images("stl10", _stl10(n_train=-1), str(root), seed=0)
    assert [len(data[s][0]) for s in ("train", "val")] == [6 - 2, 2]
    with pytest.raises(ValueError, match="7 > 6 labelled"):
        experiment.load_images("stl10", _stl10(n_train=5), str(root), seed=0)


def test_a_subset_of_the_unlabeled_split_is_fixed_by_the_base_seed(stl10_root) -> None:
    root, written = stl10_root
    first = experiment.load_images("stl10", _stl10(unlabeled=2), str(root), seed=0)["ssl"][6:]
    again = experiment.load_images("stl10", _stl10(unlabeled=2), root, seed=0)["ssl"][6:]
    assert first.shape[0] == 2 and torch.equal(first, again)
    pool = {tuple(img.flatten()[:20].tolist()) for img in torch.from_numpy(written["unlabeled"])}
    assert all(tuple(img.flatten()[:20].tolist()) in pool for img in first)
    with pytest.raises(ValueError, match="6 > 5 unlabeled"):
        experiment.load_images("stl10", _stl10(unlabeled=6), str(root), seed=0)


def test_a_dataset_without_unlabeled_split_is_a_clear_error() -> None:
    ssl = ssl_settings(section("directpred", {"ssl": {"unlabeled": 10}}), "digits")
    ssl = dataclasses.replace(ssl, n_train=100, n_val=50, image_size=8)
    with pytest.raises(ValueError, match="digits has no unlabeled split"):
        experiment.load_images("digits", ssl, "data/raw", seed=0)


def test_per_dataset_overrides_and_run_ids() -> None:
    cfg = section("directpred", TWO_DATASETS)
    table = studies.runs("directpred", cfg)
    assert [run for run, spec in table.items() if isinstance(spec, SSLRun)] == [
        "digits_byol_directpred_s0",
        "stl10_byol_directpred_s0",
    ]
    assert studies.datasets("directpred", cfg) == ["digits", "stl10"]
    stl10, digits = table["stl10_byol_directpred_s0"], table["digits_byol_directpred_s0"]
    assert stl10.dataset == "stl10" and stl10.ssl.image_size == 96 and stl10.ssl.unlabeled == -1
    assert digits.ssl.image_size == section("directpred")["ssl"]["image_size"]
    assert stl10.ssl == _stl10() and stl10.ssl.crop_scale is None  # the stl10 recipe reads no crop_scale
    with pytest.raises(ConfigError, match=r"unknown key 'directpred\.ssl\.per_dataset\.stl10\.datasets'"):
        section("directpred", {"ssl": {"per_dataset": {"stl10": {"datasets": ["digits"]}}}})


def test_stl10_byol_run_end_to_end(stl10_root) -> None:
    """Two BYOL steps on 96x96 STL-10 views (blur, jitter) from train+unlabeled, then the probe."""
    root, _ = stl10_root
    spec = SSLRun("stl10", "byol", "directpred", 0, _stl10(encoder="small_cnn"))
    metrics, history = experiment.run(
        spec,
        seed=1,
        device="cpu",
        data_root=str(root),
        base_seed=0,
        checkpoint_path=root / "checkpoint.pt",
    )
    assert metrics["dataset"] == "stl10" and metrics["ssl_images"] == 11
    assert metrics["steps"] == 2 and 0.0 <= metrics["probe_test_accuracy"] <= 1.0
    assert len(history) >= 2
