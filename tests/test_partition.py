"""The Dirichlet non-IID partition of the official QGM code and its invariants."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.data.partition import (
    class_entropy,
    dirichlet_lists,
    dirichlet_partition,
    group_sizes,
    iid_partition,
    simple_dirichlet_partition,
)

N, CLASSES = 4000, 10


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    return np.random.RandomState(123).randint(0, CLASSES, N)


def test_group_sizes():
    assert group_sizes(16) == [10, 6] and group_sizes(32) == [10, 10, 10, 2] and group_sizes(4) == [4]


@pytest.mark.parametrize("alpha", [10.0, 1.0, 0.1])
def test_shards_equal_disjoint_subset_and_deterministic(labels, alpha):
    shards = dirichlet_partition(labels, 16, alpha, seed=6)
    assert [len(s) for s in shards] == [N // 16] * 16
    union = np.concatenate(shards)
    assert len(np.unique(union)) == len(union) and union.min() >= 0 and union.max() < N
    again = dirichlet_partition(labels, 16, alpha, seed=6)
    assert all(np.array_equal(a, b) for a, b in zip(shards, again, strict=True))
    other = dirichlet_partition(labels, 16, alpha, seed=7)
    assert not all(np.array_equal(a, b) for a, b in zip(shards, other, strict=True))


@pytest.mark.parametrize("alpha", [1.0, 0.1, 0.01])
def test_every_worker_gets_at_least_half_the_average_before_the_cut(labels, alpha):
    lists = dirichlet_lists(labels, 16, alpha, seed=0)
    assert sum(len(lst) for lst in lists) == N
    first, second = int(10 / 16 * N), N - int(10 / 16 * N)
    assert all(len(lst) >= int(0.5 * first / 10) for lst in lists[:10])
    assert all(len(lst) >= int(0.5 * second / 6) for lst in lists[10:])


def test_group_of_ten_structure(labels):
    rng = np.random.RandomState(6)
    pairs = np.stack([np.arange(N), labels], axis=1)
    rng.shuffle(pairs)  # step 1 with the same seed: the shuffled order the groups are cut from
    lists = dirichlet_lists(labels, 16, 0.5, seed=6)
    first_block = set(pairs[: int(10 / 16 * N), 0].tolist())
    assert set(np.concatenate(lists[:10]).tolist()) == first_block
    assert set(np.concatenate(lists[10:]).tolist()) == set(pairs[int(10 / 16 * N) :, 0].tolist())


def test_class_concentration_grows_as_alpha_falls(labels):
    entropy = {
        a: class_entropy(labels, dirichlet_partition(labels, 16, a, seed=6), CLASSES) for a in (10, 1, 0.1)
    }
    assert entropy[10] > entropy[1] > entropy[0.1]
    iid = class_entropy(labels, iid_partition(N, 16, seed=6), CLASSES)
    assert iid > entropy[10] - 0.05 and iid > 2.2  # close to log(10) = 2.30


def test_simple_dirichlet_and_iid(labels):
    shards = simple_dirichlet_partition(labels, 16, 0.1, seed=0, min_size=5)
    union = np.concatenate(shards)
    assert len(union) == N and len(np.unique(union)) == N and min(len(s) for s in shards) >= 5
    grouped = class_entropy(labels, dirichlet_partition(labels, 16, 0.1, seed=0), CLASSES)
    assert class_entropy(labels, shards, CLASSES) < grouped + 0.3
    iid = iid_partition(N, 16, seed=0)
    assert [len(s) for s in iid] == [250] * 16 and len(np.unique(np.concatenate(iid))) == N


def test_bad_arguments(labels):
    with pytest.raises(ValueError, match="alpha > 0"):
        dirichlet_partition(labels, 16, 0.0, seed=0)
