"""The report's one door to the run: the joint observation and the tables, gathered once.

Every section reads a `ReportData`; only this module reads `kernel_observations` (the run's table, which
flashsight.api computes from the tables for runs without the file) and knows how a folder of captures gets its
configs (its measured NVTX ranges, named '<workload> k=v ...' by the workload contract).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from flashsight.analysis.families import config_labels, family_of
from flashsight.analysis.findings import main_kernels
from flashsight.analysis.rates import with_ncu_time_rates
from flashsight.analysis.run_summary import clock_conditions


@dataclass
class ReportData:
    name: str
    path: Path | None
    jobs: pd.DataFrame
    configs: pd.DataFrame
    labels: pd.DataFrame  # config_id, workload, family, label
    obs: pd.DataFrame  # kernel observations + row_id, family, label
    main: pd.DataFrame  # the main kernel of each config
    clocks: dict
    env: dict | None
    plan_text: str | None
    _tables: dict = field(default_factory=dict, repr=False)

    def table(self, name: str) -> pd.DataFrame | None:
        return self._tables.get(name)

    def families(self) -> list[str]:
        from flashsight.analysis.families import ordered_families

        workloads = list(self.configs["workload"]) if "workload" in self.configs else []
        return ordered_families(workloads)

    def label_of(self, config_id) -> str:
        hit = self.labels.loc[self.labels["config_id"] == config_id, "label"]
        return hit.iloc[0] if len(hit) else str(config_id)


TABLES = ("gpu_kernels", "gpu_memops", "nvtx_ranges", "devices", "ncu_kernels", "warp_stalls", "ncu_source",
          "workload_results", "job_conditions")
# What the report reads of kernel_observations, so a run without one (no kernels at all) still has the columns.
OBS_COLUMNS = ["config_id", "workload", "short_name", "mangled_name", "missing", "reason", "nsys_launches",
               "nsys_median_ns", "ncu_duration_ns", "ncu_sm_frequency_hz", "ncu_job_id", "ncu_kernel_id", "flop",
               "dram_bytes", "achieved_flop_per_s", "achieved_dram_bytes_per_s", "tensor_peak_pct", "dram_peak_pct",
               "ncu_tensor_peak_pct", "ncu_dram_peak_pct", "bound", "top_stall", "top_stall_pct", "ncu_to_nsys_time"]


def observations(run) -> pd.DataFrame:
    """The run's kernel_observations (flashsight.api computes it for runs without the file), with the columns the
    report reads always present, and ncu-time rates for kernels nsys did not time."""
    obs = run.table("kernel_observations").copy() if run.has("kernel_observations") else pd.DataFrame()
    for column in OBS_COLUMNS:
        if column not in obs:
            obs[column] = pd.Series(dtype="float64" if column not in ("config_id", "workload", "short_name") else
                                    "string")
    return with_ncu_time_rates(obs)


def gather(run, name: str | None = None) -> ReportData:
    tables = {t: run.table(t) for t in TABLES if run.has(t)}
    obs = observations(run)
    configs = run.configs
    if configs.empty and len(obs):  # captures: each measured range is a config, named '<workload> k=v ...'
        configs = _configs_from_ranges(obs)
    labels = config_labels(configs) if len(configs) else pd.DataFrame(columns=["config_id", "workload", "family",
                                                                                "label"])
    obs = obs.drop(columns=[c for c in ("family", "label") if c in obs]).merge(
        labels[["config_id", "family", "label"]], on="config_id", how="left")
    obs["family"] = obs["family"].fillna(obs["workload"].map(lambda w: family_of(w) if isinstance(w, str) else None))
    obs["label"] = obs["label"].fillna(obs["config_id"].astype(str))
    rank = {cid: i for i, cid in enumerate(labels["config_id"])}  # reading order: family, then swept values
    position = obs["step_position"] if "step_position" in obs else pd.Series(range(len(obs)), index=obs.index)
    obs = obs.assign(_rank=obs["config_id"].map(rank).fillna(len(rank)), _pos=position).sort_values(
        ["_rank", "_pos"], kind="stable").drop(columns=["_rank", "_pos"]).reset_index(drop=True)
    obs["row_id"] = _row_ids(obs)
    jobs = run.jobs
    clocks = clock_conditions(tables.get("ncu_kernels"), tables.get("devices"), jobs, run.env)
    return ReportData(name=name or (Path(run.path).name if run.path else "run"), path=run.path, jobs=jobs,
                      configs=configs, labels=labels, obs=obs, main=main_kernels(obs), clocks=clocks, env=run.env,
                      plan_text=getattr(run, "plan_text", None), _tables=tables)


def _row_ids(obs: pd.DataFrame) -> list[str]:
    """'k-<config>-<n>': stable per config and kernel order, so a finding's link survives a re-render."""
    seen: dict[str, int] = {}
    ids = []
    for cid in obs["config_id"].astype(str):
        seen[cid] = seen.get(cid, 0) + 1
        ids.append(f"k-{cid[:12]}-{seen[cid]}")
    return ids


def _configs_from_ranges(obs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for cid, workload in obs[["config_id", "workload"]].drop_duplicates("config_id").itertuples(index=False):
        params = dict(kv.split("=", 1) for kv in str(cid).split(" ")[1:] if "=" in kv)
        rows.append({"config_id": cid, "workload": workload, "params_json": json.dumps(params)})
    return pd.DataFrame(rows, columns=["config_id", "workload", "params_json"])
