"""Decentralized engine: mixing matrices, gossip, consensus distance, algorithms (hand-computed two steps),
simulator reductions and the vmapped workers against a loop over separate models.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from pipeline.decentralized import algorithms as alg
from pipeline.decentralized import topology
from pipeline.decentralized.comm import Gossip, StackedComm, consensus_distance_sq
from pipeline.decentralized.models import build_worker_model
from pipeline.decentralized.schedule import Schedule
from pipeline.decentralized.simulator import Simulator
from pipeline.decentralized.workers import StackedModel
from pipeline.models import build_model

# ------------------------------------------------------------------------------------------- topologies


@pytest.mark.parametrize(
    ("name", "n"),
    [("ring", 8), ("ring", 16), ("torus", 16), ("complete", 8), ("exponential", 16), ("social", 32)],
)
def test_mixing_matrices_are_symmetric_doubly_stochastic(name, n):
    W = topology.mixing_matrix(name, n)
    assert np.abs(W - W.T).max() <= 1e-12
    assert np.abs(W.sum(axis=1) - 1).max() <= 1e-12 and (W >= 0).all()


@pytest.mark.parametrize(("n", "lam2"), [(8, 0.80474), (16, 0.94925), (32, 0.98719), (64, 0.99679)])
def test_ring_second_eigenvalue_matches_formula_and_table(n, lam2):
    W = topology.ring(n)
    assert topology.second_eigenvalue(W) == pytest.approx((1 + 2 * np.cos(2 * np.pi / n)) / 3, abs=1e-12)
    assert topology.second_eigenvalue(W) == pytest.approx(lam2, abs=1e-5)


@pytest.mark.parametrize(
    ("name", "n", "rho"),
    [
        ("torus", 16, 0.40),
        ("torus", 64, 0.117),
        ("exponential", 16, 0.5),
        ("exponential", 32, 0.4),
        ("exponential", 64, 0.333),
        ("social", 32, 0.082),
        ("complete", 16, 1.0),
    ],
)
def test_spectral_gaps_match_their_known_values(name, n, rho):
    assert topology.spectral_gap(topology.mixing_matrix(name, n)) == pytest.approx(rho, abs=1.5e-3)


def test_bad_topologies_are_rejected():
    with pytest.raises(ValueError, match="square"):
        topology.mixing_matrix("torus", 12)
    with pytest.raises(KeyError, match="unknown topology"):
        topology.mixing_matrix("star", 8)
    with pytest.raises(ValueError, match="symmetric"):
        topology.check_mixing(np.array([[0.5, 0.5], [0.2, 0.8]]))


# ------------------------------------------------------------------------------------ gossip, consensus


def test_gossip_preserves_mean_and_contracts_by_lambda2():
    W = topology.ring(16)
    comm = StackedComm(W)
    X = torch.randn(16, 50, generator=torch.Generator().manual_seed(0))
    mixed = comm.mix(X)
    torch.testing.assert_close(mixed.mean(0), X.mean(0), atol=1e-6, rtol=0)
    lam = topology.second_eigenvalue(W)
    assert float(consensus_distance_sq(mixed)) <= lam**2 * float(consensus_distance_sq(X)) + 1e-7
    # equality along the eigenvector of the largest non-unit eigenvalue
    values, vectors = np.linalg.eigh(W)
    k = np.argsort(-np.abs(values))[1]
    Xe = torch.tensor(np.outer(vectors[:, k], np.ones(3)), dtype=torch.float64)
    ratio = consensus_distance_sq(torch.tensor(W) @ Xe) / consensus_distance_sq(Xe)
    assert float(ratio) == pytest.approx(values[k] ** 2, rel=1e-10)


def test_consensus_distance_against_brute_force():
    X = torch.randn(5, 7, dtype=torch.float64)
    mean = sum(X[i] for i in range(5)) / 5
    brute = sum(float(((X[i] - mean) ** 2).sum()) for i in range(5)) / 5
    assert float(consensus_distance_sq(X)) == pytest.approx(brute, rel=1e-12)


def test_control_gossips_until_target():
    comm = StackedComm(topology.ring(16))
    X = torch.randn(16, 10)
    policy = Gossip(rounds=1, target=0.1 * float(consensus_distance_sq(X)) ** 0.5, max_rounds=500)
    out = policy(comm, X)
    assert policy.last_rounds > 1
    assert float(consensus_distance_sq(out)) ** 0.5 <= policy.target
    before = policy(comm, X)
    capped = Gossip(rounds=1, target=1e-12, max_rounds=3)
    capped(comm, X)
    assert capped.last_rounds == 3 and before.shape == X.shape


# ------------------------------------------------------------------- algorithms: two steps by hand
# Two workers, f_i(x) = ½(x − b_i)² (gradient x − b_i, no noise), W = [[a, 1−a], [1−a, a]].

A, ETA, BETA, MU = 0.75, 0.1, 0.9, 0.1
B = (1.0, -2.0)
X0 = (0.5, 0.3)


def _grad(X):
    b = torch.tensor(B, dtype=X.dtype).unsqueeze(1)
    return X - b, 0.5 * ((X - b) ** 2).sum(1)


def _mix(x):
    return (A * x[0] + (1 - A) * x[1], (1 - A) * x[0] + A * x[1])


def _two_steps(algorithm, lrs=(ETA, ETA)):
    comm = StackedComm(np.array([[A, 1 - A], [1 - A, A]]))
    X = torch.tensor(X0, dtype=torch.float32).unsqueeze(1)
    state = algorithm.init_state(X)
    for lr in lrs:
        X, _ = algorithm.step(X, _grad, lr, state, comm)
    return X.squeeze(1).tolist()


def test_dsgd_two_steps_by_hand():
    x = X0
    for _ in range(2):
        x = _mix(tuple(xi - ETA * (xi - bi) for xi, bi in zip(x, B, strict=True)))
    assert _two_steps(alg.DSGD(momentum=0.0)) == pytest.approx(x, abs=1e-6)


def test_dsgdm_n_two_steps_by_hand():
    x, buf = X0, (0.0, 0.0)
    for _ in range(2):
        g = tuple(xi - bi for xi, bi in zip(x, B, strict=True))
        buf = tuple(BETA * m + gi for m, gi in zip(buf, g, strict=True))
        x = _mix(tuple(xi - ETA * (gi + BETA * m) for xi, gi, m in zip(x, g, buf, strict=True)))
    assert _two_steps(alg.DSGDmN(momentum=BETA)) == pytest.approx(x, abs=1e-6)


def test_allreduce_two_steps_by_hand():
    # identical start: centralized Nesterov SGD on the average objective ½(x − mean b)² + const
    x, buf = 0.4, 0.0
    comm = StackedComm(np.array([[A, 1 - A], [1 - A, A]]))
    X = torch.full((2, 1), 0.4)
    algorithm = alg.AllReduceSGDmN(momentum=BETA, weight_decay=0.01)
    state = algorithm.init_state(X)
    for _ in range(2):
        g = x - sum(B) / 2 + 0.01 * x
        buf = BETA * buf + g
        x = x - ETA * (g + BETA * buf)
        X, _ = algorithm.step(X, _grad, ETA, state, comm)
    assert X.squeeze(1).tolist() == pytest.approx([x, x], abs=1e-6)


def test_qgm_two_steps_by_hand():
    x, m_hat = X0, (0.0, 0.0)
    for _ in range(2):
        g = tuple(xi - bi for xi, bi in zip(x, B, strict=True))
        m = tuple(BETA * mh + gi for mh, gi in zip(m_hat, g, strict=True))
        half = tuple(xi - ETA * (gi + BETA * mi) for xi, gi, mi in zip(x, g, m, strict=True))
        new = _mix(half)
        d = tuple((xi - ni) / ETA for xi, ni in zip(x, new, strict=True))
        m_hat = tuple((1 - MU) * mh + MU * di for mh, di in zip(m_hat, d, strict=True))
        x = new
    assert _two_steps(alg.QGDSGDmN(momentum=BETA, buffer_rate=MU)) == pytest.approx(x, abs=1e-6)


def test_qgm_without_gossip_is_heavy_ball_on_its_buffer():
    """W = I, n = 1, no Nesterov: u = β m̂ + g and m̂' = (1 − μ') m̂ + μ' u exactly."""
    comm = StackedComm(np.eye(1))
    X = torch.tensor([[0.7]], dtype=torch.float64)
    q = alg.QGDSGDmN(momentum=BETA, buffer_rate=MU, nesterov=False)
    state = {"qg_buf": torch.tensor([[0.3]], dtype=torch.float64)}
    g = 0.7 - B[0]
    u = BETA * 0.3 + g
    X_new, _ = q.step(X, lambda X: (X - B[0], X.sum(1)), ETA, state, comm)
    assert float(X_new) == pytest.approx(0.7 - ETA * u, abs=1e-12)
    assert float(state["qg_buf"]) == pytest.approx((1 - MU) * 0.3 + MU * u, abs=1e-12)


def test_d2_two_steps_by_hand_with_lr_change():
    lrs = (ETA, ETA / 2)
    x0 = X0
    g0 = tuple(xi - bi for xi, bi in zip(x0, B, strict=True))
    x1 = _mix(tuple(xi - lrs[0] * gi for xi, gi in zip(x0, g0, strict=True)))
    g1 = tuple(xi - bi for xi, bi in zip(x1, B, strict=True))
    half = tuple(a - lrs[1] * ((p - a) / lrs[0] + c - d) for a, p, c, d in zip(x1, x0, g1, g0, strict=True))
    x2 = _mix(half)
    assert _two_steps(alg.D2(), lrs) == pytest.approx(x2, abs=1e-6)
    # at a constant lr the update is 2x − x⁻ − η(g − g⁻)
    g1c = tuple(
        xi - bi
        for xi, bi in zip(_mix(tuple(xi - ETA * gi for xi, gi in zip(x0, g0, strict=True))), B, strict=True)
    )
    x1c = _mix(tuple(xi - ETA * gi for xi, gi in zip(x0, g0, strict=True)))
    x2c = _mix(tuple(2 * a - p - ETA * (c - d) for a, p, c, d in zip(x1c, x0, g1c, g0, strict=True)))
    assert _two_steps(alg.D2()) == pytest.approx(x2c, abs=1e-6)


@pytest.mark.parametrize("beta", [0.0, BETA])
def test_gradient_tracking_two_steps_by_hand(beta):
    x0 = X0
    g0 = tuple(xi - bi for xi, bi in zip(x0, B, strict=True))
    y0 = g0
    buf = tuple(beta * 0.0 + yi for yi in y0)
    u0 = tuple(yi + beta * bi for yi, bi in zip(y0, buf, strict=True)) if beta else y0
    x1 = tuple(m - ETA * u for m, u in zip(_mix(x0), u0, strict=True))
    g1 = tuple(xi - bi for xi, bi in zip(x1, B, strict=True))
    y1 = tuple(m + a - c for m, a, c in zip(_mix(y0), g1, g0, strict=True))
    buf = tuple(beta * b + yi for b, yi in zip(buf, y1, strict=True))
    u1 = tuple(yi + beta * bi for yi, bi in zip(y1, buf, strict=True)) if beta else y1
    x2 = tuple(m - ETA * u for m, u in zip(_mix(x1), u1, strict=True))
    assert _two_steps(alg.GradientTracking(momentum=beta)) == pytest.approx(x2, abs=1e-6)


@pytest.mark.parametrize("name", ["dsgd", "dsgdm_n", "qg_dsgdm_n", "d2", "gradient_tracking"])
def test_mean_dynamics_and_identical_workers(name):
    """Identical data and init: every method equals its single-worker run, and Ξ stays 0."""
    W = topology.ring(5)
    algorithm = alg.make_algorithm(name, weight_decay=1e-3)
    single = copy.deepcopy(algorithm)

    def grad(X):
        return torch.sin(X) + 0.1 * X**2, X.sum(1)

    X = torch.linspace(-1, 1, 6, dtype=torch.float64).repeat(5, 1)
    x1 = X[:1].clone()
    state, state1 = algorithm.init_state(X), single.init_state(x1)
    for _ in range(4):
        X, _ = algorithm.step(X, grad, 0.05, state, StackedComm(W))
        X = X.double()
        x1, _ = single.step(x1, grad, 0.05, state1, StackedComm(np.eye(1)))
        x1 = x1.double()
    assert float(consensus_distance_sq(X)) <= 1e-12
    torch.testing.assert_close(X[0], x1[0], atol=1e-6, rtol=0)


# -------------------------------------------------------------------------------- simulator and phases


def test_phase_protocol_averages_on_entering_allreduce():
    torch.manual_seed(0)
    n, d = 4, 3
    schedule = Schedule(lr=0.1, steps=8, milestones=(0.5,))
    b = torch.randn(n, d)

    def grad(X, inputs, targets):
        return X - b, ((X - b) ** 2).sum(1)

    sim = Simulator(
        torch.zeros(n, d),
        grad,
        StackedComm(topology.ring(n)),
        alg.DSGDmN(),
        schedule,
        decentralized_phases=[1],
    )
    xi = [sim.step(t, (None, None))["xi_sq"] for t in range(8)]
    assert all(v > 0 for v in xi[:4]) and all(v < 1e-12 for v in xi[4:])
    assert sim.decentralized(3) and not sim.decentralized(4)
    assert schedule.lr_at(3) == pytest.approx(0.1) and schedule.lr_at(4) == pytest.approx(0.01)


# --------------------------------------------------------------------------- vmap workers vs a loop


def test_stacked_gradients_match_separate_models():
    torch.manual_seed(0)
    model = build_model("small_cnn", in_channels=1, channels=(4, 8, 8), norm="group")
    stacked = StackedModel(model)
    X = stacked.flat_init(3) + 0.01 * torch.randn(3, stacked.dim)
    inputs, targets = torch.randn(3, 5, 1, 8, 8), torch.randint(0, 10, (3, 5))
    grads, losses = stacked.grad(X, inputs, targets)
    for i in range(3):
        copy_model = copy.deepcopy(model)
        torch.nn.utils.vector_to_parameters(X[i], copy_model.parameters())
        loss = torch.nn.functional.cross_entropy(copy_model(inputs[i]), targets[i])
        loss.backward()
        expected = torch.cat([p.grad.reshape(-1) for p in copy_model.parameters()])
        torch.testing.assert_close(grads[i], expected, atol=1e-5, rtol=1e-4)
        assert float(losses[i]) == pytest.approx(float(loss.detach()), abs=1e-6)


def _brute_force_grads(model, X, inputs, targets):
    """Reference: worker i's gradient by its own torch.autograd.grad on a copy of the module (a loop)."""
    grads, losses = [], []
    for i in range(X.shape[0]):
        worker = copy.deepcopy(model)
        torch.nn.utils.vector_to_parameters(X[i], worker.parameters())
        loss = torch.nn.functional.cross_entropy(worker(inputs[i]), targets[i])
        grads.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(worker.parameters()))]))
        losses.append(loss.detach())
    return torch.stack(grads), torch.stack(losses)


@pytest.mark.parametrize(
    ("dtype", "tol"), [(torch.float64, 1e-6), (torch.float32, 1e-5)], ids=["float64", "float32"]
)
@pytest.mark.parametrize("name", ["gn_cnn1d", "mlp"])
def test_one_backward_of_the_summed_losses_equals_per_worker_gradients(name, dtype, tol):
    """StackedModel.grad (stacked forward, one backward of Σ_i F_i) against a per-worker autograd loop;
    gn_cnn1d takes the model's own stacked_forward, the MLP the vmapped forward."""
    torch.manual_seed(1)
    if name == "gn_cnn1d":
        model = build_worker_model("gn_cnn1d", length=11, channels=4, groups=2).to(dtype)
        inputs = torch.randn(3, 5, 11, dtype=dtype)
    else:
        model = build_worker_model("mlp", in_features=6, num_classes=10, width=8, depth=2, norm="group")
        model, inputs = model.to(dtype), torch.randn(3, 5, 6, dtype=dtype)
    stacked = StackedModel(model)
    assert (stacked._stacked_logits == getattr(model, "stacked_forward", None)) == (name == "gn_cnn1d")
    X = stacked.flat_init(3) + 0.1 * torch.randn(3, stacked.dim, dtype=dtype)
    targets = torch.randint(0, 10, (3, 5))
    with torch.no_grad():  # as the algorithms call it
        grads, losses = stacked.grad(X, inputs, targets)
    expected_grads, expected_losses = _brute_force_grads(model, X, inputs, targets)
    torch.testing.assert_close(grads, expected_grads, atol=tol, rtol=0)
    torch.testing.assert_close(losses, expected_losses, atol=tol, rtol=0)
    assert float((expected_grads[0] - expected_grads[1]).abs().max()) > 1e-3  # the rows really differ


def test_clip_norm_clips_each_worker_gradient_as_clip_grad_norm_does():
    """Per-row clipping against torch.nn.utils.clip_grad_norm_ on each worker's own module: a row whose
    gradient is longer than the bound comes back at that norm and direction, a shorter one unchanged."""
    torch.manual_seed(2)
    model = build_worker_model("gn_cnn1d", length=11, channels=4, groups=2).double()
    layout = StackedModel(model)
    X = layout.flat_init(3) + 0.1 * torch.randn(3, layout.dim, dtype=torch.float64)
    inputs, targets = torch.randn(3, 5, 11, dtype=torch.float64), torch.randint(0, 10, (3, 5))
    raw, _ = _brute_force_grads(model, X, inputs, targets)
    bound = float(raw.norm(dim=1).median())  # one row above the bound, one at it, one below
    with torch.no_grad():
        clipped, _ = StackedModel(model, clip_norm=bound).grad(X, inputs, targets)
    for i in range(3):
        worker = copy.deepcopy(model)
        torch.nn.utils.vector_to_parameters(X[i], worker.parameters())
        torch.nn.functional.cross_entropy(worker(inputs[i]), targets[i]).backward()
        torch.nn.utils.clip_grad_norm_(worker.parameters(), bound)
        expected = torch.cat([p.grad.reshape(-1) for p in worker.parameters()])
        torch.testing.assert_close(clipped[i], expected, atol=1e-12, rtol=1e-9)
    norms = clipped.norm(dim=1)
    assert float(norms.max()) == pytest.approx(bound, rel=1e-6)
    assert float(raw.norm(dim=1).max()) > 1.01 * bound  # the bound did bind on one row
    with pytest.raises(ValueError, match="clip_norm"):
        StackedModel(model, clip_norm=-1.0)


def test_stacked_forward_of_the_gn_cnn_equals_each_worker_module():
    """Odd length, stride 2, two groups, inputs with and without the channel axis: logits per row."""
    torch.manual_seed(2)
    model = build_worker_model("gn_cnn1d", length=13, channels=6, groups=3)
    stacked = StackedModel(model)
    X = stacked.flat_init(4) + 0.1 * torch.randn(4, stacked.dim)
    inputs = torch.randn(4, 7, 13)
    params = stacked.unflatten(X)
    for x in (inputs, inputs.unsqueeze(2)):
        logits = model.stacked_forward(params, x)
        for i in range(4):
            worker = copy.deepcopy(model)
            torch.nn.utils.vector_to_parameters(X[i], worker.parameters())
            torch.testing.assert_close(logits[i], worker(x[i]).detach(), atol=1e-5, rtol=0)
