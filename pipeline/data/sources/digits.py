"""scikit-learn's 8x8 digits (1,797 images, 10 classes), the smoke-scale image data.

Preprocessing: pixel values 0..16 are divided by 16 (float32 in [0, 1]), shape ``[N, 1, 8, 8]``. There is
no official split: a fixed permutation (``numpy.random.RandomState(0)``) puts 1,400 images in ``train`` and
the remaining 397 in ``test``. Only ``load_digits`` is used (it ships with scikit-learn); never ``fetch_*``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pipeline.data.bundle import DatasetBundle
from pipeline.data.stats import channel_stats

N_TRAIN = 1400


def load(data_root: Path | None = None, download: bool = False) -> DatasetBundle:
    """The digits bundle (``train_x/train_y/test_x/test_y``); needs no files."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy((digits.images / 16.0).astype(np.float32)).unsqueeze(1)
    y = torch.from_numpy(digits.target.astype(np.int64))
    order = torch.from_numpy(np.random.RandomState(0).permutation(len(y)))
    train, test = order[:N_TRAIN], order[N_TRAIN:]
    tensors = {"train_x": x[train], "train_y": y[train], "test_x": x[test], "test_y": y[test]}
    mean, std = channel_stats(tensors["train_x"])
    meta = {
        "kind": "image",
        "num_classes": 10,
        "input_shape": [1, 8, 8],
        "mean": mean,
        "std": std,
        "source": "sklearn.datasets.load_digits",
        "preprocessing": "pixels / 16 as float32; RandomState(0) permutation, 1400 train / 397 test",
    }
    return DatasetBundle("digits", tensors, meta)
