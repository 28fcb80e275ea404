"""Fuzz: damaged nsys SQLite exports (cut at page ends and random bytes, zeroed regions, flipped bits, dropped
tables and columns, NULLs and wrong types in every column the parsers read) through `flashsight parse`."""

from __future__ import annotations

import sqlite3

import pytest

from flashsight.parsers.nsys_checks import RULES
from tests.fuzz import damage
from tests.fuzz.captures import baseline, data
from tests.fuzz.harness import check, invoke

PAGE = 4096
READ_TABLES = ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_RUNTIME",
               "NVTX_EVENTS", "StringIds", "TARGET_INFO_GPU", "ENUM_CUDA_MEMCPY_OPER", "ENUM_NSYS_EVENT_CLASS",
               "ENUM_CUDA_KERNEL_LAUNCH_TYPE", "ENUM_CUDA_MEM_KIND", "META_DATA_EXPORT")
BAD_VALUES = {"NULL": None, "text": "x7", "real": 1.5, "blob": b"\x00\xff"}


def _columns(name: str) -> dict[str, list[str]]:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data(name))
        db = sqlite3.connect(path)
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        cols = {t: [r[1] for r in db.execute(f'PRAGMA table_info("{t}")')] for t in tables}
        db.close()
    return cols


def _edit(sql: list[str], loose: str | None = None):
    def make(path):
        db = sqlite3.connect(path)
        if loose:  # rebuilt without NOT NULL constraints, as a hand-made or damaged file can be
            db.executescript(f'CREATE TABLE loose AS SELECT * FROM "{loose}"; DROP TABLE "{loose}"; '
                             f'ALTER TABLE loose RENAME TO "{loose}";')
        for statement in sql:
            if isinstance(statement, tuple):
                db.execute(*statement)
            else:
                db.execute(statement)
        db.commit()
        db.close()
    return make


def _cases():
    for name, pages, cuts, zeros, flips in (("fi.sqlite", 10, 6, 10, 12), ("cpu.sqlite", 5, 4, 5, 6)):
        raw = data(name)
        n_pages = len(raw) // PAGE
        for p in sorted(damage.rng(name, "pages").sample(range(1, n_pages), pages)):
            yield "sqlite cut at a page end", name, f"page{p}", lambda raw, p=p: raw[:p * PAGE], None
        for at in damage.offsets(len(raw), cuts, name, "cut", start=1):
            yield "sqlite cut at a byte", name, f"at{at}", lambda raw, a=at: damage.cut(raw, a), None
        for at in damage.offsets(len(raw), zeros, name, "zero"):
            yield "sqlite zeroed 4 KiB", name, f"at{at}", lambda raw, a=at: damage.zero(raw, a), None
        for k in range(flips):
            yield "sqlite flipped bits", name, f"seed{k}", lambda raw, k=k: damage.flip(raw, 1 + k % 3, name, k), None
    fi = _columns("fi.sqlite")
    for table in READ_TABLES:
        if table in fi:
            yield "sqlite dropped table", "fi.sqlite", table, None, _edit([f'DROP TABLE "{table}"'])
    for table in ("NVTX_EVENTS", "StringIds"):
        yield "sqlite dropped table", "cpu.sqlite", table, None, _edit([f'DROP TABLE "{table}"'])
    i = 0
    for table, rules in RULES.items():
        for column in rules:
            if column not in fi.get(table, ()):
                continue
            if not (table == "StringIds" and column == "id"):  # the key: SQLite cannot drop it
                yield "sqlite dropped column", "fi.sqlite", f"{table}.{column}", None, \
                    _edit([f'ALTER TABLE "{table}" DROP COLUMN "{column}"'])
            for kind in ("NULL", ("text", "real", "blob")[i % 3]):
                i += 1
                where = "rowid = (SELECT min(rowid) + 1 FROM \"%s\")" % table
                yield "sqlite NULL or wrong type", "fi.sqlite", f"{table}.{column}={kind}", None, \
                    _edit([(f'UPDATE "{table}" SET "{column}" = ? WHERE {where}', (BAD_VALUES[kind],))],
                          loose=table if kind == "NULL" or column == "id" else None)  # id: the rowid
    yield "sqlite WAL mode", "fi.sqlite", "wal", None, _edit(["PRAGMA journal_mode = wal"])


CASES = list(_cases())


@pytest.mark.parametrize("klass, name, case, make, edit", CASES, ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_damaged_export(tmp_path, klass, name, case, make, edit):
    rows, _ = baseline(name)
    path = tmp_path / name
    path.write_bytes(make(data(name)) if make else data(name))
    if edit:
        edit(path)
    beside = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "out"
    ran = invoke(["parse", path, "--out", out], out)
    check(klass, f"{name}:{case}", ran, named=str(path), baseline=rows, out=out, warned=("nvtx_ranges",))
    assert sorted(p.name for p in tmp_path.iterdir() if p != out) == beside  # no -wal, -shm, -journal, logs
