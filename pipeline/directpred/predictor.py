"""BYOL/SimSiam predictors: DirectPred (Eqns 18-19), a linear one trained by SGD, a 2-layer one.

DirectPred sets the bias-free linear predictor from the eigendecomposition of a running estimate F̂ of the
correlation of its inputs (Eqns 18-19). :func:`directpred_weight` implements the official code's form
(``mode="code"``: ŝ = max(s, 0)/max s, p = max(sqrt(ŝ) + ε, 1e-4)) and the paper's Eqn 18
(``mode="paper"``: p = sqrt(max(s, 0)) + ε·max s), both with ``torch.linalg.eigh``.
"""

from __future__ import annotations

import torch
from torch import nn

PREDICTORS = ("linear", "twolayer", "directpred")


def directpred_weight(F: torch.Tensor, eps: float, mode: str = "code") -> torch.Tensor:
    """W_p = U diag(p) Uᵀ from the symmetric PSD F̂ = U diag(s) Uᵀ (Eqn 18, code or paper form)."""
    s, U = torch.linalg.eigh(F)
    if mode == "code":
        s_hat = s.clamp(min=0) / s.max()
        p = (s_hat.sqrt() + eps).clamp(min=1e-4)
    elif mode == "paper":
        p = s.clamp(min=0).sqrt() + eps * s.max()
    else:
        raise ValueError(f"directpred mode must be 'code' or 'paper', got {mode!r}")
    return (U * p) @ U.T


class CorrelationEstimator(nn.Module):
    """F̂ ← ρF̂ + (1 − ρ)E_B[ffᵀ] (Eqn 19), not centred; the first update sets F̂ = E_B[ffᵀ] (code)."""

    def __init__(self, dim: int, rho: float) -> None:
        super().__init__()
        self.rho = rho
        self.register_buffer("F", torch.zeros(dim, dim))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, features: torch.Tensor) -> torch.Tensor:
        """Add a batch ``[N, dim]`` (both views stacked) and return the new F̂."""
        f = features.detach().to(self.F.dtype)
        batch = f.T @ f / f.shape[0]
        if int(self.count) == 0:
            self.F.copy_(batch)
        else:
            self.F.mul_(self.rho).add_(batch, alpha=1 - self.rho)
        self.count += 1
        return self.F


class TwoLayerPredictor(nn.Sequential):
    """The default BYOL predictor (official code): Linear(d, h) → BN(affine=False) → ReLU → Linear(h, d)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(
            nn.Linear(dim, hidden), nn.BatchNorm1d(hidden, affine=False), nn.ReLU(), nn.Linear(hidden, dim)
        )


def build_predictor(kind: str, dim: int, hidden: int) -> nn.Module:
    """``linear`` and ``directpred``: a bias-free d×d linear map; ``twolayer``: :class:`TwoLayerPredictor`."""
    if kind in ("linear", "directpred"):
        return nn.Linear(dim, dim, bias=False)
    if kind == "twolayer":
        return TwoLayerPredictor(dim, hidden)
    raise KeyError(f"unknown predictor {kind!r}; known: {', '.join(PREDICTORS)}")
