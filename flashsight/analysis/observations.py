"""The joint observation: nsys time × ncu counters, one row per (config, kernel of the measured step).

Inputs are the canonical tables of a run (merged over its jobs: `config_id` joins a config's nsys and ncu jobs)
or of captures (then the measured NVTX range of domain `flashsight` is the config). Per config:

- nsys: the kernels launched inside the config's measured range. That range holds `iters` steps (100 by
  default), the ncu job's range one step, so the k-th launch of a kernel in the ncu step pairs with the k-th
  launch of that kernel in each nsys step: launches of one kernel are numbered in start order, and the i-th of
  them is occurrence i mod (launches per step) of step i div (launches per step).
- A kernel is (mangled name, grid, block): nsys's mangledName equals the report's mangled name; where the ncu
  side came from a CSV page (no mangled name) both sides are keyed by `schema.kernel_names.name_key`.
- Every kernel of either side is a row: the side that did not see it is empty, `missing` names it and `reason`
  says why (no job of that tool, not profiled, not launched, another launch count than the steps measured).

Clocks. nsys times are the GPU's own clocks (boost, as the GPU chose them); ncu replays each kernel at locked
base clocks by default (`--clock-control base`). Counters (FLOPs, bytes) do not depend on the clock, so
`achieved_*` are ncu's counters ÷ the nsys median time: the rate the GPU really achieved. Peaks "at the clock nsys
saw" are the report's per-cycle peaks × the device's maximum SM clock (`device__attribute_clock_rate`, the boost
clock an unthrottled GPU runs at: nsys records no clock per kernel) and × the device's memory clock for DRAM;
`nsys_throttled` says where NVML saw the nsys job throttled, when the conditions were recorded. The `ncu_*`
columns keep ncu's own figures at ncu's clocks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from flashsight.schema.contract import NVTX_DOMAIN
from flashsight.schema.kernel_names import name_key
from flashsight.schema.stalls import NOT_A_STALL
from flashsight.schema.tables import declared_type, pandas_dtypes

DIMS = ["grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z"]
NSYS_CLOCK = "GPU's own (nsys: CUPTI timestamps, clocks as the GPU chose them)"

# ncu_kernels columns carried into the observation unchanged (counters, ncu-clock figures, occupancy, bound)
_NCU_CARRIED = [
    "flop", "fp64_flop", "fp32_flop", "fp16_flop", "tensor_flop", "tensor_fp16_flop", "tensor_bf16_flop",
    "tensor_tf32_flop", "tensor_fp8_flop", "tensor_fp64_flop", "tensor_int_ops", "tensor_type", "tensor_path",
    "tensor_peak_basis", "compute_precision", "dram_bytes", "dram_read_bytes", "dram_write_bytes", "l2_bytes",
    "l1_bytes", "arithmetic_intensity", "l2_intensity", "l1_intensity", "sm_throughput_pct",
    "memory_throughput_pct", "dram_throughput_pct", "l2_throughput_pct", "l1_throughput_pct", "tensor_pipe_pct",
    "issue_active_pct", "achieved_occupancy_pct", "theoretical_occupancy_pct", "registers_per_thread",
    "waves_per_sm", "bound", "bound_reason", "sol_bottleneck",
]
_NCU_RENAMED = {  # ncu's figures at ncu's clocks
    "kernel_id": "ncu_kernel_id", "duration_ns": "ncu_duration_ns", "sm_frequency_hz": "ncu_sm_frequency_hz",
    "dram_frequency_hz": "ncu_dram_frequency_hz", "tensor_peak_pct": "ncu_tensor_peak_pct",
    "dram_peak_pct": "ncu_dram_peak_pct", "l2_peak_pct": "ncu_l2_peak_pct", "l1_peak_pct": "ncu_l1_peak_pct",
    "fp32_peak_pct": "ncu_fp32_peak_pct", "compute_peak_pct": "ncu_compute_peak_pct",
    "peak_tensor_flop_per_s": "ncu_peak_tensor_flop_per_s", "peak_fp32_flop_per_s": "ncu_peak_fp32_flop_per_s",
    "peak_compute_flop_per_s": "ncu_peak_compute_flop_per_s", "peak_dram_bytes_per_s": "ncu_peak_dram_bytes_per_s",
    "peak_l1_bytes_per_s": "ncu_peak_l1_bytes_per_s", "ridge_intensity": "ncu_ridge_intensity",
    "device_sm_clock_hz": "device_sm_clock_hz", "device_memory_clock_hz": "device_memory_clock_hz",
}

_CONFIG_LEAD = ["config_id", "workload"]
TABLE = "kernel_observations"
# The table's columns after the config's own (workload, params) and their dtypes, as schema/tables.toml declares
# them: stable in every file.
DTYPES = pandas_dtypes(TABLE)
COLUMNS: dict[str, str] = {c: dtype for c, dtype in DTYPES.items() if c not in _CONFIG_LEAD}
_LEAD_DTYPES = {c: DTYPES[c] for c in _CONFIG_LEAD}


def kernel_observations(tables: Mapping[str, pd.DataFrame], jobs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The kernel_observations table of a run's tables (see the module doc). `jobs` (jobs.parquet) gives the
    configs' params and why a tool's job is missing; without it (captures) each measured range is a config."""
    nsys = _nsys_kernels(tables, jobs)
    ncu, other_ncu_jobs = _one_job_per_config(_ncu_kernels(tables), "ncu_job_id", jobs)
    nsys, other_nsys_jobs = _one_job_per_config(nsys, "nsys_job_id", jobs)
    configs = _configs(jobs, nsys, ncu)
    if nsys.empty and ncu.empty:
        return _typed(pd.DataFrame(columns=list(configs.columns) + list(COLUMNS)), configs)
    use_mangled = _mangled_on_both(nsys, ncu)
    nsys["key"] = nsys["mangled_name"].astype("string") if use_mangled else nsys["name"].map(name_key)
    ncu["key"] = ncu["mangled_name"].astype("string") if use_mangled else ncu["name"].map(name_key)
    ncu = _number_ncu(ncu)
    ncu = ncu[[c for c in dict.fromkeys(["config_id", "key", *DIMS, "occurrence", "per_step", "ncu_rank",
                                         "ncu_job_id", "name", "short_name", "mangled_name", "measured_range",
                                         *_NCU_CARRIED, *_NCU_RENAMED]) if c in ncu.columns]]
    steps = _steps(tables, nsys, ncu)
    nsys_rows = _aggregate_nsys(nsys, ncu, steps)
    keys = ["config_id", "key", *DIMS, "occurrence"]
    rows = nsys_rows.merge(ncu, on=keys, how="outer", suffixes=("", "_ncu"), indicator=True)
    for column in ("short_name", "name", "mangled_name", "measured_range"):
        rows[column] = rows[column].astype("string").fillna(rows[f"{column}_ncu"].astype("string"))
    rows = _with_reasons(rows, jobs, steps)
    for side, others in (("ncu", other_ncu_jobs), ("nsys", other_nsys_jobs)):
        for config, skipped in others.items():  # e.g. ncu at base clocks and at the GPU's own, one config
            mask = rows["config_id"] == config
            note = f"this config has {len(skipped) + 1} {side} jobs; not joined: {', '.join(skipped)}"
            rows.loc[mask, "reason"] = [f"{r}; {note}" if isinstance(r, str) else note
                                        for r in rows.loc[mask, "reason"]]
    rows = _with_job_facts(rows, tables, jobs)
    rows = _derived(rows)
    rows = _with_stalls(rows, tables.get("warp_stalls"))
    rows = rows.merge(configs.assign(config_order=range(len(configs))), on="config_id", how="left",
                      suffixes=("_row", ""))
    if "workload_row" in rows:
        rows["workload"] = rows["workload"].fillna(rows.pop("workload_row"))
    # configs in the plan's order (the jobs table's), kernels in launch order within the step
    rows = rows.sort_values(["config_order", "config_id", "step_position", "occurrence"], kind="stable",
                            na_position="last")
    rows["step_position"] = rows.groupby("config_id", sort=False).cumcount()
    out = rows.reindex(columns=list(configs.columns) + list(COLUMNS)).reset_index(drop=True)
    return _typed(out, configs)


# ------------------------------------------------------------------------------------------------ inputs


def _measured_range_of(path) -> str | None:
    """The innermost range of domain flashsight in an nsys nvtx_path ('…/flashsight:<range>/…'); for a capture of
    someone else's workload, its innermost range (its name without the 'domain:' nsys puts before it)."""
    if not isinstance(path, str):
        return None
    segments = path.split("/")
    for segment in reversed(segments):
        if segment.startswith(f"{NVTX_DOMAIN}:"):
            return segment.removeprefix(f"{NVTX_DOMAIN}:")
    return segments[-1].partition(":")[2] or segments[-1] if ":" in segments[-1] else segments[-1]


def _nsys_kernels(tables: Mapping[str, pd.DataFrame], jobs: pd.DataFrame | None) -> pd.DataFrame:
    """Kernels inside a measured range, with config_id (the range's name where a capture has none)."""
    k = tables.get("gpu_kernels")
    if k is None or k.empty:
        return pd.DataFrame(columns=["config_id", "nsys_job_id", "measured_range", "start_ns", "duration_ns",
                                     "name", "short_name", "mangled_name", *DIMS])
    k = k.copy()
    k["measured_range"] = k["nvtx_path"].astype(object).map(_measured_range_of) if "nvtx_path" in k else None
    results = _results(tables)
    if "config_id" in k.columns:
        # A run's job tables hold the measured range's rows already; a result.json names that range exactly.
        expected = k["job_id"].map(dict(zip(results["job_id"], results["nvtx_range"]))) if len(results) else None
        if expected is not None:
            # judged once per distinct (range a result names, nvtx_path): a sweep has few of them, many launches
            pairs = pd.DataFrame({"e": expected.astype(object), "p": k["nvtx_path"].astype(object)})
            unique = pairs.drop_duplicates()
            unique["hit"] = [not isinstance(e, str) or (isinstance(p, str) and any(
                seg == e or seg.partition(":")[2] == e for seg in p.split("/")))
                for e, p in zip(unique["e"], unique["p"])]
            hit = pairs.merge(unique, on=["e", "p"], how="left")["hit"].to_numpy(dtype=bool)
            k = k[hit]
            k["measured_range"] = k["measured_range"].fillna(expected[k.index])
    else:  # captures: each measured range of domain flashsight is a config
        k = k[k["measured_range"].notna()]
        k["config_id"] = k["measured_range"]
    k = k[k["config_id"].notna()].copy()  # rows of no config (set-up, warm-up) observe nothing
    k["nsys_job_id"] = k["job_id"].astype("string") if "job_id" in k else (
        k["source_file"].astype("string") if "source_file" in k else pd.Series("nsys", index=k.index, dtype="string"))
    if "mangled_name" not in k:
        k["mangled_name"] = None
    return k


def _ncu_kernels(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    k = tables.get("ncu_kernels")
    if k is None or k.empty:
        return pd.DataFrame(columns=["config_id", "ncu_job_id", "kernel_id", "name", "short_name", "mangled_name",
                                     "measured_range", *DIMS])
    k = _refreshed(k, tables.get("ncu_metrics"))
    # ncu's nvtx_range: the innermost domain's ranges, outer/inner (flashsight's measured range is innermost)
    k["measured_range"] = k["nvtx_range"].map(lambda r: r.split("/")[-1] if isinstance(r, str) else None) \
        if "nvtx_range" in k else None
    if "config_id" not in k.columns:
        k = k[k["measured_range"].notna()].copy()
        k["config_id"] = k["measured_range"]
    k = k[k["config_id"].notna()].copy()
    k["ncu_job_id"] = k["job_id"].astype("string") if "job_id" in k else (
        k["source_file"].astype("string") if "source_file" in k else pd.Series("ncu", index=k.index, dtype="string"))
    if "mangled_name" not in k:
        k["mangled_name"] = None
    return k


def _one_job_per_config(kernels: pd.DataFrame, job_column: str, jobs: pd.DataFrame | None):
    """One job per config and tool is joined (the first in the plan's order); {config: the other job ids}."""
    if kernels.empty:
        return kernels, {}
    per_config = kernels.groupby("config_id", sort=False)[job_column].unique()
    several = per_config[per_config.map(len) > 1]
    if several.empty:
        return kernels, {}
    order = {j: i for i, j in enumerate(jobs["job_id"])} if jobs is not None and "job_id" in jobs else {}
    chosen, others = {}, {}
    for config, ids in several.items():
        ranked = sorted(map(str, ids), key=lambda j: (order.get(j, len(order)), j))
        chosen[config], others[config] = ranked[0], ranked[1:]
    keep = kernels["config_id"].map(chosen).isna() | (kernels[job_column] == kernels["config_id"].map(chosen))
    return kernels[keep].copy(), others


def _refreshed(kernels: pd.DataFrame, metrics: pd.DataFrame | None) -> pd.DataFrame:
    """ncu_kernels with today's derived columns: a run of flashsight 0.1 stored the old ones (tensor % against
    the aggregate peak, no roofline levels), so they are rebuilt from its ncu_metrics where it has them."""
    if "tensor_path" in kernels.columns or metrics is None or metrics.empty:
        return kernels.copy()
    from flashsight.parsers.ncu_tables import assemble

    by = [c for c in ("job_id", "source_file") if c in kernels.columns and c in metrics.columns]
    identity_columns = ["kernel_id", "name", "short_name", "mangled_name", "nvtx_domain", "nvtx_range",
                        "process_id", "process_name", "context_id", "stream_id", "device_id", "compute_capability",
                        *DIMS]
    frames = []
    groups = kernels.groupby(by, sort=False, dropna=False) if by else [((), kernels)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        mine = metrics
        for column, value in zip(by, key):
            mine = mine[mine[column] == value]
        identity = part[[c for c in identity_columns if c in part.columns]].reset_index(drop=True)
        fresh = assemble(identity, mine.reset_index(drop=True))["ncu_kernels"]
        extra = part.drop(columns=[c for c in part.columns if c in fresh.columns and c != "kernel_id"])
        frames.append(extra.merge(fresh, on="kernel_id", how="left"))
    return pd.concat(frames, ignore_index=True)


def _results(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    results = tables.get("workload_results")
    if results is None or results.empty or "job_id" not in results:
        return pd.DataFrame({"job_id": pd.Series(dtype="string"), "nvtx_range": pd.Series(dtype="string"),
                             "iters": pd.Series(dtype="Int64")})
    return results


def _configs(jobs: pd.DataFrame | None, nsys: pd.DataFrame, ncu: pd.DataFrame) -> pd.DataFrame:
    """config_id, workload and every parameter (the plan's order), one row per config."""
    if jobs is not None and len(jobs) and "params_json" in jobs:
        params: list[str] = []
        for text in jobs["params_json"].dropna():
            params += [p for p in json.loads(text) if p not in params]
        source = {p: (f"param_{p}" if f"param_{p}" in jobs.columns else p) for p in params}
        source = {p: c for p, c in source.items() if c in jobs}
        configs = jobs.drop_duplicates("config_id")[_CONFIG_LEAD + list(source.values())].reset_index(drop=True)
        # a parameter named like a column of this table gets the `param_` prefix (as in every merged table)
        taken = {*COLUMNS, *_CONFIG_LEAD}
        configs = configs.rename(columns={c: (f"param_{p}" if p in taken or declared_type(TABLE, p) else p)
                                          for p, c in source.items()})
        return configs.astype(_LEAD_DTYPES)
    ids = pd.concat([nsys.get("config_id", pd.Series(dtype=object)), ncu.get("config_id", pd.Series(dtype=object))])
    ids = pd.Series(ids.dropna().unique(), dtype="string")
    return pd.DataFrame({"config_id": ids, "workload": ids.str.split(" ").str[0]}).astype(_LEAD_DTYPES)


def _mangled_on_both(nsys: pd.DataFrame, ncu: pd.DataFrame) -> bool:
    return bool(nsys["mangled_name"].notna().all() and ncu["mangled_name"].notna().all())


# ------------------------------------------------------------------------------------------------ pairing


def _number_ncu(ncu: pd.DataFrame) -> pd.DataFrame:
    """The ncu step: launch order by kernel_id, each kernel's occurrence and its launches per step."""
    ncu = ncu.sort_values(["config_id", "kernel_id"], kind="stable").copy()
    for column in DIMS:
        ncu[column] = pd.to_numeric(ncu[column], errors="coerce").astype("Int64")
    group = ncu.groupby(["config_id", "key", *DIMS], sort=False, dropna=False)
    ncu["occurrence"] = group.cumcount().astype("Int64")
    ncu["per_step"] = group["kernel_id"].transform("size").astype("Int64")
    ncu["ncu_rank"] = ncu.groupby("config_id", sort=False).cumcount()
    return ncu


def _steps(tables, nsys: pd.DataFrame, ncu: pd.DataFrame) -> dict:
    """Steps in each config's nsys range: the nsys job's `iters` (result.json), else what the launch counts say
    (launches of a kernel ÷ its launches in the ncu step, the commonest ratio; else their gcd)."""
    results = _results(tables)
    iters = dict(zip(results["job_id"].astype(str), results["iters"])) if len(results) else {}
    counts = nsys.groupby(["config_id", "nsys_job_id", "key", *DIMS], dropna=False).size().rename("n").reset_index()
    per_step = ncu[["config_id", "key", *DIMS, "per_step"]].drop_duplicates(["config_id", "key", *DIMS])
    counts = counts.merge(per_step, on=["config_id", "key", *DIMS], how="left")
    steps = {}
    for (config, job), part in counts.groupby(["config_id", "nsys_job_id"], sort=False):
        given = iters.get(str(job))
        if given is not None and not pd.isna(given):
            steps[config] = int(given)
            continue
        matched = part.dropna(subset=["per_step"])
        ratios = (matched["n"] / matched["per_step"].astype(float))
        ratios = ratios[ratios == ratios.round()]
        steps[config] = int(ratios.mode().iloc[0]) if len(ratios) else int(np.gcd.reduce(part["n"].astype(int)))
    return steps


def _aggregate_nsys(nsys: pd.DataFrame, ncu: pd.DataFrame, steps: dict) -> pd.DataFrame:
    """One row per (config, kernel, occurrence in the step): launches and their duration statistics."""
    if nsys.empty:  # an ncu-only run: every column the merge and the reasons read, with no rows
        return pd.DataFrame(columns=["config_id", "key", *DIMS, "occurrence", "nsys_launches", "nsys_median_ns",
                                     "nsys_min_ns", "nsys_p90_ns", "nsys_max_ns", "nsys_mean_ns", "nsys_total_ns",
                                     "first_start_ns", "nsys_per_step", "name", "short_name", "mangled_name",
                                     "measured_range", "nsys_job_id", "nsys_rank"])
    nsys = nsys.sort_values(["config_id", "start_ns"], kind="stable").copy()
    for column in DIMS:
        nsys[column] = pd.to_numeric(nsys[column], errors="coerce").astype("Int64")
    per_step = ncu[["config_id", "key", *DIMS, "per_step"]].drop_duplicates(["config_id", "key", *DIMS])
    nsys = nsys.merge(per_step, on=["config_id", "key", *DIMS], how="left")
    group = nsys.groupby(["config_id", "key", *DIMS], sort=False, dropna=False)
    nth = group.cumcount()
    n_key = group["start_ns"].transform("size")
    steps_of = nsys["config_id"].map(steps).astype(float)
    own = (n_key / steps_of).where(lambda r: (r >= 1) & (r == r.round()), 1.0)  # nsys-only: launches per step
    per = nsys["per_step"].astype(float).fillna(own).astype(int)
    nsys["occurrence"] = (nth % per).astype("Int64")
    nsys["step"] = nth // per
    nsys["duration_ns"] = nsys["duration_ns"].astype("int64")
    keys = ["config_id", "key", *DIMS, "occurrence"]
    grouped = nsys.groupby(keys, sort=False, dropna=False)
    durations = grouped["duration_ns"]
    out = pd.DataFrame({
        "nsys_launches": durations.size(),
        "nsys_median_ns": durations.median(),
        "nsys_min_ns": durations.min(),
        "nsys_p90_ns": durations.quantile(0.9),
        "nsys_max_ns": durations.max(),
        "nsys_mean_ns": durations.mean(),
        "nsys_total_ns": durations.sum(),
        "first_start_ns": grouped["start_ns"].min(),
        "nsys_per_step": grouped["per_step"].first(),
    })
    first = grouped[["name", "short_name", "mangled_name", "measured_range", "nsys_job_id"]].first()
    out = out.join(first).reset_index()
    out["nsys_rank"] = out.groupby("config_id", sort=False)["first_start_ns"].rank(method="first") - 1
    return out


def _with_reasons(rows: pd.DataFrame, jobs: pd.DataFrame | None, steps: dict) -> pd.DataFrame:
    both = rows["_merge"] == "both"
    nsys_only = rows["_merge"] == "left_only"
    ncu_only = rows["_merge"] == "right_only"
    rows["missing"] = pd.Series(np.select([nsys_only, ncu_only], ["ncu", "nsys"], default=""), index=rows.index) \
        .replace("", pd.NA).astype("string")
    rows["nsys_steps"] = rows["config_id"].map(steps).astype("Int64")
    status = _job_status(jobs)
    seen = {"nsys": set(rows.loc[~ncu_only, "config_id"]), "ncu": set(rows.loc[~nsys_only, "config_id"])}
    names_by_side = {side: set(zip(rows.loc[mask, "config_id"], rows.loc[mask, "key"]))
                     for side, mask in (("nsys", ~ncu_only), ("ncu", ~nsys_only))}
    reasons = []
    for i in rows.index:
        config = rows.at[i, "config_id"]
        if both[i]:
            launches, expected = rows.at[i, "nsys_launches"], steps.get(config)
            reasons.append(None if expected is None or launches == expected else
                           f"nsys saw {int(launches)} launches of it in the measured range; {expected} steps were "
                           "measured")
            continue
        side, other = ("nsys", "ncu") if nsys_only[i] else ("ncu", "nsys")
        if config not in seen[other]:
            job = status.get((config, other))
            if job is None:  # a sweep without a job of that tool for it, or captures of one tool only
                why = f"no {other} job" if status else f"no {other} rows"
            else:
                why = f"its {other} job {job[0]}" + (f": {job[1]}" if job[1] and job[0] != "succeeded" else "")
            reasons.append(f"{other} did not observe this config ({why})")
            continue
        same_name = (config, rows.at[i, "key"]) in names_by_side[other]
        hint = "; the other side has it with another grid/block" if same_name else ""
        if side == "nsys":
            launches = int(rows.at[i, "nsys_launches"])
            reasons.append(f"nsys launched it {launches}× in the measured range; ncu profiled no such launch in its "
                           f"step{hint}")
        else:
            reasons.append(f"ncu profiled it (kernel {int(rows.at[i, 'kernel_id'])}); nsys saw no such launch in the "
                           f"measured range{hint}")
    rows["reason"] = pd.Series(reasons, index=rows.index, dtype="string")
    rows["step_position"] = rows["nsys_rank"].astype(float).fillna(rows["ncu_rank"].astype(float) + 0.5)
    return rows


def _job_status(jobs: pd.DataFrame | None) -> dict:
    if jobs is None or jobs.empty or "tool" not in jobs:
        return {}
    out = {}
    for config, tool, status, error in zip(jobs["config_id"], jobs["tool"], jobs["status"],
                                           jobs.get("error", pd.Series(None, index=jobs.index))):
        if out.get((config, tool), ("",))[0] != "succeeded":
            out[(config, tool)] = (status, error if isinstance(error, str) else None)
    return out


# ------------------------------------------------------------------------------------------------ facts


def _with_job_facts(rows: pd.DataFrame, tables, jobs: pd.DataFrame | None) -> pd.DataFrame:
    """Which clock each side ran at: ncu's clock control (its options), NVML's throttle flag of the nsys job."""
    rows = rows.rename(columns=_NCU_RENAMED)
    for column in [*_NCU_RENAMED.values(), *_NCU_CARRIED, "ncu_job_id", "nsys_job_id", "nsys_median_ns",
                   "nsys_launches"]:
        if column not in rows:  # a run with one tool only: the other side's columns are all empty
            rows[column] = pd.Series(math.nan, index=rows.index, dtype="float64")
    options = {}
    if jobs is not None and "ncu_options" in jobs:
        options = {j: json.loads(o) if isinstance(o, str) and o else {} for j, o in zip(jobs["job_id"],
                                                                                       jobs["ncu_options"])}
    conditions = tables.get("job_conditions")
    cond = conditions.set_index("job_id") if conditions is not None and len(conditions) else None
    clock, cache = [], []
    for job in rows["ncu_job_id"]:
        recorded = cond.loc[job] if cond is not None and not pd.isna(job) and job in cond.index else None
        given = options.get(job, {})
        clock.append(recorded["ncu_clock_control"] if recorded is not None and isinstance(
            recorded.get("ncu_clock_control"), str) else (given.get("clock_control", "base") if not pd.isna(job)
                                                         else None))
        cache.append(recorded["ncu_cache_control"] if recorded is not None and isinstance(
            recorded.get("ncu_cache_control"), str) else (given.get("cache_control", "all") if not pd.isna(job)
                                                         else None))
    rows["ncu_clock_control"] = pd.Series(clock, index=rows.index, dtype="string")
    rows["ncu_cache_control"] = pd.Series(cache, index=rows.index, dtype="string")
    rows["ncu_clock"] = rows["ncu_clock_control"].map(
        {"base": "ncu --clock-control base (locked to base clocks)",
         "none": "ncu --clock-control none (the GPU's own)"}).astype("string")
    throttled = {}
    if cond is not None and "throttled" in cond:
        throttled = cond["throttled"].to_dict()
    rows["nsys_throttled"] = rows["nsys_job_id"].map(throttled).astype("boolean")
    rows["nsys_clock"] = pd.Series(NSYS_CLOCK, index=rows.index, dtype="string").where(rows["nsys_job_id"].notna())
    if "device_sm_clock_hz" not in rows:
        rows["device_sm_clock_hz"] = math.nan
        rows["device_memory_clock_hz"] = math.nan
    metrics = tables.get("ncu_metrics")
    if rows["device_sm_clock_hz"].isna().any() and metrics is not None and len(metrics):
        rows = _device_clocks_from_metrics(rows, metrics)
    return rows


def _device_clocks_from_metrics(rows: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    by = "job_id" if "job_id" in metrics else ("source_file" if "source_file" in metrics else None)
    wanted = metrics[metrics["metric"].isin(["device__attribute_clock_rate", "device__attribute_memory_clock_rate"])]
    if wanted.empty:
        return rows
    index = [by, "kernel_id"] if by else ["kernel_id"]
    wide = wanted.pivot_table(index=index, columns="metric", values="value", aggfunc="first", observed=True) * 1e3
    keys = list(zip(rows["ncu_job_id"], rows["ncu_kernel_id"])) if by else list(rows["ncu_kernel_id"])
    for column, metric in (("device_sm_clock_hz", "device__attribute_clock_rate"),
                           ("device_memory_clock_hz", "device__attribute_memory_clock_rate")):
        if metric in wide:
            found = wide[metric].to_dict()
            rows[column] = rows[column].fillna(pd.Series([found.get(k, math.nan) for k in keys], index=rows.index))
    return rows


def _derived(rows: pd.DataFrame) -> pd.DataFrame:
    """Counters ÷ nsys time, and % of the peaks at the clocks nsys saw (see the module doc)."""
    seconds = rows["nsys_median_ns"].astype(float) / 1e9
    rows["nsys_sm_frequency_hz"] = rows["device_sm_clock_hz"].astype(float).where(rows["nsys_median_ns"].notna())
    seen = rows["nsys_median_ns"].notna()
    rows["nsys_memory_frequency_hz"] = rows["device_memory_clock_hz"].astype(float).where(seen)
    rows["ncu_to_nsys_time"] = rows["ncu_duration_ns"].astype(float) / rows["nsys_median_ns"].astype(float)
    for counter, rate in (("flop", "achieved_flop_per_s"), ("tensor_flop", "achieved_tensor_flop_per_s"),
                          ("dram_bytes", "achieved_dram_bytes_per_s"), ("l2_bytes", "achieved_l2_bytes_per_s"),
                          ("l1_bytes", "achieved_l1_bytes_per_s")):
        rows[rate] = rows[counter].astype(float) / seconds
    sm_scale = rows["nsys_sm_frequency_hz"] / rows["ncu_sm_frequency_hz"].astype(float)
    mem_scale = rows["nsys_memory_frequency_hz"] / rows["ncu_dram_frequency_hz"].astype(float)
    for peak, scale in (("peak_tensor_flop_per_s", sm_scale), ("peak_fp32_flop_per_s", sm_scale),
                        ("peak_compute_flop_per_s", sm_scale), ("peak_dram_bytes_per_s", mem_scale),
                        ("peak_l1_bytes_per_s", sm_scale)):
        rows[peak] = rows[f"ncu_{peak}"].astype(float) * scale
    time_scale = rows["ncu_to_nsys_time"]
    # ncu's % at ncu's clock and time, moved to nsys's time and clock: % ∝ work ÷ (time × clock)
    for pct, scale in (("tensor_peak_pct", sm_scale), ("fp32_peak_pct", sm_scale), ("compute_peak_pct", sm_scale),
                       ("dram_peak_pct", mem_scale), ("l1_peak_pct", sm_scale)):
        rows[pct] = rows[f"ncu_{pct}"].astype(float) * time_scale / scale
    rows["ridge_intensity"] = rows["peak_compute_flop_per_s"] / rows["peak_dram_bytes_per_s"]
    return rows


def _with_stalls(rows: pd.DataFrame, stalls: pd.DataFrame | None) -> pd.DataFrame:
    """The two largest stall reasons of each ncu kernel (warp-state ratios; PC samples where a report has none)."""
    empty = {"top_stall": None, "top_stall_pct": math.nan, "second_stall": None, "second_stall_pct": math.nan,
             "stall_source": None}
    if stalls is None or stalls.empty:
        return rows.assign(**empty)
    by = "job_id" if "job_id" in stalls else ("source_file" if "source_file" in stalls else None)
    s = stalls[(stalls["reason"] != NOT_A_STALL) & stalls["pct"].notna()].copy()
    s["preference"] = (s["source"] != "warp_state").astype(int)
    s = s.sort_values([*([by] if by else []), "kernel_id", "preference", "pct"], ascending=[*([True] if by else []),
                                                                                            True, True, False])
    index = [by, "kernel_id"] if by else ["kernel_id"]
    best_source = s.groupby(index, sort=False)["source"].first().rename("stall_source")
    s = s.merge(best_source.reset_index(), on=index)
    s = s[s["source"] == s["stall_source"]]
    top = s.groupby(index, sort=False).nth(0).set_index(index)
    second = s.groupby(index, sort=False).nth(1).set_index(index)
    keys = pd.MultiIndex.from_arrays([rows["ncu_job_id"], rows["ncu_kernel_id"].astype("Int64")]) if by else \
        pd.Index(rows["ncu_kernel_id"].astype("Int64"))
    rows["top_stall"] = top["reason"].reindex(keys).to_numpy()
    rows["top_stall_pct"] = top["pct"].reindex(keys).to_numpy()
    rows["second_stall"] = second["reason"].reindex(keys).to_numpy()
    rows["second_stall_pct"] = second["pct"].reindex(keys).to_numpy()
    rows["stall_source"] = top["stall_source"].reindex(keys).to_numpy()
    return rows


def _typed(df: pd.DataFrame, configs: pd.DataFrame) -> pd.DataFrame:
    for column, dtype in COLUMNS.items():
        if column not in df:
            df[column] = pd.Series(index=df.index, dtype=dtype)
        elif dtype == "Int64":
            df[column] = pd.to_numeric(df[column], errors="coerce").round().astype("Int64")
        elif dtype == "boolean":
            df[column] = df[column].astype("boolean")
        else:
            df[column] = df[column].astype(dtype)
    for column in configs.columns:
        if column in df and column in configs:
            df[column] = df[column].astype(configs[column].dtype) if len(df) else df[column].astype(
                configs[column].dtype)
    return df
