"""The engine: determinism, resume, divergence, checkpoints' integrity, progress, evaluation helpers."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers.engine_run import run_small
from helpers.threads import single_thread  # noqa: F401 (fixture)
from torch import nn

from pipeline.core import accel
from pipeline.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from pipeline.core.engine import CHECK_EXAMPLES, TrainSpec, evaluation_cap, step_limit, train
from pipeline.core.evaluation import accuracy, evaluate_classifier, evaluate_language_model, perplexity
from pipeline.core.progress import progress_enabled
from pipeline.core.seeding import derive_seed, make_generator, rng_state, seed_everything, set_rng_state
from pipeline.core.steps import SupervisedStep, cross_entropy_loss
from pipeline.data.batches import SequenceBatches, TensorBatches
from pipeline.models import build_model
from pipeline.models.lstm_lm import HiddenState, detach_hidden

pytestmark = pytest.mark.usefixtures("single_thread")


def test_same_seed_same_metrics_different_seed_differs():
    first, model_a = run_small(seed=3, steps=20)
    second, model_b = run_small(seed=3, steps=20)
    other, _ = run_small(seed=4, steps=20)
    assert first.metrics == second.metrics and first.history == second.history
    assert all(
        torch.equal(a, b)
        for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values(), strict=True)
    )
    assert other.metrics != first.metrics
    assert [row["step"] for row in first.history] == [5, 10, 15, 20]
    assert {"train_loss", "train_acc", "train_grad_norm", "test_loss", "test_accuracy"} <= set(
        first.history[1]
    )
    assert "test_accuracy" not in first.history[0] and first.metrics["diverged"] == 0.0
    assert first.history_frame().columns[0] == "step"


def test_crash_then_resume_matches_and_finished_run_returns_at_once(tmp_path):
    path = tmp_path / "ckpt.pt"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_small(seed=0, steps=30, checkpoint_path=path, checkpoint_every=7, fail_at=17)
    assert load_checkpoint(path)["step"] == 14
    resumed, model = run_small(seed=0, steps=30, checkpoint_path=path, checkpoint_every=7)
    straight, reference = run_small(seed=0, steps=30)
    assert resumed.resumed_from == 14 and resumed.metrics == straight.metrics
    assert resumed.history == straight.history
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), reference.state_dict().values(), strict=True)
    )
    again, model_again = run_small(seed=0, steps=30, checkpoint_path=path, checkpoint_every=7)
    assert again.resumed_from == 30 and again.metrics == straight.metrics
    assert all(
        torch.equal(a, b)
        for a, b in zip(model_again.state_dict().values(), reference.state_dict().values(), strict=True)
    )
    with pytest.raises(ValueError, match="another run"):
        run_small(seed=1, steps=30, checkpoint_path=path)


def lm_run(path, steps: int, fail_at: int | None = None):
    seed_everything(5)
    tokens = torch.randint(0, 30, (400,), generator=torch.Generator().manual_seed(0))
    model = build_model("lstm_lm", vocab_size=30, emsize=12, nhid=12, nlayers=2, dropout=0.3)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    batches = SequenceBatches(tokens, batch_size=4, bptt=7)
    carry = HiddenState(model, 4)

    def step(index, batch):
        if index == fail_at:
            raise RuntimeError("crash")
        if batches.starts_epoch(index):
            carry.reset()
        model.train()
        optimizer.zero_grad()
        logits, hidden = model(batch[0], carry.value)
        carry.value = detach_hidden(hidden)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch[1].flatten())
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        optimizer.step()
        return loss

    spec = TrainSpec(
        steps=steps, seed=5, eval_every=10, checkpoint_path=path, checkpoint_every=4 if path else 0
    )
    evaluate = lambda: evaluate_language_model(model, tokens[:120], batch_size=2, bptt=7, prefix="val_")  # noqa: E731
    state = {"model": model, "optimizer": optimizer, "hidden": carry}
    return train(spec, step, batches, state, evaluate), model


def test_language_model_resume_restores_hidden_state_and_dropout_rng(tmp_path):
    assert SequenceBatches(torch.arange(400), 4, 7).steps_per_epoch == 15  # 25 steps cross an epoch boundary
    with pytest.raises(RuntimeError, match="crash"):
        lm_run(tmp_path / "lm.pt", 25, fail_at=18)
    resumed, model = lm_run(tmp_path / "lm.pt", 25)
    straight, reference = lm_run(None, 25)
    assert resumed.resumed_from == 16 and resumed.metrics == straight.metrics
    assert math.isfinite(straight.metrics["val_ppl"]) and straight.metrics["val_ppl"] > 1
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), reference.state_dict().values(), strict=True)
    )


def test_non_finite_loss_ends_the_run_cleanly_and_is_recorded(tmp_path):
    def step(index, batch):
        return {"loss": float("nan") if index == 6 else 1.0 / (index + 1)}

    spec = TrainSpec(steps=20, eval_every=5, checkpoint_path=tmp_path / "c.pt", checkpoint_every=3)
    result = train(spec, step, lambda i: None, {}, evaluate=lambda: {"test_accuracy": 1.0})
    assert result.diverged and result.diverged_at_step == 7 and result.steps_completed == 7
    assert result.metrics["diverged"] == 1.0 and result.metrics["diverged_at_step"] == 7.0
    assert "test_accuracy" not in result.metrics and math.isnan(result.history[-1]["train_loss"])
    assert math.isnan(result.metrics["train_loss"])
    again = train(spec, step, lambda i: None, {}, evaluate=lambda: {"test_accuracy": 1.0})
    assert again.resumed_from == 7 and again.diverged_at_step == 7


def test_a_loss_held_far_above_its_start_is_divergence(tmp_path):
    """lr 50 in a sweep: the loss jumps from 2.3 (chance) to about 20 and stays there, never NaN."""

    def step(index, batch):
        return {"loss": 2.3 if index == 0 else 20.0}

    spec = TrainSpec(steps=100, divergence_window=10, checkpoint_path=tmp_path / "c.pt", checkpoint_every=4)
    result = train(spec, step, lambda i: None, {})
    assert result.diverged and result.diverged_at_step == 10  # the first full window (steps 1-10)
    assert result.metrics["divergence_ratio"] == pytest.approx((2.3 + 9 * 20.0) / 10 / 2.3)
    again = train(spec, step, lambda i: None, {})
    assert again.resumed_from == 10 and again.diverged_at_step == 10
    result_nan = train(TrainSpec(steps=5), lambda i, b: {"loss": float("inf")}, lambda i: None, {})
    assert result_nan.diverged_at_step == 1 and result_nan.metrics["divergence_ratio"] == math.inf


@pytest.mark.parametrize(
    ("losses", "factor", "diverged"),
    [
        ([2.3] + [8.0] * 5 + [1.0] * 94, 3.0, False),  # a transient spike shorter than the window
        ([2.3] + [6.0] * 99, 3.0, False),  # held above the start, but below 3x
        ([2.3] + [20.0] * 99, 0.0, False),  # the rule switched off
        ([-2.0] + [-0.5] * 99, 3.0, False),  # a negative loss (BYOL's cosine): the rule does not apply
        ([2.3] + [7.5] * 99, 3.0, True),
    ],
)
def test_the_divergence_rule_needs_a_sustained_multiple_of_a_positive_first_loss(losses, factor, diverged):
    spec = TrainSpec(steps=len(losses), divergence_factor=factor, divergence_window=20)
    result = train(spec, lambda i, b: {"loss": losses[i]}, lambda i: None, {})
    assert result.diverged is diverged


def test_real_divergence_at_a_too_large_learning_rate():
    seed_everything(0)
    x = torch.randn(64, 5, generator=torch.Generator().manual_seed(0)) * 3
    y = x @ torch.ones(5, 1)
    model = nn.Linear(5, 1)
    update = SupervisedStep(
        model, torch.optim.SGD(model.parameters(), lr=1.0), lambda m, b: ((m(b[0]) - b[1]) ** 2).mean()
    )
    result = train(
        TrainSpec(steps=500), update, TensorBatches(x, y, batch_size=16, seed=0), {"train": update}
    )
    assert result.diverged and 1 < result.diverged_at_step < 500
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the bad update was not applied


def test_checkpoint_damage_is_detected_and_names_the_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"w": torch.arange(5.0), "step": 3, "rng": rng_state()})
    assert load_checkpoint(path)["step"] == 3
    data = path.read_bytes()
    cases = {
        "truncated": data[: len(data) - 20],
        "flipped": data[:-30] + bytes([data[-30] ^ 1]) + data[-29:],
        "empty": b"",
        "foreign": data[data.index(b"\n") + 1 :],
    }
    messages = {
        "truncated": "truncated",
        "flipped": "sha256",
        "empty": "not a pipeline checkpoint",
        "foreign": "header",
    }
    for name, damaged in cases.items():
        bad = tmp_path / f"{name}.pt"
        bad.write_bytes(damaged)
        with pytest.raises(CheckpointError, match=messages[name]) as err:
            load_checkpoint(bad)
        assert str(bad) in str(err.value)
    bad = tmp_path / "truncated.pt"
    with pytest.raises(CheckpointError, match="truncated"):
        run_small(seed=0, steps=5, checkpoint_path=bad)


def test_rng_state_roundtrip_through_a_checkpoint(tmp_path):
    seed_everything(11)
    save_checkpoint(tmp_path / "rng.pt", {"rng": rng_state()})
    expected = (np.random.rand(), torch.rand(2).tolist(), __import__("random").random())
    np.random.rand(7), torch.rand(9)
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    assert (np.random.rand(), torch.rand(2).tolist(), __import__("random").random()) == expected
    assert torch.are_deterministic_algorithms_enabled()


def test_seed_everything_switches_determinism_without_loading_inductor():
    """The eager switch is what torch.use_deterministic_algorithms sets; inductor stays unimported."""
    code = (
        "import sys, torch\n"
        "from pipeline.core.seeding import seed_everything\n"
        "seed_everything(3)\n"
        "assert torch.are_deterministic_algorithms_enabled()\n"
        "assert not torch.is_deterministic_algorithms_warn_only_enabled()\n"
        "assert 'torch._inductor.config' not in sys.modules\n"
        "seed_everything(3, deterministic=False)\n"
        "assert not torch.are_deterministic_algorithms_enabled()\n"
        "seed_everything(3, device='cuda')\n"
        "assert torch.is_deterministic_algorithms_warn_only_enabled()\n"
        "import torch._inductor.config as inductor\n"
        "seed_everything(3, deterministic=False)\n"
        "assert inductor.deterministic is False and not torch.are_deterministic_algorithms_enabled()\n"
        "seed_everything(3)\n"
        "assert inductor.deterministic is True\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    seed_everything(0)


def test_seed_derivation_and_batch_order():
    assert derive_seed(0, "epoch", 1) == derive_seed(0, "epoch", 1) != derive_seed(0, "epoch", 2)
    assert 0 <= derive_seed(2**40, "x") < 2**63
    a, b = make_generator(1, "aug"), make_generator(1, "aug")
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
    batches = TensorBatches(torch.arange(10), batch_size=3, seed=0)
    epoch0 = torch.cat([batches(i)[0] for i in range(3)])
    assert len(set(epoch0.tolist())) == 9 and not torch.equal(batches(3)[0], batches(0)[0])
    assert torch.equal(TensorBatches(torch.arange(10), batch_size=3, seed=0)(4)[0], batches(4)[0])
    with pytest.raises(ValueError, match="differ in length"):
        TensorBatches(torch.arange(3), torch.arange(4), batch_size=2, seed=0)


def test_evaluation_helpers():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    assert perplexity(math.log(10)) == pytest.approx(10) and perplexity(1e6) == math.inf
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x, y = torch.randn(50, 4), torch.randint(0, 3, (50,))
    small, large = (
        evaluate_classifier(model, x, y, batch_size=7),
        evaluate_classifier(model, x, y, batch_size=50),
    )
    assert small["accuracy"] == large["accuracy"] and small["loss"] == pytest.approx(large["loss"], rel=1e-6)
    assert small["loss"] == pytest.approx(nn.functional.cross_entropy(model(x), y).item(), rel=1e-5)
    lm = build_model("lstm_lm", vocab_size=20, emsize=8, nhid=8)
    nn.init.zeros_(lm.decoder.weight)
    result = evaluate_language_model(lm, torch.randint(0, 20, (100,)), batch_size=2, bptt=5, prefix="test_")
    assert result["test_ppl"] == pytest.approx(20, rel=1e-5) and lm.training


def test_progress_is_quiet_off_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("PIPELINE_PROGRESS", raising=False)
    assert progress_enabled() is False  # pytest captures stderr: not a TTY
    monkeypatch.setenv("PIPELINE_PROGRESS", "1")
    assert progress_enabled() is True and progress_enabled(False) is False
    monkeypatch.delenv("PIPELINE_PROGRESS")
    train(TrainSpec(steps=3), lambda i, b: torch.tensor(1.0), lambda i: None, {})
    assert capsys.readouterr().err == ""


def test_accel_options_are_off_on_cpu_by_default():
    cpu = torch.device("cpu")
    assert accel.resolve("auto", cpu) is False and accel.resolve(True, cpu) is True
    with pytest.raises(ValueError, match="'auto'"):
        accel.resolve("yes", cpu)
    model = nn.Linear(3, 2)
    assert accel.maybe_compile(model, False) is model
    assert not accel.grad_scaler(cpu, True).is_enabled()
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    update = SupervisedStep(model, torch.optim.SGD(model.parameters(), lr=0.1), cross_entropy_loss, amp=True)
    assert math.isfinite(update(0, (x, y))["loss"])  # bfloat16 autocast on CPU when forced on


def test_spec_errors():
    with pytest.raises(ValueError, match="steps must be"):
        train(TrainSpec(steps=0), lambda i, b: torch.tensor(0.0), lambda i: None, {})
    with pytest.raises(ValueError, match="checkpoint_path"):
        train(TrainSpec(steps=1, checkpoint_every=1), lambda i, b: torch.tensor(0.0), lambda i: None, {})
    with pytest.raises(KeyError, match="'loss'"):
        train(TrainSpec(steps=1), lambda i, b: {"acc": 1.0}, lambda i: None, {})


def test_tensors_and_tensor_dicts_are_restored_in_place(tmp_path):
    def run(path, fail_at=None):
        seed_everything(2)
        stacked = {"w": torch.zeros(4, 3), "b": torch.zeros(4)}
        momentum = torch.zeros(4, 3)

        def step(index, batch):
            if index == fail_at:
                raise RuntimeError("crash")
            momentum.mul_(0.9).add_(torch.randn(4, 3))
            stacked["w"] += momentum
            stacked["b"] += torch.rand(4)
            return stacked["w"].pow(2).mean()

        spec = TrainSpec(steps=12, checkpoint_path=path, checkpoint_every=5 if path else 0)
        return train(spec, step, lambda i: None, {"stacked": stacked, "momentum": momentum}), stacked

    with pytest.raises(RuntimeError):
        run(tmp_path / "c.pt", fail_at=7)
    resumed, resumed_state = run(tmp_path / "c.pt")
    straight, straight_state = run(None)
    assert resumed.resumed_from == 5 and resumed.metrics == straight.metrics
    assert all(torch.equal(resumed_state[k], straight_state[k]) for k in straight_state)


def test_step_limit_stops_every_train_call_early_and_still_evaluates():
    full, _ = run_small(seed=3, steps=20)
    with step_limit(2) as probe:
        capped, _ = run_small(seed=3, steps=20)
    assert capped.steps_completed == 2 and "test_accuracy" in capped.metrics
    assert probe.requested_steps == [20] and len(probe.step_seconds) == 2
    # by hand, batch 32 through Linear(20, 32) and Linear(32, 3): forward 2·32·20·32 + 2·32·32·3; backward
    # the same for both weight gradients plus the second layer's input gradient (the input needs none)
    forward = 2 * 32 * 20 * 32 + 2 * 32 * 32 * 3
    assert probe.step_flops == [2 * forward + 2 * 32 * 3 * 32] * 2
    # the first two steps are those of the full run (same batches, same updates)
    assert capped.history[-1]["step"] == 2.0 and full.history[0]["step"] == 5.0
    again, _ = run_small(seed=3, steps=20)  # the limit ends with its block
    assert again.steps_completed == 20 and again.metrics == full.metrics
    with pytest.raises(ValueError, match="step limit"), step_limit(0):
        pass


def test_evaluation_passes_shrink_only_inside_a_check():
    assert evaluation_cap(50_000) == 50_000 and evaluation_cap(3) == 3
    with step_limit(2):
        assert evaluation_cap(50_000) == CHECK_EXAMPLES and evaluation_cap(3) == 3
    assert evaluation_cap(50_000) == 50_000


def test_a_step_that_differentiates_with_respect_to_its_input_is_counted_in_a_check():
    """Fisher's input-gradient penalty (autograd.grad w.r.t. x, create_graph) under the FLOP probe, whose
    torch counter's module hooks used to break it; one Linear(4, 3) on a batch of 8, FLOPs by hand."""
    model = nn.Linear(4, 3)
    x = torch.randn(8, 4, requires_grad=True)

    def step(index: int, batch: object) -> dict[str, float]:
        loss = model(x).logsumexp(-1).mean()
        (grad_x,) = torch.autograd.grad(loss, x, create_graph=True)
        (loss + grad_x.square().sum()).backward()
        return {"loss": float(loss.detach())}

    with step_limit(1) as probe:
        train(TrainSpec(steps=5, progress=False), step, lambda s: None, state={"model": model})
    assert probe.requested_steps == [5] and len(probe.step_flops) == 1
    # forward x·Wᵀ: 2·8·4·3; grad_x = g·W: 2·8·3·4; the double backward's matrix products at least
    # twice again (dW and the gradient through grad_x): nothing counts past the three products' multiples
    forward = 2 * 8 * 4 * 3
    assert probe.step_flops[0] >= 3 * forward and probe.step_flops[0] % forward == 0


def test_a_fused_lstm_step_counts_its_gate_products():
    """torch's counter sees no FLOPs in the fused LSTM kernels; ours counts 2·T·B·4H·(in + H) per layer
    forward and twice that backward: a 2-layer LSTM(8, 16), T = 5, B = 3, by hand."""
    lstm = nn.LSTM(8, 16, 2)
    x = torch.randn(5, 3, 8)

    def step(index: int, batch: object) -> dict[str, float]:
        out, _ = lstm(x)
        out.sum().backward()
        return {"loss": 0.0}

    with step_limit(1) as probe:
        train(TrainSpec(steps=1, progress=False), step, lambda s: None, state={"model": lstm})
    forward = 2 * 5 * 3 * 64 * (8 + 16) + 2 * 5 * 3 * 64 * (16 + 16)
    assert probe.step_flops == [3 * forward]


def test_a_check_counts_a_segmented_loop_once_and_trains_a_resumed_run(tmp_path):
    """A loop trained in segments on one checkpoint (the decentralized runs' phase snapshots: train to
    10, then 15, then 20) is one run of 20 steps; a run resumed from a copy of a snapshot at step 2 (a
    phase run) takes its 2 steps past it instead of none."""
    path = tmp_path / "loop.pt"
    with step_limit(2) as probe:
        for end in (10, 15, 20):
            result, _ = run_small(seed=3, steps=end, checkpoint_path=path)
    assert probe.full_steps() == 20 and len(probe.step_seconds) == 2 and result.steps_completed == 2
    copy = tmp_path / "resumed.pt"
    copy.write_bytes(path.read_bytes())
    with step_limit(2) as probe:
        resumed, _ = run_small(seed=3, steps=20, checkpoint_path=copy)
    assert resumed.resumed_from == 2 and resumed.steps_completed == 4 and len(probe.step_seconds) == 2
    with step_limit(2) as probe:  # two loops without checkpoints: 20 + 20 steps
        run_small(seed=3, steps=20)
        run_small(seed=4, steps=20)
    assert probe.full_steps() == 40
