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

This module holds the entry points; the parts live in nsys_strings (StringIds, column helpers), nsys_ranges
(pass 1), nsys_ops (passes 2 and 3), nsys_tables (nvtx_ranges, devices, empty tables) and nsys_sinks.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from flashsight.errors import InputError
from flashsight.parsers.nsys_export import open_export, version_tuple
from flashsight.parsers.nsys_ops import _stream_api, _stream_ops
from flashsight.parsers.nsys_ranges import _read_ranges
from flashsight.parsers.nsys_sinks import MemorySink, ParquetSink
from flashsight.parsers.nsys_strings import _Strings
from flashsight.parsers.nsys_tables import TABLES, _devices_table, _ranges_tables
from flashsight.parsers.sqlite_arrow import SqliteColumns

# TABLES, open_export and version_tuple are public here too (they live in nsys_tables and nsys_export).
__all__ = ["TABLES", "open_export", "read_nsys", "version_tuple", "write_nsys"]


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
