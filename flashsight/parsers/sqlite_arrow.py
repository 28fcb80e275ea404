"""Query results of an SQLite file as columns, a chunk of rows at a time.

The fast path is ADBC's SQLite driver (C, columnar; about 3x faster than sqlite3's row tuples, which made two
thirds of an nsys ingest). Without it, or from the row where a value stops fitting the type the driver inferred
(text in an integer column of a damaged export), rows come through sqlite3 and are converted column by column.
Either way a chunk is a `Chunk`: integer columns as int64 values plus a validity mask, where a value that is
not an integer (text, a blob, a fraction) counts as missing and is counted in `Chunk.bad` (where the driver
turned a column of mixed values into text, its integers are read back as integers); text columns as
Arrow strings, a blob decoded as UTF-8 with replacement characters. Queries here are table scans with no
ORDER BY, so their row order is the table's and a query restarted at an OFFSET continues where it stopped.
"""

from __future__ import annotations

import os
import queue
import re
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flashsight.errors import InputError
from flashsight.parsers.nsys_export import SQLITE_ERRORS, damaged

BATCH_ROWS = 65_536
_INT_TEXT = re.compile(r"-?[0-9]+")


@dataclass
class Chunk:
    """One chunk of a query's rows: ints(name) -> (int64 values, valid mask); texts(name) -> pa.StringArray."""

    columns: dict[str, pa.Array]
    num_rows: int
    bad: dict[str, int] = field(default_factory=dict)  # column -> values that were not integers

    def ints(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        arr = self.columns[name]
        if pa.types.is_integer(arr.type) or pa.types.is_null(arr.type):
            valid = _valid(arr)
            values = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False) if arr.null_count else \
                arr.to_numpy(zero_copy_only=False)
            return values.astype(np.int64, copy=False), valid
        values, valid, bad = _coerce_ints(arr.to_pylist())
        if bad:
            self.bad[name] = self.bad.get(name, 0) + bad
        return values, valid

    def texts(self, name: str) -> pa.Array:
        arr = self.columns[name]
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            try:
                arr.validate(full=True)  # a blob the driver passed through as text need not be UTF-8
                return arr
            except pa.ArrowInvalid:
                arr = arr.cast(pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary())
        return pa.array([_as_text(v) for v in arr.to_pylist()], type=pa.string())


def _valid(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return arr.is_valid().to_numpy(zero_copy_only=False)


def _coerce_ints(values: list) -> tuple[np.ndarray, np.ndarray, int]:
    out = np.zeros(len(values), dtype=np.int64)
    valid = np.zeros(len(values), dtype=bool)
    bad = 0
    for i, v in enumerate(values):
        if v is None:
            continue
        if isinstance(v, (bytes, bytearray)) and v.isascii():
            v = v.decode()  # a column the driver made binary (a blob among integers): the integers as text
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, int) and -(1 << 63) <= v < (1 << 63):
            out[i], valid[i] = v, True
        elif isinstance(v, float) and v.is_integer() and abs(v) < 2**63:
            out[i], valid[i] = int(v), True
        elif isinstance(v, str) and _INT_TEXT.fullmatch(v) and -(1 << 63) <= int(v) < (1 << 63):
            out[i], valid[i] = int(v), True  # the driver made a column of mixed values text: its integers
        else:
            bad += 1
    return out, valid, bad


def _as_text(v) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).decode("utf-8", errors="replace")
    return str(v)


class SqliteColumns:
    """Chunked, columnar reads of one SQLite file (read-only)."""

    def __init__(self, path: Path, conn: sqlite3.Connection | None = None, batch_rows: int = BATCH_ROWS,
                 parallel: int | None = None, uri: str | None = None):
        """uri: what every connection opens (default: the file read-only; nsys_checks.connect_read_only's
        URI for an export, so that no reader leaves -wal/-shm files beside it or misses a log's rows)."""
        self.path = Path(path)
        self.uri = uri or getattr(conn, "uri", "") or f"file:{urllib.parse.quote(str(self.path.resolve()))}?mode=ro"
        self.batch_rows = batch_rows
        self.parallel = parallel if parallel is not None else _default_parallel()
        self._conn = conn  # the sqlite3 connection the tolerant path uses (opened on demand otherwise)
        self._adbc = None
        self._adbc_failed = False

    def chunks(self, sql: str, text_columns: tuple[str, ...] = (), table: str | None = None) -> Iterator[Chunk]:
        """Every row of `sql` in chunks, in the table's order. text_columns are read as text; every other
        column as integers. table: the one table `sql` scans (SELECT ... FROM table [WHERE ...]): a large one
        is read in rowid slices by several connections at once, handed out in order."""
        if table is not None and not self._adbc_failed and self.parallel > 1:
            windows = self._rowid_parts(table)
            if len(windows) > 1:
                yield from self._parallel_chunks(sql, text_columns, windows)
                return
        yield from self._serial_chunks(sql, text_columns)

    def _serial_chunks(self, sql: str, text_columns: tuple[str, ...], prefetch: bool = True) -> Iterator[Chunk]:
        done = 0
        if not self._adbc_failed:
            try:
                for chunk in self._adbc_chunks(sql, prefetch):
                    done += chunk.num_rows
                    yield chunk
                return
            except _AdbcUnavailable:
                self._adbc_failed = True
            except Exception:  # noqa: BLE001  a value the driver's inferred type cannot hold: go on with sqlite3
                pass
        yield from self._sqlite_chunks(sql, text_columns, offset=done)

    # --- several connections ---------------------------------------------------------------------------------

    def _rowid_parts(self, table: str) -> list[tuple[int, int]]:
        """Windows of batch_rows rowids over the table (none for a small table: one query reads it)."""
        conn = self._conn or self._open_sqlite()
        try:
            lo, hi = conn.execute(f'SELECT min(rowid), max(rowid) FROM "{table}"').fetchone()
        except sqlite3.DatabaseError:
            return []
        if lo is None or hi - lo < 4 * self.batch_rows:
            return []
        return [(a, min(a + self.batch_rows - 1, hi)) for a in range(lo, hi + 1, self.batch_rows)]

    def _parallel_chunks(self, sql: str, text_columns, windows: list[tuple[int, int]]) -> Iterator[Chunk]:
        """Rowid windows read by `parallel` connections in threads, window k by thread k % parallel, each a
        window or two ahead; the chunks come out in window order, so the rows keep the table's order."""
        joiner = " AND " if " WHERE " in sql.upper() else " WHERE "
        n = min(self.parallel, len(windows))
        readers = [SqliteColumns(self.path, batch_rows=self.batch_rows, parallel=1, uri=self.uri) for _ in range(n)]
        queues = [queue.Queue(maxsize=2) for _ in range(n)]
        stop = threading.Event()

        def work(k: int) -> None:
            try:
                for a, b in windows[k::n]:
                    chunks = list(readers[k]._serial_chunks(f"{sql}{joiner}rowid BETWEEN {a} AND {b}",
                                                            text_columns, prefetch=False))
                    while not stop.is_set():
                        try:
                            queues[k].put(chunks, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
            except BaseException as exc:  # noqa: BLE001  handed to the consumer
                queues[k].put(exc)

        threads = [threading.Thread(target=work, args=(k,), name="flashsight-sqlite-window", daemon=True)
                   for k in range(n)]
        for t in threads:
            t.start()
        try:
            for i in range(len(windows)):
                item = queues[i % n].get()
                if isinstance(item, BaseException):
                    raise item
                yield from item
        finally:
            stop.set()
            for t in threads:
                t.join()
            for r in readers:
                r.close()
                if r._conn is not None:
                    r._conn.close()

    # --- ADBC ----------------------------------------------------------------------------------------------

    def _adbc_cursor(self):
        if self._adbc is None:
            try:
                import adbc_driver_sqlite.dbapi as dbapi
            except ImportError:
                raise _AdbcUnavailable() from None
            try:
                self._adbc = dbapi.connect(self.uri)
            except Exception:  # noqa: BLE001
                raise _AdbcUnavailable() from None
        cursor = self._adbc.cursor()
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(self.batch_rows)})
        return cursor

    def _adbc_chunks(self, sql: str, prefetch: bool = True) -> Iterator[Chunk]:
        """The driver's batches, fetched one ahead in a thread (it releases the GIL while SQLite steps), so
        reading the next chunk overlaps with the caller's work on this one."""
        cursor = self._adbc_cursor()
        try:
            cursor.execute(sql)
            reader = cursor.fetch_record_batch()
            for batch in (_prefetched(reader) if prefetch else reader):
                if batch.num_rows:
                    yield Chunk(dict(zip(batch.schema.names, batch.columns)), batch.num_rows)
        finally:
            cursor.close()

    # --- sqlite3 -------------------------------------------------------------------------------------------

    def _sqlite_chunks(self, sql: str, text_columns, offset: int = 0) -> Iterator[Chunk]:
        conn = self._conn or self._open_sqlite()
        query = f"SELECT * FROM ({sql}) LIMIT -1 OFFSET {offset}" if offset else sql
        try:
            cursor = conn.execute(query)
            names = [d[0] for d in cursor.description]
            while rows := cursor.fetchmany(self.batch_rows):
                columns, bad = {}, {}
                for name, values in zip(names, zip(*rows)):
                    if name in text_columns:
                        columns[name] = pa.array([_as_text(v) for v in values], type=pa.string())
                        continue
                    try:
                        columns[name] = pa.array(values, type=pa.int64())
                    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                        ints, valid, n_bad = _coerce_ints(list(values))
                        columns[name] = pa.array(ints, mask=~valid)
                        bad[name] = n_bad
                yield Chunk(columns, len(rows), bad)
        except SQLITE_ERRORS as exc:
            raise damaged(self.path, exc) from None

    def _open_sqlite(self) -> sqlite3.Connection:
        try:
            self._conn = sqlite3.connect(self.uri, uri=True, check_same_thread=False)
            self._conn.execute("PRAGMA cell_size_check = ON")  # as nsys_checks.connect_read_only
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path}: corrupt or truncated SQLite file ({exc})") from None
        return self._conn

    def close(self) -> None:
        if self._adbc is not None:
            try:
                self._adbc.close()
            except Exception:  # noqa: BLE001
                pass
            self._adbc = None


READERS_ENV = "FLASHSIGHT_SQLITE_READERS"  # connections reading one large table (default: half the CPUs, <= 4)


def _default_parallel() -> int:
    value = os.environ.get(READERS_ENV, "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    return max(1, min((os.cpu_count() or 1) // 2, 4))  # the other half: the ingest itself and Parquet writing


class _AdbcUnavailable(Exception):
    pass


_DONE = object()


def _prefetched(reader, depth: int = 2):
    """Iterate `reader` with up to `depth` items fetched ahead by a thread; its exceptions are re-raised here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def pump():
        try:
            for item in reader:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # noqa: BLE001  handed to the consumer
            q.put(exc)

    worker = threading.Thread(target=pump, name="flashsight-sqlite-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
