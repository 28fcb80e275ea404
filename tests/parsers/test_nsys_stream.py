"""The streaming nsys ingest: chunk boundaries change nothing, and write_nsys's Parquet equals read_nsys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from flashsight.parsers import nsys_sqlite, sqlite_arrow
from flashsight.parsers.nsys_sqlite import read_nsys, write_nsys
from tests.nsys_report_compare import DATA

CAPTURES = [DATA / "h100_shapes" / "shapes.sqlite", DATA / "h100_shapes" / "shapes_graphnodes.sqlite",
            DATA / "h100_fi" / "fi.sqlite", DATA / "cpu_2022" / "cpu.sqlite"]


def _same(a: pd.DataFrame, b: pd.DataFrame, name: str) -> None:
    assert list(a.columns) == list(b.columns), name
    assert len(a) == len(b), name
    for col in a.columns:
        na, nb = a[col].isna().to_numpy(), b[col].isna().to_numpy()
        assert (na == nb).all(), (name, col)
        x, y = a[col][~na].astype(object).to_numpy(), b[col][~nb].astype(object).to_numpy()
        assert all(u == v for u, v in zip(x, y)), (name, col)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.stem)
def test_tiny_chunks_read_in_parallel_give_the_same_tables(path, monkeypatch):
    whole = read_nsys(path)
    orig = sqlite_arrow.SqliteColumns.__init__  # every table in chunks of 7 rows, by 3 connections at once
    monkeypatch.setattr(sqlite_arrow.SqliteColumns, "__init__",
                        lambda self, p, conn=None, batch_rows=7, parallel=3, uri=None:
                        orig(self, p, conn, batch_rows, parallel, uri))
    orig_slices = nsys_sqlite._ranges_tables
    monkeypatch.setattr(nsys_sqlite, "_ranges_tables", lambda r, s, rows=5: orig_slices(r, s, rows))
    chunked = read_nsys(path)
    for name in whole:
        _same(whole[name], chunked[name], name)


@pytest.mark.parametrize("path", CAPTURES[:3], ids=lambda p: p.stem)
def test_write_nsys_parquet_equals_read_nsys(path, tmp_path):
    rows = write_nsys(path, tmp_path)
    tables = read_nsys(path)
    assert rows == {name: len(df) for name, df in tables.items()}
    for name, df in tables.items():
        stored = pq.read_table(tmp_path / f"{name}.parquet")
        assert stored.schema.metadata[b"nsys_version"].decode() == df.attrs["nsys_version"]
        back = stored.to_pandas()
        keys = ["start_ns", "op"] if name == "gpu_memops" else ["start_ns"] if "start_ns" in back else []
        if keys:  # the Parquet keeps the export's order; read_nsys sorts by start
            back = back.sort_values(keys, kind="stable", ignore_index=True)
        for col in df.columns:
            if isinstance(df[col].dtype, pd.CategoricalDtype):
                back[col] = back[col].astype(object)
                df = df.assign(**{col: df[col].astype(object)})
        _same(df.reset_index(drop=True), back[df.columns], name)


def test_a_failed_write_leaves_no_table(tmp_path):
    import shutil
    import sqlite3

    from flashsight.errors import InputError

    bad = tmp_path / "bad.sqlite"
    shutil.copyfile(CAPTURES[0], bad)
    db = sqlite3.connect(bad)
    db.execute("UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET start = 'x' WHERE rowid = 40")
    db.commit()
    db.close()
    with pytest.raises(InputError):
        write_nsys(bad, tmp_path / "out")
    assert not any((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.stem)
def test_without_the_adbc_driver_sqlite3_gives_the_same_tables(path, monkeypatch):
    """adbc-driver-sqlite is a dependency, but an install without it (or one whose driver will not load) still
    reads every export, through sqlite3's rows."""
    import sys

    whole = read_nsys(path)
    monkeypatch.setitem(sys.modules, "adbc_driver_sqlite", None)  # import fails: ImportError
    monkeypatch.setitem(sys.modules, "adbc_driver_sqlite.dbapi", None)
    fallback = read_nsys(path)
    for name in whole:
        _same(whole[name], fallback[name], name)


def test_every_reader_of_a_wal_export_leaves_nothing_beside_it(tmp_path, monkeypatch):
    """The ADBC and rowid-window connections open what nsys_checks.connect_read_only opened (immutable here):
    SQLite's plain read-only mode would leave -shm/-wal files beside a WAL-mode export."""
    import os
    import shutil
    import sqlite3

    path = tmp_path / "fi.sqlite"
    shutil.copy(DATA / "h100_fi" / "fi.sqlite", path)
    os.chmod(path, 0o644)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = wal")
    db.close()
    orig = sqlite_arrow.SqliteColumns.__init__  # tiny windows, so the window connections open too
    monkeypatch.setattr(sqlite_arrow.SqliteColumns, "__init__",
                        lambda self, p, conn=None, batch_rows=3, parallel=2, uri=None:
                        orig(self, p, conn, batch_rows, parallel, uri))
    write_nsys(path, tmp_path / "tables")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fi.sqlite", "tables"]
