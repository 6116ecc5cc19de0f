"""directpred study interface: typed run specs, config, one-epoch BYOL runs on digits, claims from numbers."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from helpers.records import context, execute_all, record_run, study_results

from pipeline import studies
from pipeline.core.config import ConfigError, section
from pipeline.directpred import claims as claims_of
from pipeline.directpred import study
from pipeline.directpred.runs import (
    BaselineRun,
    CollapseRun,
    EigenmodesRun,
    LinearAblationRun,
    LinearFlowRun,
    SSLRun,
)
from pipeline.results import Results

TINY: dict[str, Any] = {
    "linear": {
        "n1": 8,
        "n2": 4,
        "steps": 6000,
        "dt": 0.02,
        "threshold_ratios": [0.5, 2.0],
        "threshold_steps": 3000,
        "threshold_dt": 0.05,
        "record_every": 100,
        "ablation_seeds": 3,
        "ablation_alpha_ps": [10.0],
    },
    "sweeps": {
        "t_max": 40.0,
        "n_points": 41,
        "etas": [0.04, 0.2],
        "betas": [0.4],
        "portrait_etas": [0.04],
        "portrait_grid": 2,
    },
    "ssl": {
        "datasets": ["digits"],
        "n_train": 600,
        "n_val": 200,
        "n_test": 397,
        "image_size": 8,
        "channels": [8, 8, 8],
        "batch_size": 64,
        "steps": 8,
        "variants": ["linear", "directpred"],
        "seeds": 1,
        "track_every": 4,
        "proj_hidden": 16,
        "proj_dim": 8,
        "pred_hidden": 16,
        "probe_iters": 30,
        "checkpoint_every": 4,
        "probe_weight_decays": [1.0e-3],
        "ablation_variants": [],
    },
}
ABLATIONS = ["linear_ablation_s0", "linear_ablation_s1", "linear_ablation_s2"]
SIMULATIONS = ["linear_flow", "linear_flow_regular", *ABLATIONS, "collapse", "eigenmodes"]
BASELINES = ["digits_untrained_s0", "digits_pixels"]


def _table(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    return studies.runs("directpred", section("directpred", overrides))


def _with(base: dict[str, Any], part: str, **changes: Any) -> dict[str, Any]:
    """``base`` with ``changes`` merged into its ``part`` section."""
    return {**base, part: {**base.get(part, {}), **changes}}


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Ids of the runs whose spec differs (runs present in both tables)."""
    return [run for run in before if run in after and before[run] != after[run]]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """Every run of TINY (8 BYOL steps on 800 digits per predictor), recorded as pipeline.cli does."""
    return execute_all("directpred", TINY, tmp_path_factory.mktemp("results"))


# ---------------------------------------------------------------------------------------------- run table


def test_run_ids_and_spec_types() -> None:
    table = _table(TINY)
    assert list(table) == [*SIMULATIONS, "digits_byol_linear_s0", "digits_byol_directpred_s0", *BASELINES]
    assert [type(spec) for spec in table.values()] == [
        LinearFlowRun,
        LinearFlowRun,
        *[LinearAblationRun] * 3,
        CollapseRun,
        EigenmodesRun,
        SSLRun,
        SSLRun,
        BaselineRun,
        BaselineRun,
    ]
    assert [spec.symmetric for spec in table.values() if isinstance(spec, LinearFlowRun)] == [True, False]
    assert studies.datasets("directpred", section("directpred", TINY)) == ["digits"]
    spec = table["digits_byol_directpred_s0"]
    assert (spec.dataset, spec.method, spec.variant, spec.seed_index) == ("digits", "byol", "directpred", 0)
    assert spec.ssl.steps == 8 and spec.ssl.channels == (8, 8, 8)


def test_specs_round_trip_through_json() -> None:
    two = {"ssl": {"datasets": ["digits", "stl10"], "per_dataset": {"stl10": {"augment": "stl10"}}}}
    for overrides in (TINY, two, {"ssl": {"methods": ["byol", "simsiam"]}}):
        for spec in _table(overrides).values():
            data = json.loads(json.dumps(spec.to_dict()))
            assert studies.spec_from_dict("directpred", data) == spec


def test_default_ids_are_dataset_method_variant_seed() -> None:
    table = _table({"ssl": {"methods": ["byol", "simsiam"]}})
    ssl = [run for run, spec in table.items() if isinstance(spec, SSLRun)]
    seeds = section("directpred")["ssl"]["seeds"]
    assert len(ssl) == 2 * 3 * seeds
    assert ssl[: seeds + 1] == [f"fashion_mnist_byol_linear_s{k}" for k in range(seeds)] + [
        "fashion_mnist_byol_twolayer_s0"
    ]
    assert ssl[-1] == f"fashion_mnist_simsiam_directpred_s{seeds - 1}"
    baselines = [run for run, spec in table.items() if isinstance(spec, BaselineRun)]
    assert baselines == [f"fashion_mnist_untrained_s{k}" for k in range(seeds)] + ["fashion_mnist_pixels"]


def test_ssl_steps_re_run_exactly_the_ssl_runs() -> None:
    base = _table(TINY)
    changed = _table(_with(TINY, "ssl", steps=9))
    assert list(changed) == list(base)
    assert _changed(base, changed) == [run for run, spec in base.items() if isinstance(spec, SSLRun)]


def test_linear_eta_re_runs_the_simulations_and_no_ssl_run() -> None:
    base = _table(TINY)
    assert _changed(base, _table(_with(TINY, "linear", eta=0.05))) == SIMULATIONS
    assert _changed(base, _table(_with(TINY, "linear", collapse_eta=0.3))) == ["collapse"]
    assert _changed(base, _table(_with(TINY, "linear", ablation_alpha_ps=[5.0]))) == ABLATIONS
    more = _table(_with(TINY, "linear", ablation_seeds=4))
    assert [run for run in more if run not in base] == ["linear_ablation_s3"] and not _changed(base, more)
    assert _changed(base, _table(_with(TINY, "sweeps", p0=0.3))) == ["eigenmodes"]
    assert _changed(base, _table(_with(TINY, "theory", eta=0.05))) == []


def test_adding_a_seed_adds_its_runs_and_leaves_the_others_equal() -> None:
    three = _table({"ssl": {"seeds": 3}})
    four = _table({"ssl": {"seeds": 4}})
    added = [run for run in four if run not in three]
    variants = ("linear", "twolayer", "directpred")
    assert added == [f"fashion_mnist_byol_{variant}_s3" for variant in variants] + [
        "fashion_mnist_untrained_s3"
    ]
    assert all(four[run] == spec for run, spec in three.items())
    assert all(four[run].seed_index == 3 for run in added)


def test_a_per_dataset_override_re_runs_only_that_dataset() -> None:
    two = {"ssl": {"datasets": ["digits", "fashion_mnist"], "seeds": 2}}
    base = _table(two)
    override = _table({"ssl": {**two["ssl"], "per_dataset": {"digits": {"steps": 50}}}})
    assert list(override) == list(base)
    changed = _changed(base, override)
    digits_ssl = [run for run, spec in base.items() if isinstance(spec, SSLRun) and spec.dataset == "digits"]
    assert changed == digits_ssl and len(changed) == 3 * 2  # the baselines read no SSL steps
    assert {override[run].ssl.steps for run in changed} == {50}
    default_steps = section("directpred")["ssl"]["steps"]
    assert all(
        override[run].ssl.steps == default_steps
        for run, spec in base.items()
        if isinstance(spec, SSLRun) and spec.dataset == "fashion_mnist"
    )
    # a per-dataset seeds/variants override changes that dataset's run table only
    fewer = _table({"ssl": {**two["ssl"], "per_dataset": {"fashion_mnist": {"variants": ["linear"]}}}})
    assert [run for run in base if run not in fewer] == [
        run
        for run, spec in base.items()
        if isinstance(spec, SSLRun) and spec.dataset == "fashion_mnist" and spec.variant != "linear"
    ]
    assert all(fewer[run] == base[run] for run in fewer)


def test_settings_a_recipe_does_not_read_are_not_in_its_spec() -> None:
    """The stl10 recipe ignores the gray augmentation's jitter and a ResNet the SmallCNN widths."""
    paper_like = {
        "ssl": {
            "datasets": ["digits", "stl10"],
            "per_dataset": {"stl10": {"augment": "stl10", "encoder": "resnet18", "image_size": 96}},
        }
    }
    base = _table(paper_like)
    stl10 = next(spec for spec in base.values() if getattr(spec, "dataset", "") == "stl10")
    assert stl10.ssl.jitter is stl10.ssl.crop_scale is stl10.ssl.channels is None
    changed = _changed(base, _table({"ssl": {**paper_like["ssl"], "jitter": 0.2, "channels": [8, 8, 8]}}))
    assert changed and all(run.startswith("digits_") for run in changed)
    assert "digits_pixels" not in changed  # raw pixels read no encoder widths


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"directpred\.ssl\.variants.*directpred_every5"):
        _table({"ssl": {"variants": ["directpred_every5"]}})
    with pytest.raises(ConfigError, match=r"directpred\.ssl\.per_dataset\.digits\.variants"):
        _table({"ssl": {"datasets": ["digits"], "per_dataset": {"digits": {"variants": ["linear_freqx"]}}}})
    with pytest.raises(ConfigError, match="directpred_freq0"):
        _table({"ssl": {"variants": ["directpred_freq0"]}})
    with pytest.raises(ConfigError, match=r"directpred\.ssl\.align_rel_eig"):
        section("directpred", {"ssl": {"align_rel_eig": 0.0}})
    with pytest.raises(ConfigError, match=r"directpred\.ssl\.probe_protocol"):
        section("directpred", {"ssl": {"probe_protocol": "sgd"}})
    with pytest.raises(ConfigError, match="unknown key"):
        section("directpred", {"predictor": {}})
    with pytest.raises(ConfigError, match="unknown key"):
        section("directpred", {"ssl": {"per_dataset": {"stl10": {"datasets": ["digits"]}}}})
    with pytest.raises(ConfigError, match="methods"):
        section("directpred", {"ssl": {"methods": ["moco"]}})


def test_every_scale_builds_its_run_table() -> None:
    for name in ("config", "smoke", "paper"):
        overrides = yaml.safe_load(Path(f"config/{name}.yaml").read_text()).get("directpred") or {}
        table = _table(overrides)
        assert list(table)[:2] == ["linear_flow", "linear_flow_regular"] and len(table) > len(SIMULATIONS)
        assert {"collapse", "eigenmodes"} <= set(table)
    paper = _table(yaml.safe_load(Path("config/paper.yaml").read_text())["directpred"])
    stl10 = next(spec for spec in paper.values() if isinstance(spec, SSLRun) and spec.dataset == "stl10")
    assert stl10.ssl.image_size == 96 and stl10.ssl.unlabeled == -1


# ------------------------------------------------------------------------------------------------- runs


def test_one_epoch_byol_on_digits(results: Results) -> None:
    for spec in results.select(SSLRun, dataset="digits"):
        metrics = results.metrics(spec)
        assert metrics["steps"] == 8 and metrics["diverged"] == 0.0
        assert metrics["probe_test_accuracy"] > 0.2  # 10 classes: chance is 0.1
        if spec.variant != "twolayer":
            assert -1.0 - 1e-9 <= metrics["align_cos"] <= 1.0 + 1e-9 and metrics["align_k"] >= 1
        assert metrics["variant"] == spec.variant and metrics["dataset"] == "digits"
    history = results.history(results.one(SSLRun, variant="directpred"))
    assert {"eig_cos_rel", "eig_asym", "eig_k_rel"} <= set(history.columns)
    for spec in results.select(BaselineRun, dataset="digits"):
        metrics = results.metrics(spec)
        assert metrics["probe_test_accuracy"] > 0.2 and metrics["features"] == spec.features
    assert results.metrics(results.one(BaselineRun, features="pixels"))["feature_dim"] == 64


def test_resumed_run_gives_the_same_metrics(results: Results, tmp_path: Path) -> None:
    """Resume: a run restarted from its step-4 checkpoint ends with the uninterrupted run's numbers."""
    spec = results.one(SSLRun, variant="directpred")
    short = dataclasses.replace(spec, ssl=dataclasses.replace(spec.ssl, steps=4))
    assert short.id == spec.id
    ctx = dataclasses.replace(context(results, spec), run_dir=tmp_path / spec.id)
    ctx.run_dir.mkdir(parents=True)
    study.execute(short, ctx)
    resumed = study.execute(spec, ctx).metrics
    original = results.metrics(spec)
    assert resumed["probe_test_accuracy"] == original["probe_test_accuracy"]
    assert resumed["train_loss"] == original["train_loss"]


SIMULATION_CLAIMS = {
    "theory": "check",
    "fixed_point": "reproduction",
    "commutator_decay": "reproduction",
    "eigen_alignment_linear": "reproduction",
    "collapse_threshold": "reproduction",
    "collapse_no_stop_grad": "reproduction",
    "collapse_no_predictor": "check",
    "collapse_weight_decay": "reproduction",
}


def test_same_seed_index_shares_the_seed_across_variants(results: Results) -> None:
    """The pairing of the SSL claims: the run seed depends on the seed index only, not on the variant."""
    linear, direct = (results.one(SSLRun, variant=v, seed_index=0) for v in ("linear", "directpred"))
    assert results.metrics(linear)["seed"] == results.metrics(direct)["seed"]


def test_same_seed_gives_the_same_encoder_initialisation() -> None:
    """SSLStep builds the online network before the predictor, so every predictor variant of one seed
    starts from the same encoder and projector (and, with target_init=copy, the same target)."""
    from pipeline.core.seeding import seed_everything
    from pipeline.directpred.byol import SSLNet, SSLStep
    from pipeline.directpred.experiment import augmentation, make_encoder, ssl_config

    spec = _table(TINY)["digits_byol_linear_s0"]
    states = {}
    for variant in ("linear", "twolayer", "directpred"):
        seed_everything(123)
        cfg = ssl_config(spec.ssl, "byol", variant)

        def make_net(cfg=cfg) -> SSLNet:
            encoder, dim = make_encoder(spec.ssl, 1)
            return SSLNet(encoder, dim, cfg.proj_hidden, cfg.proj_dim)

        step = SSLStep(cfg, make_net, augmentation(spec.ssl), 123, "cpu")
        states[variant] = step.online.state_dict()
    for variant in ("twolayer", "directpred"):
        assert all(torch.equal(states["linear"][k], states[variant][k]) for k in states["linear"]), variant


def test_claims_on_the_simulations(results: Results) -> None:
    from analysis import directpred as figures

    rows = {c.claim_id: c for c in claims_of.claims(results)}
    for cid, kind in SIMULATION_CLAIMS.items():
        assert rows[cid].kind == kind, cid
        assert rows[cid].verdict == "holds", cid
        assert rows[cid].n == 1 and rows[cid].ci_low == rows[cid].ci_high == rows[cid].estimate, cid
    assert {"directpred_vs_linear_digits", "real_encoder_alignment_digits"} <= set(rows)
    assert {"learns_linear_digits", "learns_directpred_digits", "real_encoder_symmetry_digits"} <= set(rows)
    linear_model = ("symmetry_linear", "ablation_linear_symmetric_no_ema", "ablation_linear_ema",
                    "ablation_linear_alpha_p")  # fmt: skip
    for cid in linear_model:
        assert rows[cid].kind == "reproduction" and rows[cid].verdict in ("holds", "inconclusive", "fails")
    assert rows["symmetry_linear"].n == 1 and rows["ablation_linear_ema"].n == 3
    assert "directpred_vs_twolayer_digits" not in rows  # TINY has no two-layer predictor
    for row in rows.values():
        assert row.kind in ("check", "reproduction"), row.claim_id
        if row.kind == "reproduction":
            assert row.paper_value and row.paper_source, row.claim_id
        stem = Path(row.evidence).stem
        assert row.evidence == f"figures/smoke/directpred/{stem}.png" and stem in figures.CAPTIONS, (
            row.claim_id
        )
    assert rows["fixed_point"].evidence == "figures/smoke/directpred/linear_eigenvalues.png"
    # one seed: the SSL comparisons cannot be decided
    assert rows["directpred_vs_linear_digits"].verdict == "inconclusive"
    assert rows["directpred_vs_linear_digits"].n == 1


def _copy(results: Results, target: Path, overrides: dict[str, Any] = TINY) -> Results:
    shutil.copytree(results.outputs.study_dir("directpred"), target / "results" / "smoke" / "directpred")
    return study_results("directpred", overrides, target)


def _edit(results: Results, spec: Any, key: str, value: Any) -> None:
    path = results.metrics_path(spec)
    record = json.loads(path.read_text())
    record["metrics"][key] = value
    path.write_text(json.dumps(record))


def test_claims_fail_on_bad_numbers(results: Results, tmp_path: Path) -> None:
    """Doctored deterministic numbers fail their claims (a wrong fixed point, a failing sympy check, no
    collapse without a predictor); a single seed of a worse DirectPred is inconclusive, not a failure."""
    bad = _copy(results, tmp_path)
    _edit(bad, bad.one(LinearFlowRun, symmetric=True), "p_err_max", 0.05)
    collapse = bad.metrics(bad.one(CollapseRun))
    _edit(bad, bad.one(CollapseRun), "no_predictor", {**collapse["no_predictor"], "w_norm_final": 1.0})
    theory = json.loads(bad.outputs.theory_json("directpred").read_text())
    theory["checks"]["invariant_eqn14"]["passes"] = False
    bad.outputs.theory_json("directpred").write_text(json.dumps(theory))
    _edit(bad, bad.one(SSLRun, variant="linear"), "probe_test_accuracy", 0.9)
    _edit(bad, bad.one(SSLRun, variant="directpred"), "probe_test_accuracy", 0.5)
    rows = {c.claim_id: c for c in claims_of.claims(bad)}
    assert rows["fixed_point"].verdict == "fails"
    assert rows["collapse_no_predictor"].verdict == "fails"
    assert rows["theory"].verdict == "fails" and rows["theory"].estimate == 1
    assert rows["commutator_decay"].verdict == "holds"
    assert rows["directpred_vs_linear_digits"].estimate == pytest.approx(-40.0)
    assert rows["directpred_vs_linear_digits"].verdict == "inconclusive"


def test_a_missing_ssl_run_is_excluded(results: Results, tmp_path: Path) -> None:
    partial = _copy(results, tmp_path)
    partial.metrics_path(partial.one(SSLRun, variant="linear")).unlink()
    rows = {c.claim_id: c for c in claims_of.claims(partial)}
    for cid in ("directpred_vs_linear_digits", "real_encoder_alignment_digits"):
        assert rows[cid].verdict == "inconclusive" and rows[cid].n == 0, cid
        assert "1 missing or diverged excluded" in rows[cid].method, cid
    assert rows["fixed_point"].verdict == "holds"


THREE_SEEDS: dict[str, Any] = {
    **TINY,
    "ssl": {**TINY["ssl"], "variants": ["linear", "twolayer", "directpred"], "seeds": 3},
}


def _fake_ssl(
    results: Results, tmp_path: Path, accuracy: dict[str, list[float]], cosine: list[float]
) -> dict:
    """Claims over three fake seeds per variant (accuracies in %, the linear predictor's cosines), with the
    simulations and theory.json of the real TINY runs."""
    fake = _copy(results, tmp_path, THREE_SEEDS)
    for spec in fake.select(SSLRun):
        metrics = {"diverged": 0.0, "probe_test_accuracy": accuracy[spec.variant][spec.seed_index] / 100}
        if spec.variant == "linear":
            metrics["align_cos"] = cosine[spec.seed_index]
            metrics["asym_final"] = 1.0 - cosine[spec.seed_index]
        record_run(fake.run_dir(spec), metrics)
    return {c.claim_id: c for c in claims_of.claims(fake)}


@pytest.mark.parametrize(
    ("accuracy", "cosine", "verdict"),
    [
        # DirectPred 2-3 points above linear on every seed, within ±0.3 of two-layer, aligned
        (
            {"linear": [70.0, 72.0, 71.0], "directpred": [72.5, 74.4, 73.6], "twolayer": [72.6, 74.2, 73.5]},
            [0.95, 0.96, 0.97],
            "holds",
        ),
        # differences that straddle the threshold
        (
            {"linear": [70.0, 72.0, 71.0], "directpred": [72.0, 70.0, 71.5], "twolayer": [70.0, 73.0, 70.5]},
            [0.5, 0.95, 0.99],
            "inconclusive",
        ),
        # DirectPred below linear on every seed, 10 points below two-layer, not aligned
        (
            {"linear": [70.0, 72.0, 71.0], "directpred": [65.0, 66.5, 66.0], "twolayer": [75.2, 76.4, 76.1]},
            [0.2, 0.25, 0.3],
            "fails",
        ),
    ],
)
def test_ssl_verdicts_come_from_paired_intervals(
    results: Results, tmp_path: Path, accuracy: dict[str, list[float]], cosine: list[float], verdict: str
) -> None:
    rows = _fake_ssl(results, tmp_path, accuracy, cosine)
    for cid in ("directpred_vs_linear", "directpred_vs_twolayer", "real_encoder_alignment"):
        row = rows[f"{cid}_digits"]
        assert row.kind == "reproduction" and row.n == 3, cid
        assert row.verdict == verdict, (cid, row.estimate, row.ci_low, row.ci_high)
    vs_linear = rows["directpred_vs_linear_digits"]
    diffs = [d - li for d, li in zip(accuracy["directpred"], accuracy["linear"], strict=True)]
    assert vs_linear.estimate == pytest.approx(sum(diffs) / 3)
    assert vs_linear.method.startswith("paired difference")
    assert rows["directpred_vs_twolayer_digits"].comparison == "|x| <="
    assert rows["directpred_vs_twolayer_digits"].threshold == 2.0


ABLATION_SEEDS: dict[str, Any] = {
    **THREE_SEEDS,
    "ssl": {
        **THREE_SEEDS["ssl"],
        "ablation_variants": ["linear_noema", "linear_sym_noema", "linear_sym_noema_ap10"],
        "ablation_seeds": 3,
    },
}


def test_learning_and_table3_claims_come_from_paired_intervals(results: Results, tmp_path: Path) -> None:
    """Trained minus untrained (same seed index) per variant, Table 3's collapse and Fig. 6's rescue, on
    fake per-seed accuracies (%): clear gaps hold, a gain of about 2 points fails the 5.6-point margin."""
    accuracy = {
        "linear": [80.0, 82.0, 81.0],
        "twolayer": [80.5, 81.5, 81.0],
        "directpred": [72.0, 73.1, 74.2],  # untrained + 2.0, 2.1, 2.2
        "linear_noema": [79.0, 80.0, 81.0],
        "linear_sym_noema": [40.0, 42.0, 41.0],
        "linear_sym_noema_ap10": [78.0, 79.5, 80.0],
    }
    untrained = [70.0, 71.0, 72.0]
    fake = _copy(results, tmp_path, ABLATION_SEEDS)
    for spec in fake.select(SSLRun):
        metrics = {"diverged": 0.0, "probe_test_accuracy": accuracy[spec.variant][spec.seed_index] / 100}
        record_run(fake.run_dir(spec), metrics)
    for spec in fake.select(BaselineRun):
        record_run(fake.run_dir(spec), {"probe_test_accuracy": untrained[spec.seed_index] / 100})
    rows = {c.claim_id: c for c in claims_of.claims(fake)}
    margin = claims_of.MARGIN
    learns = rows["learns_linear_digits"]
    assert learns.estimate == pytest.approx(10.0) and learns.threshold == margin and learns.n == 3
    assert learns.verdict == "holds" and learns.method.startswith("paired difference")
    assert rows["learns_directpred_digits"].estimate == pytest.approx(2.1)
    assert rows["learns_directpred_digits"].verdict == "fails"
    assert "learns_linear_sym_noema_digits" not in rows  # Table 3: this variant is expected to collapse
    assert rows["learns_linear_sym_noema_ap10_digits"].verdict == "holds"
    collapse = rows["symmetric_no_ema_collapses_digits"]
    assert collapse.estimate == pytest.approx(39.0) and collapse.verdict == "holds"
    rescue = rows["alpha_p_rescue_ap10_digits"]
    assert rescue.estimate == pytest.approx((38.0 + 37.5 + 39.0) / 3) and rescue.verdict == "holds"


def test_a_diverged_run_is_excluded_from_its_pair(results: Results, tmp_path: Path) -> None:
    accuracy = {
        "linear": [70.0, 72.0, 71.0],
        "directpred": [72.5, 74.4, 73.6],
        "twolayer": [72.6, 74.2, 73.5],
    }
    fake = _copy(results, tmp_path, THREE_SEEDS)
    for spec in fake.select(SSLRun):
        metrics = {"diverged": 0.0, "probe_test_accuracy": accuracy[spec.variant][spec.seed_index] / 100}
        if spec.variant == "linear" and spec.seed_index == 1:
            metrics["diverged"] = 1.0
        record_run(fake.run_dir(spec), metrics)
    rows = {c.claim_id: c for c in claims_of.claims(fake)}
    assert rows["directpred_vs_linear_digits"].n == 2
    assert rows["directpred_vs_linear_digits"].verdict == "inconclusive"  # fewer than 3 pairs
    assert rows["directpred_vs_twolayer_digits"].n == 3


def test_figures_are_drawn(results: Results, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from analysis import directpred as figures
    from analysis import style

    drawn: dict[str, Any] = {}
    save = style.save

    def keep(fig: Any, out: Path, stem: str) -> None:
        drawn[stem] = [
            (
                ax.get_ylabel(),
                [text.get_text() for text in ax.get_legend().get_texts()] if ax.get_legend() else [],
            )
            for ax in fig.axes
        ]
        save(fig, out, stem)

    monkeypatch.setattr(style, "save", keep)
    figures.plot(results, tmp_path)
    assert list(drawn) == list(figures.CAPTIONS)  # drawn in the order the captions are listed
    assert all((tmp_path / f"{stem}.png").exists() for stem in figures.CAPTIONS)
    assert all(ylabel for axes in drawn.values() for ylabel, _ in axes)  # a y label on every panel
    sweeps = drawn["sweeps"]
    assert all(text.startswith("η = ") for text in sweeps[0][1])
    assert sweeps[1][1] and all(text.startswith("β = ") for text in sweeps[1][1] + sweeps[2][1])
    rel = results.one(SSLRun, variant="linear").ssl.align_rel_eig
    assert drawn["encoder_alignment"][0][0] == f"mean cos(W_p u_j, u_j), s_j ≥ {rel:g}·s_max"
    assert "SGD linear predictor" in drawn["encoder_alignment"][0][1]
    assert "stays asymmetric" not in figures.CAPTIONS["encoder_alignment"]
    assert "Measured:" in figures.CAPTIONS["encoder_alignment"]  # the caption states what was measured
    legends = {text for _, legend in drawn["collapse"] for text in legend}
    assert not legends & set(figures.ABLATIONS) and legends >= set(figures.ABLATIONS.values())


def test_the_alignment_figure_draws_the_claimed_quantity(results: Results) -> None:
    """The figure's last point of each run is the claim's per-seed value (same k, same eigenvectors)."""
    from analysis import directpred as figures

    for spec in results.select(SSLRun, variant="linear"):
        curve = figures._column(results.history(spec), "eig_cos_rel")
        assert curve.iloc[-1] == pytest.approx(results.metrics(spec)["align_cos"], rel=1e-12)
