"""Writing and un-writing output folders: atomic files, and what a refused command removes."""

from pathlib import Path

import pytest

from nas.files import check_writable, remove_made, replacing, unwritable


def _hydra_wrote(folder):
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text("x: 1")
    (folder / "train.log").write_text("log")


def test_a_refused_run_removes_its_own_folder_and_the_empty_parents(tmp_path):
    run = tmp_path / "runs" / "train" / "2026-11-26_10-00-00"
    _hydra_wrote(run)
    (tmp_path / "mine.txt").write_text("the user's")
    remove_made(run, [".hydra", "train.log"], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


@pytest.mark.parametrize("where", [".", "runs/demo"])
def test_it_never_removes_what_the_user_or_a_study_keeps(tmp_path, where):
    """hydra.run.dir=. (the working folder itself) or a study's folder: only Hydra's own entries go."""
    run = tmp_path / where
    _hydra_wrote(run)
    (run / "study.db").write_text("trials")
    remove_made(run, [".hydra", "train.log"], tmp_path)
    assert tmp_path.is_dir() and sorted(p.name for p in run.iterdir()) == ["study.db"]


def test_a_failed_atomic_write_leaves_no_half_file(tmp_path):
    with pytest.raises(OSError), replacing(tmp_path / "weights.pt") as tmp:
        tmp.write_bytes(b"half")
        raise OSError("No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_cannot_be_made_says_why(tmp_path):
    (tmp_path / "runs").write_text("a file")
    assert unwritable(tmp_path / "runs" / "demo") == f"cannot make '{tmp_path}/runs/demo': '{tmp_path}/runs' is a file, not a folder"
    assert unwritable(tmp_path, file=True) == f"'{tmp_path}' is a folder, not a file"
    # root passes every access() test, yet can make nothing in /proc: the probe finds out
    assert unwritable(Path("/proc/nas/journal.log"), file=True).startswith("cannot make '/proc/nas': '/proc' is not writable (")
    with pytest.raises(ValueError, match="is a file, not a folder; run from a folder you can write$"):
        check_writable(tmp_path / "runs" / "demo", "run from a folder you can write")


def test_outputs_that_can_be_made_pass_and_the_probe_leaves_nothing(tmp_path):
    assert unwritable(tmp_path / "new" / "folder") is None
    assert unwritable(tmp_path / "new" / "x.yaml", file=True) is None
    (tmp_path / "study.db").write_text("trials")
    assert unwritable(tmp_path / "study.db", file=True) is None
    assert [p.name for p in tmp_path.iterdir()] == ["study.db"]
