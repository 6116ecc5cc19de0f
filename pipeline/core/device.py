"""Device choice: CUDA when present and the job holds a GPU, else CPU."""

from __future__ import annotations

import torch


def select_device(requested: str = "auto", gpus_held: int = 1) -> torch.device:
    """Resolve the config's ``device`` key.

    ``auto`` gives ``cuda`` when CUDA is available and the Snakemake job holds at least one GPU
    (``resources: gpu``), else ``cpu``. ``cuda`` without CUDA is an error, never a silent fallback.
    """
    if requested not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config asks for device 'cuda' but torch sees no CUDA device")
    if requested == "cpu" or gpus_held < 1 or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")
