"""Fisher-trace estimators against independent computations."""

from __future__ import annotations

import math

import pytest
import sympy
import torch
from torch import nn
from torch.nn import functional

from pipeline.fisher import trace


def _tiny_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()


def _inputs(n: int = 12, d: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _jacobian_trace(model: nn.Module, x: torch.Tensor) -> float:
    """mean_i Tr(J_iᵀ (diag p_i − p_i p_iᵀ) J_i), J_i = ∂logits(x_i)/∂θ from torch.autograd.functional."""
    params = dict(model.named_parameters())
    names = list(params)
    total = 0.0
    for xi in x:

        def logits(*values: torch.Tensor, xi: torch.Tensor = xi) -> torch.Tensor:
            return torch.func.functional_call(model, dict(zip(names, values, strict=True)), (xi[None],))[0]

        jac = torch.autograd.functional.jacobian(logits, tuple(params.values()))
        J = torch.cat([j.reshape(j.shape[0], -1) for j in jac], dim=1)
        p = torch.softmax(logits(*params.values()), -1).detach()
        total += float(torch.trace(J.T @ (torch.diag(p) - torch.outer(p, p)) @ J))
    return total / len(x)


def test_exact_trace_matches_jacobian_formula():
    model, x = _tiny_mlp(), _inputs(5)
    assert trace.fisher_trace_exact(model, x) == pytest.approx(_jacobian_trace(model, x), rel=1e-10)


def test_exact_trace_matches_linear_softmax_closed_form():
    torch.manual_seed(3)
    model = nn.Linear(5, 4).double()
    x = _inputs(20, 5)
    p = torch.softmax(model(x), -1).detach()
    closed = float(((1 - p.pow(2).sum(1)) * (x.pow(2).sum(1) + 1)).mean())
    assert trace.fisher_trace_exact(model, x) == pytest.approx(closed, rel=1e-10)


def test_vmap_per_example_norms_match_a_loop():
    model, x = _tiny_mlp(), _inputs()
    labels = torch.randint(0, 3, (len(x),), generator=torch.Generator().manual_seed(0))
    vmapped = trace.per_example_sq_grad_norms(model, x, labels)
    for i in range(len(x)):
        grads = torch.autograd.grad(
            functional.cross_entropy(model(x[i : i + 1]), labels[i : i + 1]), list(model.parameters())
        )
        assert float(vmapped[i]) == pytest.approx(float(sum(g.pow(2).sum() for g in grads)), rel=1e-10)
    gen_a, gen_b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert trace.fisher_trace_sampled(model, x, gen_a) == pytest.approx(
        trace.fisher_trace_loop(model, x, gen_b)
    )


def test_chunked_norms_match_a_loop_for_every_chunk_length(monkeypatch):
    """Chunks of 1, 5 (uneven) and all rows, and a chunk cut by the gradient memory budget, give the
    per-example norms of an autograd loop over the rows."""
    model, x = _tiny_mlp(), _inputs()
    labels = torch.randint(0, 3, (len(x),), generator=torch.Generator().manual_seed(0))
    looped = torch.tensor(
        [
            float(
                sum(
                    g.pow(2).sum()
                    for g in torch.autograd.grad(
                        functional.cross_entropy(model(x[i : i + 1]), labels[i : i + 1]),
                        list(model.parameters()),
                    )
                )
            )
            for i in range(len(x))
        ],
        dtype=torch.float64,
    )
    for chunk in (1, 5, None):
        assert torch.allclose(trace.per_example_sq_grad_norms(model, x, labels, chunk), looped, rtol=1e-10)
    parameters = sum(p.numel() for p in model.parameters())  # 51
    monkeypatch.setattr(trace, "GRAD_BUDGET_ELEMENTS", 2 * parameters + 1)
    assert trace.chunk_length(256, len(x), parameters) == 2
    assert torch.allclose(trace.per_example_sq_grad_norms(model, x, labels, 256), looped, rtol=1e-10)
    assert trace.chunk_length(256, 3, 10) == 3 and trace.chunk_length(None, 7, 10**12) == 1


def _monte_carlo(estimator, model: nn.Module, x: torch.Tensor, draws: int) -> tuple[float, float]:
    generator = torch.Generator().manual_seed(11)
    values = torch.tensor([estimator(model, x, generator) for _ in range(draws)], dtype=torch.float64)
    return float(values.mean()), float(values.std() / math.sqrt(draws))


@pytest.mark.parametrize("estimator", [trace.fisher_trace_sampled, trace.minibatch_trace_estimate])
def test_sampled_estimators_are_unbiased(estimator):
    model, x = _tiny_mlp(), _inputs()
    exact = trace.fisher_trace_exact(model, x)
    mean, stderr = _monte_carlo(estimator, model, x, 200)
    assert abs(mean - exact) <= 3.5 * stderr
    assert stderr < 0.2 * exact  # the test has power


def test_true_labels_give_a_different_quantity():
    """With the data labels, B·‖∇L‖² is not the per-example mean (cross terms survive): GP ≠ FP."""
    model, x = _tiny_mlp(), _inputs()
    y = torch.randint(0, 3, (len(x),), generator=torch.Generator().manual_seed(2))
    grads = torch.autograd.grad(functional.cross_entropy(model(x), y), list(model.parameters()))
    batch = len(x) * float(sum(g.pow(2).sum() for g in grads))
    per_example = float(trace.per_example_sq_grad_norms(model, x, y).mean())
    assert abs(batch - per_example) > 0.05 * per_example


def test_sampled_labels_follow_the_model():
    logits = torch.tensor([[2.0, 0.0, -1.0]]).repeat(20000, 1)
    labels = trace.sample_labels(logits, torch.Generator().manual_seed(0))
    freq = torch.bincount(labels, minlength=3).double() / len(labels)
    expected = torch.softmax(logits[0].double(), -1)
    assert torch.allclose(freq, expected, atol=0.012)


def test_estimators_leave_model_mode_and_grads_alone():
    model, x = _tiny_mlp(), _inputs()
    model.train()
    trace.fisher_trace_sampled(model, x)
    trace.minibatch_trace_estimate(model, x)
    assert model.training and all(p.grad is None for p in model.parameters())


def test_sympy_score_identities():
    """E_ŷ[(ŷ − p)²] = p(1 − p) (logistic) and E_c‖e_c − p‖² = 1 − ‖p‖² (softmax, 3 classes)."""
    p = sympy.symbols("p", positive=True)
    assert sympy.simplify(p * (1 - p) ** 2 + (1 - p) * p**2 - p * (1 - p)) == 0
    p1, p2 = sympy.symbols("p1 p2", positive=True)
    probs = [p1, p2, 1 - p1 - p2]
    expectation = sum(
        probs[c] * sum(((1 if k == c else 0) - probs[k]) ** 2 for k in range(3)) for c in range(3)
    )
    assert sympy.simplify(expectation - (1 - sum(q**2 for q in probs))) == 0


def _dropout_mlp(p: float = 0.5) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Dropout(p), nn.Linear(6, 3)).double()


def test_train_mode_trace_is_unbiased_without_dropout():
    """Without dropout, train-mode sampling (labels by inverse CDF inside the vmapped pass) estimates the
    same Tr F as the exact expectation over classes."""
    model, x = _tiny_mlp(), _inputs()
    exact = trace.fisher_trace_exact(model, x)
    mean, stderr = _monte_carlo(
        lambda m, xs, g: trace.fisher_trace_sampled(m, xs, g, mode="train"), model, x, 100
    )
    assert abs(mean - exact) <= 3.5 * stderr and stderr < 0.2 * exact


def test_train_mode_trace_with_dropout_matches_a_loop_over_masks():
    """With dropout, train mode estimates E_mask Σ_c p_c(x; mask)‖∇ℓ(x, c; mask)‖²; the reference draws
    masks in a Python loop and does the expectation over classes exactly for each."""
    model, x = _dropout_mlp(), _inputs(4)
    params = list(model.parameters())
    model.train()
    torch.manual_seed(21)
    reference = []
    for _ in range(60):
        total = 0.0
        for xi in x:
            probs = torch.softmax(model(xi[None]), -1)[0]  # draws one mask for this example …
            for c in range(3):  # … and keeps it for every class: rebuild the graph with the same mask
                grads = torch.autograd.grad(
                    functional.cross_entropy(torch.log(probs)[None], torch.tensor([c])),
                    params,
                    retain_graph=True,
                )
                total += float(probs[c].detach()) * float(sum(g.pow(2).sum() for g in grads))
        reference.append(total / len(x))
    ref_mean, ref_se = (
        float(torch.tensor(reference).mean()),
        float(torch.tensor(reference).std()) / math.sqrt(60),
    )
    mean, stderr = _monte_carlo(
        lambda m, xs, g: trace.fisher_trace_sampled(m, xs, g, mode="train"), model, x, 120
    )
    assert abs(mean - ref_mean) <= 3.5 * math.hypot(stderr, ref_se)
    eval_mode = trace.fisher_trace_exact(model, x)
    assert abs(mean - eval_mode) > 3.5 * math.hypot(stderr, ref_se)  # dropout changes the quantity


def test_train_mode_trace_is_pure_in_its_generator_and_leaves_the_global_stream_alone():
    model, x = _dropout_mlp(), _inputs()
    model.eval()
    before = torch.get_rng_state()
    a = trace.fisher_trace_sampled(model, x, torch.Generator().manual_seed(3), mode="train")
    b = trace.fisher_trace_sampled(model, x, torch.Generator().manual_seed(3), mode="train")
    c = trace.fisher_trace_sampled(model, x, torch.Generator().manual_seed(4), mode="train")
    assert a == b and a != c
    assert torch.equal(before, torch.get_rng_state()) and not model.training
    with pytest.raises(ValueError, match="mode"):
        trace.fisher_trace_sampled(model, x, mode="test")
