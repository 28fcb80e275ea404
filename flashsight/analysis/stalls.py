"""Warp-stall questions over the canonical tables: the hottest source lines of each kernel."""

from __future__ import annotations

import pandas as pd

from flashsight.schema.stalls import NOT_A_STALL


def top_source_lines(source: pd.DataFrame, n: int = 5, by: str = "samples") -> pd.DataFrame:
    """The n hottest SASS lines of each kernel in an ncu_source table, with each line's main stall reason.

    Kernels are told apart by (kernel_id, name, block): a source CSV page has no IDs, a report has no blocks.
    """
    stall_cols = [c for c in source.columns if c.startswith("stall_") and c != f"stall_{NOT_A_STALL}"]
    keys = ["kernel_id", "name", "block"]
    hot = (source[source[by] > 0].sort_values(by, ascending=False, kind="stable")
           .groupby(keys, dropna=False, sort=False).head(n).copy())
    if stall_cols and len(hot):
        stalls = hot[stall_cols].astype("float64")
        hot["top_reason"] = stalls.idxmax(axis=1).str.removeprefix("stall_").where(stalls.max(axis=1) > 0)
        hot["top_reason_pct"] = (100 * stalls.max(axis=1) / hot[by].where(hot[by] > 0)).where(
            hot["top_reason"].notna())
    else:
        hot["top_reason"], hot["top_reason_pct"] = None, float("nan")
    kernel_total = source.groupby(keys, dropna=False, sort=False)[by].transform("sum")
    hot["share_pct"] = 100 * hot[by] / kernel_total.loc[hot.index]
    columns = keys + ["address", "sass", "cuda_file", "cuda_line", by, "share_pct", "top_reason", "top_reason_pct"]
    hot = hot.sort_values(["kernel_id", "block", by], ascending=[True, True, False], kind="stable")
    return hot[[c for c in columns if c in hot.columns]].reset_index(drop=True)
