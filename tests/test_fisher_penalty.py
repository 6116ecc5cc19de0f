"""Fisher penalty, gradient-norm control and the penalised SGD step, against independent computations."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional

from pipeline.core.seeding import make_generator
from pipeline.fisher import penalty
from pipeline.fisher.noise import flip_labels


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double()


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(8, 3, generator=gen, dtype=torch.float64), torch.randint(0, 3, (8,), generator=gen)


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _set_flat(model: nn.Module, flat: torch.Tensor) -> None:
    offset = 0
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()


@pytest.mark.parametrize("kind", ["fisher", "grad_norm", "input_grad", "random_label"])
def test_penalty_gradient_matches_central_differences(kind):
    """Double backprop against central differences in float64, sampled labels held fixed, every
    coordinate (for GPx the gradient in input space is itself differentiated in the parameters)."""
    model, (x, y) = _model(), _batch()
    labels = torch.tensor([2, 0, 1, 1, 0, 2, 2, 1])

    def value() -> torch.Tensor:
        params = list(model.parameters())
        if kind == "input_grad":
            return penalty.input_gradient_penalty(model, x, y)[1]
        logits = model(x)
        if kind == "fisher":
            return penalty.fisher_penalty(logits, params, labels=labels)
        if kind == "random_label":  # the same uniform draw at every evaluation
            return penalty.random_label_penalty(logits, params, torch.Generator().manual_seed(9))
        return penalty.gradient_norm_penalty(logits, y, params)

    model.zero_grad()
    value().backward()
    analytic = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    theta, eps = _flat(model), 1e-6
    numeric = torch.zeros_like(theta)
    for i in range(len(theta)):
        for sign in (1, -1):
            shifted = theta.clone()
            shifted[i] += sign * eps
            _set_flat(model, shifted)
            numeric[i] += sign * float(value().detach()) / (2 * eps)
    _set_flat(model, theta)
    assert torch.allclose(analytic, numeric, rtol=1e-6, atol=1e-9 * float(analytic.abs().max()))


def test_fisher_penalty_is_the_squared_mean_gradient_with_sampled_labels():
    model, (x, _) = _model(), _batch()
    gen_a, gen_b = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    params = list(model.parameters())
    logits = model(x)
    value = penalty.fisher_penalty(logits, params, generator=gen_a)
    labels = torch.multinomial(torch.softmax(logits.detach().float(), -1), 1, generator=gen_b).squeeze(1)
    grads = torch.autograd.grad(functional.cross_entropy(model(x), labels), params)
    assert float(value.detach()) == pytest.approx(float(sum(g.pow(2).sum() for g in grads)), rel=1e-12)


def test_input_gradient_penalty_is_the_per_example_input_gradient_norms_over_b_squared():
    """‖∇_X mean_i ℓ_i‖² = (1/B²) Σ_i ‖∇_{x_i} ℓ(x_i, y_i)‖², the latter from one backward per example."""
    model, (x, y) = _model(), _batch()
    logits, value = penalty.input_gradient_penalty(model, x, y)
    total = 0.0
    for i in range(len(x)):
        xi = x[i : i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(functional.cross_entropy(model(xi), y[i : i + 1]), xi)
        total += float(g.pow(2).sum())
    assert float(value.detach()) == pytest.approx(total / len(x) ** 2, rel=1e-12)
    assert torch.allclose(logits, model(x))


def test_random_labels_are_uniform_and_the_penalty_uses_them():
    labels = penalty.random_labels(30000, 5, torch.Generator().manual_seed(0))
    freq = torch.bincount(labels, minlength=5).double() / len(labels)
    assert torch.allclose(freq, torch.full((5,), 0.2, dtype=torch.float64), atol=0.01)
    model, (x, _) = _model(), _batch()
    params = list(model.parameters())
    drawn = penalty.random_labels(len(x), 3, torch.Generator().manual_seed(4))
    grads = torch.autograd.grad(functional.cross_entropy(model(x), drawn), params)
    value = penalty.random_label_penalty(model(x), params, torch.Generator().manual_seed(4))
    assert float(value.detach()) == pytest.approx(float(sum(g.pow(2).sum() for g in grads)), rel=1e-12)


def _sgd_step(kind: str, alpha: float, every: int, step: int) -> tuple[nn.Module, dict]:
    model, batch = _model(), _batch()
    update = penalty.PenalizedStep(
        model, torch.optim.SGD(model.parameters(), lr=0.1), kind, alpha, every, seed=7
    )
    return model, update(step, batch)


def test_plain_step_is_hand_computed_sgd():
    reference, (x, y) = _model(), _batch()
    grads = torch.autograd.grad(functional.cross_entropy(reference(x), y), list(reference.parameters()))
    expected = torch.cat(
        [(p - 0.1 * g).detach().reshape(-1) for p, g in zip(reference.parameters(), grads, strict=True)]
    )
    model, metrics = _sgd_step("none", 0.0, 1, 0)
    assert torch.allclose(_flat(model), expected, atol=1e-14)
    assert set(metrics) == {"loss"}


def test_fisher_step_adds_alpha_times_penalty_gradient():
    reference, (x, y) = _model(), _batch()
    params = list(reference.parameters())
    logits = reference(x)
    pen = penalty.fisher_penalty(logits, params, generator=make_generator(7, "fp_labels", 3))
    grads = torch.autograd.grad(functional.cross_entropy(logits, y) + 0.5 * pen, params)
    expected = torch.cat([(p - 0.1 * g).detach().reshape(-1) for p, g in zip(params, grads, strict=True)])
    model, metrics = _sgd_step("fisher", 0.5, 3, 3)
    assert torch.allclose(_flat(model), expected, atol=1e-14)
    assert metrics["penalty"] == pytest.approx(float(pen.detach()))
    assert metrics["fisher_minibatch"] == pytest.approx(8 * float(pen.detach()))


def test_input_gradient_step_adds_alpha_times_its_gradient():
    reference, (x, y) = _model(), _batch()
    params = list(reference.parameters())
    logits, pen = penalty.input_gradient_penalty(reference, x, y)
    grads = torch.autograd.grad(functional.cross_entropy(logits, y) + 0.5 * pen, params)
    expected = torch.cat([(p - 0.1 * g).detach().reshape(-1) for p, g in zip(params, grads, strict=True)])
    model, metrics = _sgd_step("input_grad", 0.5, 1, 3)
    assert torch.allclose(_flat(model), expected, atol=1e-14)
    assert metrics["penalty"] == pytest.approx(float(pen.detach())) and "fisher_minibatch" not in metrics


def test_random_label_step_draws_its_labels_from_the_step_stream():
    reference, (x, y) = _model(), _batch()
    params = list(reference.parameters())
    logits = reference(x)
    pen = penalty.random_label_penalty(logits, params, make_generator(7, "gpr_labels", 3))
    grads = torch.autograd.grad(functional.cross_entropy(logits, y) + 0.5 * pen, params)
    expected = torch.cat([(p - 0.1 * g).detach().reshape(-1) for p, g in zip(params, grads, strict=True)])
    model, metrics = _sgd_step("random_label", 0.5, 1, 3)
    assert torch.allclose(_flat(model), expected, atol=1e-14)
    assert metrics["penalty"] == pytest.approx(float(pen.detach()))


def _dropout_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Dropout(0.5), nn.Linear(6, 3)).double()


def test_eval_mode_penalty_comes_from_an_eval_forward_and_train_mode_from_the_training_one():
    """With dropout, mode="eval" takes the penalty from the deterministic (eval-mode) network while the
    data loss keeps its dropout forward pass; mode="train" takes both from the one training forward."""
    (x, y), step = _batch(), 2
    for mode in ("eval", "train"):
        reference = _dropout_model()
        params = list(reference.parameters())
        torch.manual_seed(123)
        logits = reference(x)  # training forward (the step draws the same dropout mask)
        if mode == "eval":
            reference.eval()
            pen = penalty.gradient_norm_penalty(reference(x), y, params)
            reference.train()
        else:
            pen = penalty.gradient_norm_penalty(logits, y, params)
        grads = torch.autograd.grad(functional.cross_entropy(logits, y) + 0.5 * pen, params)
        expected = torch.cat([(p - 0.1 * g).detach().reshape(-1) for p, g in zip(params, grads, strict=True)])
        model = _dropout_model()
        update = penalty.PenalizedStep(
            model, torch.optim.SGD(model.parameters(), lr=0.1), "grad_norm", 0.5, 1, seed=7, mode=mode
        )
        torch.manual_seed(123)
        metrics = update(step, (x, y))
        assert torch.allclose(_flat(model), expected, atol=1e-14), mode
        assert metrics["penalty"] == pytest.approx(float(pen.detach()))
        assert model.training


def test_mode_only_matters_for_models_with_dropout():
    assert penalty.has_mode_dependent_modules(_dropout_model())
    assert not penalty.has_mode_dependent_modules(_model())
    steps = {}
    for mode in ("train", "eval"):
        model, batch = _model(), _batch()
        update = penalty.PenalizedStep(
            model, torch.optim.SGD(model.parameters(), lr=0.1), "fisher", 0.5, 1, seed=7, mode=mode
        )
        update(0, batch)
        steps[mode] = _flat(model)
    assert torch.equal(steps["train"], steps["eval"])


def test_penalty_only_on_every_kth_step():
    plain, _ = _sgd_step("none", 0.0, 1, 4)
    skipped, metrics = _sgd_step("grad_norm", 0.5, 3, 4)
    assert "penalty" not in metrics and torch.equal(_flat(plain), _flat(skipped))
    _, metrics = _sgd_step("grad_norm", 0.5, 3, 6)
    assert metrics["penalty"] > 0


def test_bad_penalty_arguments_are_rejected():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="kind"):
        penalty.PenalizedStep(model, opt, "hessian")
    with pytest.raises(ValueError, match="every"):
        penalty.PenalizedStep(model, opt, "fisher", 0.1, every=0)
    with pytest.raises(ValueError, match="mode"):
        penalty.PenalizedStep(model, opt, "fisher", 0.1, mode="test")


def test_flip_labels_flips_exactly_the_fraction_to_other_classes():
    y = torch.arange(1000) % 10
    noisy, mask = flip_labels(y, 0.25, 10, torch.Generator().manual_seed(0))
    assert int(mask.sum()) == 250
    assert bool((noisy[mask] != y[mask]).all()) and torch.equal(noisy[~mask], y[~mask])
    again, _ = flip_labels(y, 0.25, 10, torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)
    with pytest.raises(ValueError):
        flip_labels(y, 1.0, 10, torch.Generator())
