"""The stall matrix: for each kernel of a workload, its top warp-stall reasons across the configs of the grid.

One source per kernel: PC sampling (SourceCounters) where any of its configs has it, else the warp-state ratios
(WarpStateStats). The top reasons are the ones with the largest mean share over the configs, so one set of rows
reads across the whole grid; a kernel profiled twice in one config shows the mean of its instances.
"""

from __future__ import annotations

import pandas as pd

from flashsight.schema.stalls import NOT_A_STALL

COLUMNS = ["workload", "short_name", "source", "reason", "config_id", "label", "pct"]


def stall_matrix(warp_stalls: pd.DataFrame | None, ncu_kernels: pd.DataFrame | None, labels: pd.DataFrame,
                 top: int = 5) -> pd.DataFrame:
    """Long form (workload, short_name, source, reason, config_id, label, pct), the top `top` reasons per kernel.

    `labels` has config_id and label (analysis.families.config_labels); tables come from a sweep (job_id and
    config_id on every row: kernel_id is unique only within one ncu report).
    """
    if warp_stalls is None or ncu_kernels is None or warp_stalls.empty or ncu_kernels.empty:
        return pd.DataFrame(columns=COLUMNS)
    keys = [c for c in ("job_id", "source_file") if c in ncu_kernels and c in warp_stalls] + ["kernel_id"]
    kernels = ncu_kernels[[*keys, "short_name", *[c for c in ("config_id", "workload") if c in ncu_kernels]]]
    real = warp_stalls[(warp_stalls["reason"] != NOT_A_STALL) & warp_stalls["pct"].notna()]
    rows = real[[*keys, "reason", "source", "pct"]].merge(kernels, on=keys, how="inner")
    if rows.empty:
        return pd.DataFrame(columns=COLUMNS)
    if "config_id" not in rows:
        rows["config_id"] = rows[keys[0]].astype(str)
    if "workload" not in rows:
        rows["workload"] = ""
    group = ["workload", "short_name"]
    has_sampling = rows.groupby(group)["source"].transform(lambda s: (s == "pc_sampling").any())
    rows = rows[(rows["source"] == "pc_sampling") == has_sampling]
    cells = rows.groupby([*group, "source", "reason", "config_id"], sort=False, as_index=False)["pct"].mean()
    rank = cells.groupby([*group, "reason"], sort=False)["pct"].mean().rename("mean_pct").reset_index()
    rank = rank.sort_values([*group, "mean_pct"], ascending=[True, True, False], kind="stable")
    kept = rank.groupby(group, sort=False).head(top)
    cells = cells.merge(kept, on=[*group, "reason"], how="inner")
    cells = cells.merge(labels[["config_id", "label"]], on="config_id", how="left")
    cells["label"] = cells["label"].fillna(cells["config_id"])
    cells = cells.sort_values([*group, "mean_pct", "label"], ascending=[True, True, False, True], kind="stable")
    return cells[COLUMNS].reset_index(drop=True)


def as_grid(matrix: pd.DataFrame, config_order: list[str] | None = None) -> pd.DataFrame:
    """One kernel's long matrix as reason × config label (rows in rank order, columns in `config_order`)."""
    grid = matrix.pivot_table(index="reason", columns="label", values="pct", sort=False)
    reasons = list(dict.fromkeys(matrix["reason"]))
    columns = [c for c in (config_order or []) if c in grid.columns] + \
        [c for c in grid.columns if c not in (config_order or [])]
    return grid.reindex(index=reasons, columns=columns)
