"""A checkpoint is resumed only by a run with the same config and code."""

from pipeline.core.fingerprint import discard_stale_checkpoint, run_fingerprint, source_digest


def test_fingerprint_changes_with_config_and_run():
    base = run_fingerprint({"lr": 0.1}, "a")
    assert base == run_fingerprint({"lr": 0.1}, "a")
    assert base != run_fingerprint({"lr": 0.2}, "a")
    assert base != run_fingerprint({"lr": 0.1}, "b")


def test_source_digest_sees_code_edits(tmp_path):
    (tmp_path / "m.py").write_text("x = 1\n")
    before = source_digest(tmp_path)
    (tmp_path / "m.py").write_text("x = 2\n")
    assert source_digest(tmp_path) != before


def test_checkpoint_of_the_same_run_is_kept_and_a_stale_one_removed(tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    assert discard_stale_checkpoint(tmp_path, "f1") is False
    checkpoint.write_bytes(b"state")
    assert discard_stale_checkpoint(tmp_path, "f1") is False  # a killed run resumes
    assert checkpoint.exists()
    assert discard_stale_checkpoint(tmp_path, "f2") is True  # config or code changed
    assert not checkpoint.exists()


def test_checkpoint_without_a_fingerprint_is_not_trusted(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"state")
    (tmp_path / "arm_b.pt").write_bytes(b"state")
    assert discard_stale_checkpoint(tmp_path, "f1") is True
    assert not list(tmp_path.glob("*.pt"))
