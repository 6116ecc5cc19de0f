"""DirectPred predictor, F̂ accumulator, loss and step order against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.directpred.byol import SSLConfig, SSLNet, SSLStep, cosine_loss
from pipeline.directpred.predictor import CorrelationEstimator, directpred_weight
from pipeline.directpred.spectrum import alignment


def _psd(n: int, seed: int, rank: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, rank or n, generator=g, dtype=torch.float64)
    return a @ a.T


def _reference(F: np.ndarray, eps: float) -> np.ndarray:
    """Code form by hand in float64 with NumPy: p = max(sqrt(max(s,0)/max s) + ε, 1e-4)."""
    s, U = np.linalg.eigh(F)
    p = np.maximum(np.sqrt(np.maximum(s, 0) / s.max()) + eps, 1e-4)
    return U @ np.diag(p) @ U.T


@pytest.mark.parametrize("eps", [0.0, 0.1, -0.5])
def test_directpred_matches_float64_reference(eps: float) -> None:
    F = _psd(8, 0, rank=5)
    # rank 5 of 8: sqrt amplifies the ~1e-16 rounding of the zero eigenvalues to ~1e-8
    assert directpred_weight(F, eps).numpy() == pytest.approx(_reference(F.numpy(), eps), abs=1e-7)


def test_directpred_properties() -> None:
    F = _psd(6, 1)
    W = directpred_weight(F, 0.1)
    assert torch.allclose(W @ F, F @ W, atol=1e-9)
    assert torch.allclose(directpred_weight(3.7 * F, 0.1), W, atol=1e-10)
    diagonal = directpred_weight(torch.diag(torch.tensor([4.0, 1.0, 0.25], dtype=torch.float64)), 0.0)
    assert torch.allclose(
        diagonal, torch.diag(torch.tensor([1.0, 0.5, 0.25], dtype=torch.float64)), atol=1e-12
    )
    paper = directpred_weight(F, 0.1, mode="paper")
    s = np.linalg.eigvalsh(F.numpy())
    assert np.sort(np.linalg.eigvalsh(paper.numpy())) == pytest.approx(np.sqrt(s) + 0.1 * s.max(), rel=1e-9)
    with pytest.raises(ValueError, match="mode"):
        directpred_weight(F, 0.1, mode="other")


def test_eigh_agrees_with_a_general_eigensolver() -> None:
    """`eigh` (used) and the general eig of the official code give the same predictor on a PSD F̂."""
    F = _psd(7, 2).numpy()
    s, U = np.linalg.eig(F)
    s, U = s.real, U.real
    U = U / np.linalg.norm(U, axis=0)
    p = np.sqrt(np.maximum(s, 0) / s.max()) + 0.1
    assert directpred_weight(torch.from_numpy(F), 0.1).numpy() == pytest.approx(
        U @ np.diag(p) @ U.T, abs=1e-9
    )


def test_accumulator_first_call_and_steady_state() -> None:
    est = CorrelationEstimator(3, rho=0.3).double()
    f = torch.randn(10, 3, dtype=torch.float64)
    batch = f.T @ f / 10
    assert torch.allclose(est.update(f), batch)
    g = torch.randn(10, 3, dtype=torch.float64)
    expected = 0.3 * batch + 0.7 * (g.T @ g / 10)
    assert torch.allclose(est.update(g), expected)
    for _ in range(60):
        est.update(f)
    assert torch.allclose(est.F, batch, atol=1e-12)


def test_loss_is_invariant_to_predictor_scale() -> None:
    z, t = torch.randn(16, 5), torch.randn(16, 5)
    W = torch.randn(5, 5)
    assert cosine_loss(z @ W.T, t) == pytest.approx(float(cosine_loss(z @ (3.0 * W).T, t)), rel=1e-5)


def _step(predictor: str, freq: int = 1, method: str = "byol") -> SSLStep:
    torch.manual_seed(0)

    def make_net() -> SSLNet:
        return SSLNet(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 12)), 12, 16, 6)

    cfg = SSLConfig(method=method, predictor=predictor, freq=freq, proj_hidden=16, proj_dim=6, pred_hidden=8)
    return SSLStep(
        cfg, make_net, lambda x, g: x + 0.1 * torch.randn(x.shape, generator=g), seed=0, device="cpu"
    )


def test_freq_1_overwrites_with_the_estimate_after_the_step() -> None:
    """With freq = 1 the W_p used at iteration t+1 is computed from F̂ after iteration t."""
    step = _step("directpred")
    x = torch.rand(20, 1, 4, 4)
    for t in range(3):
        step(t, (x,))
        expected = directpred_weight(step.estimator.F, step.cfg.eps)
        assert torch.allclose(step.predictor.weight, expected, atol=1e-6)


def test_freq_5_keeps_sgd_steps_in_between() -> None:
    step = _step("directpred", freq=5)
    x = torch.rand(20, 1, 4, 4)
    step(0, (x,))
    step(1, (x,))
    assert not torch.allclose(
        step.predictor.weight, directpred_weight(step.estimator.F, step.cfg.eps), atol=1e-4
    )


def test_ema_target_and_simsiam() -> None:
    step = _step("linear")
    before = [p.clone() for p in step.target.parameters()]
    online_before = [p.clone() for p in step.online.parameters()]
    step(0, (torch.rand(20, 1, 4, 4),))
    for tgt, old, online_old, online in zip(
        step.target.parameters(), before, online_before, step.online.parameters(), strict=True
    ):
        assert torch.allclose(tgt, 0.996 * old + 0.004 * online, atol=1e-6)
        assert torch.allclose(old, online_old)  # target initialised as a copy
    assert _step("linear", method="simsiam").target is None


def test_alignment_of_an_aligned_and_a_rotated_predictor() -> None:
    F = _psd(5, 3)
    aligned = alignment(F, directpred_weight(F, 0.1), top_k=3)
    assert aligned["cos_mean"] == pytest.approx(1.0, abs=1e-9)
    assert aligned["commutator"] < 1e-9
    assert aligned["asym"] < 1e-9
    skew = torch.tensor(
        [[0.0, 1.0, 0, 0, 0], [-1.0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    )
    rotated = alignment(torch.diag(torch.tensor([5.0, 4, 3, 2, 1])), skew.double(), top_k=2)
    assert rotated["cos0"] == pytest.approx(0.0, abs=1e-12)
    assert rotated["asym"] == pytest.approx(2.0)
