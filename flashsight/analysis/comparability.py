"""Can two runs be compared at all? The facts that change kernel times without any code change.

GPU, driver, clocks (maximum SM and memory clock, power limit) and ncu's clock and cache control, nsys and ncu
versions, the ncu options of each config (set, sections, metrics), FlashInfer and torch versions, and the dtypes
each workload ran with. They come from the run's env.json, its jobs table and its tables (job_conditions where the
run recorded them); a fact unknown on either side is not a mismatch (nothing to compare), two known and different
values are. A config whose nsys job ran throttled is not a mismatch of the runs: `throttled_configs` names them,
and compare keeps their rows from a regressed or improved verdict.
"""

from __future__ import annotations

import json

import pandas as pd

NCU_DEFAULTS = {"clock_control": "base", "cache_control": "all"}  # ncu locks clocks, flushes caches unless told


def conditions(env: dict | None, jobs: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> dict:
    """The comparable facts of one run: name -> value (None: unknown). `ncu_options` maps config_id -> text."""
    env = env or {}
    gpu = env.get("gpu") or {}
    devices = gpu.get("devices") or []
    facts = {
        "GPU": _joined(d.get("name") for d in devices) or _joined(_table_column(tables, "devices", "name")),
        "driver": gpu.get("driver_version"),
        "SM clock max (MHz)": _joined(d.get("sm_clock_max_mhz") for d in devices),
        "memory clock max (MHz)": _joined(d.get("mem_clock_max_mhz") for d in devices),
        "power limit (W)": _joined(d.get("power_limit_w") for d in devices),
        "nsys": ((env.get("tools") or {}).get("nsys") or {}).get("version"),
        "ncu": ((env.get("tools") or {}).get("ncu") or {}).get("version"),
        "FlashInfer": (env.get("flashinfer") or {}).get("version"),
        "torch": (env.get("torch") or {}).get("version"),
    }
    ncu = _ncu_options(jobs, tables)
    for key, default in NCU_DEFAULTS.items():  # what the jobs recorded (job_conditions), else what the plan asked
        facts[f"ncu {key.replace('_', ' ')}"] = (_recorded(tables, ncu, f"ncu_{key}")
                                                 or _joined(json.loads(o).get(key, default) for o in ncu.values()))
    facts["ncu_options"] = ncu
    facts["dtype"] = _dtypes(jobs)
    return facts


def mismatches(base: dict, new: dict, shared_configs: set | None = None) -> list[str]:
    """One short phrase per fact that differs: 'GPU NVIDIA H200 (base) vs NVIDIA H100 80GB HBM3 (new)'."""
    lines = []
    for name in base:
        if name in ("ncu_options", "dtype"):
            continue
        b, n = base.get(name), new.get(name)
        if b is not None and n is not None and str(b) != str(n):
            lines.append(f"{name} {b} (base) vs {n} (new)")
    lines += _ncu_option_mismatches(base["ncu_options"], new["ncu_options"], shared_configs)
    for workload in sorted(base["dtype"].keys() & new["dtype"].keys()):
        b, n = base["dtype"][workload], new["dtype"][workload]
        if not b & n:  # no dtype in common: every config of the workload would differ
            lines.append(f"{workload} dtype {', '.join(sorted(b))} (base) vs {', '.join(sorted(n))} (new)")
    return lines


def _ncu_option_mismatches(base: dict, new: dict, shared: set | None) -> list[str]:
    pairs: dict[tuple[str, str], int] = {}
    for config in (base.keys() & new.keys()) if shared is None else (base.keys() & new.keys() & shared):
        b, n = base[config], new[config]
        if _without_clock(b) != _without_clock(n):
            pairs[(b, n)] = pairs.get((b, n), 0) + 1
    return [f"ncu options {_describe(b)} (base) vs {_describe(n)} (new) for {count} config(s)"
            for (b, n), count in sorted(pairs.items())]


def _without_clock(options: str) -> dict:
    return {k: v for k, v in json.loads(options).items() if k not in NCU_DEFAULTS}  # reported on their own lines


def _describe(options: str) -> str:
    parsed = _without_clock(options)
    if not parsed:
        return "flashsight's default sections"
    return " ".join(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in sorted(parsed.items()))


def _ncu_options(jobs: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    """config_id -> the ncu options (JSON text, keys sorted) of the jobs whose rows fill ncu_kernels."""
    kernels = tables.get("ncu_kernels")
    if kernels is None or "job_id" not in kernels.columns or "ncu_options" not in jobs.columns:
        return {}
    ncu_jobs = jobs[jobs["job_id"].isin(set(kernels["job_id"].dropna()))]
    return {c: json.dumps(json.loads(o or "{}"), sort_keys=True)
            for c, o in zip(ncu_jobs["config_id"], ncu_jobs["ncu_options"])}


def _recorded(tables: dict[str, pd.DataFrame], ncu: dict[str, str], column: str) -> str | None:
    """A job_conditions column over the ncu jobs, where the run recorded its conditions."""
    conditions, kernels = tables.get("job_conditions"), tables.get("ncu_kernels")
    if conditions is None or kernels is None or column not in conditions or "job_id" not in kernels:
        return None
    mine = conditions[conditions["job_id"].isin(set(kernels["job_id"].dropna()))]
    return _joined(mine[column].dropna())


def throttled_configs(tables: dict[str, pd.DataFrame]) -> set[str]:
    """Configs whose nsys job (the one whose rows fill gpu_kernels) NVML saw throttled (power, thermal, hardware)."""
    conditions, kernels = tables.get("job_conditions"), tables.get("gpu_kernels")
    if conditions is None or kernels is None or "throttled" not in conditions or "job_id" not in kernels:
        return set()
    mine = conditions[conditions["job_id"].isin(set(kernels["job_id"].dropna()))]
    return set(mine.loc[mine["throttled"].fillna(False).astype(bool), "config_id"].dropna())


def _dtypes(jobs: pd.DataFrame) -> dict[str, set[str]]:
    if jobs.empty or "params_json" not in jobs.columns:
        return {}
    out: dict[str, set[str]] = {}
    for workload, params in zip(jobs["workload"], jobs["params_json"]):
        dtype = json.loads(params or "{}").get("dtype")
        if dtype is not None:
            out.setdefault(workload, set()).add(str(dtype))
    return out


def _table_column(tables: dict[str, pd.DataFrame], table: str, column: str) -> list:
    frame = tables.get(table)
    return [] if frame is None or column not in frame.columns else list(frame[column].dropna())


def _joined(values) -> str | None:
    distinct = sorted({str(v) for v in values if v is not None})
    return ", ".join(distinct) if distinct else None
