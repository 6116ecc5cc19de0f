"""Eigen-alignment of the predictor with the correlation of its input (Theorem 3, Fig. 2)."""

from __future__ import annotations

import torch


def asymmetry(W: torch.Tensor) -> float:
    """‖W − Wᵀ‖_F / ‖W‖_F (0 for a symmetric matrix, √2 in expectation for i.i.d. entries)."""
    return float((W - W.T).norm() / W.norm().clamp(min=1e-300))


@torch.no_grad()
def alignment(F: torch.Tensor, Wp: torch.Tensor | None, top_k: int, rel: float = 0.01) -> dict[str, float]:
    """The eigenvalues of F and how W_p acts on F's eigenvectors u_j (descending eigenvalues s_j).

    Keys: ``s{j}``, ``p{j}`` (u_jᵀW_p u_j) and ``cos{j}`` (cos(W_p u_j, u_j)) for j < top_k; ``k_rel``, the
    number of eigenvalues s_j ≥ ``rel``·s_max (the modes that carry the signal: the alignment rule, fixed
    before any run); ``cos_rel``, the mean cos(W_p u_j, u_j) over those k_rel eigenvectors; ``asym`` =
    ‖W_p − W_pᵀ‖/‖W_p‖ and ``asym_rel``, the same for W_p restricted to their span (U_kᵀW_p U_k); and
    ``commutator`` = ‖[F, W_p]‖/(‖F‖‖W_p‖). Without a linear predictor (``Wp=None``) only ``s{j}`` and
    ``k_rel``.
    """
    F64 = F.detach().double()
    s, U = torch.linalg.eigh(F64)
    s, U = s.flip(0), U.flip(1)
    k = min(top_k, s.numel())
    k_rel = int((s >= rel * s[0]).sum()) if float(s[0]) > 0 else 0
    out = {f"s{j}": float(s[j]) for j in range(k)} | {"k_rel": float(k_rel)}
    if Wp is None:
        return out
    W = Wp.detach().double()
    WU = W @ U
    proj = (U * WU).sum(0)
    cos = proj / WU.norm(dim=0).clamp(min=1e-300)
    out |= {f"p{j}": float(proj[j]) for j in range(k)} | {f"cos{j}": float(cos[j]) for j in range(k)}
    out["cos_mean"] = float(cos[:k].mean())
    out["cos_rel"] = float(cos[:k_rel].mean()) if k_rel else float("nan")
    out["asym"] = asymmetry(W)
    Uk = U[:, :k_rel]
    out["asym_rel"] = asymmetry(Uk.T @ W @ Uk) if k_rel else float("nan")
    out["commutator"] = float((F64 @ W - W @ F64).norm() / (F64.norm() * W.norm()).clamp(min=1e-300))
    return out
