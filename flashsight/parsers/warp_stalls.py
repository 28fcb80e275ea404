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

# canonical reason -> (label, what it usually means for a kernel engineer)
REASONS: dict[str, tuple[str, str]] = {
    "long_scoreboard": ("Long Scoreboard", "waiting on global/local memory (L1TEX: DRAM, L2, spills)"),
    "short_scoreboard": ("Short Scoreboard", "waiting on MIO: shared memory or special-function (MUFU) latency"),
    "barrier": ("Barrier", "synchronisation: warps waiting at __syncthreads / a named barrier"),
    "math_pipe_throttle": ("Math Pipe Throttle", "compute pipe saturated: the math unit is busy"),
    "mio_throttle": ("MIO Throttle", "MIO queue full: too many shared-memory/special-math instructions"),
    "lg_throttle": ("LG Throttle", "local/global memory queue full: too many memory instructions in flight"),
    "tex_throttle": ("Tex Throttle", "texture/L1TEX pipe queue full"),
    "wait": ("Wait", "fixed-latency dependency: waiting on a previous ALU/FMA result"),
    "not_selected": ("Not Selected", "eligible, another warp issued: spare warps, not a latency problem"),
    "selected": ("Selected", "issuing an instruction (not a stall)"),
    "no_instruction": ("No Instruction", "instruction cache miss or waiting for the next instruction"),
    "branch_resolving": ("Branch Resolving", "waiting for a branch target / divergence to resolve"),
    "dispatch_stall": ("Dispatch Stall", "dispatcher could not issue (pipeline conflict)"),
    "drain": ("Drain", "waiting for memory stores to drain at exit"),
    "imc_miss": ("IMC Miss", "immediate constant cache miss"),
    "membar": ("Membar", "waiting on a memory barrier / fence"),
    "misc": ("Misc", "miscellaneous hardware reason"),
    "sleeping": ("Sleeping", "warp asleep (nanosleep / all threads blocked)"),
    "gmma": ("GMMA / Warpgroup Arrive", "waiting on warpgroup MMA (wgmma) operands or completion"),
    "tmem": ("TMEM", "waiting on tensor memory (SM 10.x)"),
}
NOT_A_STALL = "selected"

# Every spelling ncu uses (metric suffixes and source-page stall_* columns) -> canonical reason.
ALIASES: dict[str, str] = {
    **{r: r for r in REASONS},
    "no_instructions": "no_instruction",
    "no_inst": "no_instruction",
    "warpgroup_arrive": "gmma",
    "long_sb": "long_scoreboard",
    "short_sb": "short_scoreboard",
    "math": "math_pipe_throttle",
    "mio": "mio_throttle",
    "lg": "lg_throttle",
    "tex": "tex_throttle",
    "imc": "imc_miss",
    "dispatch": "dispatch_stall",
    "sleep": "sleeping",
}

_WARP_STATE = re.compile(r"^smsp__average_warps_issue_stalled_(\w+?)_per_issue_active\.ratio$")
_PC_SAMPLING = re.compile(r"^smsp__pcsamp_warps_issue_stalled_(\w+)$")

COLUMNS = ["kernel_id", "reason", "source", "value", "pct", "metric"]


def canonical_reason(spelling: str) -> str:
    """Canonical name of a stall reason spelled the way any ncu metric or source-page column spells it."""
    key = spelling.strip().lower()
    key = re.sub(r"^stall_", "", key)
    key = re.sub(r"\s*\(not issued\)$", "", key)
    return ALIASES.get(key, key)


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
