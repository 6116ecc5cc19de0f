"""directpred data and per-dataset settings: STL-10's unlabeled split joins the SSL set, never the probe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.data_fixtures import write_stl10

from pipeline.directpred import experiment, study

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
    "align_top_k": 2,
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


def _stl10(**changes) -> dict:
    return study.dataset_ssl(study.resolve({**TWO_DATASETS}), "stl10") | changes


def test_unlabeled_images_join_the_ssl_set_only(stl10_root) -> None:
    root, written = stl10_root
    data = experiment.load_images(_stl10(), str(root), seed=0)
    assert [len(data[s][0]) for s in ("train", "val", "test")] == [4, 2, 3]
    assert data["ssl"].shape == (4 + 2 + 5, 3, 96, 96) and data["ssl"].dtype == torch.uint8
    unlabeled = torch.from_numpy(written["unlabeled"])
    assert torch.equal(data["ssl"][6:], unlabeled)  # all of them, in order, unconverted
    labelled = torch.cat([data["train"][0], data["val"][0]])
    assert torch.equal(data["ssl"][:6], labelled)
    train_rows = {tuple(img.flatten()[:20].tolist()) for img in torch.from_numpy(written["train"])}
    assert all(tuple(img.flatten()[:20].tolist()) in train_rows for img in labelled)


def test_a_subset_of_the_unlabeled_split_is_fixed_by_the_base_seed(stl10_root) -> None:
    root, written = stl10_root
    first = experiment.load_images(_stl10(unlabeled=2), str(root), seed=0)["ssl"][6:]
    again = experiment.load_images(_stl10(unlabeled=2), str(root), seed=0)["ssl"][6:]
    assert first.shape[0] == 2 and torch.equal(first, again)
    pool = {tuple(img.flatten()[:20].tolist()) for img in torch.from_numpy(written["unlabeled"])}
    assert all(tuple(img.flatten()[:20].tolist()) in pool for img in first)
    with pytest.raises(ValueError, match="6 > 5 unlabeled"):
        experiment.load_images(_stl10(unlabeled=6), str(root), seed=0)


def test_a_dataset_without_unlabeled_split_is_a_clear_error() -> None:
    ssl = study.dataset_ssl(study.resolve({"ssl": {"datasets": ["digits"], "unlabeled": 10}}), "digits")
    ssl |= {"n_train": 100, "n_val": 50, "image_size": 8}
    with pytest.raises(ValueError, match="digits has no unlabeled split"):
        experiment.load_images(ssl, "data/raw", seed=0)


def test_per_dataset_overrides_and_run_ids() -> None:
    cfg = study.resolve(TWO_DATASETS)
    assert study.ssl_runs(cfg) == ["digits_byol_directpred_s0", "stl10_byol_directpred_s0"]
    assert study.datasets(TWO_DATASETS) == ["digits", "stl10"]
    assert study.dataset_ssl(cfg, "stl10")["image_size"] == 96
    assert study.dataset_ssl(cfg, "digits")["image_size"] == study.DEFAULTS["ssl"]["image_size"]
    assert study.dataset_ssl(cfg, "stl10")["dataset"] == "stl10"
    with pytest.raises(KeyError, match="cannot be overridden"):
        study.resolve({"ssl": {"per_dataset": {"stl10": {"datasets": ["digits"]}}}})


def test_stl10_byol_run_end_to_end(stl10_root) -> None:
    """Two BYOL steps on 96x96 STL-10 views (blur, jitter) from train+unlabeled, then the probe."""
    root, _ = stl10_root
    metrics, history = experiment.run(
        _stl10(encoder="small_cnn"),
        "byol",
        "directpred",
        seed=1,
        device="cpu",
        data_root=str(root),
        base_seed=0,
        checkpoint_path=root / "checkpoint.pt",
        checkpoint_every=1,
    )
    assert metrics["dataset"] == "stl10" and metrics["ssl_images"] == 11
    assert metrics["steps"] == 2 and 0.0 <= metrics["probe_test_accuracy"] <= 1.0
    assert len(history) >= 2
