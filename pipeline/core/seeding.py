"""Seeding, deterministic algorithms and RNG state capture.

Every random stream of a run comes from the config seed: the global Python/NumPy/torch generators
(:func:`seed_everything`), and named sub-streams (:func:`derive_seed`, :func:`make_generator`) such as the
data order of each epoch, so that a resumed run can recompute them from ``(seed, epoch)`` instead of
replaying them. :func:`rng_state` / :func:`set_rng_state` capture the global generators for checkpoints in
a form ``torch.load(weights_only=True)`` accepts.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
from typing import Any

import numpy as np
import torch


def derive_seed(seed: int, *keys: object) -> int:
    """A 63-bit seed for the sub-stream ``keys`` of ``seed`` (stable across processes and platforms)."""
    text = "/".join(str(part) for part in (seed, *keys))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def make_generator(seed: int, *keys: object, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator on ``device`` seeded with ``derive_seed(seed, *keys)`` (or ``seed`` with no keys)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(derive_seed(seed, *keys) if keys else seed)
    return generator


def seed_everything(seed: int, deterministic: bool = True, device: torch.device | str = "cpu") -> None:
    """Seed Python, NumPy and torch (all devices) and, by default, demand deterministic algorithms.

    On CPU every op torch uses here has a deterministic kernel, so a non-deterministic one is an error
    (``warn_only=False``). On CUDA a few kernels (e.g. some scatter/index backward passes) have no
    deterministic version; they warn instead of failing (``warn_only=True``), cuDNN autotuning is off and
    ``CUBLAS_WORKSPACE_CONFIG`` is set for deterministic cuBLAS.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if not deterministic:
        _set_deterministic(False, warn_only=False)
        return
    on_cuda = torch.device(device).type == "cuda"
    if on_cuda:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    _set_deterministic(True, warn_only=on_cuda)


def _set_deterministic(mode: bool, warn_only: bool) -> None:
    """``torch.use_deterministic_algorithms(mode, warn_only=...)`` without importing inductor for it.

    The public call first imports ``torch._inductor.config`` (and with it most of torch._dynamo) to set
    inductor's own determinism flag: about 2.8 s of CPU in every training job, which never compiles. Here
    the flag is set on inductor's config only when inductor is already loaded; eager determinism is the
    same ``torch._C`` switch either way (``torch.are_deterministic_algorithms_enabled()`` reads it).
    """
    inductor_config = sys.modules.get("torch._inductor.config")
    if inductor_config is not None:
        inductor_config.deterministic = mode
    torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


def rng_state() -> dict[str, Any]:
    """The global Python, NumPy and torch (CPU and CUDA) generator states, as tensors and plain values."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
