"""Sparse masks (docs/selfish_rnn.md, "Method"): budgets, death, growth, leaks, gates, schedule."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.threads import single_thread  # noqa: F401 (fixture)

from pipeline.models.lstm_lm import LSTMLanguageModel
from pipeline.selfish_rnn.masking import (
    SparseMasks,
    erdos_renyi_densities,
    is_lstm_weight,
    sparse_parameter_names,
)
from pipeline.selfish_rnn.schedule import DEATH_RATE_FLOOR, cosine_death_rate
from pipeline.selfish_rnn.snt_asgd import SNTASGD

pytestmark = pytest.mark.usefixtures("single_thread")  # tiny models, shared machine


def _model(seed: int = 0, hidden: int = 12, vocab: int = 30) -> LSTMLanguageModel:
    torch.manual_seed(seed)
    return LSTMLanguageModel(vocab, hidden, hidden, nlayers=2, dropout=0.0)


def _train_steps(
    model, masks, steps: int, lr: float = 0.5, seed: int = 1, averaging: bool = False
) -> SNTASGD:
    optimizer = SNTASGD(model, lr, weight_decay=1e-3, masks=masks)
    if averaging:
        optimizer.start_averaging()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        tokens = torch.randint(0, 30, (7, 3), generator=generator)
        optimizer.zero_grad()
        logits, _ = model(tokens[:-1])
        torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[1:].flatten()).backward()
        optimizer.step()
        _assert_no_leak(model, masks, optimizer)
    return optimizer


def _assert_no_leak(model, masks, optimizer=None) -> None:
    params = dict(model.named_parameters())
    for name, mask in masks.masks.items():
        assert torch.all(params[name][~mask] == 0), name
        if optimizer is not None and optimizer.averaging:
            assert torch.all(optimizer.average[name][~mask] == 0)
            assert torch.all(optimizer.clock[name][~mask] == 0)


def test_every_non_bias_parameter_is_sparse():
    names = sparse_parameter_names(_model())
    assert names == [
        "encoder.weight",
        "rnn.weight_ih_l0",
        "rnn.weight_hh_l0",
        "rnn.weight_ih_l1",
        "rnn.weight_hh_l1",
        "decoder.weight",
    ]
    assert [is_lstm_weight(n) for n in names] == [False, True, True, True, True, False]


@pytest.mark.parametrize("init", ["uniform", "ER"])
def test_initial_density_and_masked_weights_are_zero(init):
    model = _model()
    masks = SparseMasks(model, 0.33, init=init, seed=3)
    assert masks.nonzero_count() / masks.total_count() == pytest.approx(0.33, abs=2e-3)
    _assert_no_leak(model, masks)


def test_erdos_renyi_densities_hit_the_total_and_scale_with_fan():
    shapes = {"a": (100, 100), "b": (400, 100), "c": (10, 1000)}
    densities = erdos_renyi_densities(shapes, 0.2)
    total = sum(math.prod(s) for s in shapes.values())
    assert sum(densities[n] * math.prod(s) for n, s in shapes.items()) == pytest.approx(0.2 * total)
    epsilon = densities["a"] * 100 * 100 / 200
    for name, shape in shapes.items():  # every density is eps * sum(dims) / prod(dims)
        assert densities[name] == pytest.approx(epsilon * sum(shape) / math.prod(shape))
    capped = erdos_renyi_densities({"tiny": (2, 2), "big": (100, 100)}, 0.5)
    assert capped["tiny"] == 1.0 and 0 < capped["big"] < 1


@pytest.mark.parametrize("gate_groups", [False, True])
@pytest.mark.parametrize("growth", ["random", "gradient"])
def test_exact_budget_after_every_prune_regrow_and_no_leak(gate_groups, growth):
    model = _model()
    masks = SparseMasks(model, 0.33, growth=growth, gate_groups=gate_groups, seed=0)
    budget = masks.nonzero_count()
    for epoch in range(4):
        optimizer = _train_steps(model, masks, 3, seed=epoch, averaging=epoch >= 2)
        grown = masks.prune_regrow(model, 0.5)
        optimizer.restart(grown)
        assert masks.nonzero_count() == budget
        assert all(error == 0 for error in masks.budget_errors().values())
        params = dict(model.named_parameters())
        for name, where in grown.items():
            assert where.any(), name
            assert torch.all(params[name][where] == 0), "regrown weights must start at 0"
            assert torch.all(masks.masks[name][where])
        _assert_no_leak(model, masks, optimizer)


def test_magnitude_death_removes_exactly_the_smallest():
    """Death: exactly ceil(p·n_nz) alive weights go, and every survivor outweighs every removed one."""
    model = _model()
    masks = SparseMasks(model, 0.5, seed=1)
    weight = model.rnn.weight_hh_l0
    with torch.no_grad():  # distinct non-zero magnitudes: no ties
        weight.copy_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)))
        masks.apply(model)
    before = masks.masks["rnn.weight_hh_l0"].clone()
    mask = before.clone()
    masks._death(weight.detach(), mask, 0.3)
    removed = before & ~mask
    assert int(removed.sum()) == math.ceil(0.3 * int(before.sum()))
    assert weight.detach()[mask].abs().min() > weight.detach()[removed].abs().max()


def test_gradient_growth_picks_the_largest_gradients():
    model = _model()
    masks = SparseMasks(model, 0.3, growth="gradient", seed=2)
    mask = masks.masks["decoder.weight"]
    grad = torch.rand(mask.shape, generator=torch.Generator().manual_seed(5))
    block = mask.clone()
    block.view(-1)[block.flatten().nonzero()[:10].flatten()] = False  # 10 free slots to regrow
    budget = int(mask.sum())
    grown = masks._grow(block, budget, grad)
    assert int(grown.sum()) == 10 and int(block.sum()) == budget
    empty_before = ~(block & ~grown)
    threshold = grad[grown].min()
    assert torch.all(grad[empty_before & ~grown] <= threshold)


def test_selfish_redistributes_across_gates_and_set_does_not():
    """Selfish: one stacked group, per-gate counts drift; SET: four fixed gate budgets."""
    selfish_model, set_model = _model(4, hidden=16), _model(4, hidden=16)
    selfish = SparseMasks(selfish_model, 0.4, seed=0)
    per_gate = SparseMasks(set_model, 0.4, gate_groups=True, seed=0)
    block = 16
    initial_selfish = [
        int(selfish.masks["rnn.weight_hh_l0"][g * block : (g + 1) * block].sum()) for g in range(4)
    ]
    initial_set = [
        int(per_gate.masks["rnn.weight_hh_l0"][g * block : (g + 1) * block].sum()) for g in range(4)
    ]
    with torch.no_grad():  # make the forget gate's weights large: it must win budget under Selfish
        for model in (selfish_model, set_model):
            model.rnn.weight_hh_l0[block : 2 * block] *= 50.0
    for masks, model in ((selfish, selfish_model), (per_gate, set_model)):
        masks.prune_regrow(model, 0.5)
    after_selfish = [
        int(selfish.masks["rnn.weight_hh_l0"][g * block : (g + 1) * block].sum()) for g in range(4)
    ]
    after_set = [int(per_gate.masks["rnn.weight_hh_l0"][g * block : (g + 1) * block].sum()) for g in range(4)]
    assert sum(after_selfish) == sum(initial_selfish)
    assert after_selfish[1] > initial_selfish[1], "the forget gate keeps all its large weights and regrows"
    assert after_selfish != initial_selfish
    assert after_set == initial_set
    densities = selfish.gate_densities("rnn.weight_hh_l0")
    assert densities[1] == pytest.approx(after_selfish[1] / (block * 16))


def test_masks_state_round_trip_reproduces_growth():
    model = _model()
    masks = SparseMasks(model, 0.3, seed=0)
    state = masks.state_dict()
    copy_model = _model()
    copy_masks = SparseMasks(copy_model, 0.3, seed=99)
    copy_masks.load_state_dict(state)
    copy_model.load_state_dict(model.state_dict())
    first = masks.prune_regrow(model, 0.4)
    second = copy_masks.prune_regrow(copy_model, 0.4)
    for name in first:
        assert torch.equal(first[name], second[name])
        assert torch.equal(masks.masks[name], copy_masks.masks[name])


def test_cosine_death_rate_end_points():
    """Cosine schedule: p_0 = p₀, p_T = 0.005, p_{T/2} = (p₀ + 0.005)/2."""
    assert cosine_death_rate(0, 100, 0.5) == pytest.approx(0.5)
    assert cosine_death_rate(100, 100, 0.5) == pytest.approx(DEATH_RATE_FLOOR)
    assert cosine_death_rate(50, 100, 0.5) == pytest.approx((0.5 + DEATH_RATE_FLOOR) / 2)
    with pytest.raises(ValueError):
        cosine_death_rate(0, 0, 0.5)


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="density"):
        SparseMasks(_model(), 0.0)
    with pytest.raises(ValueError, match="init"):
        SparseMasks(_model(), 0.5, init="bernoulli")
    with pytest.raises(ValueError, match="growth"):
        SparseMasks(_model(), 0.5, growth="momentum")
