"""Reading an Nsight Systems SQLite export: opening it safely, detecting its schema, fetching rows in chunks.

Export schemas differ between nsys versions (tables gain _V2 forms, columns come and go, 2022.x names its
metadata table EXPORT_META_DATA and misspells ENUM_CUDA_KRENEL_LAUNCH_TYPE): detect, never assume.
Any SQLite error becomes an InputError naming the file.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from flashsight.errors import InputError
from flashsight.parsers.input_file import check_input_file

CHUNK_ROWS = 50_000
# What reading a damaged file raises: SQLite's errors, and text that is not UTF-8 (decoded as rows arrive).
SQLITE_ERRORS = (sqlite3.DatabaseError, UnicodeDecodeError)


def damaged(path, exc: Exception, what: str = "corrupt or truncated nsys export") -> InputError:
    """The one-line InputError for an SQLite error or undecodable text met while reading `path`."""
    if isinstance(exc, UnicodeDecodeError):
        return InputError(f"{path}: {what} (it holds text that is not UTF-8)")
    return InputError(f"{path}: {what} ({' '.join(str(exc).split())})")


# Tables whose presence makes an SQLite file an nsys export (with StringIds).
_NSYS_TABLES = {"NVTX_EVENTS", "CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_RUNTIME", "TARGET_INFO_GPU"}


@dataclass
class Export:
    path: Path
    conn: sqlite3.Connection
    columns: dict[str, list[str]] = field(default_factory=dict)  # table -> its columns
    version: str = ""

    def has(self, table: str, column: str | None = None) -> bool:
        cols = self.columns.get(table)
        return cols is not None and (column is None or column in cols)

    def first_table(self, *names: str) -> str | None:
        return next((n for n in names if n in self.columns), None)


def open_export(path: Path) -> Export:
    """Open an nsys SQLite export read-only, leaving nothing beside it; InputError for anything that is not one,
    or that is cut short or damaged (see nsys_checks: the SQLite structure, then the values the parsers need)."""
    from flashsight.parsers import nsys_checks

    path = Path(path)
    check_input_file(path, "an nsys export")
    with open(path, "rb") as f:
        header = f.read(100)
    if header[:16] != b"SQLite format 3\x00":
        raise InputError(f"{path}: not an SQLite file (expected an nsys export)")
    nsys_checks.check_file_size(path, header)
    conn = nsys_checks.connect_read_only(path, header)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
        columns = {n: [r[1] for r in conn.execute(f'PRAGMA table_info("{n}")')] for n in names}
    except SQLITE_ERRORS as exc:
        conn.close()
        raise damaged(path, exc, "corrupt or truncated SQLite file") from None
    if "StringIds" not in columns or not (_NSYS_TABLES & set(columns)):
        conn.close()
        raise InputError(f"{path}: an SQLite file, but not an nsys export (no StringIds / NVTX / CUDA tables)")
    export = Export(path, conn, columns)
    try:
        nsys_checks.check_structure(export)
        export.version = _export_version(export)
        nsys_checks.check_values(export)
        nsys_checks.check_complete(export)
    except BaseException:
        conn.close()
        raise
    return export


def _export_version(export: Export) -> str:
    table = export.first_table("META_DATA_EXPORT", "EXPORT_META_DATA")  # 2025.x, 2022.x
    if table is None:
        return ""
    rows = fetch_all(export, f"SELECT value FROM {table} WHERE name = 'EXPORT_PRODUCT_VERSION'")
    row = rows[0] if rows else None
    return str(row[0]) if row else ""


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:3]) or (0,)


def _query(export: Export, sql: str, params=()):
    try:
        return export.conn.execute(sql, params)
    except SQLITE_ERRORS as exc:
        raise damaged(export.path, exc) from None


def fetch_all(export: Export, sql: str, params=()) -> list:
    try:
        return export.conn.execute(sql, params).fetchall()
    except SQLITE_ERRORS as exc:
        raise damaged(export.path, exc) from None


def read_frame(export: Export, sql: str, params=(), text_columns=()) -> pd.DataFrame:
    """Run a query, fetching in chunks; integer columns become int64 (Int64 where NULLs occur), the
    text_columns categoricals."""
    cursor = _query(export, sql, params)
    names = [d[0] for d in cursor.description]
    parts: dict[str, list] = {n: [] for n in names}
    while True:
        try:
            rows = cursor.fetchmany(CHUNK_ROWS)
        except SQLITE_ERRORS as exc:
            raise damaged(export.path, exc) from None
        if not rows:
            break
        for name, col in zip(names, zip(*rows)):
            parts[name].append(pd.Categorical(col) if name in text_columns else _int_column(col))
    frame = {}
    for name in names:
        chunks = parts.pop(name)
        if name in text_columns:
            frame[name] = pd.api.types.union_categoricals(chunks) if len(chunks) > 1 else \
                (chunks[0] if chunks else pd.Categorical([]))
        elif not chunks:
            frame[name] = pd.array([], dtype="Int64")
        elif all(isinstance(c, np.ndarray) and c.dtype == np.int64 for c in chunks):
            frame[name] = np.concatenate(chunks)
        else:
            frame[name] = pd.concat([pd.Series(c) for c in chunks], ignore_index=True)
            if frame[name].dtype == object:
                frame[name] = frame[name].infer_objects()
    return pd.DataFrame(frame)


def _int_column(values: tuple):
    """One fetched column: int64 array, Int64 (nullable) when NULLs occur, else whatever it holds."""
    try:
        return np.array(values, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        pass
    arr = np.array(values, dtype=object)
    missing = np.equal(arr, None)
    present = arr[~missing]
    if all(isinstance(v, (int, np.integer)) for v in present[:64]):
        try:
            arr[missing] = 0
            return pd.arrays.IntegerArray(arr.astype(np.int64), missing)
        except (TypeError, ValueError, OverflowError):
            arr[missing] = None
    return arr


# --- strings and enums -----------------------------------------------------------------------------------


def string_map(export: Export, ids) -> pd.Categorical:
    """StringIds ids -> a categorical of their values (only the strings actually used are read)."""
    ids = pd.Series(ids).astype("Int64")
    valid = ids.notna().to_numpy()
    raw = ids.fillna(-1).to_numpy(np.int64)
    uniq, inverse = np.unique(raw, return_inverse=True)
    values: dict[int, str] = {}
    wanted = uniq[uniq >= 0]
    for start in range(0, len(wanted), 900):  # SQLite's old limit on bound parameters is 999
        batch = wanted[start:start + 900].tolist()
        marks = ",".join("?" * len(batch))
        values.update(fetch_all(export, f"SELECT id, value FROM StringIds WHERE id IN ({marks})", batch))
    missing = [i for i in wanted.tolist() if i not in values]
    if missing:  # a name id with no string: the export lost part of StringIds
        raise InputError(f"{export.path}: StringIds has no string for id {missing[0]} "
                         f"({len(missing)} of the {len(wanted)} ids used here): the export is damaged")
    cats = pd.Index(sorted(set(values.values())), dtype=object)
    lookup = {v: i for i, v in enumerate(cats)}
    code_of_uniq = np.array([lookup.get(values.get(u), -1) for u in uniq.tolist()], dtype=np.int64)
    codes = np.where(valid, code_of_uniq[inverse.ravel()] if len(uniq) else raw, -1)
    return pd.Categorical.from_codes(codes, categories=cats)


def enum_labels(export: Export, *tables: str) -> dict[int, str]:
    """id -> human label of an ENUM_* table (first of the given spellings that exists)."""
    table = export.first_table(*tables)
    if table is None:
        return {}
    col = "label" if export.has(table, "label") else "name"
    return dict(fetch_all(export, f"SELECT id, {col} FROM {table}"))


def _select(export: Export, table: str, wanted: dict[str, str], where: str = "", order: str = "") -> str:
    """SELECT the wanted source columns that this export has (NULL AS the others)."""
    parts = [f'"{src}" AS {dst}' if export.has(table, src) else f"NULL AS {dst}" for dst, src in wanted.items()]
    sql = f"SELECT {', '.join(parts)} FROM {table}"
    return sql + (f" WHERE {where}" if where else "") + (f" ORDER BY {order}" if order else "")
