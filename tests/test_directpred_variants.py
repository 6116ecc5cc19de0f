"""directpred ablations and baselines against independent computations: the variant grammar, the Table 3
switches (symmetric W_p, no EMA), the Fig. 6 predictor learning rate, the alignment rule, the paper's Adam
probe, the untrained-encoder baseline and the linear-model ablation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from pipeline.core.config import ConfigError, section
from pipeline.directpred import experiment, simulations
from pipeline.directpred.byol import SSLConfig, SSLNet, SSLStep
from pipeline.directpred.linear import LinearConfig, simulate
from pipeline.directpred.probe import fit_adam, run_probe
from pipeline.directpred.runs import (
    BaselineRun,
    LinearAblationRun,
    ProbeSettings,
    SSLRun,
    Variant,
    parse_variant,
    runs,
)
from pipeline.directpred.spectrum import alignment, asymmetry

# ------------------------------------------------------------------------------------------- variants


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("linear", Variant("linear")),
        ("directpred_freq5", Variant("directpred", freq=5)),
        ("linear_sym", Variant("linear", symmetric=True)),
        ("linear_noema", Variant("linear", no_ema=True)),
        ("twolayer_noema", Variant("twolayer", no_ema=True)),
        ("linear_sym_noema_ap10", Variant("linear", symmetric=True, no_ema=True, alpha_p=10.0)),
        ("linear_ap2.5", Variant("linear", alpha_p=2.5)),
        ("directpred_noema_freq2", Variant("directpred", freq=2, no_ema=True)),
    ],
)
def test_variant_grammar(name: str, expected: Variant) -> None:
    assert parse_variant(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "directpred_every5",
        "linear_freq5",  # freq needs DirectPred
        "twolayer_sym",  # sym needs the linear predictor
        "directpred_ap10",  # DirectPred is not trained by SGD
        "linear_noema_sym",  # parts out of order
        "linear_sym_sym",
        "linear_ap0",
        "linear_ap010",  # not written as %g: two names for one run
        "directpred_freq0",
        "directpred_freq05",
        "linear_symx",
        "moco",
    ],
)
def test_bad_variants_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        parse_variant(name)


def test_ablation_variants_and_baselines_in_the_run_table() -> None:
    table = runs(section("directpred"))
    ssl = [spec for spec in table.values() if isinstance(spec, SSLRun)]
    counts = {v: sum(s.variant == v for s in ssl) for v in dict.fromkeys(s.variant for s in ssl)}
    defaults = section("directpred")["ssl"]
    assert all(counts[v] == defaults["seeds"] for v in defaults["variants"])
    assert all(counts[v] == defaults["ablation_seeds"] for v in defaults["ablation_variants"])
    base = [spec for spec in table.values() if isinstance(spec, BaselineRun)]
    seeds = max(defaults["seeds"], defaults["ablation_seeds"])
    assert [b.id for b in base] == [f"fashion_mnist_untrained_s{k}" for k in range(seeds)] + [
        "fashion_mnist_pixels"
    ]
    # a baseline reads neither the SSL steps nor the predictor settings: they never re-run it
    changed = runs(section("directpred", {"ssl": {"steps": 7, "lr": 0.3, "variants": ["linear"]}}))
    assert all(changed[b.id] == b for b in base)
    assert [s.id for s in base if s.base.encoder is None] == ["fashion_mnist_pixels"]
    with pytest.raises(ConfigError, match="also in variants"):
        runs(section("directpred", {"ssl": {"ablation_variants": ["linear"]}}))
    with pytest.raises(ConfigError, match=r"ablation_variants.*twolayer_sym"):
        runs(section("directpred", {"ssl": {"ablation_variants": ["twolayer_sym"]}}))
    with pytest.raises(ConfigError, match="n_val"):
        runs(section("directpred", {"ssl": {"n_val": 0}}))


def test_extra_training_lengths_add_runs_with_their_own_ids() -> None:
    table = runs(section("directpred", {"ssl": {"variants": ["linear"], "seeds": 1, "ablation_variants": [],
                                                "extra_steps": [900]}}))  # fmt: skip
    ssl = {k: v for k, v in table.items() if isinstance(v, SSLRun)}
    assert list(ssl) == ["fashion_mnist_byol_linear_s0", "fashion_mnist_byol_linear_s0_n900"]
    assert ssl["fashion_mnist_byol_linear_s0_n900"].ssl.steps == 900
    assert ssl["fashion_mnist_byol_linear_s0"].ssl.steps == section("directpred")["ssl"]["steps"]


# ------------------------------------------------------------------------------ Table 3 / Fig. 6 switches


def _step(variant: str, method: str = "byol", ema: float = 0.99) -> SSLStep:
    torch.manual_seed(0)
    parsed = parse_variant(variant)

    def make_net() -> SSLNet:
        return SSLNet(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 12)), 12, 16, 6)

    cfg = SSLConfig(
        method=method,
        predictor=parsed.predictor,
        symmetric_predictor=parsed.symmetric,
        ema=0.0 if parsed.no_ema else ema,
        pred_lr_ratio=parsed.alpha_p,
        lr=0.05,
        momentum=0.0,
        weight_decay=0.0,
        proj_hidden=16,
        proj_dim=6,
        pred_hidden=8,
    )
    return SSLStep(cfg, make_net, lambda x, g: x + 0.1 * torch.randn(x.shape, generator=g), 0, "cpu")


def test_symmetric_predictor_is_the_symmetrised_sgd_step() -> None:
    regular, symmetric = _step("linear"), _step("linear_sym")
    assert torch.equal(regular.predictor.weight, symmetric.predictor.weight)
    x = torch.rand(20, 1, 4, 4)
    regular(0, (x,))
    symmetric(0, (x,))
    W = regular.predictor.weight.detach()  # same init, views and gradient: only the symmetrisation differs
    assert torch.allclose(symmetric.predictor.weight, 0.5 * (W + W.T), atol=1e-6)
    assert asymmetry(symmetric.predictor.weight.detach()) == 0.0


def test_no_ema_target_is_the_online_network_after_the_step() -> None:
    step = _step("linear_noema")
    step(0, (torch.rand(20, 1, 4, 4),))
    for online, target in zip(step.online.parameters(), step.target.parameters(), strict=True):
        assert torch.equal(online, target)


def test_alpha_p_scales_only_the_predictor_step() -> None:
    """Plain SGD (no momentum, no weight decay): one step moves W_p α_p times as far, the encoder alike."""
    base, fast = _step("linear"), _step("linear_ap10")
    x = torch.rand(20, 1, 4, 4)
    w0 = base.predictor.weight.detach().clone()
    e0 = [p.detach().clone() for p in base.online.parameters()]
    base(0, (x,))
    fast(0, (x,))
    assert torch.allclose(fast.predictor.weight - w0, 10 * (base.predictor.weight - w0), atol=1e-6)
    for a, b, start in zip(base.online.parameters(), fast.online.parameters(), e0, strict=True):
        assert torch.allclose(a - start, b - start, atol=1e-7)
    assert fast.optimizer.param_groups[1]["lr"] == pytest.approx(0.5)


def test_independent_target_is_shared_by_predictor_variants() -> None:
    """The target is drawn before the predictor, so variants of one seed share it."""
    states = []
    for predictor in ("linear", "twolayer"):
        torch.manual_seed(3)
        cfg = SSLConfig(predictor=predictor, target_init="independent", proj_hidden=16, proj_dim=6)

        def make_net() -> SSLNet:
            return SSLNet(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 12)), 12, 16, 6)

        states.append(SSLStep(cfg, make_net, lambda x, g: x, 0, "cpu").target.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


# --------------------------------------------------------------------------------------------- alignment


def test_alignment_rule_against_numpy() -> None:
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    s = np.array([10.0, 3.0, 0.5, 0.09, 0.02, 0.001])  # 1% of 10 is 0.1: the first three count
    F = Q @ np.diag(s) @ Q.T
    W = rng.standard_normal((6, 6))
    found = alignment(torch.tensor(F), torch.tensor(W), top_k=6, rel=0.01)
    cos = [(Q[:, j] @ W @ Q[:, j]) / np.linalg.norm(W @ Q[:, j]) for j in range(3)]
    assert found["k_rel"] == 3
    assert found["cos_rel"] == pytest.approx(np.mean(cos), rel=1e-12)
    assert found["asym"] == pytest.approx(np.linalg.norm(W - W.T) / np.linalg.norm(W), rel=1e-12)
    Wk = Q[:, :3].T @ W @ Q[:, :3]
    assert found["asym_rel"] == pytest.approx(np.linalg.norm(Wk - Wk.T) / np.linalg.norm(Wk), rel=1e-12)
    assert alignment(torch.tensor(F), torch.tensor(W), top_k=6, rel=0.001)["k_rel"] == 5  # 0.001 < 0.01


# ------------------------------------------------------------------------------------------- Adam probe


def test_adam_probe_matches_a_hand_written_adam() -> None:
    """Full-batch Adam on the softmax cross-entropy, gradient (softmax − onehot)ᵀx / n by hand."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((12, 3)), rng.integers(0, 3, 12)
    lr, wd, steps = 0.01, 1e-3, 4
    model = fit_adam(torch.tensor(x), torch.tensor(y), 3, lr=lr, weight_decay=wd, epochs=steps,
                     batch_size=12, seed=0)  # fmt: skip
    W, b = np.zeros((3, 3)), np.zeros(3)
    m = [np.zeros_like(W), np.zeros_like(b)]
    v = [np.zeros_like(W), np.zeros_like(b)]
    for t in range(1, steps + 1):
        logits = x @ W.T + b
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        delta = (p - np.eye(3)[y]) / len(y)
        grads = [delta.T @ x + wd * W, delta.sum(0) + wd * b]  # torch's Adam adds wd·θ to the gradient
        for i, (param, grad) in enumerate(zip((W, b), grads, strict=True)):
            m[i] = 0.9 * m[i] + 0.1 * grad
            v[i] = 0.999 * v[i] + 0.001 * grad**2
            param -= lr * (m[i] / (1 - 0.9**t)) / (np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)
    assert np.allclose(model.weight.detach().numpy(), W, atol=1e-10)
    assert np.allclose(model.bias.detach().numpy(), b, atol=1e-10)


def test_adam_protocol_reports_the_last_epoch_and_never_selects() -> None:
    torch.manual_seed(0)
    centres = torch.randn(3, 4) * 3
    y = torch.arange(90) % 3
    x = (centres[y] + torch.randn(90, 4)).double()
    settings = ProbeSettings("adam", (1e-4, 1e-2), 10, 0.05, 1e-3, 5, 16)
    empty = (x[:0], y[:0])
    out = run_probe((x[:60], y[:60]), empty, (x[60:], y[60:]), settings, seed=0)
    assert "probe_val_accuracy" not in out and out["probe_weight_decay"] == 1e-3
    mean, std = x[:60].mean(0), x[:60].std(0)
    model = fit_adam((x[:60] - mean) / std, y[:60], 3, lr=0.05, weight_decay=1e-3, epochs=5, batch_size=16,
                     seed=0)  # fmt: skip
    expected = float((model((x[60:] - mean) / std).argmax(1) == y[60:]).double().mean())
    assert out["probe_test_accuracy"] == pytest.approx(expected, abs=1e-6) and expected > 0.8


# ------------------------------------------------------------------------------------ untrained baseline


def test_untrained_baseline_is_the_initial_encoder_of_its_seed_index(monkeypatch) -> None:
    """The baseline probes exactly the encoder the SSL runs of the same seed index start from."""
    cfg = section("directpred", {"ssl": {"channels": [4, 4, 4], "variants": ["linear"], "seeds": 1,
                                         "ablation_variants": []}})  # fmt: skip
    table = runs(cfg)
    ssl_spec, base_spec = table["fashion_mnist_byol_linear_s0"], table["fashion_mnist_untrained_s0"]
    seen = {}

    def capture(encoder, x, transform, batch_size=1024):
        seen.setdefault("encoder", {k: v.clone() for k, v in encoder.state_dict().items()})
        return torch.zeros(len(x), 4, dtype=torch.float64)

    images = torch.randint(0, 256, (30, 1, 16, 16), dtype=torch.uint8)
    fake = {n: (images[:10], torch.arange(10) % 3) for n in ("train", "val", "test")} | {"ssl": images}
    monkeypatch.setattr(experiment, "load_images", lambda *a, **k: fake)
    monkeypatch.setattr(experiment, "features", capture)
    experiment.baseline(base_spec, 77, device="cpu", data_root="unused", base_seed=0)
    from pipeline.core.seeding import seed_everything

    seed_everything(77)
    step = SSLStep(
        experiment.ssl_config(ssl_spec.ssl, "byol", "linear"),
        lambda: SSLNet(*experiment.make_encoder(ssl_spec.ssl, 1), 128, 64),
        experiment.augmentation(ssl_spec.ssl),
        77,
        "cpu",
    )
    online = step.online.encoder.state_dict()
    assert set(online) == set(seen["encoder"])
    assert all(torch.equal(online[k], seen["encoder"][k]) for k in online)


def test_pixels_baseline_probes_the_flattened_plain_images(monkeypatch) -> None:
    table = runs(section("directpred"))
    spec = table["fashion_mnist_pixels"]
    images = torch.rand(30, 1, 16, 16)
    labels = torch.arange(30) % 3
    fake = {n: (images, labels) for n in ("train", "val", "test")}
    seen = {}

    def probe(train, val, test, settings, seed=0):
        seen["x"] = train[0]
        return {"probe_test_accuracy": 0.5}

    monkeypatch.setattr(experiment, "load_images", lambda *a, **k: fake)
    monkeypatch.setattr(experiment, "run_probe", probe)
    metrics = experiment.baseline(spec, 0, device="cpu", data_root="unused", base_seed=0)
    assert metrics["feature_dim"] == 256 and torch.equal(seen["x"], images.flatten(1).double())


# ------------------------------------------------------------------------------- linear-model ablation


def test_linear_ablation_cases_follow_their_switches() -> None:
    spec = next(s for s in runs(section("directpred")).values() if isinstance(s, LinearAblationRun))
    cases = simulations.ablation_cases(spec.flow.alpha_p, spec.alpha_ps)
    assert list(cases)[:4] == ["symmetric_ema", "symmetric_no_ema", "regular_ema", "regular_no_ema"]
    assert [c["alpha_p"] for n, c in cases.items() if "_ap" in n] == list(spec.alpha_ps)
    small = LinearConfig(n1=6, n2=3, steps=300, record_every=100)
    trace = simulate(dataclasses.replace(small, symmetric=True, ema=False), seed=0)
    assert all(a == 0.0 for a in trace.asym)  # symmetric stays symmetric
    assert trace.tau[0] == pytest.approx(1.0)  # no EMA: W_a = W, τ ≡ 1
    regular = simulate(dataclasses.replace(small, symmetric=False), seed=0)
    assert regular.asym[0] > 0.5 and regular.tau[0] == 0.0  # i.i.d. W_p; EMA target from W_a = 0


def test_unsymmetrised_flow_keeps_theorem_1_and_loses_its_asymmetry() -> None:
    """Theorem 1 holds for the plain gradient flow of W_p (no Assumption 3): the balance stays at the
    Euler error; the antisymmetric part decays (App. B: the fixed point is symmetric)."""
    cfg = LinearConfig(n1=8, n2=4, steps=4000, dt=0.01, symmetric=False, record_every=500)
    trace = simulate(cfg, seed=2)
    assert max(trace.balance) < 5e-3
    assert trace.asym[-1] < 1e-2 * trace.asym[0]
    assert all(math.isfinite(a) for a in trace.asym)


def test_an_empty_split_gives_zero_feature_rows() -> None:
    """The adam protocol trains on all labelled images (n_val = 0): the empty validation split still has
    the encoder's feature width, and the probe reports no validation accuracy."""
    from pipeline.directpred.probe import features
    from pipeline.models import build_model

    encoder = build_model("small_cnn", in_channels=1, num_classes=0, channels=(4, 4, 6), norm="batch")
    empty = features(encoder, torch.rand(0, 1, 8, 8), lambda z: z)
    assert empty.shape == (0, 6) and empty.dtype == torch.float64
    full = features(encoder, torch.rand(5, 1, 8, 8), lambda z: z, batch_size=2)
    assert full.shape == (5, 6)
    adam = section("directpred", {"ssl": {"probe_protocol": "adam", "n_val": 0}})
    assert runs(adam)["fashion_mnist_byol_linear_s0"].ssl.probe.protocol == "adam"
