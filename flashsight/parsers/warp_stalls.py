"""Warp-stall reasons in one vocabulary, from both of ncu's families.

- warp_state:  `smsp__average_warps_issue_stalled_<reason>_per_issue_active.ratio` (WarpStateStats): on average,
  how many warps sat in that state per issued instruction.
- pc_sampling: `smsp__pcsamp_warps_issue_stalled_<reason>` (SourceCounters): sampled warps in that state.
ncu spells some reasons differently per family and page (`no_instruction` / `no_instructions` / `no_inst`,
`gmma` / `warpgroup_arrive`, `long_scoreboard` / `long_sb` …); every spelling maps to the warp-state name here.
`pct` is a reason's share of all stall reasons of that kernel and source; `selected` (the warp issued: not a stall)
stays in the table with pct null and is left out of the denominator.
"""

from __future__ import annotations

import re

import pandas as pd

from flashsight.schema.stalls import NOT_A_STALL, canonical_reason

_WARP_STATE = re.compile(r"^smsp__average_warps_issue_stalled_(\w+?)_per_issue_active\.ratio$")
_PC_SAMPLING = re.compile(r"^smsp__pcsamp_warps_issue_stalled_(\w+)$")

COLUMNS = ["kernel_id", "reason", "source", "value", "pct", "metric"]


def stall_metric(metric: str) -> tuple[str, str] | None:
    """(source, canonical reason) for a stall metric name; None for anything else (incl. `_not_issued`)."""
    if m := _WARP_STATE.match(metric):
        return "warp_state", canonical_reason(m.group(1))
    if (m := _PC_SAMPLING.match(metric)) and not metric.endswith("_not_issued"):
        return "pc_sampling", canonical_reason(m.group(1))
    return None


def warp_stalls(metrics: pd.DataFrame) -> pd.DataFrame:
    """The warp_stalls table from a long ncu_metrics table (kernel_id, metric, value, …)."""
    names = pd.Series(metrics["metric"].unique())
    parsed = {n: stall_metric(n) for n in names}
    keep = {n: p for n, p in parsed.items() if p is not None}
    if not keep:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(COLUMNS, ["int64", "str", "str", "float64",
                                                                              "float64", "str"])})
    rows = metrics[metrics["metric"].isin(keep.keys())]
    out = pd.DataFrame({
        "kernel_id": rows["kernel_id"].to_numpy(),
        "reason": [keep[m][1] for m in rows["metric"]],
        "source": [keep[m][0] for m in rows["metric"]],
        "value": rows["value"].astype("float64").to_numpy(),
        "metric": rows["metric"].astype(str).to_numpy(),
    })
    return with_pct(out)[COLUMNS]


def with_pct(stalls: pd.DataFrame) -> pd.DataFrame:
    """Add pct: each reason's share of the stall total of its (kernel, source); `selected` excluded."""
    stalls = stalls.copy()
    is_stall = stalls["reason"] != NOT_A_STALL
    totals = stalls["value"].where(is_stall, 0.0).groupby([stalls["kernel_id"], stalls["source"]]).transform("sum")
    stalls["pct"] = (100.0 * stalls["value"] / totals).where(is_stall & (totals > 0))
    return stalls.sort_values(["kernel_id", "source", "value"], ascending=[True, True, False], kind="stable",
                              ignore_index=True)
