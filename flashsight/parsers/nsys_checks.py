"""Is this nsys export whole? Checked when it is opened, before any table is read, each failure one line naming
the file (and the table and column).

1. The file: as long as its header says (a cut copy), opened read-only without leaving -wal/-shm/-journal
   files beside it (immutable, or a private copy of a write-ahead log that holds data).
2. SQLite's own structure check (PRAGMA quick_check) of the tables the parsers read: pages, cells, NOT NULL.
3. The values the parsers need, one pass per table: times and ids are integers (NULL only where nsys writes
   NULL), a closed record does not end before it starts, memcpy/memset rows have bytes, strings are text.
4. Tables that must come together: GPU operations without the API calls that launched them, or kernel, memcpy
   and memset launches without their GPU rows, mean a table was lost.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import tempfile
import urllib.parse
from pathlib import Path

from flashsight.errors import InputError
from flashsight.parsers.nsys_export import SQLITE_ERRORS, damaged

KERNEL, MEMCPY, MEMSET, RUNTIME, NVTX = ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY",
                                          "CUPTI_ACTIVITY_KIND_MEMSET", "CUPTI_ACTIVITY_KIND_RUNTIME", "NVTX_EVENTS")
INT, INT_OR_NULL, TEXT, TEXT_OR_NULL = "an integer", "an integer or NULL", "text", "text or NULL"

# Per table: the columns the parsers read and what nsys writes there (2022.4 and 2025.3 schemas agree), and
# the columns without which the table is useless. Columns a version lacks are simply not checked.
RULES: dict[str, dict[str, str]] = {
    KERNEL: {"start": INT, "end": INT, "demangledName": INT, "shortName": INT_OR_NULL, "mangledName": INT_OR_NULL,
             "correlationId": INT_OR_NULL, "globalPid": INT_OR_NULL, "deviceId": INT_OR_NULL,
             "streamId": INT_OR_NULL, "gridX": INT_OR_NULL, "gridY": INT_OR_NULL, "gridZ": INT_OR_NULL,
             "blockX": INT_OR_NULL, "blockY": INT_OR_NULL, "blockZ": INT_OR_NULL},
    MEMCPY: {"start": INT, "end": INT, "bytes": INT, "copyKind": INT_OR_NULL, "correlationId": INT_OR_NULL,
             "globalPid": INT_OR_NULL},
    MEMSET: {"start": INT, "end": INT, "bytes": INT, "correlationId": INT_OR_NULL, "globalPid": INT_OR_NULL},
    RUNTIME: {"start": INT, "end": INT, "nameId": INT, "correlationId": INT_OR_NULL, "globalTid": INT_OR_NULL},
    NVTX: {"start": INT, "end": INT_OR_NULL, "eventType": INT, "textId": INT_OR_NULL, "text": TEXT_OR_NULL,
           "domainId": INT_OR_NULL, "globalTid": INT_OR_NULL, "endGlobalTid": INT_OR_NULL},
    "StringIds": {"id": INT, "value": TEXT},
}
STRUCTURE_TABLES = {*RULES, "TARGET_INFO_GPU"}
REQUIRED = {KERNEL: ("start", "end", "demangledName"), MEMCPY: ("start", "end", "bytes"),
            MEMSET: ("start", "end", "bytes"), RUNTIME: ("start", "end", "nameId"), NVTX: ("start", "eventType"),
            "StringIds": ("id", "value")}
_SQL_TYPE = {INT: "'integer'", TEXT: "'text'"}


# --- 1. the file --------------------------------------------------------------------------------------------


def check_file_size(path: Path, header: bytes) -> None:
    """A file shorter than its header's page count (a copy or download cut short)."""
    if len(header) < 100:
        raise InputError(f"{path}: corrupt or truncated SQLite file ({len(header)} bytes)")
    (page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if page_size == 1 else page_size
    change_counter, pages, valid_for = struct.unpack(">I", header[24:28]), struct.unpack(">I", header[28:32]), \
        struct.unpack(">I", header[92:96])
    size = path.stat().st_size
    if page_size < 512 or page_size & (page_size - 1):
        raise InputError(f"{path}: corrupt SQLite file (page size {page_size} in its header)")
    if size % page_size:
        raise InputError(f"{path}: corrupt or truncated SQLite file ({size:,} bytes: not a whole number of "
                         f"{page_size}-byte pages)")
    if change_counter == valid_for and pages[0] and size < pages[0] * page_size:
        raise InputError(f"{path}: corrupt or truncated SQLite file ({size:,} bytes; its header says "
                         f"{pages[0] * page_size:,})")


class ReadOnly(sqlite3.Connection):
    """A read-only connection that keeps its URI, so other readers of the same export (parsers.sqlite_arrow's
    ADBC and window connections) open exactly what it opened."""

    uri: str = ""


class _PrivateCopy(ReadOnly):
    """A connection to a temporary copy (database + its write-ahead log); closing it removes the copy."""

    copy_dir: str | None = None

    def close(self):
        super().close()
        if self.copy_dir:
            shutil.rmtree(self.copy_dir, ignore_errors=True)
            self.copy_dir = None


def connect_read_only(path: Path, header: bytes) -> sqlite3.Connection:
    """Read-only, and nothing created beside the file: SQLite's read-only mode still makes -shm/-wal files
    for a database in WAL mode, so a finished export opens immutable; one whose -wal holds data is read
    from a private copy of both (immutable would ignore the log's rows)."""
    path = Path(path)
    wal, journal = Path(f"{path}-wal"), Path(f"{path}-journal")
    if journal.is_file() and journal.stat().st_size > 0:
        raise InputError(f"{path}: an interrupted write left {journal.name} beside it: the export may be "
                         "incomplete (export it again)")
    try:
        if header[18:20] == b"\x02\x02" and wal.is_file() and wal.stat().st_size > 0:
            tmp = tempfile.mkdtemp(prefix="flashsight-sqlite-")
            try:
                shutil.copy(path, os.path.join(tmp, "export.sqlite"))
                shutil.copy(wal, os.path.join(tmp, "export.sqlite-wal"))
                uri = _uri(Path(tmp) / "export.sqlite", "mode=ro")
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False, factory=_PrivateCopy)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            conn.copy_dir = tmp
        else:
            uri = _uri(path.resolve(), "mode=ro&immutable=1")
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, factory=ReadOnly)
        conn.uri = uri
        conn.execute("PRAGMA cell_size_check = ON")  # the pages the parsers read are checked as they load
        return conn
    except (sqlite3.DatabaseError, OSError) as exc:
        raise InputError(f"{path}: cannot open it as SQLite ({exc})") from None


def _uri(path: Path, query: str) -> str:
    return f"file:{urllib.parse.quote(str(path))}?{query}"


# --- 2. SQLite's structure ------------------------------------------------------------------------------------


def check_structure(export) -> None:
    """SQLite's quick_check of the tables the parsers read (damage elsewhere cannot spoil their rows, and the
    largest exports are mostly these tables anyway); the whole file where SQLite predates per-table checks."""
    if sqlite3.sqlite_version_info >= (3, 33):
        checks = [f'PRAGMA quick_check("{t}")' for t in export.columns if t in STRUCTURE_TABLES or
                  t.startswith(("ENUM_", "META_DATA", "EXPORT_META"))]
    else:
        checks = ["PRAGMA quick_check(1)"]
    for sql in checks:
        try:
            rows = export.conn.execute(sql).fetchall()
        except SQLITE_ERRORS as exc:
            raise damaged(export.path, exc) from None
        if rows != [("ok",)]:
            said = " ".join(str(rows[0][0]).replace("*** in database main ***", "").split())
            raise InputError(f"{export.path}: corrupt SQLite file (its structure check says: {said})")


# --- 3. values --------------------------------------------------------------------------------------------------


def check_values(export) -> None:
    """Every rule of RULES on the tables this export has, one scan per table (LIMIT 1 at the first bad row)."""
    for table, rules in RULES.items():
        if not export.has(table):
            continue
        missing = [c for c in REQUIRED.get(table, ()) if not export.has(table, c)]
        if missing:
            raise InputError(f"{export.path}: {table} has no column {missing[0]} (nsys writes one): the export "
                             "is damaged or was edited")
        present = {c: rule for c, rule in rules.items() if export.has(table, c)}
        conditions = [_bad(c, rule) for c, rule in present.items()]
        if "start" in present and "end" in present:  # a closed record (NVTX: end NULL = never closed)
            conditions.append('("end" IS NOT NULL AND start IS NOT NULL AND "end" < start)')
        if not conditions:
            continue
        cols = ", ".join(f'"{c}"' for c in present)
        sql = f'SELECT rowid, {cols} FROM "{table}" WHERE {" OR ".join(conditions)} LIMIT 1'
        try:
            row = export.conn.execute(sql).fetchone()
        except SQLITE_ERRORS as exc:
            raise damaged(export.path, exc) from None
        if row is not None:
            raise InputError(_describe(export.path, table, present, row))


def _bad(column: str, rule: str) -> str:
    c = f'"{column}"'
    if rule in (INT, TEXT):
        return f"typeof({c}) != {_SQL_TYPE[rule]}"
    return f"({c} IS NOT NULL AND typeof({c}) != {_SQL_TYPE[INT if rule == INT_OR_NULL else TEXT]})"


def _describe(path: Path, table: str, rules: dict[str, str], row: tuple) -> str:
    rowid, values = row[0], dict(zip(rules, row[1:]))
    for column, rule in rules.items():
        value = values[column]
        want = int if rule in (INT, INT_OR_NULL) else str
        if (value is None and rule in (INT, TEXT)) or (value is not None and not isinstance(value, want)):
            held = "NULL" if value is None else {bytes: "a blob", str: "text", float: "a real number",
                                                  int: "an integer"}[type(value)]
            shown = f" {value!r:.40}" if isinstance(value, (str, float)) else ""
            return (f"{path}: {table}.{column} holds {held}{shown} in row {rowid} (nsys writes {rule} there): "
                    "the export is damaged")
    return (f"{path}: {table} row {rowid} ends before it starts (start {values.get('start')}, end "
            f"{values.get('end')}): the export is damaged")


# --- 4. tables that come together ---------------------------------------------------------------------------------


def check_complete(export) -> None:
    path = export.path
    has_ops = [t for t in (KERNEL, MEMCPY, MEMSET) if export.has(t) and _any_row(export, t)]
    if has_ops and not export.has(RUNTIME):
        raise InputError(f"{path}: {has_ops[0]} has rows but there is no {RUNTIME} table (the calls that "
                         "launched them): the export is incomplete")
    if has_ops and not export.has("TARGET_INFO_GPU"):
        raise InputError(f"{path}: GPU operations but no TARGET_INFO_GPU table (the GPUs they ran on): the "
                         "export is incomplete")
    if not export.has(RUNTIME):
        return
    for table, pattern in ((KERNEL, "cu*LaunchKernel*"), (KERNEL, "cu*LaunchCooperativeKernel*"),
                           (MEMCPY, "cu*Memcpy*"), (MEMSET, "cu*Memset*")):
        if export.has(table):
            continue
        try:  # the names first (StringIds is small): most exports never saw such a call, and need no scan
            names = dict(export.conn.execute("SELECT id, value FROM StringIds WHERE value GLOB ?", (pattern,)))
            call = None
            if names:
                marks = ",".join("?" * len(names))
                call = export.conn.execute(f"SELECT nameId FROM {RUNTIME} WHERE nameId IN ({marks}) LIMIT 1",
                                           list(names)).fetchone()
        except SQLITE_ERRORS as exc:
            raise damaged(path, exc) from None
        if call is not None:
            raise InputError(f"{path}: {RUNTIME} has {names[call[0]]} calls but there is no {table} table: the "
                             "export is incomplete")


def _any_row(export, table: str) -> bool:
    try:
        return export.conn.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is not None
    except SQLITE_ERRORS as exc:
        raise damaged(export.path, exc) from None
