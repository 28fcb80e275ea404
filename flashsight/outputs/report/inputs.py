"""The report's one door to the run: the joint observation and the tables, gathered once.

Every section reads a `ReportData`; only this module knows where `kernel_observations` comes from (the run's own
table when it has one, else the provisional join of analysis.observations_interim) and how a bare folder of
captures gets config ids (its measured NVTX ranges, named '<workload> k=v ...' by the workload contract).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from flashsight.analysis.families import config_labels, family_of
from flashsight.analysis.findings import main_kernels
from flashsight.analysis.observations_interim import interim_observations
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
          "workload_results", "ncu_metrics")


def gather(run, name: str | None = None) -> ReportData:
    tables = {t: run.table(t) for t in TABLES if run.has(t)}
    configs = run.configs
    if configs.empty:  # a folder of captures: one config per measured range
        configs = _configs_from_ranges(tables)
    labels = config_labels(configs) if len(configs) else pd.DataFrame(columns=["config_id", "workload", "family",
                                                                                "label"])
    if run.has("kernel_observations"):
        obs = run.table("kernel_observations").copy()
    else:
        obs = interim_observations(tables.get("gpu_kernels"), tables.get("ncu_kernels"), tables.get("warp_stalls"),
                                   configs)
    obs = obs.drop(columns=[c for c in ("family", "label") if c in obs]).merge(
        labels[["config_id", "family", "label"]], on="config_id", how="left")
    if "workload" in obs:
        obs["family"] = obs["family"].fillna(obs["workload"].map(lambda w: family_of(w) if isinstance(w, str) else None))
    obs["label"] = obs["label"].fillna(obs["config_id"].astype(str))
    obs["row_id"] = _row_ids(obs)
    jobs = run.jobs
    clocks = clock_conditions(tables.get("ncu_kernels"), tables.get("devices"), jobs, run.env)
    plan_text = getattr(run, "plan_text", None)
    return ReportData(name=name or (Path(run.path).name if run.path else "run"), path=run.path, jobs=jobs,
                      configs=configs, labels=labels, obs=obs, main=main_kernels(obs), clocks=clocks, env=run.env,
                      plan_text=plan_text, _tables=tables)


def _row_ids(obs: pd.DataFrame) -> list[str]:
    """'k-<config>-<n>': stable per config and kernel order, so a finding's link survives a re-render."""
    seen: dict[str, int] = {}
    ids = []
    for cid in obs["config_id"].astype(str):
        seen[cid] = seen.get(cid, 0) + 1
        ids.append(f"k-{cid[:12]}-{seen[cid]}")
    return ids


def _configs_from_ranges(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Captures without a jobs table: each measured range ('decode batch=32 ...' or a bare 'decode') is a config;
    the tables get its name as config_id."""
    names: list[str] = []
    for table, column in (("ncu_kernels", "nvtx_range"), ("gpu_kernels", "nvtx_path"), ("gpu_memops", "nvtx_path")):
        df = tables.get(table)
        if df is None or column not in df or "config_id" in df:
            continue
        inner = df[column].map(lambda p: p.split("/")[-1].split(":")[-1] if isinstance(p, str) and p else None)
        tables[table] = df.assign(config_id=inner.astype("string"), job_id=df.get("source_file", inner))
        names += [n for n in inner.dropna().unique() if n not in names]
    ranges = tables.get("nvtx_ranges")
    if ranges is not None and "config_id" not in ranges:
        tables["nvtx_ranges"] = ranges.assign(config_id=ranges["name"].where(ranges["name"].isin(names)).astype("string"))
    for table in ("warp_stalls", "ncu_source"):  # follow their kernels
        df, kernels = tables.get(table), tables.get("ncu_kernels")
        if df is not None and kernels is not None and "config_id" in kernels and "config_id" not in df:
            keys = [c for c in ("source_file", "kernel_id") if c in df and c in kernels]
            tables[table] = df.merge(kernels[[*keys, "config_id", "job_id"]], on=keys, how="left")
    rows = []
    for n in names:
        workload, *params = n.split(" ")
        p = dict(kv.split("=", 1) for kv in params if "=" in kv)
        rows.append({"config_id": n, "workload": workload, "params_json": json.dumps(p)})
    return pd.DataFrame(rows, columns=["config_id", "workload", "params_json"])
