"""Damaged nsys exports: one line naming the file, the table and the column, never a traceback and never rows
silently lost (issue 13). Data: the H100 FlashInfer export tests/data/nsys/h100_fi/fi.sqlite (nsys 2025.3)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from flashsight.errors import InputError
from flashsight.parsers.nsys_sqlite import read_nsys
from tests.nsys_report_compare import DATA

FI = DATA / "h100_fi" / "fi.sqlite"
K, M, R, N = ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_RUNTIME",
              "NVTX_EVENTS")


def _damaged(tmp_path, *sql: str, loose: str | None = None):
    """A copy of fi.sqlite changed by `sql`; loose: a table first rebuilt without its NOT NULL constraints
    (what a hand-built or damaged file can hold)."""
    path = tmp_path / "fi.sqlite"
    shutil.copy(FI, path)
    os.chmod(path, 0o644)
    db = sqlite3.connect(path)
    if loose:
        db.executescript(f"CREATE TABLE loose AS SELECT * FROM {loose}; DROP TABLE {loose}; "
                         f"ALTER TABLE loose RENAME TO {loose};")
    for statement in sql:
        db.execute(statement)
    db.commit()
    db.close()
    return path


def _refused(path, message: str) -> None:
    with pytest.raises(InputError) as err:
        read_nsys(path)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text, text


@pytest.mark.parametrize("sql, loose, message", [
    (f"UPDATE {K} SET start = NULL WHERE rowid = 3", K, f"{K}.start holds NULL in row 3 (nsys writes an integer"),
    (f"UPDATE {K} SET start = 'abc' WHERE rowid = 3", None, f"{K}.start holds text 'abc' in row 3"),
    (f"UPDATE {K} SET \"end\" = NULL WHERE rowid = 3", K, f"{K}.end holds NULL in row 3"),
    (f"UPDATE {R} SET \"end\" = 'x' WHERE rowid = 3", None, f"{R}.end holds text 'x' in row 3"),
    (f"UPDATE {N} SET start = 'x' WHERE rowid = 3", None, f"{N}.start holds text 'x' in row 3"),
    (f"UPDATE {K} SET start = 1.5 WHERE rowid = 2", None, f"{K}.start holds a real number 1.5 in row 2"),
    (f"UPDATE {K} SET \"end\" = start - 5 WHERE rowid = 2", None, f"{K} row 2 ends before it starts"),
    (f"UPDATE {M} SET bytes = NULL WHERE rowid = 2", M, f"{M}.bytes holds NULL in row 2"),
    (f"ALTER TABLE {M} DROP COLUMN bytes", None, f"{M} has no column bytes"),
    (f"UPDATE StringIds SET value = NULL WHERE id = (SELECT demangledName FROM {K} LIMIT 1)", "StringIds",
     "StringIds.value holds NULL"),
    (f"UPDATE StringIds SET value = x'00ff' WHERE id = (SELECT demangledName FROM {K} LIMIT 1)", None,
     "StringIds.value holds a blob"),
    (f"UPDATE {K} SET demangledName = NULL WHERE rowid = 2", K, f"{K}.demangledName holds NULL in row 2"),
    (f"UPDATE {K} SET demangledName = 99999999 WHERE rowid = 2", None, "StringIds has no string for id 99999999"),
    (f"UPDATE {R} SET globalTid = 'x' WHERE rowid = 2", None, f"{R}.globalTid holds text 'x' in row 2"),
    (f"DROP TABLE {K}", None, f"{R} has cudaLaunchKernel_v7000 calls but there is no {K} table"),
    (f"DROP TABLE {R}", None, f"{K} has rows but there is no {R} table"),
    (f"DROP TABLE {M}", None, f"{R} has cudaMemcpyAsync_v3020 calls but there is no {M} table"),
    ("DROP TABLE TARGET_INFO_GPU", None, "GPU operations but no TARGET_INFO_GPU table"),
])
def test_bad_values_and_lost_tables_name_the_table_and_column(tmp_path, sql, loose, message):
    """The issue's tracebacks (NULL or text start/end, a missing memcpy bytes, NULL or BLOB strings) and the
    silent ones (a dropped table read as an empty one)."""
    _refused(_damaged(tmp_path, sql, loose=loose), message)


def test_a_cut_copy_is_refused_by_its_size(tmp_path):
    data = FI.read_bytes()
    (tmp_path / "cut.sqlite").write_bytes(data[:600_000])
    (tmp_path / "pages.sqlite").write_bytes(data[:4096 * 100])
    _refused(tmp_path / "cut.sqlite", "corrupt or truncated SQLite file (600,000 bytes: not a whole number")
    _refused(tmp_path / "pages.sqlite", "corrupt or truncated SQLite file (409,600 bytes; its header says")


def test_damaged_pages_are_found_by_the_structure_check(tmp_path):
    data = bytearray(FI.read_bytes())
    data[200_000:204_096] = bytes(4096)
    (tmp_path / "zeroed.sqlite").write_bytes(bytes(data))
    _refused(tmp_path / "zeroed.sqlite", "corrupt")


def test_reading_leaves_nothing_beside_a_wal_mode_export(tmp_path):
    """SQLite's read-only mode still made -shm/-wal files beside a WAL-mode database."""
    path = tmp_path / "fi.sqlite"
    shutil.copy(FI, path)
    os.chmod(path, 0o644)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode = wal").fetchone() == ("wal",)
    db.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fi.sqlite"]
    tables = read_nsys(path)
    assert len(tables["gpu_kernels"]) == 29
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fi.sqlite"]


def test_rows_still_in_a_write_ahead_log_are_read(tmp_path):
    """A WAL that holds rows (a writer that never checkpointed) is read from a private copy: immutable mode
    would silently ignore those rows."""
    path = tmp_path / "fi.sqlite"
    shutil.copy(FI, path)
    os.chmod(path, 0o644)
    writer = ("import sqlite3, os, sys\n"
              "db = sqlite3.connect(sys.argv[1])\n"
              "db.execute('PRAGMA journal_mode = wal'); db.execute('PRAGMA wal_autocheckpoint = 0')\n"
              f"db.execute('INSERT INTO {K} SELECT * FROM {K} LIMIT 3'); db.commit()\n"
              "os._exit(0)  # no close: no checkpoint\n")
    subprocess.run([sys.executable, "-c", writer, str(path)], check=True)
    beside = sorted(p.name for p in tmp_path.iterdir())
    assert "fi.sqlite-wal" in beside and (tmp_path / "fi.sqlite-wal").stat().st_size > 0
    assert len(read_nsys(path)["gpu_kernels"]) == 29 + 3
    assert sorted(p.name for p in tmp_path.iterdir()) == beside


def test_an_interrupted_rollback_journal_is_refused(tmp_path):
    path = tmp_path / "fi.sqlite"
    shutil.copy(FI, path)
    (tmp_path / "fi.sqlite-journal").write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + bytes(504))
    _refused(path, "an interrupted write left fi.sqlite-journal beside it")


def test_odd_characters_in_the_file_name(tmp_path):
    """The URI that opens the file read-only quotes its name ('#', '?', '%' and spaces)."""
    path = tmp_path / "a #1 ?x% ü.sqlite"
    shutil.copy(FI, path)
    assert len(read_nsys(path)["gpu_kernels"]) == 29
