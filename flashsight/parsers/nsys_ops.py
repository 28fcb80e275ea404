"""nsys ingest, passes 2 and 3: the CUDA API calls and the GPU ops (kernels, memcpys, memsets) they launch.

_stream_api streams CUPTI_ACTIVITY_KIND_RUNTIME to the sink, a chunk at a time, and keeps what a launch needs
of its call (Calls, sorted by launch key); _stream_ops streams the ops, joins each to its call by binary
search, and builds their chunks (_kernel_chunk, _memop_chunk); _Projection collects each op's start and end
in its call's range and sums them up the range tree. The export's table and column names for these live here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from flashsight.errors import InputError
from flashsight.parsers.nsys_export import _select, enum_labels
from flashsight.parsers.nsys_ranges import Ranges, _count, _pp_innermost
from flashsight.parsers.nsys_strings import _PID_SHIFT, _categorical, _check_times, _ints, _lookup
from flashsight.parsers.sqlite_arrow import Chunk

KERNEL, MEMCPY, MEMSET, RUNTIME = (
    "CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET",
    "CUPTI_ACTIVITY_KIND_RUNTIME",
)
_KEY_CORR_BITS = 40  # launch key = pid << 40 | correlation id (pids < 2^22 on Linux, ids < 2^40)

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
        calls = self.calls
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
