"""`flashsight export --perfetto`: the measured ranges of a run as Chrome trace-event JSON (.json.gz), which
ui.perfetto.dev and chrome://tracing open.

One process per config (named '<family> <config label>'), its timeline starting at 0 at its first event:
    kernels and memory operations on one track per CUDA stream ('stream 7'),
    NVTX ranges on their CPU thread's track ('thread 922'), nested as they were pushed.
Every kernel event carries its nsys facts (grid, block, correlation id, duration_ns) and, where an ncu job of the
same config profiled the same kernel, ncu's metrics as event arguments (prefixed ncu_).
Times in the file are microseconds (the format's unit) with ns precision; the source times are nsys's clock.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pandas as pd

from flashsight.host.files import atomic_path
from flashsight.outputs.report.inputs import gather

STREAM_TID_BASE = 1_000_000_000  # stream tracks get tids no CPU thread id reaches
NCU_ARGS = ["ncu_duration_ns", "ncu_sm_frequency_hz", "flop", "dram_bytes", "achieved_flop_per_s",
            "achieved_dram_bytes_per_s", "tensor_peak_pct", "dram_peak_pct", "sm_throughput_pct",
            "dram_throughput_pct", "achieved_occupancy_pct", "bound", "top_stall", "top_stall_pct"]


def chrome_trace(run) -> dict:
    data = gather(run)
    kernels = data.table("gpu_kernels")
    events: list[dict] = []
    if kernels is None or kernels.empty or "config_id" not in kernels:
        return {"traceEvents": events, "displayTimeUnit": "ns", "otherData": {"configs": 0}}
    ncu = _ncu_args(data.obs)
    memops, ranges = data.table("gpu_memops"), data.table("nvtx_ranges")
    configs = [c for c in dict.fromkeys(kernels["config_id"].dropna())]
    families = dict(zip(data.labels["config_id"], data.labels["family"]))
    for pid, cid in enumerate(configs, start=1):
        k = kernels[kernels["config_id"] == cid]
        m = memops[memops["config_id"] == cid] if memops is not None and "config_id" in memops else None
        r = ranges[ranges["config_id"] == cid] if ranges is not None and "config_id" in ranges else None
        t0 = min(int(df["start_ns"].min()) for df in (k, m, r) if df is not None and len(df))
        label = data.label_of(cid)
        family = families.get(cid, "")
        name = label if label == family else f"{family} {label}"
        events.append(_meta("process_name", pid, 0, name))
        events.append({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": pid}})
        streams = sorted(set(k["stream_id"].dropna().astype(int)) |
                         (set(m["stream_id"].dropna().astype(int)) if m is not None and "stream_id" in m else set()))
        for stream in streams:
            events.append(_meta("thread_name", pid, STREAM_TID_BASE + stream, f"stream {stream}"))
        for row in k.to_dict("records"):
            args = {"duration_ns": int(row["duration_ns"]), "grid": _dims(row, "grid"), "block": _dims(row, "block"),
                    "correlation_id": _int(row.get("correlation_id")), "name": row.get("name")}
            args.update(ncu.get((cid, row.get("mangled_name") or row.get("name")), {}))
            events.append(_complete(row.get("short_name") or row["name"], "kernel", pid,
                                    STREAM_TID_BASE + int(row["stream_id"]), row, t0, args))
        if m is not None:
            for row in m.to_dict("records"):
                tid = STREAM_TID_BASE + int(row["stream_id"]) if "stream_id" in row and _int(row["stream_id"]) is not None \
                    else STREAM_TID_BASE
                events.append(_complete(str(row.get("kind")), "memory", pid, tid, row, t0,
                                        {"bytes": _int(row.get("bytes")), "duration_ns": int(row["duration_ns"])}))
        if r is not None:
            for tid in sorted(set(r["tid"].dropna().astype(int))):
                events.append(_meta("thread_name", pid, tid, f"thread {tid}"))
            # parents before children at equal starts, so viewers nest them
            r = r.dropna(subset=["start_ns", "end_ns"]).sort_values(["start_ns", "end_ns"], ascending=[True, False])
            for row in r.to_dict("records"):
                domain = row.get("domain")
                text = f"{domain}:{row['name']}" if isinstance(domain, str) and domain else str(row["name"])
                args = {"duration_ns": int(row["end_ns"] - row["start_ns"]), "style": row.get("style"),
                        "gpu_projected_ns": _int(row.get("gpu_projected_ns")), "gpu_op_count": _int(row.get("gpu_op_count"))}
                events.append(_complete(text, "nvtx", pid, int(row["tid"]), row, t0, args))
    return {"traceEvents": events, "displayTimeUnit": "ns", "otherData": {"run": str(data.path or ""),
                                                                          "configs": len(configs)}}


def write_trace(trace: dict, target: Path) -> Path:
    target = Path(target)
    with atomic_path(target) as tmp:
        payload = json.dumps(trace, separators=(",", ":"), allow_nan=False).encode()
        if target.name.endswith(".gz"):
            with gzip.open(tmp, "wb", compresslevel=6) as f:
                f.write(payload)
        else:
            tmp.write_bytes(payload)
    return target


def _meta(kind: str, pid: int, tid: int, name: str) -> dict:
    return {"ph": "M", "name": kind, "pid": pid, "tid": tid, "args": {"name": name}}


def _complete(name: str, cat: str, pid: int, tid: int, row: dict, t0: int, args: dict) -> dict:
    start, end = int(row["start_ns"]), int(row["end_ns"])
    return {"ph": "X", "name": name, "cat": cat, "pid": pid, "tid": tid, "ts": (start - t0) / 1e3,
            "dur": max(0, end - start) / 1e3, "args": {k: v for k, v in args.items() if v is not None}}


def _dims(row: dict, prefix: str) -> str | None:
    values = [_int(row.get(f"{prefix}_{axis}")) for axis in "xyz"]
    return None if None in values else "x".join(str(v) for v in values)


def _int(value) -> int | None:
    try:
        return None if value is None or pd.isna(value) else int(value)
    except (TypeError, ValueError):
        return None


def _ncu_args(obs: pd.DataFrame) -> dict:
    """(config_id, mangled name) -> ncu's metrics of that kernel, JSON-ready (NaN left out)."""
    out: dict = {}
    if obs.empty or "ncu_duration_ns" not in obs:
        return out
    for row in obs[obs["ncu_duration_ns"].notna()].to_dict("records"):
        args = {}
        for column in NCU_ARGS:
            value = row.get(column)
            if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
                continue
            key = column if column.startswith("ncu_") else f"ncu_{column}"
            args[key] = value if isinstance(value, str) else float(value)
        out.setdefault((row["config_id"], row["mangled_name"]), args)
    return out
