"""Every paper-scale run kind for 2 steps on CPU, on synthetic data in each dataset's real file format.

The runs are config/paper.yaml's, one per kind (pipeline.paper_check), executed through the train job's
own path (pipeline.execute) with every training loop capped at 2 steps; a paper-scale launch must not die
on a shape, a key or a loader. AMP and torch.compile are `auto` (off on CPU). The two-step runs take
an estimated 1-2 hours on 2 CPU cores (the paper models, worker counts and evaluations dominate), so
they carry the ``paper_kinds`` marker and run with ``make paper-check``; ``make test`` checks that the
kinds cover every run of the paper config.
"""

from __future__ import annotations

import json
import math

import pytest
from conftest import ROOT
from helpers.threads import single_thread  # noqa: F401 (fixture)

from pipeline import paper_check, studies
from pipeline.data import load_dataset
from pipeline.data.fixtures import FixtureSizes, write_paper_fixtures

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("single_thread")]
CONFIG = paper_check.paper_config(ROOT)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_paper_fixtures(tmp_path_factory.mktemp("paper-data"))


def test_kinds_cover_every_run_of_the_paper_config():
    for study in CONFIG["studies"]:
        table = studies.runs(study, CONFIG[study])
        chosen = paper_check.kinds(study, CONFIG[study])
        assert {paper_check.kind_of(spec) for spec in table.values()} == {
            paper_check.kind_of(spec) for spec in chosen
        }


@pytest.mark.paper_kinds
@pytest.mark.parametrize("study", CONFIG["studies"])
def test_every_paper_kind_runs_two_steps(study, data_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no prepared copy of a real dataset can stand in for the fixtures
    table = studies.runs(study, CONFIG[study])
    for spec in paper_check.kinds(study, CONFIG[study]):
        result = paper_check.check_kind(study, spec, table, tmp_path, data_root, "cpu", steps=2)
        record = json.loads((tmp_path / "run" / study / spec.id / "metrics.json").read_text())
        assert record["config"]["step_limit"] == 2 and record["study"] == study
        numbers = [v for v in record["metrics"].values() if isinstance(v, int | float)]
        assert any(math.isfinite(v) for v in numbers), (spec.id, record["metrics"])
        if study != "gradient_flow":  # closed forms and ODE solves: no training loop
            assert result.full_steps > 2 and result.step_flops > 0, spec.id


def test_a_sweep_checks_its_first_lr_and_counts_the_others():
    table = studies.runs("nero", CONFIG["nero"])
    sweep = next(spec for spec in table.values() if len(getattr(spec, "lrs", ())) > 1)
    variant, repeats = sweep.check_variant()
    assert variant.lrs == sweep.lrs[:1] and repeats == len(sweep.lrs) > 1
    assert variant.id == sweep.id and paper_check.kind_of(variant) == paper_check.kind_of(sweep)
    memory = table["memory"]  # one training-free run: checked as it is
    assert memory.check_variant() == (memory, 1)


def test_fixture_sizes_are_what_the_loaders_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the loaders must read the fixtures, not a prepared real copy
    sizes = FixtureSizes(cifar_per_batch=6, stl_train=2, stl_test=2, stl_unlabeled=2, text_train_lines=7)
    root = write_paper_fixtures(tmp_path / "raw", sizes)
    assert len(load_dataset("cifar10", data_root=root).xy("train")[0]) == sizes.train_size("cifar10")
    for corpus in ("ptb", "wikitext2"):
        assert len(load_dataset(corpus, data_root=root).tokens("train")) == sizes.train_size(corpus)


def test_epoch_sized_kinds_count_the_real_training_split_on_fixtures():
    sizes = FixtureSizes()
    table = {study: studies.runs(study, CONFIG[study]) for study in ("consensus", "fisher", "selfish_rnn")}
    # consensus (paper sheet: 300 epochs of batch 32 per worker on 50,000 images): 97 / 48 / 24 steps per
    # epoch at n = 16 / 32 / 64, whatever the fixture's shards floor to
    for n, per_epoch in ((16, 97), (32, 48), (64, 24)):
        ring = table["consensus"][f"scale_ring_n{n}_s0"]
        assert ring.epoch_steps(50_000) == per_epoch
        expected = per_epoch / ((5 * sizes.cifar_per_batch) // n // 32)
        assert paper_check.real_size_factor(ring, sizes) == pytest.approx(expected)
    # fisher: 50,000 // 128 = 390 batches per epoch (tail dropped)
    fisher = next(iter(table["fisher"].values()))
    assert fisher.epoch_steps(50_000) == 390
    # selfish_rnn on PTB: 929,589 tokens in 20 streams of 46,479, windows of 35 over 46,478 targets: 1,328
    ptb = next(s for s in table["selfish_rnn"].values() if s.corpus == "ptb")
    assert ptb.epoch_steps(929_589) == 1328
    assert paper_check.real_size_factor(ptb, sizes) == pytest.approx(
        1328 / ptb.epoch_steps(sizes.train_size("ptb"))
    )
    for study in ("nero", "qgm"):  # fixed step counts, set in config/paper.yaml for the real data
        assert all(
            paper_check.real_size_factor(s, sizes) == 1.0 for s in paper_check.kinds(study, CONFIG[study])
        )
    assert paper_check.real_size_factor(ring, None) == 1.0  # real data
    assert paper_check.real_size_factor(table["consensus"]["quadratic"], sizes) == 1.0  # no dataset


def test_the_estimate_page_sums_each_study_from_steps_flops_and_runs():
    kind = paper_check.KindResult(
        "fisher", "a_s2", runs=3, seconds=1.0, full_steps=1000, step_seconds=0.1, step_flops=int(1.8e12)
    )
    # 3 runs × 1,000 steps × 1.8 TFLOP = 5.4 PFLOP; at 50 TFLOP/s: 108 s = 0.03 h
    assert paper_check.gpu_hours(kind, 50.0) == pytest.approx(0.03)
    page = paper_check.markdown([kind, kind], 50.0, "header")
    assert "## fisher: 0.1 GPU-hours" in page and page.count("| `a_s2` | 3 | 1,000 | 1800.00 | 0.03 |") == 2


def test_runs_of_some_studies_each_merge_into_one_page(tmp_path, capsys):
    row = {"study": "fisher", "run": "a_s2", "runs": 3, "seconds": 1.0, "full_steps": 1000}
    first = {
        "header": "Measured on cpu.",
        "results": [{**row, "step_seconds": 0.1, "step_flops": int(1.8e12)}],
    }
    second = {
        "header": "Measured on cpu.",
        "results": [{**row, "study": "qgm", "step_seconds": 0.1, "step_flops": 0}],
    }
    files = [tmp_path / "a.json", tmp_path / "b.json"]
    for path, run in zip(files, (first, second), strict=True):
        path.write_text(json.dumps(run))
    page = tmp_path / "page.md"
    assert (
        paper_check.main(
            ["--merge", *map(str, files), "--markdown", str(page), "--out", str(tmp_path / "all.json")]
        )
        == 0
    )
    text = page.read_text()
    assert "| `a_s2` | 3 | 1,000 | 1800.00 | 0.03 |" in text and "## qgm: 0.0 GPU-hours" in text
    assert text.count("Measured on cpu.") == 1  # one header per distinct run header
    assert len(json.loads((tmp_path / "all.json").read_text())["results"]) == 2
