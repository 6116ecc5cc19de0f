"""Nero (pipeline/nero/optimizer.py) against independent computations (Algorithm 1) and pytorch-optimizer."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from pipeline.nero.memory import nero_expected_numel
from pipeline.nero.optimizer import Nero, neuron_mean, neuron_norm, state_numel


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 8), nn.Tanh(), nn.Linear(8, 3)
    )  # fmt: skip


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(16, 2, 6, 6, generator=g), torch.randint(0, 3, (16,), generator=g)


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, seed: int) -> None:
    x, y = _batch(seed)
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()


def _assert_constrained(model: nn.Module) -> None:
    for p in model.parameters():
        if p.dim() > 1:
            rows = p.detach().reshape(p.shape[0], -1)
            assert rows.mean(dim=1).abs().max() < 1e-6
            assert (rows.norm(dim=1) - 1).abs().max() < 1e-6


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_pytorch_optimizer_over_20_steps(dtype: torch.dtype) -> None:
    from pytorch_optimizer import Nero as ReferenceNero

    ours = _model().to(dtype)
    Nero(ours.parameters(), lr=0.01, eps=1e-8)  # projects in place (at construction)
    reference = copy.deepcopy(ours)  # projected before the reference sees it (it projects lazily)
    optimizer = Nero(ours.parameters(), lr=0.01, eps=1e-8)
    ref_optimizer = ReferenceNero(reference.parameters(), lr=0.01, beta=0.999, eps=1e-8, foreach=False)
    for step in range(20):
        x, y = _batch(step)
        for model, opt in ((ours, optimizer), (reference, ref_optimizer)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x.to(dtype)), y).backward()
            opt.step()
        _assert_constrained(ours)
    for a, b in zip(ours.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=0)


def test_faithful_and_eps_forms_agree_on_nondegenerate_inputs() -> None:
    faithful, with_eps = _model(), _model()
    opt_a, opt_b = Nero(faithful.parameters()), Nero(with_eps.parameters(), eps=1e-8)
    for step in range(20):
        _step(faithful, opt_a, step)
        _step(with_eps, opt_b, step)
    for a, b in zip(faithful.parameters(), with_eps.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_first_step_moves_each_neuron_by_lr_times_scale() -> None:
    """At t = 1, v̂ = ‖g_i‖², so every row moves by exactly lr·scale before projection."""
    torch.manual_seed(1)
    weight = nn.Parameter(torch.randn(5, 7))
    bias = nn.Parameter(torch.randn(5))
    optimizer = Nero([weight, bias], lr=0.03, constraints=False)
    start_w, start_b = weight.detach().clone(), bias.detach().clone()
    scale_w = start_w.norm(dim=1).mean()
    scale_b = start_b.abs().mean()
    loss = (weight * torch.randn(5, 7)).sum() + (bias * torch.randn(5)).sum()
    loss.backward()
    optimizer.step()
    assert torch.allclose((weight - start_w).norm(dim=1), 0.03 * scale_w.expand(5), rtol=1e-5)
    assert torch.allclose(bias - start_b, -0.03 * scale_b * bias.grad.sign(), rtol=1e-5)


def test_rotation_angle_is_atan_lr() -> None:
    """A gradient orthogonal to a unit, zero-mean row rotates it by atan(lr)."""
    row = torch.tensor([[1.0, -1.0, 0.0, 0.0]]) / math.sqrt(2)
    weight = nn.Parameter(row.clone())
    optimizer = Nero([weight], lr=0.2)
    weight.grad = torch.tensor([[0.0, 0.0, 3.0, -3.0]])  # orthogonal to the row and zero-mean
    optimizer.step()
    angle = torch.arccos((weight.detach() * row).sum() / weight.detach().norm())
    assert abs(float(angle) - math.atan(0.2)) < 1e-6


def test_scale_invariance_of_the_loss() -> None:
    a, b = _model(), _model()
    opt_a, opt_b = Nero(a.parameters()), Nero(b.parameters())
    for step in range(5):
        x, y = _batch(step)
        for model, opt, c in ((a, opt_a, 1.0), (b, opt_b, 1000.0)):
            opt.zero_grad()
            (c * nn.functional.cross_entropy(model(x), y)).backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-5)


def test_zero_gradient_neuron_is_not_moved_and_gives_no_nan() -> None:
    weight = nn.Parameter(torch.randn(3, 4))
    optimizer = Nero([weight], lr=0.1, constraints=False)
    before = weight.detach().clone()
    weight.grad = torch.zeros(3, 4)
    weight.grad[0] = 1.0
    optimizer.step()
    assert torch.isfinite(weight).all()
    assert torch.equal(weight[1:], before[1:])


def test_state_is_one_number_per_neuron() -> None:
    model = _model()
    optimizer = Nero(model.parameters())
    _step(model, optimizer, 0)
    for p in model.parameters():
        v = optimizer.state[p]["v"]
        assert len(v) == (p.shape[0] if p.dim() > 1 else p.numel()) and v.numel() == len(v)
    assert state_numel(optimizer) == nero_expected_numel(model)
    linear = nn.Linear(64, 128)
    assert nero_expected_numel(linear) - 2 == 256  # 128 rows + 128 biases for Nero (plus two scales)


@pytest.mark.parametrize(
    ("zero_mean", "unit_norm"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_ablation_switches(zero_mean: bool, unit_norm: bool) -> None:
    model = _model()
    optimizer = Nero(model.parameters(), zero_mean=zero_mean, unit_norm=unit_norm)
    for step in range(3):
        _step(model, optimizer, step)
    weight = model[0].weight.detach()
    assert (neuron_mean(weight).abs().max() < 1e-6) == zero_mean
    assert ((neuron_norm(weight) - 1).abs().max() < 1e-6) == unit_norm


def test_resume_restores_scale_v_and_step() -> None:
    """A re-created optimiser recomputes scale from current biases; load_state_dict restores the saved one."""
    model = _model()
    optimizer = Nero(model.parameters())
    for step in range(3):
        _step(model, optimizer, step)
    saved_model, saved_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    for step in range(3, 6):
        _step(model, optimizer, step)
    resumed = _model()
    resumed.load_state_dict(saved_model)
    resumed_opt = Nero(resumed.parameters())
    resumed_opt.load_state_dict(saved_opt)
    for step in range(3, 6):
        _step(resumed, resumed_opt, step)
    for p, q in zip(model.parameters(), resumed.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)  # re-projection on construction is idempotent up to rounding
