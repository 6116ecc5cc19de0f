"""A cluster profile's per-rule runtime and memory from benchmark records (hand-computed headroom)."""

from __future__ import annotations

import pytest
import yaml

from pipeline.core.cluster_resources import main, usage
from pipeline.paths import Outputs

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _record(path, seconds: float, rss: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t1\t1\n")


def test_largest_record_per_rule_with_headroom(tmp_path, capsys):
    out = Outputs("default", tmp_path)
    _record(out.run_benchmark("nero", "a"), 100.0, "700.0")
    _record(out.run_benchmark("fisher", "b"), 1105.0, "917.0")
    _record(out.benchmark("claims", "nero"), 3.0, "NA")
    _record(out.benchmark("claims", "all"), 2.0, "300")
    found = {rule.rule: rule for rule in usage(out)}
    assert set(found) == {"train", "study_claims", "claims_table"}
    train = found["train"]
    assert (train.records, train.max_seconds, train.max_rss_mb) == (2, 1105.0, 917.0)
    # runtime: ceil(3 * 1105 / 60) = ceil(55.25) = 56 minutes; memory: 1.5 * 917 = 1375.5 -> 6 * 256 = 1536 MB
    assert (train.runtime_min, train.mem_mb) == (56, 1536)
    # floors: 5 minutes and 1000 MB
    assert (found["study_claims"].runtime_min, found["study_claims"].mem_mb) == (5, 1000)
    main(["--tag", "default", "--root", str(tmp_path), "--gpus", "0", "--cpus", "1"])
    block = yaml.safe_load(capsys.readouterr().out)["set-resources"]
    assert block["train"] == {"runtime": 56, "mem_mb": 1536, "cpus_per_task": 1, "gpu": 0}
    assert block["claims_table"] == {"runtime": 5, "mem_mb": 1000}


def test_no_records_is_an_error_with_a_remedy(tmp_path):
    with pytest.raises(SystemExit, match="run the workflow"):
        main(["--tag", "default", "--root", str(tmp_path)])
