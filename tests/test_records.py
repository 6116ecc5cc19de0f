"""Run records: metrics.json carries provenance; writes are atomic."""

import json

import pandas as pd
import pytest

from pipeline.core.atomic import atomic_write
from pipeline.core.records import read_metrics, write_history, write_metrics


def test_metrics_json_has_provenance(tmp_path):
    path = tmp_path / "run" / "metrics.json"
    write_metrics(
        path,
        study="s",
        run="r",
        metrics={"loss": 0.5, "nan": float("nan")},
        config={"seed": 3},
        seed=3,
        device="cpu",
        wall_time_s=1.25,
    )
    record = json.loads(path.read_text())
    assert record["metrics"] == {"loss": 0.5, "nan": None}
    assert record["seed"] == 3 and record["device"] == "cpu" and record["wall_time_s"] == 1.25
    assert record["config"] == {"seed": 3}
    assert record["versions"]["torch"] is not None and record["versions"]["python"]
    assert "git_revision" in record
    assert read_metrics(path)["loss"] == 0.5


def test_history_csv_round_trips(tmp_path):
    frame = pd.DataFrame({"step": [0, 1], "loss": [1.0, 0.5]})
    write_history(tmp_path / "history.csv", frame)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "history.csv"), frame)


def test_failed_atomic_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("old")

    def explode(handle):
        handle.write(b"partial")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(path, explode)
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]
