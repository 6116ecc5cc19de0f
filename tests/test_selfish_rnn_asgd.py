"""SNT-ASGD (docs/selfish_rnn.md): hand-computed averages, clocks, restart, trigger, dense limit."""

from __future__ import annotations

import pytest
import torch
from helpers.threads import single_thread  # noqa: F401 (fixture)
from torch import nn

from pipeline.data.batches import SequenceBatches
from pipeline.models.lstm_lm import LSTMLanguageModel
from pipeline.selfish_rnn.masking import SparseMasks
from pipeline.selfish_rnn.snt_asgd import SNTASGD, nonmono_trigger
from pipeline.selfish_rnn.trainer import SparseLMTrainer, TrainSettings

pytestmark = pytest.mark.usefixtures("single_thread")  # tiny models, shared machine


class _Vector(nn.Module):
    def __init__(self, values: list[float]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(values, dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(1, dtype=torch.float64))


class _FixedMasks:
    """A stand-in for SparseMasks with a hand-set mask (the optimiser only reads .masks and calls apply)."""

    def __init__(self, mask: list[bool]) -> None:
        self.masks = {"weight": torch.tensor(mask)}

    def apply(self, model: nn.Module) -> None:
        with torch.no_grad():
            model.weight.mul_(self.masks["weight"])


def _step(model: _Vector, optimizer: SNTASGD, grad: list[float]) -> None:
    model.weight.grad = torch.tensor(grad, dtype=torch.float64)
    model.bias.grad = torch.ones(1, dtype=torch.float64)
    optimizer.step()


def test_average_is_the_mean_from_the_second_step_of_each_life():
    """Hand-computed: W ← W − η(g + wd·W); a = mean of W over steps 2..c; a = c = 0 where masked."""
    lr, wd = 0.1, 0.01
    model = _Vector([1.0, -2.0, 0.0])
    masks = _FixedMasks([True, True, False])
    optimizer = SNTASGD(model, lr, weight_decay=wd, masks=masks)
    optimizer.start_averaging()
    grads = [[0.5, 1.0, 3.0], [-0.2, 0.4, 1.0], [0.3, -0.6, 2.0], [1.0, 0.0, -1.0], [0.1, 0.2, 0.3]]
    w = [1.0, -2.0]
    history: list[list[float]] = []
    for grad in grads:
        w = [w[i] - lr * (grad[i] + wd * w[i]) for i in range(2)]
        history.append(list(w))
        _step(model, optimizer, grad)
        assert torch.allclose(model.weight[:2], torch.tensor(w, dtype=torch.float64), atol=1e-15)
    expected = [sum(h[i] for h in history[1:]) / (len(history) - 1) for i in range(2)]
    assert torch.allclose(optimizer.average["weight"][:2], torch.tensor(expected, dtype=torch.float64))
    assert optimizer.clock["weight"].tolist() == [5, 5, 0]
    assert model.weight[2] == 0 and optimizer.average["weight"][2] == 0
    # the dense bias: standard ASGD, the mean of its values from step 2 on (-0.1 per step, wd ≈ 0)
    bias = [0.0]
    for _ in grads:
        bias.append(bias[-1] - lr * (1.0 + wd * bias[-1]))
    assert torch.allclose(optimizer.average["bias"], torch.tensor([sum(bias[2:]) / 4], dtype=torch.float64))


def test_regrown_weight_restarts_its_average():
    model = _Vector([1.0, 0.0])
    masks = _FixedMasks([True, False])
    optimizer = SNTASGD(model, 0.5, masks=masks)
    optimizer.start_averaging()
    for _ in range(3):
        _step(model, optimizer, [1.0, 1.0])
    masks.masks["weight"] = torch.tensor([True, True])  # regrow position 1 (it holds 0)
    optimizer.restart({"weight": torch.tensor([False, True])})
    assert optimizer.clock["weight"].tolist() == [3, 0]
    values = []
    for grad in ([1.0, 2.0], [1.0, -4.0], [1.0, 6.0]):
        _step(model, optimizer, grad)
        values.append(float(model.weight.detach()[1]))
    assert values == [-1.0, 1.0, -2.0]
    assert optimizer.clock["weight"].tolist() == [6, 3]
    assert float(optimizer.average["weight"][1]) == (1.0 - 2.0) / 2
    # weight 0 lived on: mean of its values at steps 2..6 (1 - 0.5 k for k = 2..6)
    assert float(optimizer.average["weight"][0]) == sum(1 - 0.5 * k for k in range(2, 7)) / 5


def test_averaged_weights_swap_in_and_back():
    model = _Vector([1.0, 2.0])
    optimizer = SNTASGD(model, 0.1)
    with optimizer.averaged_weights():  # SGD phase: the raw weights
        assert model.weight.tolist() == [1.0, 2.0]
    optimizer.start_averaging()
    for _ in range(3):
        _step(model, optimizer, [1.0, 1.0])
    raw = model.weight.detach().clone()
    with optimizer.averaged_weights():
        assert torch.equal(model.weight.detach(), optimizer.average["weight"])
    assert torch.equal(model.weight.detach(), raw)


def test_trigger_on_a_synthetic_history():
    """Fires at the first epoch with val > min(all but the last nonmono values), never if len <= nonmono."""
    values = [10.0, 8.0, 7.0, 7.5, 7.6, 7.7, 6.9, 7.1]
    history: list[float] = []
    fired = []
    for value in values:
        fired.append(nonmono_trigger(history, value, nonmono=3))
        history.append(value)
    # epoch 4: hist=[10,8,7,7.5], len 4 > 3, min(hist[:1]) = 10 -> 7.6 no; epoch 5: min([10,8]) = 8 -> no;
    # epoch 6: min([10,8,7]) = 7 -> 6.9 no; epoch 7: min([10,8,7,7.5]) = 7 -> 7.1 fires
    assert fired == [False] * 7 + [True]
    assert not nonmono_trigger([1.0, 1.0, 1.0], 100.0, nonmono=3)
    assert nonmono_trigger([1.0, 1.0, 1.0, 1.0], 100.0, nonmono=3)


def test_sgd_phase_equals_torch_sgd():
    torch.manual_seed(0)
    ours, reference = nn.Linear(4, 3), nn.Linear(4, 3)
    reference.load_state_dict(ours.state_dict())
    optimizer = SNTASGD(ours, 0.3, weight_decay=1.2e-6)
    torch_sgd = torch.optim.SGD(reference.parameters(), lr=0.3, weight_decay=1.2e-6, foreach=False)
    x = torch.randn(8, 4)
    for _ in range(5):
        for model, opt in ((ours, optimizer), (reference, torch_sgd)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for a, b in zip(ours.parameters(), reference.parameters(), strict=True):
        assert torch.equal(a, b)


def _lm_trainer(masks_density: float | None, use_asgd: bool) -> SparseLMTrainer:
    torch.manual_seed(0)
    model = LSTMLanguageModel(20, 8, 8, nlayers=2, dropout=0.0)
    masks = SparseMasks(model, masks_density, seed=1) if masks_density is not None else None
    tokens = torch.randint(0, 20, (400,), generator=torch.Generator().manual_seed(2))
    batches = SequenceBatches(tokens, batch_size=4, bptt=6)
    settings = TrainSettings(
        lr=2.0,
        clip=0.25,
        weight_decay=1.2e-6,
        nonmono=1,
        use_asgd=use_asgd,
        dynamic=False,
        death_rate=0.5,
        total_steps=3 * batches.steps_per_epoch,
        eval_batch_size=2,
        bptt=6,
    )
    valid = torch.randint(0, 20, (80,), generator=torch.Generator().manual_seed(3))
    return SparseLMTrainer(model, masks, settings, batches, valid, batch_size=4)


def test_density_one_static_reproduces_dense_training_bit_for_bit():
    """Dense limit: with density 1.0 and no prune/regrow the sparse path is the dense run exactly."""
    dense, sparse = _lm_trainer(None, True), _lm_trainer(1.0, True)
    for trainer in (dense, sparse):
        for step in range(3 * trainer.batches.steps_per_epoch):
            trainer.step(step, trainer.batches(step))
            if (step + 1) % trainer.batches.steps_per_epoch == 0:
                trainer.end_of_epoch()
    for a, b in zip(dense.model.parameters(), sparse.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert dense.val_history == sparse.val_history
