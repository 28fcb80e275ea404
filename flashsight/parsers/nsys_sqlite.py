"""Nsight Systems SQLite exports -> the canonical tables gpu_kernels, gpu_memops, cuda_api, nvtx_ranges, devices.

Input: a .sqlite export (a .nsys-rep or .qdstrm is exported with nsys first: profilers.read_capture).
Export schemas differ between nsys versions (2022.4 and 2025.3 are both tested): tables and columns are
detected, never assumed; a column a version lacks comes out as nulls. Names are categoricals (one copy of
each distinct string). Rows are fetched in chunks, so peak memory stays near the size of the result.
TARGET_INFO_SYSTEM_ENV (the profiled process's environment) is never read.

Every table carries df.attrs["nsys_version"] (the exporter's version, e.g. "2025.3.2.0") and
df.attrs["source"] (the .sqlite path): nsys_stats uses the version to name ranges the way that nsys did.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from flashsight.errors import InputError
from flashsight.parsers import nvtx_projection as proj
from flashsight.parsers.nsys_export import (  # noqa: F401  (open_export, version_tuple: public here too)
    Export, _query, _select, enum_labels, open_export, read_frame, string_map, version_tuple,
)

TABLES = ("gpu_kernels", "gpu_memops", "cuda_api", "nvtx_ranges", "devices")

# NVTX event types (ENUM_NSYS_EVENT_TYPE): ranges in their two styles, plain and NVTXT-file forms.
PUSHPOP, STARTEND, NVTXT_PUSHPOP, NVTXT_STARTEND, DOMAIN_CREATE = 59, 60, 70, 71, 75
RANGE_TYPES = (PUSHPOP, STARTEND, NVTXT_PUSHPOP, NVTXT_STARTEND)
_STYLE = {PUSHPOP: "PushPop", NVTXT_PUSHPOP: "PushPop", STARTEND: "StartEnd", NVTXT_STARTEND: "StartEnd"}

KERNEL, MEMCPY, MEMSET, RUNTIME = (
    "CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET",
    "CUPTI_ACTIVITY_KIND_RUNTIME",
)


def _labels(values: pd.Series, mapping: dict[int, str]) -> pd.Categorical:
    out = values.map(mapping) if mapping else values.astype("string")
    return pd.Categorical(out.where(values.notna(), None))


def _by_start(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in start order (exports are nearly sorted already; numpy sorts faster than SQLite's ORDER BY)."""
    start = df["start"].to_numpy()
    if len(start) < 2 or (start[1:] >= start[:-1]).all():
        return df
    return df.iloc[np.argsort(start, kind="stable")].reset_index(drop=True)


def _pid(g: pd.Series) -> pd.Series:
    return (g.astype("Int64") // (1 << 24)) & 0xFFFFFF  # globalTid/globalPid -> pid


def _tid(g: pd.Series) -> pd.Series:
    return g.astype("Int64") & 0xFFFFFF


# --- the tables ------------------------------------------------------------------------------------------

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


def _gpu_ops(export: Export) -> dict[str, pd.DataFrame]:
    """Raw kernel / memcpy / memset rows (ids, not yet strings)."""
    out = {}
    for key, table, cols in (("kernel", KERNEL, _KERNEL_COLS), ("memcpy", MEMCPY, _MEMCPY_COLS),
                             ("memset", MEMSET, _MEMSET_COLS)):
        if export.has(table):
            out[key] = _by_start(read_frame(export, _select(export, table, cols)))
    return out


def _nvtx_events(export: Export) -> tuple[pd.DataFrame, int | None]:
    """Range rows of NVTX_EVENTS with domain names resolved, and the timestamp that ends unclosed ranges."""
    if not export.has("NVTX_EVENTS"):
        return pd.DataFrame(), None
    has = lambda c: export.has("NVTX_EVENTS", c)  # noqa: E731
    opt = lambda c, alias=None: f"e.{c}" if has(c) else "NULL"  # noqa: E731
    text_expr = "coalesce(s.value, e.text)" if has("textId") else "e.text"
    join = "LEFT JOIN StringIds AS s ON e.textId = s.id" if has("textId") else ""
    types = ",".join(map(str, RANGE_TYPES))
    sql = f"""
        SELECT e.rowid AS range_id, e.start AS start, e."end" AS end_raw, e.eventType AS event_type,
               {text_expr} AS text, e.globalTid AS global_tid, {opt('endGlobalTid')} AS end_global_tid,
               {opt('domainId')} AS domain_id, {opt('category')} AS category, {opt('color')} AS color
        FROM NVTX_EVENTS AS e {join}
        WHERE e.eventType IN ({types})"""
    ranges = _by_start(read_frame(export, sql, text_columns=("text",)))
    # Domain names: the domain-create event of the same process (nsys matches on domainId and process).
    dom_text = "coalesce(s.value, e.text)" if has("textId") else "e.text"
    domains = read_frame(export, f"""
        SELECT {opt('domainId')} AS domain_id, e.globalTid AS global_tid, {dom_text} AS domain, min(e.start) AS t
        FROM NVTX_EVENTS AS e {join} WHERE e.eventType = {DOMAIN_CREATE} GROUP BY 1, 2""")
    if len(domains):
        domains["pid_key"] = domains["global_tid"].astype("int64").to_numpy() >> 24
        domains = domains.sort_values("t").drop_duplicates(["domain_id", "pid_key"])[["domain_id", "pid_key", "domain"]]
        ranges["pid_key"] = ranges["global_tid"].astype("int64").to_numpy() >> 24
        ranges = ranges.merge(domains, on=["domain_id", "pid_key"], how="left").drop(columns="pid_key")
    else:
        ranges["domain"] = None
    ranges["domain"] = ranges["domain"].astype("category")
    # Unclosed ranges end at the last NVTX timestamp: of range events in newer nsys, of all events in 2022.x.
    scope = "" if version_tuple(export.version) < (2023,) else f"WHERE eventType IN ({types})"
    row = _query(export, f'SELECT max(max(start), max("end")) FROM NVTX_EVENTS {scope}').fetchone()
    return ranges, (row[0] if row and row[0] is not None else None)


def read_nsys(path: Path) -> dict[str, pd.DataFrame]:
    """The canonical nsys tables of one SQLite export.

    A .nsys-rep or .qdstrm must be exported first (profilers.read_capture does it with nsys)."""
    path = Path(path)
    if path.suffix in (".nsys-rep", ".qdstrm"):
        raise InputError(f"{path}: an nsys report, not its SQLite export: read it with flashsight.parse or "
                         "`flashsight parse` (which export it with nsys), or `nsys export --type sqlite` it")
    export = open_export(path)
    try:
        tables = _read(export)
    finally:
        export.conn.close()
    for df in tables.values():
        df.attrs.update(nsys_version=export.version, source=str(path))
    return tables


def _read(export: Export) -> dict[str, pd.DataFrame]:
    ops = _gpu_ops(export)
    api = _by_start(read_frame(export, _select(export, RUNTIME, _RUNTIME_COLS))) if export.has(RUNTIME) \
        else pd.DataFrame({c: pd.Series(dtype="int64") for c in _RUNTIME_COLS})
    nvtx, max_ts = _nvtx_events(export)

    # Ranges: ends, styles, tree, projection.
    nvtx_ranges, api_path, api_range = _ranges_and_paths(nvtx, max_ts, ops, api)

    return {
        "gpu_kernels": _kernels_table(export, ops.get("kernel"), api, api_path, api_range),
        "gpu_memops": _memops_table(export, ops, api, api_path, api_range),
        "cuda_api": _api_table(export, api, api_path, api_range),
        "nvtx_ranges": nvtx_ranges,
        "devices": _devices_table(export),
    }


def _all_ops(ops: dict[str, pd.DataFrame]) -> pd.DataFrame:
    frames = [df[["start", "end", "correlation_id", "global_pid"]] for df in ops.values() if len(df)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in ("start", "end", "correlation_id", "global_pid")})
    allops = pd.concat(frames, ignore_index=True).dropna()
    return allops.astype("int64")


def _ranges_and_paths(nvtx: pd.DataFrame, max_ts, ops, api):
    """nvtx_ranges, plus for each cuda_api row its nvtx_path (categorical) and innermost push/pop range id."""
    n_api = len(api)
    empty_path = pd.Categorical([None] * n_api)
    no_range = _all_na(n_api)
    if nvtx.empty:
        return _empty_ranges(), empty_path, no_range
    r = nvtx
    unclosed = r["end_raw"].isna().to_numpy()
    end = r["end_raw"].astype("Int64").fillna(max_ts if max_ts is not None else 0).astype("int64").to_numpy()
    start = r["start"].astype("int64").to_numpy()
    gtid = r["global_tid"].astype("Int64").fillna(0).astype("int64").to_numpy()
    style = pd.Categorical(r["event_type"].map(_STYLE), categories=["PushPop", "StartEnd"])
    crossed = r["end_global_tid"].notna().to_numpy()  # ended on another thread: nsys leaves them out

    # nsys's tree (nvtx_gpu_proj_trace): every same-thread range, both styles, all domains.
    elig = np.flatnonzero(~crossed)
    parent_e, depth_e = proj.range_tree(gtid[elig], start[elig], end[elig])
    parent = np.full(len(r), -1, dtype=np.int64)
    depth = _all_na(len(r))
    parent[elig] = np.where(parent_e >= 0, elig[np.maximum(parent_e, 0)], -1)
    depth[elig] = depth_e
    range_id = r["range_id"].astype("int64").to_numpy()

    # GPU projection.
    api_for_proj = api.dropna(subset=["correlation_id", "global_tid"])[["start", "end", "correlation_id", "global_tid"]]
    calls = proj.api_ops(_all_ops(ops), api_for_proj.astype("int64"))
    projected = proj.project(pd.DataFrame({"global_tid": gtid[elig], "start": start[elig], "end": end[elig]}), calls)
    gpu_start = _all_na(len(r))
    gpu_end = _all_na(len(r))
    op_count = _all_na(len(r))
    gpu_start[elig] = projected["gpu_start_ns"].to_numpy()
    gpu_end[elig] = projected["gpu_end_ns"].to_numpy()
    op_count[elig] = projected["gpu_op_count"].to_numpy()
    # NumChild of nsys: children that have GPU ops themselves.
    has_ops = np.zeros(len(r), dtype=bool)
    has_ops[elig] = projected["gpu_op_count"].to_numpy() > 0
    child_parents = parent[has_ops & (parent >= 0)]
    gpu_children = np.bincount(child_parents, minlength=len(r)) if len(child_parents) else np.zeros(len(r), np.int64)

    domain = r["domain"]
    text = r["text"]
    label = _qualified_labels(domain, text)
    pid = _pid(r["global_tid"])
    tid = _tid(r["global_tid"])
    ranges = pd.DataFrame({
        "range_id": range_id,
        "domain": domain,
        "name": text,
        "style": style,
        "start_ns": start,
        "end_ns": end,
        "duration_ns": end - start,
        "unclosed": unclosed,
        "depth": depth,
        "parent": proj.nullable_int(range_id[np.maximum(parent, 0)], parent >= 0),
        "pid": pid,
        "tid": tid,
        "end_tid": _tid(r["end_global_tid"]),
        "domain_id": r["domain_id"].astype("Int64"),
        "category": r["category"].astype("Int64"),
        "gpu_start_ns": gpu_start,
        "gpu_end_ns": gpu_end,
        "gpu_projected_ns": gpu_end - gpu_start,
        "gpu_op_count": op_count,
        "gpu_child_count": proj.nullable_int(gpu_children, ~crossed),
    })

    # nvtx_path: push/pop ranges only, same thread, across domains.
    pp = np.flatnonzero((style == "PushPop") & ~crossed)
    if len(pp) == len(elig):  # no same-thread start/end ranges: the push/pop tree is the one above
        pp_parent, pp_depth = parent_e, depth_e
    else:
        pp_parent, pp_depth = proj.range_tree(gtid[pp], start[pp], end[pp])
    pp_paths = proj.paths(pd.Categorical(label[pp]), pp_parent, pp_depth)
    ranges["nvtx_path"] = pd.Categorical([None] * len(r), categories=pp_paths.categories)
    ranges.loc[pp, "nvtx_path"] = pp_paths
    if n_api:
        a_tid = api["global_tid"].astype("Int64").fillna(-1).astype("int64").to_numpy()
        inner = proj.innermost_range(gtid[pp], start[pp], end[pp], pp_parent, a_tid,
                                     api["start"].astype("int64").to_numpy(), api["end"].astype("int64").to_numpy())
        found = inner >= 0
        codes = np.where(found, np.asarray(pp_paths.codes)[np.maximum(inner, 0)], -1)
        api_path = pd.Categorical.from_codes(codes, categories=pp_paths.categories)
        api_range = proj.nullable_int(range_id[pp][np.maximum(inner, 0)] if len(pp) else inner, found)
    else:
        api_path, api_range = empty_path, no_range
    return ranges, api_path, api_range


def _all_na(n: int) -> pd.arrays.IntegerArray:
    return proj.nullable_int(np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool))


def _qualified_labels(domain: pd.Series, text: pd.Series) -> np.ndarray:
    """Path element of a range: its text, prefixed 'domain:' outside the default domain (as nsys names it).
    Built once per distinct (domain, text) pair."""
    pairs = pd.DataFrame({"d": domain.astype(object), "t": text.astype(object).where(text.notna(), "")})
    codes, uniq = pd.MultiIndex.from_frame(pairs).factorize()
    labels = np.array([f"{d}:{t}" if isinstance(d, str) else t for d, t in uniq], dtype=object)
    return labels[codes]


def _empty_ranges() -> pd.DataFrame:
    cols = ["range_id", "domain", "name", "style", "start_ns", "end_ns", "duration_ns", "unclosed", "depth",
            "parent", "pid", "tid", "end_tid", "domain_id", "category", "gpu_start_ns", "gpu_end_ns",
            "gpu_projected_ns", "gpu_op_count", "gpu_child_count", "nvtx_path"]
    return pd.DataFrame({c: pd.Series(dtype="Int64") for c in cols})


def _launch_info(df: pd.DataFrame, api: pd.DataFrame, api_path, api_range, export: Export) -> pd.DataFrame:
    """tid, api name, nvtx_path and nvtx_range_id of each op, from its launching call (same correlation id
    and process; the first such call when several match)."""
    n = len(df)
    out = pd.DataFrame(index=df.index)
    if n == 0 or len(api) == 0:
        out["tid"] = _all_na(n)
        out["api_name"] = pd.Categorical([None] * n)
        out["nvtx_path"] = pd.Categorical([None] * n)
        out["nvtx_range_id"] = _all_na(n)
        return out
    key = pd.DataFrame({
        "correlation_id": api["correlation_id"].astype("Int64"),
        "pid_key": api["global_tid"].astype("Int64") // (1 << 24),
        "api_row": np.arange(len(api)),
    }).dropna().drop_duplicates(["correlation_id", "pid_key"])
    left = pd.DataFrame({
        "correlation_id": df["correlation_id"].astype("Int64"),
        "pid_key": df["global_pid"].astype("Int64") // (1 << 24),
    })
    row = left.merge(key, on=["correlation_id", "pid_key"], how="left")["api_row"].to_numpy()
    found = ~pd.isna(row)
    idx = np.where(found, row, 0).astype(np.int64)
    api_tid = _tid(api["global_tid"])
    out["tid"] = proj.nullable_int(api_tid.fillna(0).to_numpy(np.int64)[idx], found & api_tid.notna().to_numpy()[idx])
    names = _strip_api_version(string_map(export, api["name_id"]))
    out["api_name"] = pd.Categorical.from_codes(np.where(found, names.codes[idx], -1), categories=names.categories)
    out["nvtx_path"] = pd.Categorical.from_codes(np.where(found, np.asarray(api_path.codes)[idx], -1),
                                                 categories=api_path.categories)
    rid_valid = ~pd.isna(api_range)
    rid = np.asarray(api_range.fillna(0) if hasattr(api_range, "fillna") else api_range, dtype=np.int64)
    out["nvtx_range_id"] = proj.nullable_int(rid[idx], found & rid_valid[idx])
    return out


def _kernels_table(export, k, api, api_path, api_range) -> pd.DataFrame:
    if k is None or len(k) == 0:
        k = pd.DataFrame({c: pd.Series(dtype="Int64") for c in _KERNEL_COLS})
    launch_types = enum_labels(export, "ENUM_CUDA_KERNEL_LAUNCH_TYPE", "ENUM_CUDA_KRENEL_LAUNCH_TYPE")
    info = _launch_info(k, api, api_path, api_range, export)
    start, end = k["start"].astype("int64"), k["end"].astype("int64")
    out = pd.DataFrame({
        "start_ns": start, "end_ns": end, "duration_ns": end - start,
        "device_id": k["device_id"], "context_id": k["context_id"], "stream_id": k["stream_id"],
        "correlation_id": k["correlation_id"],
        "name": string_map(export, k["name_id"]),
        "short_name": string_map(export, k["short_name_id"]),
        "mangled_name": string_map(export, k["mangled_name_id"]),
        "grid_x": k["grid_x"], "grid_y": k["grid_y"], "grid_z": k["grid_z"],
        "block_x": k["block_x"], "block_y": k["block_y"], "block_z": k["block_z"],
        "registers_per_thread": k["registers_per_thread"],
        "static_shared_memory_bytes": k["static_shared_memory_bytes"],
        "dynamic_shared_memory_bytes": k["dynamic_shared_memory_bytes"],
        "shared_memory_executed_bytes": k["shared_memory_executed_bytes"],
        "local_memory_per_thread_bytes": k["local_memory_per_thread_bytes"],
        "grid_id": k["grid_id"],
        "graph_node_id": k["graph_node_id"].astype("Int64"),
        "launch_type": _labels(k["launch_type_id"], launch_types),
        "green_context_id": k["green_context_id"].astype("Int64"),
        "pid": _pid(k["global_pid"]),
        "tid": info["tid"],
        "api_name": info["api_name"],
        "nvtx_path": info["nvtx_path"],
        "nvtx_range_id": info["nvtx_range_id"],
    })
    return out.reset_index(drop=True)


def _memops_table(export, ops, api, api_path, api_range) -> pd.DataFrame:
    copy_kinds = enum_labels(export, "ENUM_CUDA_MEMCPY_OPER")
    mem_kinds = enum_labels(export, "ENUM_CUDA_MEM_KIND")
    frames = []
    for op in ("memcpy", "memset"):
        df = ops.get(op)
        if df is None or len(df) == 0:
            continue
        info = _launch_info(df, api, api_path, api_range, export)
        start, end = df["start"].astype("int64"), df["end"].astype("int64")
        kind = df["kind_id"].map(copy_kinds) if op == "memcpy" else pd.Series("Memset", index=df.index)
        frames.append(pd.DataFrame({
            "start_ns": start, "end_ns": end, "duration_ns": end - start,
            "op": op, "kind": kind.astype(object),
            "bytes": df["bytes"].astype("int64"),
            "value": df["value"].astype("Int64") if "value" in df else pd.NA,
            "src_kind": df["src_kind_id"].map(mem_kinds).astype(object) if "src_kind_id" in df else None,
            "dst_kind": df["dst_kind_id"].map(mem_kinds).astype(object),
            "device_id": df["device_id"], "context_id": df["context_id"], "stream_id": df["stream_id"],
            "correlation_id": df["correlation_id"], "graph_node_id": df["graph_node_id"].astype("Int64"),
            "pid": _pid(df["global_pid"]), "tid": info["tid"], "api_name": info["api_name"].astype(object),
            "nvtx_path": info["nvtx_path"].astype(object), "nvtx_range_id": info["nvtx_range_id"],
        }))
    if not frames:
        cols = ["start_ns", "end_ns", "duration_ns", "op", "kind", "bytes", "value", "src_kind", "dst_kind",
                "device_id", "context_id", "stream_id", "correlation_id", "graph_node_id", "pid", "tid",
                "api_name", "nvtx_path", "nvtx_range_id"]
        return pd.DataFrame({c: pd.Series(dtype="Int64") for c in cols})
    out = pd.concat(frames, ignore_index=True).sort_values(["start_ns", "op"], kind="stable", ignore_index=True)
    for col in ("op", "kind", "src_kind", "dst_kind", "api_name", "nvtx_path"):
        out[col] = out[col].astype("category")
    return out


def _api_table(export, api, api_path, api_range) -> pd.DataFrame:
    classes = enum_labels(export, "ENUM_NSYS_EVENT_CLASS")
    start, end = api["start"].astype("int64"), api["end"].astype("int64")
    cls = api["event_class"].map(classes).astype(object) if len(api) else api["event_class"]
    return pd.DataFrame({
        "start_ns": start, "end_ns": end, "duration_ns": end - start,
        "name": _strip_api_version(string_map(export, api["name_id"])),
        "symbol": string_map(export, api["name_id"]),
        "api": pd.Categorical(pd.Series(cls, dtype=object).map(_api_kind)),
        "pid": _pid(api["global_tid"]), "tid": _tid(api["global_tid"]),
        "correlation_id": api["correlation_id"], "return_value": api["return_value"],
        "nvtx_path": api_path, "nvtx_range_id": api_range,
    }).reset_index(drop=True)


def _strip_api_version(names: pd.Categorical) -> pd.Categorical:
    """API names as nsys's reports print them: a 6-character '_vNNNN' suffix dropped
    (cudaLaunchKernel_v7000 -> cudaLaunchKernel; cudaLaunchKernelExC_v11060 stays, as in nsys)."""
    short = [c[:-6] if c[-6:-4] == "_v" else c for c in names.categories]
    if len(set(short)) == len(short):
        return names.rename_categories(short)
    return pd.Categorical(np.asarray([*short, None], dtype=object)[names.codes])  # code -1 -> None


def _api_kind(label) -> str | None:
    if not isinstance(label, str):
        return None
    low = label.lower()
    return "driver" if "driver" in low else "runtime" if "runtime" in low else label


def _devices_table(export: Export) -> pd.DataFrame:
    if not export.has("TARGET_INFO_GPU"):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in [*_GPU_COLS, "compute_capability"]})
    df = read_frame(export, _select(export, "TARGET_INFO_GPU", _GPU_COLS, order="id"))
    major, minor = df["compute_major"], df["compute_minor"]
    df["compute_capability"] = [f"{a}.{b}" if pd.notna(a) and pd.notna(b) else None for a, b in zip(major, minor)]
    return df
