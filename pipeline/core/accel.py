"""Optional GPU accelerations: automatic mixed precision and ``torch.compile`` (off by default on CPU).

Each option is ``False`` (off), ``True`` (on) or ``"auto"`` (on for CUDA devices only). AMP autocasts to
float16 with a gradient scaler on CUDA (bfloat16 and no scaler on CPU, when forced on). Compile the model
for the forward pass only: keep the original module for ``state_dict`` and checkpoints.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Literal

import torch
from torch import nn

Switch = bool | Literal["auto"]


def resolve(option: Switch, device: torch.device) -> bool:
    """Turn ``True``/``False``/``"auto"`` into a decision for ``device``."""
    if option == "auto":
        return device.type == "cuda"
    if not isinstance(option, bool):
        raise ValueError(f"expected true, false or 'auto', got {option!r}")
    return option


def autocast(device: torch.device, enabled: bool) -> AbstractContextManager:
    """Autocast context for ``device`` (float16 on CUDA, bfloat16 elsewhere); a no-op when disabled."""
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=enabled)


def grad_scaler(device: torch.device, enabled: bool) -> torch.amp.GradScaler:
    """A GradScaler, active only for float16 AMP on CUDA (it has a state_dict for checkpoints)."""
    return torch.amp.GradScaler(device.type, enabled=enabled and device.type == "cuda")


def maybe_compile(model: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile(model)`` when enabled, else ``model`` itself."""
    return torch.compile(model) if enabled else model
