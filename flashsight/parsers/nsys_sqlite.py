"""Nsight Systems SQLite exports -> the canonical tables gpu_kernels, gpu_memops, cuda_api, nvtx_ranges, devices.

Input: a .sqlite export (a .nsys-rep or .qdstrm is exported with nsys first: profilers.read_capture).
Export schemas differ between nsys versions (2022.4 and 2025.3 are both tested): tables and columns are
detected, never assumed; a column a version lacks comes out as nulls. TARGET_INFO_SYSTEM_ENV (the profiled
process's environment) is never read.

Streaming, in four passes over the export (sqlite_arrow: columnar chunks, never a row tuple per value):
  1. NVTX ranges, held as compact arrays: their tree (nvtx_projection.range_forest) and nvtx_path labels;
  2. CUDA API calls, a chunk at a time: each call's innermost push/pop range (its nvtx_path) and innermost
     range of any style (where its GPU work is projected); the chunk goes to the sink, and what a launch
     needs of its call (thread, name, range) stays, sorted by (process, correlation id);
  3. kernels, memcpys and memsets, a chunk at a time, joined to their calls by binary search; each op's start
     and end go to its call's range; the chunk goes to the sink;
  4. the projection summed up the range tree (one sweep by depth), and the ranges to the sink.
Memory is the ranges plus a few numbers per launching call, never a whole table of ops or calls: `write_nsys`
streams the tables to Parquet; `read_nsys` collects the same chunks into DataFrames.

Value-level damage never ends in a traceback: a start/end that is NULL or not an integer (text, a blob) in a
kernel, memcpy, memset, API call or range is an InputError naming the table and the number of rows; a NULL or
blob string is a missing or decoded name.

Every table carries df.attrs["nsys_version"] (the exporter's version, e.g. "2025.3.2.0") and
df.attrs["source"] (the .sqlite path): the summaries use the version to name ranges the way that nsys did.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flashsight.errors import InputError
from flashsight.parsers import nvtx_projection as proj
from flashsight.parsers.nsys_export import (  # noqa: F401  (open_export, version_tuple: public here too)
    Export, _query, _select, enum_labels, open_export, read_frame, string_map, version_tuple,
)
from flashsight.parsers.sqlite_arrow import Chunk, SqliteColumns

TABLES = ("gpu_kernels", "gpu_memops", "cuda_api", "nvtx_ranges", "devices")

# NVTX event types (ENUM_NSYS_EVENT_TYPE): ranges in their two styles, plain and NVTXT-file forms.
PUSHPOP, STARTEND, NVTXT_PUSHPOP, NVTXT_STARTEND, DOMAIN_CREATE = 59, 60, 70, 71, 75
RANGE_TYPES = (PUSHPOP, STARTEND, NVTXT_PUSHPOP, NVTXT_STARTEND)
_PUSHPOP_TYPES = (PUSHPOP, NVTXT_PUSHPOP)

KERNEL, MEMCPY, MEMSET, RUNTIME = (
    "CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET",
    "CUPTI_ACTIVITY_KIND_RUNTIME",
)
_PID_SHIFT = 24
_KEY_CORR_BITS = 40  # launch key = pid << 40 | correlation id (pids < 2^22 on Linux, ids < 2^40)
_DICT = pa.dictionary(pa.int32(), pa.string())

_KERNEL_COLS = {
    "start": "start", "end": "end", "device_id": "deviceId", "context_id": "contextId",
    "green_context_id": "greenContextId", "stream_id": "streamId", "correlation_id": "correlationId",
    "global_pid": "globalPid", "name_id": "demangledName", "short_name_id": "shortName",
    "mangled_name_id": "mangledName", "grid_x": "gridX", "grid_y": "gridY", "grid_z": "gridZ",
    "block_x": "blockX", "block_y": "blockY", "block_z": "blockZ", "registers_per_thread": "registersPerThread",
    "static_shared_memory_bytes": "staticSharedMemory", "dynamic_shared_memory_bytes": "dynamicSharedMemory",
    "shared_memory_executed_bytes": "sharedMemoryExecuted", "local_memory_per_thread_bytes": "localMemoryPerThread",
    "local_memory_total_bytes": "localMemoryTotal", "grid_id": "gridId", "graph_node_id": "graphNodeId",
    "launch_type_id": "launchType",
}
_MEMCPY_COLS = {
    "start": "start", "end": "end", "device_id": "deviceId", "context_id": "contextId", "stream_id": "streamId",
    "correlation_id": "correlationId", "global_pid": "globalPid", "bytes": "bytes", "kind_id": "copyKind",
    "src_kind_id": "srcKind", "dst_kind_id": "dstKind", "graph_node_id": "graphNodeId",
}
_MEMSET_COLS = {
    "start": "start", "end": "end", "device_id": "deviceId", "context_id": "contextId", "stream_id": "streamId",
    "correlation_id": "correlationId", "global_pid": "globalPid", "bytes": "bytes", "value": "value",
    "dst_kind_id": "memKind", "graph_node_id": "graphNodeId",
}
_RUNTIME_COLS = {
    "start": "start", "end": "end", "event_class": "eventClass", "global_tid": "globalTid",
    "correlation_id": "correlationId", "name_id": "nameId", "return_value": "returnValue",
}
_GPU_COLS = {  # TARGET_INFO_GPU, canonical <- source
    "device_id": "id", "name": "name", "chip_name": "chipName", "bus_location": "busLocation", "uuid": "uuid",
    "sm_count": "smCount", "clock_rate_hz": "clockRate", "total_memory_bytes": "totalMemory",
    "memory_bandwidth_bytes_per_s": "memoryBandwidth", "l2_cache_bytes": "l2CacheSize",
    "compute_major": "computeMajor", "compute_minor": "computeMinor", "threads_per_warp": "threadsPerWarp",
    "max_warps_per_sm": "maxWarpsPerSm", "max_blocks_per_sm": "maxBlocksPerSm",
    "max_threads_per_block": "maxThreadsPerBlock", "max_registers_per_sm": "maxRegistersPerSm",
    "max_shared_memory_per_sm_bytes": "maxShmemPerSm", "max_shared_memory_per_block_optin_bytes": "maxShmemPerBlockOptin",
    "async_engines": "asyncEngines", "cuda_device": "cuDevice", "is_discrete": "isDiscrete",
}

# Integer columns that are nullable (pandas Int64) in every table, empty or not; other integer columns are
# int64 unless a NULL occurs.
_NULLABLE = {
    "gpu_kernels": {"graph_node_id", "green_context_id", "pid", "tid", "nvtx_range_id"},
    "gpu_memops": {"value", "graph_node_id", "pid", "tid", "nvtx_range_id"},
    "cuda_api": {"pid", "tid", "nvtx_range_id"},
    "nvtx_ranges": {"depth", "parent", "pid", "tid", "end_tid", "domain_id", "category", "gpu_start_ns",
                    "gpu_end_ns", "gpu_projected_ns", "gpu_op_count", "gpu_child_count"},
}


# --- entry points ----------------------------------------------------------------------------------------


def read_nsys(path: Path) -> dict[str, pd.DataFrame]:
    """The canonical nsys tables of one SQLite export, in memory.

    A .nsys-rep or .qdstrm must be exported first (profilers.read_capture does it with nsys)."""
    sink = MemorySink()
    version = _ingest(Path(path), sink)
    tables = sink.frames()
    for df in tables.values():
        df.attrs.update(nsys_version=version, source=str(path))
    return tables


def write_nsys(path: Path, out_dir: Path) -> dict[str, int]:
    """Stream the canonical tables of one export to <out_dir>/<table>.parquet; returns rows per table.

    Peak memory is the NVTX ranges and a few numbers per launching call, whatever the number of ops.
    Each file's schema metadata holds the export's nsys_version and source. Rows are in the export's order
    (nearly by start; gpu_memops: memcpys, then memsets), nvtx_ranges by start.
    A failure leaves no table file behind."""
    sink = ParquetSink(Path(out_dir), {"source": str(path)})
    try:
        _ingest(Path(path), sink)
        sink.close()
    except BaseException:
        sink.abort()
        raise
    return dict(sink.rows)


def _ingest(path: Path, sink) -> str:
    if path.suffix in (".nsys-rep", ".qdstrm"):
        raise InputError(f"{path}: an nsys report, not its SQLite export: read it with flashsight.parse or "
                         "`flashsight parse` (which export it with nsys), or `nsys export --type sqlite` it")
    export = open_export(path)
    sink.begin(export.version)
    cols = SqliteColumns(path, conn=export.conn)
    try:
        strings = _Strings(export, cols)
        ranges = _read_ranges(export, cols, strings)
        calls = _stream_api(export, cols, strings, ranges, sink)
        ranges.pp_of_elig = None  # only the calls' push/pop ranges needed it
        _stream_ops(export, cols, strings, ranges, calls, sink)
        del calls
        ranges.elig_index = None  # only calls needed it
        for part in _ranges_tables(ranges, strings):
            sink.add("nvtx_ranges", part)
        sink.add("devices", pa.Table.from_pandas(_devices_table(export), preserve_index=False))
    finally:
        cols.close()
        export.conn.close()
    return export.version


# --- sinks -----------------------------------------------------------------------------------------------


class MemorySink:
    """Collects chunks (Arrow tables) and turns each table into one DataFrame at the end."""

    def __init__(self):
        self.parts: dict[str, list[pa.Table]] = {}

    def begin(self, version: str) -> None:
        pass

    def add(self, name: str, table: pa.Table) -> None:
        self.parts.setdefault(name, []).append(table)

    def frames(self) -> dict[str, pd.DataFrame]:
        out = {}
        for name in TABLES:
            parts = self.parts.get(name) or [_EMPTY[name]()]
            table = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
            out[name] = _to_pandas(table, _NULLABLE.get(name, set()))
            if name in ("gpu_kernels", "cuda_api") and len(out[name]):
                out[name] = _sorted_by(out[name], ["start_ns"])
            elif name == "gpu_memops" and len(out[name]):
                out[name] = _sorted_by(out[name], ["start_ns", "op"])
        return out


class ParquetSink:
    """Writes each chunk to <out>/<table>.parquet as it comes (a temp file renamed at close), in a thread of its
    own so encoding and compressing overlap with reading the next chunk (a few chunks queue at most)."""

    def __init__(self, out_dir: Path, meta: dict[str, str]):
        self.out_dir = out_dir
        self.meta = meta
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.tmp: dict[str, Path] = {}
        self.rows: dict[str, int] = {}
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._drain, name="flashsight-parquet", daemon=True)
        self.thread.start()

    def add(self, name: str, table: pa.Table) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((name, table))

    def _drain(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self._write(*item)
                except BaseException as exc:  # noqa: BLE001  re-raised in the ingesting thread
                    self.error = exc

    def _finish_queue(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error

    def _write(self, name: str, table: pa.Table) -> None:
        table = table.combine_chunks()
        writer = self.writers.get(name)
        if writer is None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.tmp[name] = self.out_dir / f".{name}.parquet.tmp"
            schema = table.schema.with_metadata({**self.meta})
            dict_cols = [f.name for f in schema if pa.types.is_dictionary(f.type)]
            # dictionary pages only for the name columns (ints of millions of values only pay for the attempt)
            writer = self.writers[name] = pq.ParquetWriter(self.tmp[name], schema, use_dictionary=dict_cols,
                                                           compression="zstd", compression_level=1)
        elif table.schema != writer.schema.remove_metadata():
            table = table.cast(writer.schema.remove_metadata())
        writer.write_table(table)
        self.rows[name] = self.rows.get(name, 0) + table.num_rows

    def begin(self, version: str) -> None:
        self.meta["nsys_version"] = version

    def close(self) -> None:
        self._finish_queue()
        for name in TABLES:
            if name not in self.writers:
                self._write(name, _EMPTY[name]())
        for name, writer in self.writers.items():
            writer.close()
            self.tmp[name].replace(self.out_dir / f"{name}.parquet")
        self.writers.clear()

    def abort(self) -> None:
        try:
            self._finish_queue()
        except BaseException:  # noqa: BLE001  the failure being reported is the caller's
            pass
        for name, writer in self.writers.items():
            try:
                writer.close()
            finally:
                self.tmp[name].unlink(missing_ok=True)
        self.writers.clear()


def _to_pandas(table: pa.Table, nullable: set[str]) -> pd.DataFrame:
    cols = {}
    for name, col in zip(table.column_names, table.columns):
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.unify_dictionaries() if isinstance(col, pa.ChunkedArray) else col
            cat = col.to_pandas()
            cols[name] = pd.Categorical(cat).remove_unused_categories() if not isinstance(cat.dtype, pd.CategoricalDtype) \
                else cat.cat.remove_unused_categories().array
        elif pa.types.is_integer(t):
            if col.null_count or name in nullable:
                cols[name] = pd.array(col.to_pandas(types_mapper={t: pd.Int64Dtype()}.get), dtype="Int64")
            else:
                cols[name] = col.to_numpy().astype(np.int64, copy=False)
        elif pa.types.is_null(t):
            cols[name] = pd.array([pd.NA] * len(col), dtype="Int64") if name in nullable else \
                pd.Series([None] * len(col), dtype=object)
        else:
            cols[name] = col.to_pandas()
            if pa.types.is_string(t):
                cols[name] = cols[name].astype(object)
    return pd.DataFrame({k: (v.to_numpy() if isinstance(v, pd.Series) and not isinstance(v.dtype, pd.CategoricalDtype)
                                and v.dtype == object else v) for k, v in cols.items()})


def _sorted_by(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    start = df[keys[0]].to_numpy()
    if len(keys) == 1 and (len(start) < 2 or (start[1:] >= start[:-1]).all()):
        return df
    return df.sort_values(keys, kind="stable", ignore_index=True)


# --- strings ---------------------------------------------------------------------------------------------


class _Strings:
    """StringIds, read once: id -> code into `values` (sorted, distinct); also texts given inline (NVTX text)."""

    def __init__(self, export: Export, cols: SqliteColumns):
        self.path = export.path
        ids, vals = [], []
        if export.has("StringIds"):
            for chunk in cols.chunks("SELECT id, value FROM StringIds", text_columns=("value",)):
                i, ok = chunk.ints("id")
                v = chunk.texts("value").to_pylist()
                ids.extend(i[ok].tolist())
                vals.extend(x for x, good in zip(v, ok) if good)
        self.values: list[str] = sorted({v for v in vals if v is not None})
        self._code = {v: c for c, v in enumerate(self.values)}
        pairs = [(i, self._code[v]) for i, v in zip(ids, vals) if v is not None and i >= 0]
        self.max_id = max((i for i, _ in pairs), default=-1)
        if self.max_id < 50_000_000:
            self.dense = np.full(self.max_id + 2, -1, dtype=np.int32)
            for i, c in pairs:
                self.dense[i] = c
            self.lookup = None
        else:  # very sparse ids: a dict
            self.dense = None
            self.lookup = dict(pairs)

    def codes(self, ids: np.ndarray, valid: np.ndarray, strict: bool = False) -> np.ndarray:
        """Codes of StringIds ids (-1 for NULL or unknown ids). strict: an id with no string (the export lost
        part of StringIds) is an InputError, as for the names a kernel or a call must have."""
        out = np.full(len(ids), -1, dtype=np.int32)
        ok = valid & (ids >= 0)
        wanted = ok.copy() if strict else None
        if self.dense is not None:
            ok &= ids <= self.max_id
            out[ok] = self.dense[ids[ok]]
        else:
            out[ok] = [self.lookup.get(i, -1) for i in ids[ok].tolist()]
        if strict and (wanted & (out < 0)).any():
            used = np.unique(ids[wanted])
            missing = np.unique(ids[wanted & (out < 0)])
            raise InputError(f"{self.path}: StringIds has no string for id {int(missing[0])} "
                             f"({len(missing)} of the {len(used)} ids used here): the export is damaged")
        return out

    def add_texts(self, texts: pa.Array) -> np.ndarray:
        """Codes of inline texts (new strings are appended to `values`); -1 for NULL."""
        enc = texts.dictionary_encode()
        local = enc.dictionary.to_pylist()
        mapping = np.empty(len(local) + 1, dtype=np.int32)
        mapping[-1] = -1
        for k, v in enumerate(local):
            code = self._code.get(v)
            if code is None:
                code = self._code[v] = len(self.values)
                self.values.append(v)
            mapping[k] = code
        idx = enc.indices
        raw = idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64) if idx.null_count else \
            idx.to_numpy(zero_copy_only=False).astype(np.int64)
        return mapping[raw]

    def array(self, codes: np.ndarray, categories: list[str] | None = None) -> pa.DictionaryArray:
        """A dictionary column from codes (-1 = null), with only the strings used as its dictionary."""
        values = self.values if categories is None else categories
        used = np.unique(codes[codes >= 0])
        remap = np.full(len(values) + 1, -1, dtype=np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        local = remap[codes]
        dictionary = pa.array([values[u] for u in used.tolist()], type=pa.string())
        return pa.DictionaryArray.from_arrays(pa.array(local, mask=local < 0, type=pa.int32()), dictionary)


def _categorical(labels: list, codes: np.ndarray) -> pa.DictionaryArray:
    """A dictionary column from python labels (None allowed) and codes into them (-1 = null)."""
    labels = list(labels)
    idx = np.asarray(codes, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(idx, mask=idx < 0, type=pa.int32()),
                                          pa.array(labels, type=pa.string()))


def _lookup(mapping: dict[int, int], values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """mapping[value] per element (an enum id -> a label code), -1 for unknown or missing values."""
    out = np.full(len(values), -1, dtype=np.int32)
    if not mapping:
        return out
    keys = np.array(sorted(mapping), dtype=np.int64)
    codes = np.array([mapping[k] for k in keys.tolist()], dtype=np.int32)
    pos = np.clip(np.searchsorted(keys, values), 0, len(keys) - 1)
    hit = valid & (keys[pos] == values)
    out[hit] = codes[pos[hit]]
    return out


def _ints(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    values = np.asarray(values, dtype=np.int64)
    if valid is None or valid.all():
        return pa.array(values, type=pa.int64())
    return pa.array(values, mask=~valid, type=pa.int64())


def _check_times(table: str, chunk: Chunk, path: Path, end_may_be_null: bool = False):
    """start/end of a chunk as int64, or an InputError for damaged values."""
    start, s_ok = chunk.ints("start")
    end_col = "end" if "end" in chunk.columns else "end_raw"
    end, e_ok = chunk.ints(end_col)
    bad_start = int((~s_ok).sum())
    bad_end = chunk.bad.get(end_col, 0) + (0 if end_may_be_null else int((~e_ok).sum()))
    if bad_start or bad_end:
        raise InputError(f"{path}: {table} has {bad_start + bad_end:,} start/end values that are NULL or not "
                         "integers in one chunk of rows (a damaged export)")
    return start, end, e_ok


# --- 1. NVTX ranges --------------------------------------------------------------------------------------


@dataclass
class Ranges:
    """The NVTX ranges as compact arrays, in start order (sparse columns as positions + values)."""

    n: int
    range_id: np.ndarray
    start: np.ndarray
    end: np.ndarray
    unclosed: np.ndarray
    gtid: np.ndarray
    pushpop: np.ndarray
    crossed: np.ndarray  # ended on another thread: no part in the projection or the trees
    text: np.ndarray  # string codes (int32, -1 = none)
    domain: np.ndarray  # codes into domain_names (int32, -1 = default domain)
    domain_names: list
    domain_id: np.ndarray  # int32, -1 where NULL (domain_id_ok)
    domain_id_ok: np.ndarray
    sparse: dict  # end_gtid, category: (positions, values)
    # trees and labels
    forest: proj.Forest | None = None  # over elig
    elig: np.ndarray | None = None  # indices of same-thread ranges (None: all of them)
    pp: np.ndarray | None = None  # indices of same-thread push/pop ranges
    pp_path_codes: np.ndarray | None = None  # per pp range: code into path_names
    path_names: list | None = None
    elig_index: proj.RangeIndex | None = None
    pp_of_elig: np.ndarray | None = None  # per elig range: index into pp of it or its nearest push/pop ancestor
    # projection results (per elig range)
    gpu_start: np.ndarray | None = None
    gpu_end: np.ndarray | None = None
    op_count: np.ndarray | None = None

    @property
    def n_elig(self) -> int:
        return self.n if self.elig is None else len(self.elig)

    def elig_full(self) -> np.ndarray:
        return np.arange(self.n) if self.elig is None else self.elig


def _read_ranges(export: Export, cols: SqliteColumns, strings: _Strings) -> Ranges:
    if not export.has("NVTX_EVENTS"):
        return _no_ranges()
    has = lambda c: export.has("NVTX_EVENTS", c)  # noqa: E731
    opt = lambda c: f'"{c}"' if has(c) else "NULL"  # noqa: E731
    types = ",".join(map(str, RANGE_TYPES))
    sql = (f'SELECT rowid AS range_id, start, "end" AS end_raw, eventType AS event_type, '
           f'{opt("textId")} AS text_id, text, globalTid AS global_tid, {opt("endGlobalTid")} AS end_global_tid, '
           f'{opt("domainId")} AS domain_id, {opt("category")} AS category '
           f"FROM NVTX_EVENTS WHERE eventType IN ({types})")
    total = _count(export, sql)
    cat = {k: np.empty(total, dtype=t) for k, t in (
        ("rid", np.int64), ("s", np.int64), ("e", np.int64), ("eok", bool), ("pp", bool), ("txt", np.int32),
        ("g", np.int64), ("cross", bool), ("d", np.int32), ("dok", bool))}
    sparse: dict[str, tuple[list, list]] = {"end_gtid": ([], []), "category": ([], [])}
    offset = 0
    for chunk in cols.chunks(sql, text_columns=("text",), table="NVTX_EVENTS"):
        if offset + chunk.num_rows > total:
            raise InputError(f"{export.path}: NVTX_EVENTS changed while it was read")
        start, end, e_ok = _check_times("NVTX_EVENTS", chunk, export.path, end_may_be_null=True)
        rid, _ = chunk.ints("range_id")
        tid_ids, tid_ok = chunk.ints("text_id")
        code = strings.codes(tid_ids, tid_ok)
        inline = strings.add_texts(chunk.texts("text"))
        code = np.where(code >= 0, code, inline)  # registered string, else the inline text
        et, _ = chunk.ints("event_type")
        g, g_ok = chunk.ints("global_tid")
        d, d_ok = chunk.ints("domain_id")
        for name, col in (("end_gtid", "end_global_tid"), ("category", "category")):
            v, ok = chunk.ints(col)
            where = np.flatnonzero(ok)
            sparse[name][0].append(where + offset)
            sparse[name][1].append(v[where])
        _, eg_ok = chunk.ints("end_global_tid")
        sl = slice(offset, offset + chunk.num_rows)
        for key, val in (("rid", rid), ("s", start), ("e", np.where(e_ok, end, 0)), ("eok", e_ok),
                         ("pp", np.isin(et, _PUSHPOP_TYPES)), ("txt", code), ("g", np.where(g_ok, g, 0)),
                         ("cross", eg_ok), ("d", np.where(d_ok, d, -1)), ("dok", d_ok)):
            cat[key][sl] = val
        offset += chunk.num_rows
    if not offset:
        return _no_ranges()
    if offset < total:
        cat = {k: v[:offset] for k, v in cat.items()}
    sp = {k: (np.concatenate(p) if p else np.zeros(0, np.int64), np.concatenate(v) if v else np.zeros(0, np.int64))
          for k, (p, v) in sparse.items()}
    start = cat["s"]
    if len(start) > 1 and not (start[1:] >= start[:-1]).all():  # by start, as nsys's traces list them
        order = np.argsort(start, kind="stable")
        for k in cat:
            cat[k] = cat[k][order]
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        sp = {k: (rank[p], v) for k, (p, v) in sp.items()}
        del order, rank
    n = len(cat["s"])
    # Unclosed ranges end at the last NVTX timestamp: of range events in newer nsys, of all events in 2022.x.
    scope = "" if version_tuple(export.version) < (2023,) else f"WHERE eventType IN ({types})"
    row = _query(export, f'SELECT max(max(start), max("end")) FROM NVTX_EVENTS {scope}').fetchone()
    max_ts = row[0] if row and isinstance(row[0], int) else 0
    unclosed = ~cat.pop("eok")
    end = cat.pop("e")
    end[unclosed] = max_ts
    domain, domain_names = _domains(export, cols, strings, cat["d"], cat["dok"], cat["g"])
    r = Ranges(
        n=n, range_id=cat["rid"], start=cat["s"], end=end, unclosed=unclosed, gtid=cat["g"],
        pushpop=cat["pp"], crossed=cat["cross"], text=cat["txt"], domain=domain, domain_names=domain_names,
        domain_id=cat["d"], domain_id_ok=cat["dok"], sparse=sp,
    )
    _trees(r, strings)
    return r


def _count(export: Export, sql: str) -> int:
    row = _query(export, f"SELECT count(*) FROM ({sql})").fetchone()
    return int(row[0]) if row and row[0] else 0


def _no_ranges() -> Ranges:
    z = np.zeros(0, dtype=np.int64)
    b = np.zeros(0, dtype=bool)
    i = np.zeros(0, dtype=np.int32)
    r = Ranges(0, z, z, z, b, z, b, b, i, i, [], i, b, {"end_gtid": (z, z), "category": (z, z)})
    r.forest = proj.range_forest(z, z, z)
    r.pp, r.pp_path_codes, r.path_names, r.pp_of_elig = z, z, [], z
    r.gpu_start, r.gpu_end, r.op_count = z, z, z
    return r


def _domains(export, cols, strings, domain_id, domain_ok, gtid):
    """Per range, the code of its domain's name (the domain-create event of the same process, as nsys matches
    it) into a list of names; -1 for the default domain or an unknown one."""
    if not export.has("NVTX_EVENTS", "domainId"):
        return np.full(len(domain_id), -1, dtype=np.int32), []
    has_text_id = export.has("NVTX_EVENTS", "textId")
    rows = []
    sql = (f'SELECT domainId AS domain_id, globalTid AS global_tid, {"textId" if has_text_id else "NULL"} AS text_id, '
           f"text, start FROM NVTX_EVENTS WHERE eventType = {DOMAIN_CREATE}")
    for chunk in cols.chunks(sql, text_columns=("text",)):
        d, d_ok = chunk.ints("domain_id")
        g, _ = chunk.ints("global_tid")
        t, t_ok = chunk.ints("text_id")
        s, _ = chunk.ints("start")
        reg = strings.codes(t, t_ok)
        texts = chunk.texts("text").to_pylist()
        for k in range(chunk.num_rows):
            if not d_ok[k]:
                continue
            name = strings.values[reg[k]] if reg[k] >= 0 else texts[k]
            rows.append((int(s[k]), int(d[k]), (int(g[k]) >> _PID_SHIFT) & 0xFFFFFF, name))
    first: dict[tuple[int, int], str] = {}
    for _, d, pid_key, name in sorted(rows, key=lambda x: x[0]):
        first.setdefault((d, pid_key), name)
    names = sorted({v for v in first.values() if v is not None})
    code_of = {v: i for i, v in enumerate(names)}
    out = np.full(len(domain_id), -1, dtype=np.int32)
    if first:
        pair = np.where(domain_ok, domain_id, -1).astype(np.int64) * (1 << 24) + ((gtid >> _PID_SHIFT) & 0xFFFFFF)
        keys, uniq = pd.factorize(pair)
        per_uniq = np.array([code_of.get(first.get((int(u) >> 24, int(u) & 0xFFFFFF)), -1) for u in uniq.tolist()],
                            dtype=np.int32)
        out = per_uniq[keys]
    return out, names


def _labels(r: Ranges, strings: _Strings, idx: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Path element of each range in idx: its text, prefixed 'domain:' outside the default domain (as nsys
    names it). Built once per distinct (domain, text) pair; returns codes and their labels."""
    if not len(idx):
        return np.zeros(0, dtype=np.int64), []
    pair = r.domain[idx].astype(np.int64) * (len(strings.values) + 2) + r.text[idx].astype(np.int64) + 1
    codes, uniq = pd.factorize(pair)
    labels = []
    for key in uniq.tolist():
        d, t = divmod(key, len(strings.values) + 2)
        text = strings.values[t - 1] if t >= 1 else ""
        labels.append(f"{r.domain_names[d]}:{text}" if d >= 0 else text)
    return codes, labels


def _trees(r: Ranges, strings: _Strings) -> None:
    """nsys's tree (nvtx_gpu_proj_trace: every same-thread range, both styles, all domains), and from it the
    push/pop tree of nvtx_path: where ranges nest, a push/pop range's parent there is its nearest push/pop
    ancestor; segments where ranges overlap without nesting get a push/pop tree of their own."""
    sub = lambda a, i: a if i is None else a[i]  # noqa: E731
    r.elig = None if not r.crossed.any() else np.flatnonzero(~r.crossed).astype(np.int32)
    f = r.forest = proj.range_forest(sub(r.gtid, r.elig), sub(r.start, r.elig), sub(r.end, r.elig))
    r.elig_index = proj.RangeIndex(r.gtid, r.start, r.end, f.parent, f.laminar, idx=r.elig, order=f.order)
    n_e = r.n_elig
    is_pp = sub(r.pushpop, r.elig)
    pp_e = np.flatnonzero(is_pp).astype(np.int32)  # elig positions of push/pop ranges
    pp_pos = np.full(n_e, -1, dtype=np.int32)  # elig position -> pp position
    pp_pos[pp_e] = np.arange(len(pp_e), dtype=np.int32)
    # nearest push/pop ancestor-or-self of every elig range, climbing the forest (as many steps as levels)
    anc = np.where(is_pp, np.arange(n_e, dtype=np.int32), f.parent)
    todo = np.flatnonzero((anc >= 0) & ~is_pp[np.maximum(anc, 0)])
    while len(todo):
        anc[todo] = f.parent[anc[todo]]
        todo = todo[(anc[todo] >= 0) & ~is_pp[np.maximum(anc[todo], 0)]]
    r.pp_of_elig = np.where(anc >= 0, pp_pos[np.maximum(anc, 0)], -1).astype(np.int32)
    # push/pop parent and depth: the nearest push/pop proper ancestor
    up = f.parent[pp_e]
    pp_parent = np.where(up >= 0, r.pp_of_elig[np.maximum(up, 0)], -1).astype(np.int64)
    pp_depth = np.zeros(len(pp_e), dtype=np.int64)
    for d in range(1, int(f.depth.max()) + 1 if n_e else 0):  # parents first: by the forest's depth
        at = np.flatnonzero((f.depth[pp_e] == d) & (pp_parent >= 0))
        pp_depth[at] = pp_depth[pp_parent[at]] + 1
    odd = np.flatnonzero(~f.laminar[pp_e])
    if len(odd):  # overlapping segments: the push/pop ranges there make their own tree
        e_idx = pp_e[odd]
        full = e_idx if r.elig is None else r.elig[e_idx]
        sub_parent, sub_depth = proj.range_tree(r.gtid[full], r.start[full], r.end[full])
        pp_parent[odd] = np.where(sub_parent >= 0, odd[np.maximum(sub_parent, 0)], -1)
        pp_depth[odd] = sub_depth
    r.pp = pp_e if r.elig is None else r.elig[pp_e]
    label_codes, labels = _labels(r, strings, r.pp)
    paths = proj.paths(pd.Categorical.from_codes(label_codes, categories=pd.Index(labels, dtype=object))
                       if labels else pd.Categorical([]), pp_parent, pp_depth)
    r.pp_path_codes = np.asarray(paths.codes, dtype=np.int32)
    r.path_names = list(paths.categories)


def _pp_innermost(r: Ranges, target: np.ndarray, flagged: np.ndarray, gq, start, end) -> np.ndarray:
    """Per call, its innermost enclosing push/pop range (index into r.pp, -1 for none): the nearest push/pop
    ancestor-or-self of its innermost same-thread range; where ranges overlap without nesting, the shortest
    push/pop range among every range containing the call."""
    out = np.where(target >= 0, r.pp_of_elig[np.maximum(target, 0)], -1) if r.n_elig else np.full(len(target), -1)
    fl = np.flatnonzero(flagged)
    if len(fl):
        calls, rngs = r.elig_index.containers(gq[fl], start[fl], end[fl], r.forest.seg_first)
        full = rngs if r.elig is None else r.elig[rngs]
        keep = r.pushpop[full]
        calls, rngs, full = calls[keep], rngs[keep], full[keep]
        out[fl] = -1
        if len(calls):
            length = r.end[full] - r.start[full]
            best = np.lexsort((-r.start[full], length, calls))  # per call: shortest, then latest start first
            first = best[np.r_[True, calls[best][1:] != calls[best][:-1]]]
            out[fl[calls[first]]] = r.pp_of_elig[rngs[first]]
    return out


# --- 2. CUDA API calls -----------------------------------------------------------------------------------


@dataclass
class Calls:
    """What a GPU op needs of its launching call, sorted by launch key."""

    key: np.ndarray  # pid << 40 | correlation id
    tid: np.ndarray
    name: np.ndarray  # code into api_names
    api_names: list
    pp_range: np.ndarray  # index into ranges.pp, -1 for none (nvtx_path, nvtx_range_id)
    target: np.ndarray  # innermost same-thread range (index into ranges.elig), -1 for none
    flagged: np.ndarray  # the call lies where ranges overlap without nesting
    start: np.ndarray  # start, end, global tid of the flagged calls only
    end: np.ndarray
    gtid: np.ndarray
    flag_pos: np.ndarray  # per call: its position in start/end/gtid, -1 for calls not flagged


def _launch_key(pid_key: np.ndarray, corr: np.ndarray) -> np.ndarray:
    return (pid_key.astype(np.int64) << _KEY_CORR_BITS) | (corr.astype(np.int64) & ((1 << _KEY_CORR_BITS) - 1))


def _stream_api(export, cols, strings, r: Ranges, sink) -> Calls:
    classes = enum_labels(export, "ENUM_NSYS_EVENT_CLASS")
    class_kind = {k: _api_kind(v) for k, v in classes.items()}
    kinds = sorted({v for v in class_kind.values() if v is not None})
    kind_code = {v: i for i, v in enumerate(kinds)}
    stripped = [c[:-6] if c[-6:-4] == "_v" else c for c in strings.values]  # cudaLaunchKernel_v7000 -> ...
    strip_names = sorted(set(stripped))
    strip_code = np.array([strip_names.index(x) for x in stripped] if len(strip_names) < 2000 else
                          pd.Index(strip_names).get_indexer(stripped), dtype=np.int32)
    total = _count(export, f"SELECT 1 FROM {RUNTIME}") if export.has(RUNTIME) else 0
    keep_arr = {k: np.empty(total, dtype=t) for k, t in (("key", np.int64), ("tid", np.int32), ("name", np.int32),
                                                         ("pp", np.int32), ("tg", np.int32), ("fl", bool))}
    flagged_parts = {"s": [], "e": [], "g": []}
    kept = 0
    if export.has(RUNTIME):
        for chunk in cols.chunks(_select(export, RUNTIME, _RUNTIME_COLS), table=RUNTIME):
            start, end, _ = _check_times(RUNTIME, chunk, export.path)
            g, g_ok = chunk.ints("global_tid")
            corr, c_ok = chunk.ints("correlation_id")
            name_ids, n_ok = chunk.ints("name_id")
            ev, ev_ok = chunk.ints("event_class")
            ret, ret_ok = chunk.ints("return_value")
            gq = np.where(g_ok, g, -1)
            target, flagged = r.elig_index.innermost(gq, start, end) if r.n_elig else \
                (np.full(len(start), -1), np.zeros(len(start), bool))
            pp_local = _pp_innermost(r, target, flagged, gq, start, end) if len(r.pp) else np.full(len(start), -1)
            name = strings.codes(name_ids, n_ok, strict=True)
            path_codes = np.where(pp_local >= 0, r.pp_path_codes[np.maximum(pp_local, 0)], -1) if len(r.pp) else \
                np.full(len(start), -1)
            range_id = r.range_id[r.pp[np.maximum(pp_local, 0)]] if len(r.pp) else np.zeros(len(start), np.int64)
            kind = _lookup({k: kind_code.get(v, -1) for k, v in class_kind.items()}, ev, ev_ok)
            sink.add("cuda_api", pa.table({
                "start_ns": _ints(start), "end_ns": _ints(end), "duration_ns": _ints(end - start),
                "name": strings.array(np.where(name >= 0, strip_code[np.maximum(name, 0)], -1), strip_names),
                "symbol": strings.array(name),
                "api": _categorical(kinds, kind),
                "pid": _ints((g >> _PID_SHIFT) & 0xFFFFFF, g_ok), "tid": _ints(g & 0xFFFFFF, g_ok),
                "correlation_id": _ints(corr, c_ok), "return_value": _ints(ret, ret_ok),
                "nvtx_path": _categorical(r.path_names, path_codes),
                "nvtx_range_id": _ints(range_id, pp_local >= 0),
            }))
            idx = np.flatnonzero(c_ok & g_ok)  # a call without correlation id or thread: nothing to match
            if kept + len(idx) > total:
                raise InputError(f"{export.path}: {RUNTIME} changed while it was read")
            sl = slice(kept, kept + len(idx))
            keep_arr["key"][sl] = _launch_key(g[idx] >> _PID_SHIFT, corr[idx])
            keep_arr["tid"][sl] = g[idx] & 0xFFFFFF
            keep_arr["name"][sl] = name[idx]
            keep_arr["pp"][sl] = pp_local[idx]
            keep_arr["tg"][sl] = target[idx]
            keep_arr["fl"][sl] = flagged[idx]
            kept += len(idx)
            # the call's own times are kept only where ranges overlap without nesting (exact matching)
            fl = idx[flagged[idx]]
            flagged_parts["s"].append(start[fl])
            flagged_parts["e"].append(end[fl])
            flagged_parts["g"].append(g[fl])
    fp = {k: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64)) for k, v in flagged_parts.items()}
    order = np.argsort(keep_arr["key"][:kept], kind="stable")  # stable: the first call of a shared key first
    fl_pos = np.full(kept, -1, dtype=np.int32)  # int32 like the other per-call arrays (calls < 2**31)
    fl_pos[np.flatnonzero(keep_arr["fl"][:kept])] = np.arange(len(fp["s"]), dtype=np.int32)
    for k in list(keep_arr):
        keep_arr[k] = keep_arr[k][:kept][order]  # one array at a time: the peak is one copy
    calls = Calls(
        key=keep_arr["key"], tid=keep_arr["tid"], name=keep_arr["name"], api_names=strip_names,
        pp_range=keep_arr["pp"], target=keep_arr["tg"], flagged=keep_arr["fl"], start=fp["s"], end=fp["e"],
        gtid=fp["g"], flag_pos=fl_pos[order],
    )
    return calls


def _api_kind(label) -> str | None:
    if not isinstance(label, str):
        return None
    low = label.lower()
    return "driver" if "driver" in low else "runtime" if "runtime" in low else label


# --- 3. GPU ops ------------------------------------------------------------------------------------------


def _stream_ops(export, cols, strings, r: Ranges, calls: Calls, sink) -> None:
    launch_types = enum_labels(export, "ENUM_CUDA_KERNEL_LAUNCH_TYPE", "ENUM_CUDA_KRENEL_LAUNCH_TYPE")
    copy_kinds = enum_labels(export, "ENUM_CUDA_MEMCPY_OPER")
    mem_kinds = enum_labels(export, "ENUM_CUDA_MEM_KIND")
    proj_state = _Projection(r, calls)
    for op, table, spec in (("kernel", KERNEL, _KERNEL_COLS), ("memcpy", MEMCPY, _MEMCPY_COLS),
                            ("memset", MEMSET, _MEMSET_COLS)):
        if not export.has(table):
            continue
        for chunk in cols.chunks(_select(export, table, spec), table=table):
            start, end, _ = _check_times(table, chunk, export.path)
            corr, c_ok = chunk.ints("correlation_id")
            gp, gp_ok = chunk.ints("global_pid")
            call = _find_calls(calls, _launch_key(gp >> _PID_SHIFT, corr), c_ok & gp_ok)
            proj_state.add(call, start, end, calls)
            found = call >= 0
            ci = np.maximum(call, 0)
            info = {
                "pid": _ints((gp >> _PID_SHIFT) & 0xFFFFFF, gp_ok),
                "tid": _ints(calls.tid[ci] if len(calls.key) else np.zeros(len(call)), found),
                "api_name": strings.array(np.where(found, calls.name[ci], -1) if len(calls.key) else
                                          np.full(len(call), -1), None),
                "nvtx_path": _categorical(r.path_names, np.where(
                    found & (calls.pp_range[ci] >= 0), r.pp_path_codes[np.maximum(calls.pp_range[ci], 0)], -1)
                    if len(calls.key) and len(r.pp) else np.full(len(call), -1)),
                "nvtx_range_id": _ints(r.range_id[r.pp[np.maximum(calls.pp_range[ci], 0)]]
                                       if len(calls.key) and len(r.pp) else np.zeros(len(call)),
                                       found & (calls.pp_range[ci] >= 0) if len(calls.key) else found),
            }
            info["api_name"] = _strip_dictionary(info["api_name"])
            if op == "kernel":
                sink.add("gpu_kernels", _kernel_chunk(chunk, start, end, strings, launch_types, info))
            else:
                sink.add("gpu_memops", _memop_chunk(op, chunk, start, end, copy_kinds, mem_kinds, info))
    proj_state.finish()


def _find_calls(calls: Calls, key: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Index (into calls) of each op's launching call: the first call with its key, -1 for none."""
    if not len(calls.key):
        return np.full(len(key), -1, dtype=np.int64)
    pos = np.searchsorted(calls.key, key, "left")
    pos_c = np.minimum(pos, len(calls.key) - 1)
    hit = ok & (pos < len(calls.key)) & (calls.key[pos_c] == key)
    return np.where(hit, pos_c, -1)


def _strip_dictionary(arr: pa.DictionaryArray) -> pa.DictionaryArray:
    """API names as nsys's reports print them: a 6-character '_vNNNN' suffix dropped
    (cudaLaunchKernel_v7000 -> cudaLaunchKernel; cudaLaunchKernelExC_v11060 stays, as in nsys)."""
    labels = arr.dictionary.to_pylist()
    short = [c[:-6] if c[-6:-4] == "_v" else c for c in labels]
    uniq = sorted(set(short))
    remap = np.array([uniq.index(s) for s in short] + [-1], dtype=np.int32)
    idx = arr.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return _categorical(uniq, remap[idx])


class _Projection:
    """Each op's start and end go to its call's innermost same-thread range; `finish` sums them up the tree.

    A range owns the ops whose call lies inside it (nsys's nvtx_gpu_proj_trace): where ranges nest, those are
    the ops of the range's own calls and of its descendants'. Where they overlap without nesting, a call is
    matched against every range of its segment instead. The op count counts distinct correlation ids: each call
    once, and calls that share a key (same process and correlation id) once per range."""

    def __init__(self, r: Ranges, calls: Calls):
        self.r, self.calls = r, calls
        self.counted = np.zeros(len(calls.key), dtype=bool)
        self.e_start = np.full(r.n_elig, np.iinfo(np.int64).max, dtype=np.int64)
        self.e_end = np.full(r.n_elig, np.iinfo(np.int64).min, dtype=np.int64)
        self.e_count = np.zeros(r.n_elig, dtype=np.int32)  # written as int64; a range's ops are < 2**31
        dup = np.zeros(len(calls.key), dtype=bool)
        if len(calls.key) > 1:
            same = calls.key[1:] == calls.key[:-1]
            dup[1:] |= same
            dup[:-1] |= same
        self.dup = dup  # calls of a key shared with another call

    def add(self, call: np.ndarray, start: np.ndarray, end: np.ndarray, calls: Calls) -> None:
        if not self.r.n_elig or not len(calls.key):
            return
        found = np.flatnonzero(call >= 0)
        if not len(found):
            return
        c = call[found]
        if self.dup.any() and self.dup[c].any():  # ops of a shared key go to every call with that key
            extra_c, extra_o = [], []
            for k in np.flatnonzero(self.dup[c]).tolist():
                ci = int(c[k])
                j = ci + 1
                while j < len(calls.key) and calls.key[j] == calls.key[ci]:
                    extra_c.append(j)
                    extra_o.append(found[k])
                    j += 1
            if extra_c:
                c = np.concatenate([c, np.asarray(extra_c, dtype=np.int64)])
                found = np.concatenate([found, np.asarray(extra_o, dtype=np.int64)])
        s, e = start[found], end[found]
        plain = ~calls.flagged[c]
        tgt = calls.target[c]
        use = plain & (tgt >= 0)
        np.minimum.at(self.e_start, tgt[use], s[use])
        np.maximum.at(self.e_end, tgt[use], e[use])
        new = use & ~self.counted[c]
        first_of = np.unique(c[new], return_index=True)[1]
        np.add.at(self.e_count, tgt[new][first_of], 1)
        self.counted[c[new]] = True
        if (~plain).any():
            fc = c[~plain]
            pos = calls.flag_pos[fc]
            pairs_c, pairs_r = self.r.elig_index.containers(calls.gtid[pos], calls.start[pos], calls.end[pos],
                                                            self.r.forest.seg_first)
            np.minimum.at(self.e_start, pairs_r, s[~plain][pairs_c])
            np.maximum.at(self.e_end, pairs_r, e[~plain][pairs_c])
            first = ~self.counted[fc]
            self.counted[fc] = True
            fresh_pairs = first[pairs_c]
            # one count per (call, range), whatever the number of its ops in this chunk
            key = fc[pairs_c[fresh_pairs]] * (len(self.e_count) + 1) + pairs_r[fresh_pairs]
            _, uniq_idx = np.unique(key, return_index=True)
            np.add.at(self.e_count, pairs_r[fresh_pairs][uniq_idx], 1)

    def finish(self) -> None:
        r, f = self.r, self.r.forest
        r.gpu_start, r.gpu_end, r.op_count = self.e_start, self.e_end, self.e_count
        if not r.n_elig:
            return
        depth, parent = f.depth, f.parent
        up = f.laminar & (parent >= 0)  # where ranges nest, a parent owns its children's ops
        for d in range(int(depth.max()) if len(depth) else 0, 0, -1):
            at = np.flatnonzero(up & (depth == d))
            if not len(at):
                continue
            np.minimum.at(self.e_start, parent[at], self.e_start[at])
            np.maximum.at(self.e_end, parent[at], self.e_end[at])
            np.add.at(self.e_count, parent[at], self.e_count[at])
        self._shared_keys()

    def _shared_keys(self) -> None:
        """Calls sharing a key were counted once each: count their key once per range that holds several."""
        calls, f = self.calls, self.r.forest
        groups = np.flatnonzero(self.dup & self.counted)
        if not len(groups):
            return
        by_key: dict[int, list[int]] = {}
        for ci in groups.tolist():
            by_key.setdefault(int(calls.key[ci]), []).append(ci)
        for members in by_key.values():
            if len(members) < 2:
                continue
            seen: dict[int, int] = {}
            for ci in members:
                for rng in self._chain(ci):
                    seen[rng] = seen.get(rng, 0) + 1
            for rng, times in seen.items():
                self.e_count[rng] -= times - 1

    def _chain(self, ci: int) -> list[int]:
        calls, f = self.calls, self.r.forest
        if calls.flagged[ci]:
            pos = calls.flag_pos[ci:ci + 1]
            _, rngs = self.r.elig_index.containers(calls.gtid[pos], calls.start[pos], calls.end[pos], f.seg_first)
            return rngs.tolist()
        out, rng = [], int(calls.target[ci])
        while rng >= 0:
            out.append(rng)
            rng = int(f.parent[rng]) if f.laminar[rng] else -1
        return out


def _kernel_chunk(chunk: Chunk, start, end, strings, launch_types, info) -> pa.Table:
    def col(name):
        v, ok = chunk.ints(name)
        return _ints(v, ok)

    def names(name):
        v, ok = chunk.ints(name)
        return strings.array(strings.codes(v, ok, strict=True))

    lt, lt_ok = chunk.ints("launch_type_id")
    lt_labels = sorted(set(launch_types.values()))
    lt_code = _lookup({k: lt_labels.index(v) for k, v in launch_types.items()}, lt, lt_ok)
    return pa.table({
        "start_ns": _ints(start), "end_ns": _ints(end), "duration_ns": _ints(end - start),
        "device_id": col("device_id"), "context_id": col("context_id"), "stream_id": col("stream_id"),
        "correlation_id": col("correlation_id"),
        "name": names("name_id"), "short_name": names("short_name_id"), "mangled_name": names("mangled_name_id"),
        "grid_x": col("grid_x"), "grid_y": col("grid_y"), "grid_z": col("grid_z"),
        "block_x": col("block_x"), "block_y": col("block_y"), "block_z": col("block_z"),
        "registers_per_thread": col("registers_per_thread"),
        "static_shared_memory_bytes": col("static_shared_memory_bytes"),
        "dynamic_shared_memory_bytes": col("dynamic_shared_memory_bytes"),
        "shared_memory_executed_bytes": col("shared_memory_executed_bytes"),
        "local_memory_per_thread_bytes": col("local_memory_per_thread_bytes"),
        "grid_id": col("grid_id"),
        "graph_node_id": col("graph_node_id"),
        "launch_type": _categorical(lt_labels, lt_code),
        "green_context_id": col("green_context_id"),
        **info,
    })


def _memop_chunk(op, chunk: Chunk, start, end, copy_kinds, mem_kinds, info) -> pa.Table:
    def col(name):
        if name not in chunk.columns:
            return pa.nulls(chunk.num_rows, pa.int64())
        v, ok = chunk.ints(name)
        return _ints(v, ok)

    def label(name, mapping):
        if name not in chunk.columns:
            return pa.nulls(chunk.num_rows, pa.string())
        v, ok = chunk.ints(name)
        labels = sorted(set(mapping.values()))
        return _categorical(labels, _lookup({k: labels.index(x) for k, x in mapping.items()}, v, ok)).cast(pa.string())

    n = chunk.num_rows
    b, b_ok = chunk.ints("bytes")
    return pa.table({
        "start_ns": _ints(start), "end_ns": _ints(end), "duration_ns": _ints(end - start),
        "op": pa.array([op] * n, type=pa.string()),
        "kind": label("kind_id", copy_kinds) if op == "memcpy" else pa.array(["Memset"] * n, type=pa.string()),
        "bytes": _ints(b, b_ok),
        "value": col("value"),
        "src_kind": label("src_kind_id", mem_kinds),
        "dst_kind": label("dst_kind_id", mem_kinds),
        "device_id": col("device_id"), "context_id": col("context_id"), "stream_id": col("stream_id"),
        "correlation_id": col("correlation_id"), "graph_node_id": col("graph_node_id"),
        "pid": info["pid"], "tid": info["tid"], "api_name": info["api_name"].cast(pa.string()),
        "nvtx_path": info["nvtx_path"].cast(pa.string()), "nvtx_range_id": info["nvtx_range_id"],
    })


# --- 4. the ranges ---------------------------------------------------------------------------------------


def _ranges_tables(r: Ranges, strings: _Strings, rows: int = 1 << 16):
    """nvtx_ranges in slices of `rows`, as small as the other tables' chunks: a slice is some twenty columns,
    and the Parquet writer's queue holds a few (1 << 18 rows cost ~40 MiB more peak RSS at 2M ranges)."""
    if r.n == 0:
        yield _EMPTY["nvtx_ranges"]()
        return
    f = r.forest
    idx = r.elig_full()
    has_ops_e = r.op_count > 0
    children_e = np.bincount(f.parent[has_ops_e & (f.parent >= 0)], minlength=r.n_elig).astype(np.int32) \
        if has_ops_e.any() else np.zeros(r.n_elig, dtype=np.int32)
    del has_ops_e
    # per range -> position in elig space (-1 for ranges that ended on another thread)
    epos = np.arange(r.n, dtype=np.int32) if r.elig is None else np.full(r.n, -1, dtype=np.int32)
    if r.elig is not None:
        epos[r.elig] = np.arange(r.n_elig, dtype=np.int32)
    path = np.full(r.n, -1, dtype=np.int32)
    path[r.pp] = r.pp_path_codes
    for lo in range(0, r.n, rows):
        yield _ranges_slice(r, strings, slice(lo, min(lo + rows, r.n)), epos, idx, children_e, path)


def _ranges_slice(r: Ranges, strings: _Strings, sl: slice, epos, idx, children_e, path) -> pa.Table:
    f = r.forest
    ep = epos[sl]
    elig = ep >= 0
    e = np.maximum(ep, 0)
    count = np.where(elig, r.op_count[e], 0) if r.n_elig else np.zeros(len(ep), np.int64)
    has_ops = elig & (count > 0)
    gpu_start = np.where(has_ops, r.gpu_start[e], 0) if r.n_elig else count
    gpu_end = np.where(has_ops, r.gpu_end[e], 0) if r.n_elig else count
    par_e = np.where(elig, f.parent[e], -1) if r.n_elig else np.full(len(ep), -1)
    parent = np.where(par_e >= 0, idx[np.maximum(par_e, 0)], -1)
    lo = sl.start

    def sparse(name):
        pos, values = r.sparse[name]
        a, b = np.searchsorted(pos, [sl.start, sl.stop])
        out = np.zeros(len(ep), dtype=np.int64)
        ok = np.zeros(len(ep), dtype=bool)
        out[pos[a:b] - lo], ok[pos[a:b] - lo] = values[a:b], True
        return out, ok

    end_gtid, _ = sparse("end_gtid")
    category, category_ok = sparse("category")
    crossed = r.crossed[sl]
    gtid = r.gtid[sl]
    start, end = r.start[sl], r.end[sl]
    return pa.table({
        "range_id": _ints(r.range_id[sl]),
        "domain": _categorical(r.domain_names, r.domain[sl]),
        "name": strings.array(r.text[sl].astype(np.int64)),
        "style": _categorical(["PushPop", "StartEnd"], np.where(r.pushpop[sl], 0, 1)),
        "start_ns": _ints(start),
        "end_ns": _ints(end),
        "duration_ns": _ints(end - start),
        "unclosed": pa.array(r.unclosed[sl], type=pa.bool_()),
        "depth": _ints(np.where(elig, f.depth[e], 0) if r.n_elig else count, elig),
        "parent": _ints(r.range_id[np.maximum(parent, 0)], parent >= 0),
        "pid": _ints((gtid >> _PID_SHIFT) & 0xFFFFFF),
        "tid": _ints(gtid & 0xFFFFFF),
        "end_tid": _ints(end_gtid & 0xFFFFFF, crossed),
        "domain_id": _ints(r.domain_id[sl], r.domain_id_ok[sl]),
        "category": _ints(category, category_ok),
        "gpu_start_ns": _ints(gpu_start, has_ops),
        "gpu_end_ns": _ints(gpu_end, has_ops),
        "gpu_projected_ns": _ints(gpu_end - gpu_start, has_ops),
        "gpu_op_count": _ints(count, elig),
        "gpu_child_count": _ints(np.where(elig, children_e[e], 0) if r.n_elig else count, elig),
        "nvtx_path": _categorical(r.path_names, path[sl]),
    })


def _devices_table(export: Export) -> pd.DataFrame:
    if not export.has("TARGET_INFO_GPU"):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in [*_GPU_COLS, "compute_capability"]})
    df = read_frame(export, _select(export, "TARGET_INFO_GPU", _GPU_COLS, order="id"))
    major, minor = df["compute_major"], df["compute_minor"]
    df["compute_capability"] = [f"{a}.{b}" if pd.notna(a) and pd.notna(b) else None for a, b in zip(major, minor)]
    return df


# --- empty tables ----------------------------------------------------------------------------------------


def _empty(columns: dict[str, pa.DataType]):
    return lambda: pa.table({c: pa.array([], type=t) for c, t in columns.items()})


_I = pa.int64()
_S = pa.string()
_EMPTY = {
    "gpu_kernels": _empty({
        **{c: _I for c in ("start_ns", "end_ns", "duration_ns", "device_id", "context_id", "stream_id",
                           "correlation_id")},
        "name": _DICT, "short_name": _DICT, "mangled_name": _DICT,
        **{c: _I for c in ("grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z", "registers_per_thread",
                           "static_shared_memory_bytes", "dynamic_shared_memory_bytes", "shared_memory_executed_bytes",
                           "local_memory_per_thread_bytes", "grid_id", "graph_node_id")},
        "launch_type": _DICT, "green_context_id": _I, "pid": _I, "tid": _I, "api_name": _DICT, "nvtx_path": _DICT,
        "nvtx_range_id": _I,
    }),
    "gpu_memops": _empty({
        "start_ns": _I, "end_ns": _I, "duration_ns": _I, "op": _S, "kind": _S, "bytes": _I, "value": _I,
        "src_kind": _S, "dst_kind": _S, "device_id": _I, "context_id": _I, "stream_id": _I, "correlation_id": _I,
        "graph_node_id": _I, "pid": _I, "tid": _I, "api_name": _S, "nvtx_path": _S, "nvtx_range_id": _I,
    }),
    "cuda_api": _empty({
        "start_ns": _I, "end_ns": _I, "duration_ns": _I, "name": _DICT, "symbol": _DICT, "api": _DICT,
        "pid": _I, "tid": _I, "correlation_id": _I, "return_value": _I, "nvtx_path": _DICT, "nvtx_range_id": _I,
    }),
    "nvtx_ranges": _empty({
        "range_id": _I, "domain": _DICT, "name": _DICT, "style": _DICT, "start_ns": _I, "end_ns": _I,
        "duration_ns": _I, "unclosed": pa.bool_(), "depth": _I, "parent": _I, "pid": _I, "tid": _I, "end_tid": _I,
        "domain_id": _I, "category": _I, "gpu_start_ns": _I, "gpu_end_ns": _I, "gpu_projected_ns": _I,
        "gpu_op_count": _I, "gpu_child_count": _I, "nvtx_path": _DICT,
    }),
    "devices": lambda: pa.Table.from_pandas(
        pd.DataFrame({c: pd.Series(dtype="object") for c in [*_GPU_COLS, "compute_capability"]}), preserve_index=False),
}
