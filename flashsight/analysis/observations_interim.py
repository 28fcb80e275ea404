"""A provisional joint observation, until the `kernel_observations` analysis (branch observe) lands.

One row per (config, kernel mangled name) of the measured step: nsys's launches and median time (the GPU's own
clocks) beside ncu's counters of the same kernel in the same config; achieved rates are ncu's counters divided by
the nsys time. Percentages of peak are ncu's own (its duration and its locked clocks) except DRAM, which is the
nsys-time rate over ncu's DRAM peak. Kernels seen by one tool only keep that tool's columns (the others null).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flashsight.schema.stalls import NOT_A_STALL

NCU_COLUMNS = {"duration_ns": "ncu_duration_ns", "sm_frequency_hz": "ncu_sm_frequency_hz"}
NCU_KEPT = ["flop", "tensor_flop", "fp32_flop", "dram_bytes", "tensor_peak_pct", "bound", "bound_reason",
            "peak_dram_bytes_per_s", "peak_tensor_flop_per_s", "peak_fp32_flop_per_s", "tensor_type",
            "sm_throughput_pct", "dram_throughput_pct", "achieved_occupancy_pct", "arithmetic_intensity",
            "flop_per_s", "dram_bytes_per_s", "dram_peak_pct", "grid_size", "block_size",
            "l2_bytes", "l1_bytes", "peak_l2_bytes_per_s", "peak_l1_bytes_per_s", "peak_compute_flop_per_s"]


def interim_observations(gpu_kernels: pd.DataFrame | None, ncu_kernels: pd.DataFrame | None,
                         warp_stalls: pd.DataFrame | None, configs: pd.DataFrame) -> pd.DataFrame:
    frames = []
    key = ["config_id", "mangled_name"]
    nsys = None
    if gpu_kernels is not None and len(gpu_kernels) and "config_id" in gpu_kernels:
        g = gpu_kernels[gpu_kernels["config_id"].notna()]  # kernels outside every measured range: no config
        g = g.assign(mangled_name=_mangled(g))
        nsys = (g.groupby(key, sort=False, dropna=False)
                .agg(short_name=("short_name", "first"), nsys_launches=("duration_ns", "size"),
                     nsys_median_ns=("duration_ns", "median"), nsys_first_start_ns=("start_ns", "min"))
                .reset_index())
    ncu = None
    if ncu_kernels is not None and len(ncu_kernels) and "config_id" in ncu_kernels:
        n = ncu_kernels[ncu_kernels["config_id"].notna()]
        n = n.assign(mangled_name=_mangled(n)).rename(columns=NCU_COLUMNS)
        n = n.rename(columns={"dram_peak_pct": "ncu_dram_peak_pct"})
        keep = [c for c in ["job_id", "kernel_id", *key, "short_name", *NCU_COLUMNS.values(),
                            *[c if c != "dram_peak_pct" else "ncu_dram_peak_pct" for c in NCU_KEPT]] if c in n]
        ncu = n[keep]
        ncu = ncu.assign(ncu_instances=ncu.groupby(key, dropna=False)["kernel_id"].transform("size"))
        ncu = ncu.merge(_top_stalls(warp_stalls), on=["job_id", "kernel_id"], how="left") \
            if warp_stalls is not None and len(warp_stalls) and "job_id" in warp_stalls else ncu
    if nsys is not None and ncu is not None:
        obs = ncu.merge(nsys.rename(columns={"short_name": "nsys_short_name"}), on=key, how="outer")
        obs["short_name"] = obs["short_name"].fillna(obs.pop("nsys_short_name"))
        obs["nsys_launches"] = obs["nsys_launches"] / obs["ncu_instances"].fillna(1)
    else:
        obs = ncu if ncu is not None else nsys
    if obs is None:
        return pd.DataFrame(columns=["config_id", "workload", "short_name", "mangled_name"])
    for column in ("nsys_median_ns", "nsys_launches", "flop", "dram_bytes", "peak_dram_bytes_per_s"):
        if column not in obs:
            obs[column] = np.nan
    seconds = obs["nsys_median_ns"].astype("float64") / 1e9
    obs["achieved_flop_per_s"] = obs["flop"].astype("float64") / seconds
    obs["achieved_dram_bytes_per_s"] = obs["dram_bytes"].astype("float64") / seconds
    obs["dram_peak_pct"] = 100 * obs["achieved_dram_bytes_per_s"] / obs["peak_dram_bytes_per_s"].astype("float64")
    meta = configs.drop(columns=[c for c in ("run",) if c in configs]).drop_duplicates("config_id")
    obs = meta.merge(obs, on="config_id", how="right")
    order = ["config_id", "workload", "short_name", "mangled_name", "nsys_launches", "nsys_median_ns",
             "ncu_duration_ns", "ncu_sm_frequency_hz", "flop", "dram_bytes", "achieved_flop_per_s",
             "achieved_dram_bytes_per_s", "tensor_peak_pct", "dram_peak_pct", "bound", "top_stall", "top_stall_pct"]
    for column in order:
        if column not in obs:
            obs[column] = np.nan
    sort = [c for c in ("workload", "config_id", "nsys_first_start_ns", "kernel_id") if c in obs]
    obs = obs.sort_values(sort, kind="stable").reset_index(drop=True)
    return obs[order + [c for c in obs.columns if c not in order]]


def _mangled(df: pd.DataFrame) -> pd.Series:
    name = df["mangled_name"] if "mangled_name" in df else df["name"]
    return name.fillna(df["name"]) if "name" in df else name


def _top_stalls(warp_stalls: pd.DataFrame) -> pd.DataFrame:
    """job_id, kernel_id, top_stall, top_stall_pct: the largest real stall of each kernel, PC sampling first."""
    real = warp_stalls[(warp_stalls["reason"] != NOT_A_STALL) & warp_stalls["pct"].notna()].copy()
    if real.empty:
        return pd.DataFrame(columns=["job_id", "kernel_id", "top_stall", "top_stall_pct"])
    real["rank"] = (real["source"] != "pc_sampling").astype(int)
    real = real.sort_values(["rank", "pct"], ascending=[True, False], kind="stable")
    top = real.groupby(["job_id", "kernel_id"], sort=False).head(1)
    return top[["job_id", "kernel_id", "reason", "pct"]].rename(columns={"reason": "top_stall", "pct": "top_stall_pct"})
