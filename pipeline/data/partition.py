"""Partitions of a training set over n workers: IID, Dirichlet non-IID (QGM's procedure) and simple Dirichlet.

:func:`dirichlet_partition` follows the official QGM code (Lin et al. 2021) exactly:

1. shuffle the (index, label) pairs with ``numpy.random.RandomState(seed)`` (one order for all workers);
2. split the workers into groups of at most 10 (n = 16: 10 and 6); group g takes a contiguous block of the
   shuffled pairs of length ``int(10 / n * N)`` (the last group takes the rest) and draws its own allocation;
3. within a group of K workers holding M samples, repeat until every worker has at least
   ``int(0.5 * M / K)`` samples: for each class c (in sorted order) draw p ~ Dir(alpha * 1_K), set p_j = 0
   for workers already holding >= M / K samples, renormalise, and split class c's indices (in shuffled
   order) at ``int(cumsum(p) * |c|)``;
4. concatenate the workers' index lists in worker order;
5. cut the concatenation into n equal contiguous chunks of ``N // n``: these are the shards (equal-sized,
   not exactly the Dirichlet lists; up to n - 1 samples are left out).

The same RandomState drives steps 1 and 3, as in the original. The test set is not partitioned.
:func:`simple_dirichlet_partition` is the common, more extreme variant (one Dir(alpha) per class over all
n workers, unequal shards); name the variant a run used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GROUP_SIZE = 10


def group_sizes(n_workers: int, group_size: int = GROUP_SIZE) -> list[int]:
    """Workers per group: groups of ``group_size`` and a last group with the rest (16 -> [10, 6])."""
    full, rest = divmod(n_workers, group_size)
    return [group_size] * full + ([rest] if rest else [])


def _allocate_group(
    pairs: np.ndarray, n: int, alpha: float, classes: np.ndarray, rng: np.random.RandomState
) -> list[list[int]]:
    """Step 3 for one group: the index lists of its ``n`` workers (pairs is ``[M, 2]`` of index, label)."""
    size = len(pairs)
    min_size = 0
    while min_size < int(0.5 * size / n):
        lists: list[list[int]] = [[] for _ in range(n)]
        for label in classes:
            members = pairs[pairs[:, 1] == label, 0]
            proportions = rng.dirichlet(np.repeat(alpha, n))
            proportions = np.array(
                [p * (len(lst) < size / n) for p, lst in zip(proportions, lists, strict=True)]
            )
            if proportions.sum() == 0:
                continue
            proportions = proportions / proportions.sum()
            cuts = (np.cumsum(proportions) * len(members)).astype(int)[:-1]
            lists = [lst + part.tolist() for lst, part in zip(lists, np.split(members, cuts), strict=True)]
        min_size = min(len(lst) for lst in lists)
    return lists


def dirichlet_lists(
    labels: Sequence[int] | np.ndarray, n_workers: int, alpha: float, seed: int, group_size: int = GROUP_SIZE
) -> list[np.ndarray]:
    """Steps 1-3: the per-worker Dirichlet index lists before the equal cut (unequal sizes)."""
    labels = np.asarray(labels)
    if n_workers < 1 or alpha <= 0:
        raise ValueError(f"need n_workers >= 1 and alpha > 0, got n_workers={n_workers}, alpha={alpha}")
    rng = np.random.RandomState(seed)
    pairs = np.stack([np.arange(len(labels)), labels], axis=1)
    rng.shuffle(pairs)
    classes = np.unique(labels)
    sizes = group_sizes(n_workers, group_size)
    block = int(group_size / n_workers * len(pairs))
    lists: list[np.ndarray] = []
    for g, n in enumerate(sizes):
        stop = len(pairs) if g == len(sizes) - 1 else (g + 1) * block
        for worker in _allocate_group(pairs[g * block : stop], n, alpha, classes, rng):
            lists.append(np.asarray(worker, dtype=np.int64))
    return lists


def dirichlet_partition(
    labels: Sequence[int] | np.ndarray, n_workers: int, alpha: float, seed: int, group_size: int = GROUP_SIZE
) -> list[np.ndarray]:
    """QGM's Dirichlet non-IID partition (steps 1-5 of the module docstring): n shards of ``N // n``."""
    order = np.concatenate(dirichlet_lists(labels, n_workers, alpha, seed, group_size))
    shard = len(order) // n_workers
    return [order[i * shard : (i + 1) * shard] for i in range(n_workers)]


def simple_dirichlet_partition(
    labels: Sequence[int] | np.ndarray, n_workers: int, alpha: float, seed: int, min_size: int = 1
) -> list[np.ndarray]:
    """One Dir(alpha * 1_n) per class over all n workers (no balancing, unequal shards).

    Redraws the whole allocation until every worker holds at least ``min_size`` samples.
    """
    labels = np.asarray(labels)
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(labels))
    while True:
        lists: list[list[int]] = [[] for _ in range(n_workers)]
        for label in np.unique(labels):
            members = order[labels[order] == label]
            cuts = (np.cumsum(rng.dirichlet(np.repeat(alpha, n_workers))) * len(members)).astype(int)[:-1]
            for lst, part in zip(lists, np.split(members, cuts), strict=True):
                lst.extend(part.tolist())
        if min(len(lst) for lst in lists) >= min_size:
            return [np.asarray(lst, dtype=np.int64) for lst in lists]


def iid_partition(n_samples: int, n_workers: int, seed: int) -> list[np.ndarray]:
    """A RandomState(seed) permutation cut into n equal contiguous shards of ``n_samples // n``."""
    order = np.random.RandomState(seed).permutation(n_samples)
    shard = n_samples // n_workers
    return [order[i * shard : (i + 1) * shard].astype(np.int64) for i in range(n_workers)]


def class_entropy(
    labels: Sequence[int] | np.ndarray, shards: Sequence[np.ndarray], num_classes: int
) -> float:
    """Mean over shards of the entropy (nats) of the shard's class distribution; lower = more skewed."""
    labels = np.asarray(labels)
    entropies = []
    for shard in shards:
        counts = np.bincount(labels[shard], minlength=num_classes).astype(float)
        p = counts[counts > 0] / counts.sum()
        entropies.append(float(-(p * np.log(p)).sum()))
    return float(np.mean(entropies))
