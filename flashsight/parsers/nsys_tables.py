"""nsys ingest, the output side: the canonical table names, the nvtx_ranges and devices tables, empty tables.

TABLES names the tables every export gives; _ranges_tables turns the Ranges (with their projection, pass 4)
into nvtx_ranges slices; _devices_table reads TARGET_INFO_GPU; _EMPTY builds each table with no rows (its
columns and types), and _NULLABLE lists the integer columns that are nullable whether or not a NULL occurs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from flashsight.parsers.nsys_export import Export, _select, read_frame
from flashsight.parsers.nsys_ranges import Ranges
from flashsight.parsers.nsys_strings import _PID_SHIFT, _categorical, _ints, _Strings

TABLES = ("gpu_kernels", "gpu_memops", "cuda_api", "nvtx_ranges", "devices")
_DICT = pa.dictionary(pa.int32(), pa.string())

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
