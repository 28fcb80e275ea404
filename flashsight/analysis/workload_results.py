"""workload_results: every job's result.json as a row — the workload's own timing, rates and correctness.

Timing is the harness's CUDA events around each measured step (the GPU's own clocks, one step = every kernel of
it and the gaps between them). Under ncu the events time ncu's replays, so `timing_valid` is False there: the
numbers say nothing about the kernels' speed. Rates are the workload's analytic FLOPs and bytes (what the
algorithm must move, not what the counters saw) over the median step time. A user's workload may write any
JSON: the fields known here become columns, and the whole record stays in `result_json`.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from flashsight.schema.tables import declared_type

# column -> (path in result.json, dtype); times in ms there, ns here
_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "profiler": (("profiler",), "string"),
    "kind": (("kind",), "string"),
    "nvtx_range": (("nvtx_range",), "string"),
    "warmup": (("warmup",), "Int64"),
    "iters": (("iters",), "Int64"),
    "prepare_s": (("prepare_s",), "float64"),
    "median_ns": (("timing", "median_ms"), "Int64"),
    "mean_ns": (("timing", "mean_ms"), "Int64"),
    "min_ns": (("timing", "min_ms"), "Int64"),
    "max_ns": (("timing", "max_ms"), "Int64"),
    "stdev_ns": (("timing", "stdev_ms"), "float64"),
    "analytic_flop": (("rates", "flops"), "float64"),
    "analytic_bytes": (("rates", "bytes"), "float64"),
    "arithmetic_intensity": (("rates", "arithmetic_intensity"), "float64"),
    "achieved_flop_per_s": (("rates", "achieved_tflops"), "float64"),
    "achieved_bytes_per_s": (("rates", "achieved_gbps"), "float64"),
    "items": (("rates", "items"), "float64"),
    "item_name": (("rates", "item_name"), "string"),
    "correct": (("correctness", "ok"), "boolean"),
    "check_output": (("correctness", "output"), "string"),
    "max_abs_err": (("correctness", "max_abs_err"), "float64"),
    "mismatched": (("correctness", "mismatched"), "Int64"),
    "numel": (("correctness", "numel"), "Int64"),
    "atol": (("correctness", "atol"), "float64"),
    "rtol": (("correctness", "rtol"), "float64"),
    "device_name": (("device", "name"), "string"),
    "compute_capability": (("device", "compute_capability"), "string"),
    "torch_version": (("device", "torch"), "string"),
    "cuda_version": (("device", "cuda"), "string"),
    "host": (("host",), "string"),
    "started_at": (("started_at",), "string"),
    "duration_s": (("duration_s",), "float64"),
}
_SCALE = {"median_ns": 1e6, "mean_ns": 1e6, "min_ns": 1e6, "max_ns": 1e6, "stdev_ns": 1e6,
          "achieved_flop_per_s": 1e12, "achieved_bytes_per_s": 1e9}
LEAD = ["job_id", "config_id", "workload", "tool"]
COLUMNS: dict[str, str] = {"timing_valid": "boolean", "timing_clock": "string", "items_per_s": "float64",
                           **{name: dtype for name, (_, dtype) in _FIELDS.items()}, "result_json": "string"}


def _lookup(record: dict, path: tuple[str, ...]):
    value = record
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value if not isinstance(value, (dict, list)) else None


def result_row(record: dict) -> dict:
    """The known fields of one result.json (any JSON object), in the table's units."""
    row = {}
    for column, (path, _dtype) in _FIELDS.items():
        value = _lookup(record, path)
        if value is not None and column in _SCALE and isinstance(value, (int, float)):
            value = value * _SCALE[column]
        row[column] = value
    profiler = record.get("profiler") or None
    valid = record.get("timing_valid")
    row["timing_valid"] = bool(valid) if isinstance(valid, bool) else (profiler != "ncu" if row["median_ns"] is not None
                                                                       else None)
    row["timing_clock"] = None if row["median_ns"] is None else (
        "CUDA events around ncu's replays (not the kernels' speed)" if profiler == "ncu" else
        "CUDA events around each step (the GPU's own clocks)")
    item_name = row.get("item_name")
    per_s = _lookup(record, ("rates", f"{item_name}_per_s")) if isinstance(item_name, str) else None
    row["items_per_s"] = per_s
    row["result_json"] = json.dumps(record, sort_keys=False, default=str)
    return row


def workload_results(records: list[tuple[dict, dict]], param_names: list[str] | None = None) -> pd.DataFrame:
    """One row per (job, its result.json): `records` are (job: job_id, config_id, workload, tool, params dict;
    result). Params become columns (a name the table uses already gets a `param_` prefix)."""
    rows, names = [], list(param_names or [])
    for job, result in records:
        params = job.get("params") or {}
        names += [p for p in params if p not in names]
        rows.append({**{k: job.get(k) for k in LEAD}, "params": params, **result_row(result)})
    taken = set(LEAD) | set(COLUMNS)
    columns = {p: (f"param_{p}" if p in taken or declared_type("workload_results", p) else p) for p in names}
    frame = pd.DataFrame({
        **{k: pd.Series([r[k] for r in rows], dtype="string") for k in LEAD},
        **{columns[p]: pd.Series([r["params"].get(p) for r in rows], dtype=object) for p in names},
    })
    for column in columns.values():  # one Python type per param column, else text (two workloads, one name)
        kinds = {type(v) for v in frame[column] if v is not None and not (isinstance(v, float) and math.isnan(v))}
        if len(kinds) > 1 and not kinds <= {int, float}:
            frame[column] = frame[column].map(lambda v: None if v is None else str(v))
        frame[column] = frame[column].infer_objects()
    for column, dtype in COLUMNS.items():
        frame[column] = _typed([r.get(column) for r in rows], dtype)
    return frame


def _number(value) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _typed(values: list, dtype: str) -> pd.Series:
    """A user's result.json may hold anything under a known name: what does not fit the column's type is null."""
    if dtype == "Int64":
        return pd.Series(pd.array([None if _number(v) is None else round(v) for v in values], dtype="Int64"))
    if dtype == "float64":
        return pd.Series([_number(v) for v in values], dtype="float64")
    if dtype == "boolean":
        return pd.Series(pd.array([v if isinstance(v, bool) else None for v in values], dtype="boolean"))
    return pd.Series([None if v is None else str(v) for v in values], dtype="string")
