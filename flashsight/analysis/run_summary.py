"""What a run did, from its jobs table: jobs by outcome, wall time, the failures with their log tails, and the
conditions the kernels were measured under (ncu's locked clocks against the GPU's own).
"""

from __future__ import annotations

import json
import math

import pandas as pd

STATUSES = ("succeeded", "failed", "timed_out", "pending", "running")
FAILED = ("failed", "timed_out")


def outcomes(jobs: pd.DataFrame) -> pd.DataFrame:
    """One row per tool (and a `total` row): how many jobs ended in each status, plus `jobs`."""
    if jobs.empty or "status" not in jobs:
        return pd.DataFrame(columns=["tool", *STATUSES, "jobs"])
    counts = pd.crosstab(jobs["tool"].fillna("-"), jobs["status"].fillna("pending"))
    counts = counts.reindex(columns=[*STATUSES, *sorted(set(counts.columns) - set(STATUSES))], fill_value=0)
    counts.loc["total"] = counts.sum()
    counts["jobs"] = counts.sum(axis=1)
    return counts.reset_index(names="tool")


def wall_time_s(jobs: pd.DataFrame) -> float | None:
    """From the first job's start to the last job's end (None when no job has started)."""
    if jobs.empty or "started_at" not in jobs:
        return None
    started = pd.to_datetime(jobs["started_at"], utc=True)
    ended = started + pd.to_timedelta(jobs["duration_s"].fillna(0), unit="s")
    if started.isna().all():
        return None
    return float((ended.max() - started.min()).total_seconds())


def failures(jobs: pd.DataFrame) -> pd.DataFrame:
    """The jobs that failed or timed out: job_id, config_id, workload, tool, status, attempts, error, log_tail."""
    columns = ["job_id", "config_id", "workload", "tool", "status", "attempts", "error", "log_tail", "params_json"]
    if jobs.empty or "status" not in jobs:
        return pd.DataFrame(columns=columns)
    failed = jobs[jobs["status"].isin(FAILED)]
    return failed[[c for c in columns if c in failed]].reset_index(drop=True)


def clock_conditions(ncu_kernels: pd.DataFrame | None, devices: pd.DataFrame | None,
                     jobs: pd.DataFrame, env: dict | None) -> dict:
    """The clocks behind the numbers.

    ncu_sm_clock_{median,min,max}_hz: the SM clock ncu measured during its replays (sm__cycles_elapsed.avg.per_second);
    ncu_clock_control: 'base' (ncu's default: clocks locked to base) or what the jobs' ncu options asked for;
    device_max_sm_clock_hz: the GPU's own top clock (nsys's device table, else the environment probe), which
    nsys-timed kernels may reach (flashsight does not lock clocks outside ncu).
    """
    out: dict = {"ncu_kernels": 0, "ncu_sm_clock_median_hz": math.nan, "ncu_sm_clock_min_hz": math.nan,
                 "ncu_sm_clock_max_hz": math.nan, "ncu_clock_control": None, "device_max_sm_clock_hz": math.nan}
    if ncu_kernels is not None and "sm_frequency_hz" in ncu_kernels and len(ncu_kernels):
        hz = ncu_kernels["sm_frequency_hz"].astype("float64").dropna()
        out["ncu_kernels"] = len(ncu_kernels)
        if len(hz):
            out.update(ncu_sm_clock_median_hz=float(hz.median()), ncu_sm_clock_min_hz=float(hz.min()),
                       ncu_sm_clock_max_hz=float(hz.max()))
    ncu_jobs = jobs[jobs["tool"] == "ncu"] if "tool" in jobs else jobs.iloc[0:0]
    if len(ncu_jobs) or out["ncu_kernels"]:
        out["ncu_clock_control"] = "base"
        for text in ncu_jobs.get("ncu_options", pd.Series(dtype="string")).dropna():
            args = list(json.loads(text).get("extra_args") or [])
            if "--clock-control" in args[:-1]:
                out["ncu_clock_control"] = args[args.index("--clock-control") + 1]
    if devices is not None and "clock_rate_hz" in devices and devices["clock_rate_hz"].notna().any():
        out["device_max_sm_clock_hz"] = float(devices["clock_rate_hz"].max())
    elif env:
        mhz = [d.get("sm_clock_max_mhz") for d in (env.get("gpu") or {}).get("devices", []) if d.get("sm_clock_max_mhz")]
        if mhz:
            out["device_max_sm_clock_hz"] = float(max(mhz)) * 1e6
    return out
