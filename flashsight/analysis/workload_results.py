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

from flashsight.schema.tables import declared_type, pandas_dtypes

# column -> its path in result.json (times in ms there, ns here); the column's dtype is the schema's
_FIELDS: dict[str, tuple[str, ...]] = {
    "profiler": ("profiler",),
    "kind": ("kind",),
    "nvtx_range": ("nvtx_range",),
    "warmup": ("warmup",),
    "iters": ("iters",),
    "prepare_s": ("prepare_s",),
    "median_ns": ("timing", "median_ms"),
    "mean_ns": ("timing", "mean_ms"),
    "min_ns": ("timing", "min_ms"),
    "max_ns": ("timing", "max_ms"),
    "stdev_ns": ("timing", "stdev_ms"),
    "analytic_flop": ("rates", "flops"),
    "analytic_bytes": ("rates", "bytes"),
    "arithmetic_intensity": ("rates", "arithmetic_intensity"),
    "achieved_flop_per_s": ("rates", "achieved_tflops"),
    "achieved_bytes_per_s": ("rates", "achieved_gbps"),
    "items": ("rates", "items"),
    "item_name": ("rates", "item_name"),
    "correct": ("correctness", "ok"),
    "check_output": ("correctness", "output"),
    "max_abs_err": ("correctness", "max_abs_err"),
    "mismatched": ("correctness", "mismatched"),
    "numel": ("correctness", "numel"),
    "atol": ("correctness", "atol"),
    "rtol": ("correctness", "rtol"),
    "device_name": ("device", "name"),
    "compute_capability": ("device", "compute_capability"),
    "torch_version": ("device", "torch"),
    "cuda_version": ("device", "cuda"),
    "host": ("host",),
    "started_at": ("started_at",),
    "duration_s": ("duration_s",),
}
_SCALE = {"median_ns": 1e6, "mean_ns": 1e6, "min_ns": 1e6, "max_ns": 1e6, "stdev_ns": 1e6,
          "achieved_flop_per_s": 1e12, "achieved_bytes_per_s": 1e9}
LEAD = ["job_id", "config_id", "workload", "tool"]
TABLE = "workload_results"
DTYPES = pandas_dtypes(TABLE)  # every declared column, in order, with its dtype (schema/tables.toml)
COLUMNS: dict[str, str] = {c: dtype for c, dtype in DTYPES.items() if c not in LEAD}  # after the lead and params


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
    for column, path in _FIELDS.items():
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
    columns = {p: (f"param_{p}" if p in taken or declared_type(TABLE, p) else p) for p in names}
    frame = pd.DataFrame({
        **{k: pd.Series([r[k] for r in rows], dtype=DTYPES[k]) for k in LEAD},
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
