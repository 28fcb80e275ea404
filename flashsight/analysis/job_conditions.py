"""job_conditions: the measurement conditions of each job, one row per job's conditions.json.

What the tool imposed (ncu's `--clock-control`, `--cache-control`: ncu's defaults base and all unless the plan
says otherwise) and the GPU's state NVML saw just before and just after the job: SM and memory clocks (Hz),
throttle reasons, power (W), temperature (°C), driver and GPU. `throttled` is True when either sample shows a
power, thermal or hardware slowdown. A batched job shares its batch's samples (`scope` = batch). Where NVML was
not available, `nvml_error` says why and the readings are null.
"""

from __future__ import annotations

import pandas as pd

from flashsight.schema.tables import pandas_dtypes

LEAD = ["job_id", "config_id", "workload", "tool"]
TABLE = "job_conditions"
# sample key -> (column before the when, unit suffix after it): sm_clock_hz -> sm_clock_before_hz
_READINGS = {"sm_clock_hz": ("sm_clock", "_hz"), "memory_clock_hz": ("memory_clock", "_hz"),
             "power_w": ("power", "_w"), "temperature_c": ("temperature", "_c"),
             "throttle_reasons": ("throttle_reasons", "")}
DTYPES = pandas_dtypes(TABLE)  # every declared column, in order, with its dtype (schema/tables.toml)
COLUMNS: dict[str, str] = {c: dtype for c, dtype in DTYPES.items() if c not in LEAD}


def condition_row(record: dict) -> dict:
    before, after = record.get("before") or {}, record.get("after") or {}
    known = after if "error" not in after else before
    row = {"scope": record.get("scope"), "ncu_clock_control": record.get("ncu_clock_control"),
           "ncu_cache_control": record.get("ncu_cache_control"), "throttled": record.get("throttled"),
           "gpu": known.get("gpu"), "gpu_uuid": known.get("uuid"), "driver": known.get("driver"),
           "nvml_device": known.get("nvml_device"), "sm_clock_max_hz": known.get("sm_clock_max_hz"),
           "memory_clock_max_hz": known.get("memory_clock_max_hz"), "power_limit_w": known.get("power_limit_w"),
           "sampled_before_at": before.get("at"), "sampled_after_at": after.get("at"),
           "nvml_error": before.get("error") or after.get("error")}
    for name, (stem, unit) in _READINGS.items():
        for when, sample in (("before", before), ("after", after)):
            value = sample.get(name)
            row[f"{stem}_{when}{unit}"] = ",".join(value) if isinstance(value, list) else value
    return row


def job_conditions(records: list[tuple[dict, dict]]) -> pd.DataFrame:
    """One row per (job: job_id, config_id, workload, tool; its conditions.json record)."""
    rows = [{**{k: job.get(k) for k in LEAD}, **condition_row(record)} for job, record in records]
    frame = pd.DataFrame({k: pd.Series([r[k] for r in rows], dtype=DTYPES[k]) for k in LEAD})
    for column, dtype in COLUMNS.items():
        values = [r.get(column) for r in rows]
        if dtype == "float64":
            values = [v if isinstance(v, (int, float)) and not isinstance(v, bool) else None for v in values]
        elif dtype == "boolean":
            values = [v if isinstance(v, bool) else None for v in values]
        else:
            values = [None if v is None else str(v) for v in values]
        frame[column] = pd.Series(pd.array(values, dtype=dtype))
    return frame
