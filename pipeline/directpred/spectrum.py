"""Eigen-alignment of the predictor with the correlation of its input (Theorem 3, Fig. 2)."""

from __future__ import annotations

import torch


@torch.no_grad()
def alignment(F: torch.Tensor, Wp: torch.Tensor | None, top_k: int) -> dict[str, float]:
    """Top-k eigenvalues of F, u_jᵀW_p u_j, cos(W_p u_j, u_j), ‖W_p − W_pᵀ‖/‖W_p‖ and ‖[F, W_p]‖/(‖F‖‖W_p‖).

    Keys: ``s{j}``, ``p{j}``, ``cos{j}`` for j < top_k (descending eigenvalues of F), ``cos_mean`` (mean over
    the top k), ``asym`` and ``commutator``; without a linear predictor (``Wp=None``) only ``s{j}``.
    """
    F64 = F.detach().double()
    s, U = torch.linalg.eigh(F64)
    s, U = s.flip(0), U.flip(1)
    k = min(top_k, s.numel())
    out = {f"s{j}": float(s[j]) for j in range(k)}
    if Wp is None:
        return out
    W = Wp.detach().double()
    WU = W @ U[:, :k]
    proj = (U[:, :k] * WU).sum(0)
    cos = proj / WU.norm(dim=0).clamp(min=1e-300)
    out |= {f"p{j}": float(proj[j]) for j in range(k)} | {f"cos{j}": float(cos[j]) for j in range(k)}
    out["cos_mean"] = float(cos.mean())
    out["asym"] = float((W - W.T).norm() / W.norm().clamp(min=1e-300))
    out["commutator"] = float((F64 @ W - W @ F64).norm() / (F64.norm() * W.norm()).clamp(min=1e-300))
    return out
