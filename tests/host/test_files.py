"""Atomic writes keep the umask's modes; a table folder is replaced as a whole (issue 13)."""

from __future__ import annotations

import os
import stat

import pandas as pd

from flashsight.host.files import atomic_path, foreign_entries, replace_table_dir, staging_dir, write_json


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_files_and_folders_follow_the_umask(tmp_path):
    """mkstemp creates 0600: a shared run was unreadable for teammates."""
    old = os.umask(0o027)
    try:
        json_file = write_json({"a": 1}, tmp_path / "x.json")
        with atomic_path(tmp_path / "t.parquet") as tmp:
            pd.DataFrame({"a": [1]}).to_parquet(tmp)
        staged = staging_dir(tmp_path / "T")
    finally:
        os.umask(old)
    assert _mode(json_file) == _mode(tmp_path / "t.parquet") == 0o640 and _mode(staged) == 0o750


def test_replacing_a_table_folder_leaves_none_of_the_old_tables(tmp_path):
    target = tmp_path / "T"
    target.mkdir()
    for name in ("a.parquet", "b.parquet", "c.csv"):
        (target / name).write_text("old")
    staged = staging_dir(target)
    (staged / "a.parquet").write_text("new")
    replace_table_dir(staged, target)
    assert sorted(p.name for p in target.iterdir()) == ["a.parquet"] and (target / "a.parquet").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["T"]
    fresh = staging_dir(tmp_path / "U")
    replace_table_dir(fresh, tmp_path / "U")
    assert (tmp_path / "U").is_dir()


def test_only_table_files_may_be_replaced(tmp_path):
    (tmp_path / "a.parquet").write_text("")
    (tmp_path / ".a.parquet.x.tmp").write_text("")  # our own leftover of an interrupted write
    assert foreign_entries(tmp_path) == []
    (tmp_path / "sweep.db").write_text("")
    (tmp_path / "jobs").mkdir()
    assert foreign_entries(tmp_path) == ["jobs", "sweep.db"]
