"""The shared decentralized driver (pipeline/decentralized/runner.py, tuning.py): the warm-up start, phase
snapshots (a run resumed from another run's snapshot equals the run trained from step 0), the evaluation
against a loop over separate modules, the score over the last evaluations, the validation split, the
normalisations and augmentation of the paper scale, VGG-11 and the social topology, and the lr choice."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.data.transforms import CIFAR10_MEAN, CIFAR10_STD
from pipeline.decentralized import runner, tuning
from pipeline.decentralized.distributed import synthetic_data
from pipeline.decentralized.runner import (
    Data,
    build_problem,
    evaluate,
    evaluation_steps,
    make_schedule,
    make_simulator,
    normaliser,
    score_steps,
    scores,
    snapshot_path,
)

SPEC = {
    "model": {
        "name": "mlp",
        "options": {"in_features": 12, "num_classes": 4, "width": 16, "depth": 2, "norm": "group"},
    },
    "n_workers": 4,
    "topology": "ring",
    "algorithm": "dsgdm_n",
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 1e-3,
    "batch_size": 8,
    "steps": 12,
    "milestones": [0.5, 0.75],
    "warmup_steps": 3,
    "warmup_from": 0.01,
    "eval_every": 2,
    "score_evals": 2,
    "partition": {"kind": "iid"},
}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _data(seed: int = 3) -> Data:
    x_train, y_train, x_test, y_test = synthetic_data(seed)
    return Data(x_train, y_train, x_test, y_test, x_test[:40], y_test[:40])


# ------------------------------------------------------------------------------------------- schedule


def test_warmup_starts_at_the_configured_lr_and_reaches_the_peak() -> None:
    schedule = make_schedule(SPEC)
    assert schedule.lr_at(0) == 0.01  # the configured warm-up start, exactly
    assert schedule.lr_at(1) == pytest.approx(0.01 + (0.1 - 0.01) / 3)
    assert schedule.lr_at(3) == pytest.approx(0.1) and schedule.lr_at(6) == pytest.approx(0.01)
    assert make_schedule({**SPEC, "warmup_from": None}).lr_at(0) == 0.1  # None: no ramp


# ----------------------------------------------------------------------------------- evaluation, scores


def test_evaluation_steps_and_score_steps() -> None:
    assert evaluation_steps(12, 5) == [5, 10, 12] and evaluation_steps(12, 0) == [12]
    assert score_steps(12, 5, 2) == [10, 12] and score_steps(12, 4, 3) == [4, 8, 12]
    assert score_steps(12, 0, 3) == [12]


def test_scores_are_means_of_the_last_evaluations() -> None:
    history = [
        {"step": 8.0, "test_local_accuracy": 0.5, "test_avg_accuracy": 0.6},
        {"step": 9.0, "train_loss": 1.0},
        {"step": 10.0, "test_local_accuracy": 0.7, "test_avg_accuracy": 0.8, "valid_local_accuracy": 0.2},
        {"step": 12.0, "test_local_accuracy": 0.9, "test_avg_accuracy": 1.0, "valid_local_accuracy": 0.4},
    ]
    out = scores(history, [10, 12])
    assert out["score_test_local_accuracy"] == pytest.approx(0.8)
    assert out["score_test_avg_accuracy"] == pytest.approx(0.9)
    assert out["score_valid_local_accuracy"] == pytest.approx(0.3)
    assert "score_valid_avg_accuracy" not in out  # never evaluated
    assert math.isnan(scores(history, [9])["score_test_local_accuracy"])


@torch.no_grad()
def _loop_accuracy(problem, X, x, y):
    """Reference: each worker's own module copy evaluated separately, accuracies and losses averaged."""
    accuracies, losses = [], []
    for i in range(X.shape[0]):
        module = copy.deepcopy(problem.stacked.model).eval()
        torch.nn.utils.vector_to_parameters(X[i], module.parameters())
        logits = module(x)
        accuracies.append(float((logits.argmax(-1) == y).float().mean()))
        losses.append(float(torch.nn.functional.cross_entropy(logits, y)))
    return float(np.mean(accuracies)), float(np.mean(losses))


@pytest.mark.parametrize("name", ["gn_cnn1d", "mlp"])
def test_evaluation_matches_a_loop_over_worker_modules(name: str) -> None:
    torch.manual_seed(0)
    if name == "gn_cnn1d":
        spec = {**SPEC, "model": {"name": "gn_cnn1d", "options": {"length": 12, "channels": 4, "groups": 2}}}
    else:
        spec = SPEC
    data = _data()
    problem = build_problem(spec, 3, data=data)
    X = problem.stacked.flat_init(4) + 0.3 * torch.randn(4, problem.stacked.dim)
    out = evaluate(problem, X, chunk=7)  # chunks that do not divide the split
    local = _loop_accuracy(problem, X, data.x_test, data.y_test)
    average = _loop_accuracy(problem, X.mean(0, keepdim=True), data.x_test, data.y_test)
    assert out["test_local_accuracy"] == pytest.approx(local[0], abs=1e-6)
    assert out["test_local_loss"] == pytest.approx(local[1], rel=1e-5)
    assert out["test_avg_accuracy"] == pytest.approx(average[0], abs=1e-6)
    valid = _loop_accuracy(problem, X, data.x_valid, data.y_valid)
    assert out["valid_local_accuracy"] == pytest.approx(valid[0], abs=1e-6)
    curve = evaluate(problem, X, full=False)
    assert set(curve) == {"test_avg_accuracy", "test_avg_loss"}
    assert "valid_local_accuracy" not in evaluate(problem, X, valid=False)
    same = X[:1].repeat(4, 1)  # all-reduce: every row the same model, local = averaged
    identical = evaluate(problem, same)
    assert identical["test_local_accuracy"] == identical["test_avg_accuracy"]
    assert identical["test_local_accuracy"] == pytest.approx(
        _loop_accuracy(problem, same, data.x_test, data.y_test)[0]
    )


def test_a_run_scores_its_last_evaluations(tmp_path: Path) -> None:
    result, _, _ = runner.run(SPEC, 3, tmp_path, data=_data())
    rows = [row for row in result.history if "test_local_accuracy" in row]
    assert [int(r["step"]) for r in rows] == [10, 12]  # the last score_evals points are full
    assert all("test_avg_accuracy" in r for r in result.history if int(r["step"]) in (2, 4, 6, 8))
    expected = np.mean([r["test_local_accuracy"] for r in rows])
    assert result.metrics["score_test_local_accuracy"] == pytest.approx(expected)
    assert result.metrics["score_valid_local_accuracy"] == pytest.approx(
        np.mean([r["valid_local_accuracy"] for r in rows])
    )


# ------------------------------------------------------------------------------------- phase snapshots


def _params(result_dir: Path, name: str = "run") -> torch.Tensor:
    from pipeline.core.checkpoint import load_checkpoint

    return load_checkpoint(result_dir / f"{name}.pt")["state"]["X"]


@pytest.mark.parametrize(
    ("parent", "phases", "start"),
    [("allreduce_sgdm_n", [2], 2), ("allreduce_sgdm_n", [3], 3), ("dsgdm_n", [1], 2)],
    ids=["dec-phase-2", "dec-phase-3", "dec-phase-1"],
)
def test_a_run_resumed_from_a_snapshot_equals_the_run_from_step_0(
    tmp_path: Path, parent: str, phases: list[int], start: int
) -> None:
    """dec-phase-k started at the parent's snapshot (all-reduce up to phase k, or the ring up to the end of
    phase 1) gives bitwise the parameters, losses, Ξ² and scores of dec-phase-k trained from step 0."""
    data = _data()
    parent_dir, child_dir, full_dir = tmp_path / "parent", tmp_path / "child", tmp_path / "full"
    runner.run({**SPEC, "algorithm": parent}, 3, parent_dir, data=data, snapshots=True)
    assert snapshot_path(parent_dir, "run", 2).exists() and snapshot_path(parent_dir, "run", 3).exists()
    child_spec = {**SPEC, "decentralized_phases": phases}
    child, _, _ = runner.run(
        child_spec, 3, child_dir, data=data, start_from=snapshot_path(parent_dir, "run", start)
    )
    full, _, _ = runner.run(child_spec, 3, full_dir, data=data)
    assert torch.equal(_params(child_dir), _params(full_dir))
    keys = ("train_loss", "train_xi_sq", "train_lr")
    boundary = make_schedule(SPEC).boundaries()[start - 2]
    assert child.history[boundary - 1]["step"] == boundary  # the parent's rows up to the snapshot
    for a, b in zip(child.history, full.history, strict=True):
        assert a["step"] == b["step"] and all(a[k] == b[k] for k in keys)
    assert child.metrics["score_test_local_accuracy"] == full.metrics["score_test_local_accuracy"]
    assert child.resumed_from == boundary


def test_snapshots_do_not_change_the_run(tmp_path: Path) -> None:
    data = _data()
    snap, _, _ = runner.run(SPEC, 3, tmp_path / "a", data=data, snapshots=True)
    plain, _, _ = runner.run(SPEC, 3, tmp_path / "b", data=data)
    assert torch.equal(_params(tmp_path / "a"), _params(tmp_path / "b"))
    assert snap.metrics["score_test_local_accuracy"] == plain.metrics["score_test_local_accuracy"]


# ---------------------------------------------------------------------- data: validation, normalisation


def test_validation_split_is_held_out_and_fixed() -> None:
    x, y = torch.arange(50.0).reshape(50, 1), torch.arange(50)
    a = runner._split_valid(x, y, 10)
    b = runner._split_valid(x, y, 10)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    train, valid = set(a[1].tolist()), set(a[3].tolist())
    assert len(valid) == 10 and len(train) == 40 and not train & valid
    with pytest.raises(ValueError, match="valid_size"):
        runner._split_valid(x, y, 50)


def test_normalisations_against_hand_computed_statistics() -> None:
    images = torch.randint(0, 256, (6, 3, 4, 4), dtype=torch.uint8)
    channel, pad = normaliser("channel", images)
    as_float = images.float() / 255
    expected = (as_float[:, 1] - as_float[:, 1].mean()) / as_float[:, 1].std()
    torch.testing.assert_close(channel(images)[:, 1], expected)
    assert torch.allclose(pad.flatten(), -as_float.mean(dim=(0, 2, 3)) / as_float.std(dim=(0, 2, 3)))
    cifar, pad = normaliser("cifar10", images)
    torch.testing.assert_close(cifar(images)[:, 2], (as_float[:, 2] - CIFAR10_MEAN[2]) / CIFAR10_STD[2])
    assert float(pad.flatten()[0]) == pytest.approx(-CIFAR10_MEAN[0] / CIFAR10_STD[0])
    signals = torch.randn(20, 40) * 3 + 1
    scalar, pad = normaliser("scalar", signals)
    torch.testing.assert_close(scalar(signals), (signals - signals.mean()) / signals.std())
    with pytest.raises(ValueError, match="images"):
        normaliser("channel", signals)


def _images(n: int = 32, size: int = 8) -> Data:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    normalise, pad = normaliser("cifar10", x)
    return Data(normalise(x), y, normalise(x[:8]), y[:8], None, None, pad)


def test_crop_flip_is_a_pure_function_of_seed_worker_and_step_and_pads_with_raw_zero() -> None:
    spec = {
        **SPEC,
        "model": {"name": "small_cnn", "options": {"in_channels": 3, "channels": [4, 8, 8], "norm": "group"}},
        "augment": "crop_flip",
        "batch_size": 4,
    }
    data = _images()
    problem = build_problem(spec, 5, data=data)
    a, b = problem.batch(3), build_problem(spec, 5, data=data).batch(3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(problem.batch(4)[0], a[0])
    plain = build_problem({**spec, "augment": "none"}, 5, data=data).batch(3)
    assert torch.equal(plain[1], a[1])  # the same examples, transformed
    assert a[0].shape == plain[0].shape
    fill = data.pad_value.view(1, 1, 3, 1, 1)
    padded = torch.isclose(a[0], fill.expand_as(a[0])).all(dim=2)  # pixels equal to normalised black
    assert padded.any()  # some crops moved the image: their border is raw zero padding
    for worker in range(4):  # each image is a shifted (and maybe mirrored) window of the original
        for k in range(4):
            original, out = plain[0][worker, k], a[0][worker, k]
            found = False
            for flip in (False, True):
                src = original.flip(-1) if flip else original
                padded_src = (
                    torch.nn.functional.pad(src - data.pad_value[0], (4, 4, 4, 4)) + data.pad_value[0]
                )
                for top in range(9):
                    for left in range(9):
                        window = padded_src[:, top : top + 8, left : left + 8]
                        found = found or torch.allclose(window, out)
            assert found


# --------------------------------------------------------------------------------- paper-scale models


def test_vgg11_and_the_social_topology_train() -> None:
    spec = {**SPEC, "model": {"name": "vgg11", "options": {"hidden": 16}}, "n_workers": 4, "batch_size": 2}
    problem = build_problem(spec, 0, data=_images(8, size=32))
    sim = make_simulator(problem, spec)
    out = sim.step(0, problem.batch(0))
    assert math.isfinite(float(out["loss"])) and out["xi_sq"] > 0  # dropout and data differ per worker
    social = {**SPEC, "topology": "social", "n_workers": 32, "batch_size": 4}
    x_train, y_train, x_test, y_test = synthetic_data(1, n_train=256)
    problem = build_problem(social, 1, data=(x_train, y_train, x_test, y_test))
    sim = make_simulator(problem, social)
    for step in range(2):
        out = sim.step(step, problem.batch(step))
    torch.testing.assert_close(sim.X.mean(0), sim.X.mean(0))
    assert problem.W.shape == (32, 32) and out["xi_sq"] > 0


# --------------------------------------------------------------------------------------------- tuning


def _trial(root: Path, name: str, score: float | None, diverged: bool = False) -> None:
    (root / name).mkdir(parents=True)
    metrics = {"diverged": float(diverged)}
    if score is not None:
        metrics["score_valid_local_accuracy"] = score
    (root / name / "metrics.json").write_text(json.dumps({"metrics": metrics}))


def test_choose_lr_takes_the_best_validation_score(tmp_path: Path) -> None:
    _trial(tmp_path, "a", 0.8)
    _trial(tmp_path, "b", 0.9)
    _trial(tmp_path, "c", 0.95, diverged=True)  # a diverged run never wins
    _trial(tmp_path, "d", 0.9)
    lr, table = tuning.choose_lr(tmp_path, {0.01: "a", 0.02: "b", 0.04: "c", 0.08: "d"})
    assert lr == 0.02  # a tie goes to the first lr of the grid
    assert table["0.01"] == 0.8 and math.isnan(table["0.04"])
    assert tuning.choose_lr(tmp_path, {0.3: "c"})[0] == 0.3  # one lr: no tuning
    with pytest.raises(RuntimeError, match="diverged"):
        tuning.choose_lr(tmp_path, {0.04: "c", 0.05: "c"})
    from pipeline.core.engine import step_limit

    with step_limit(2):  # a paper check's 2-step trials have no score: the first lr, no error
        assert tuning.choose_lr(tmp_path, {0.04: "c", 0.05: "c"})[0] == 0.04
    with pytest.raises(FileNotFoundError, match="tuning run"):
        tuning.choose_lr(tmp_path, {0.1: "missing", 0.2: "a"})


def test_reuse_copies_records_and_snapshots(tmp_path: Path) -> None:
    source = tmp_path / "source"
    runner.run({**SPEC, "algorithm": "allreduce_sgdm_n"}, 3, source, data=_data(), snapshots=True)
    (source / "metrics.json").write_text(json.dumps({"metrics": {"lr": 0.1}}))
    (source / "history.csv").write_text("step,train_loss\n1,2.0\n")
    metrics, history = tuning.reuse(source, tmp_path / "copy")
    assert metrics == {"lr": 0.1} and list(history["train_loss"]) == [2.0]
    assert (
        snapshot_path(tmp_path / "copy", "run", 2).read_bytes()
        == snapshot_path(source, "run", 2).read_bytes()
    )
