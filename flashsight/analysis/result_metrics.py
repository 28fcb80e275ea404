"""Numbers from the workloads' own result.json records (workload_results.result_json), in long form.

- user_metrics: a user's workload may write any JSON; its numeric fields (nested ones as 'a.b', the params
  echoed back left out) are the metrics a report can plot against the swept parameters.
- jit_latencies: the JIT study's record per kernel family: cold compile, disk-cache hit and memory-cache hit (s).
"""

from __future__ import annotations

import json
import math

import pandas as pd

JIT_COLUMNS = ["config_id", "job_id", "family", "cold_s", "disk_hit_s", "memory_hit_s"]


def _numbers(record: dict, prefix: str = "", depth: int = 0):
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) and math.isfinite(value):
            yield name, float(value)
        elif isinstance(value, dict) and depth < 1:
            yield from _numbers(value, f"{name}.", depth + 1)


def _records(results: pd.DataFrame):
    """(row, its result.json as a dict) for every row whose result_json is a JSON object."""
    for row in results.to_dict("records"):
        try:
            record = json.loads(row.get("result_json") or "{}")
        except ValueError:
            continue
        if isinstance(record, dict):
            yield row, record


def user_metrics(results: pd.DataFrame) -> pd.DataFrame:
    """config_id, job_id, tool, metric, value: every numeric field of each record but the echoed params."""
    rows = []
    for row, record in _records(results):
        record = {k: v for k, v in record.items() if k != "params"}
        rows += [{"config_id": row["config_id"], "job_id": row["job_id"], "tool": row.get("tool"), "metric": name,
                  "value": value} for name, value in _numbers(record)]
    return pd.DataFrame(rows, columns=["config_id", "job_id", "tool", "metric", "value"])


def jit_latencies(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (JIT job, kernel family): cold_s, disk_hit_s, memory_hit_s as the JIT probe measured them."""
    rows = []
    for row, record in _records(results):
        for family, r in (record.get("families") or {}).items():
            if isinstance(r, dict):
                rows.append({"config_id": row["config_id"], "job_id": row["job_id"], "family": family,
                             **{k: r.get(k) for k in ("cold_s", "disk_hit_s", "memory_hit_s")}})
    return pd.DataFrame(rows, columns=JIT_COLUMNS)
