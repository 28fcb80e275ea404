"""nsys's own summaries recomputed from the canonical tables, with nsys's column names and row order.

  cuda_gpu_kern_sum(tables)    = nsys stats -r cuda_gpu_kern_sum      (per demangled kernel name)
  nvtx_sum(tables)             = nsys stats -r nvtx_sum               (per range name and style, every thread)
  nvtx_gpu_proj_trace(tables)  = nsys stats -r nvtx_gpu_proj_trace    (one row per range with GPU work)
  nvtx_gpu_proj_sum(tables)    = nsys stats -r nvtx_gpu_proj_sum      (the trace grouped by name and style)

Integer columns (totals, counts, min, max) agree to the nanosecond. Avg/Med/StdDev/% are rounded to one
decimal like nsys's SQL round(); medians of an even count average the two middle values, StdDev is the
sample standard deviation (0 for one instance). Range names follow the nsys that made the export:
'domain:text' with ':text' for the default domain since 2023, 'text' for the default domain before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flashsight.parsers.nsys_sqlite import version_tuple

_STATS = ["Avg (ns)", "Med (ns)", "Min (ns)", "Max (ns)", "StdDev (ns)"]


def round1(x) -> np.ndarray:
    """SQLite's round(x, 1): half away from zero."""
    x = np.asarray(x, dtype=float)
    return np.sign(x) * np.floor(np.abs(x) * 10 + 0.5) / 10


def _summary(values: pd.Series, keys) -> pd.DataFrame:
    """total, count, avg, median, min, max, sample stdev of int values per group."""
    return _stats(values.astype("int64").groupby(keys, observed=True, sort=False, dropna=False))


def _stats(g) -> pd.DataFrame:
    return pd.DataFrame({
        "total": g.sum(),
        "num": g.count(),
        "avg": g.mean(),
        "med": g.median(),
        "min": g.min(),
        "max": g.max(),
        "std": g.std(ddof=1).fillna(0.0),
    })


def _percent(total: pd.Series) -> np.ndarray:
    s = total.sum()
    return round1(total * 100.0 / s) if s else np.zeros(len(total))


def _stat_columns(s: pd.DataFrame, prefix: str = "") -> dict:
    return {
        f"{prefix}Avg (ns)": round1(s["avg"]),
        f"{prefix}Med (ns)": round1(s["med"]),
        f"{prefix}Min (ns)": s["min"].astype("int64").to_numpy(),
        f"{prefix}Max (ns)": s["max"].astype("int64").to_numpy(),
        f"{prefix}StdDev (ns)": round1(s["std"]),
    }


def cuda_gpu_kern_sum(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    k = tables["gpu_kernels"]
    s = _summary(k["duration_ns"], k["name"].astype(object)).reset_index(names="Name")
    s = s.sort_values(["total", "num", "Name"], ascending=[False, True, True], kind="stable", ignore_index=True)
    return pd.DataFrame({
        "Time (%)": _percent(s["total"]),
        "Total Time (ns)": s["total"].astype("int64"),
        "Instances": s["num"].astype("int64"),
        **_stat_columns(s),
        "Name": s["Name"],
    })


def range_names(ranges: pd.DataFrame, version: str | None = None) -> pd.Series:
    """nsys's display name of each range: 'domain:text' (':text' in the default domain; plain 'text' there
    for exports made by nsys before 2023)."""
    version = version if version is not None else ranges.attrs.get("nsys_version", "")
    text = ranges["name"].astype(object).where(ranges["name"].notna(), "")
    domain = ranges["domain"].astype(object)
    if version and version_tuple(version) < (2023,):
        return pd.Series(np.where(domain.notna(), domain.fillna("") + ":" + text, text), index=ranges.index)
    return domain.fillna("") + ":" + text


def nvtx_sum(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    r = tables["nvtx_ranges"]
    keys = [range_names(r).rename("Range"), r["style"].astype(object).rename("Style")]
    s = _summary(r["duration_ns"], keys).reset_index()
    s = s.sort_values(["total", "Range", "Style"], ascending=[False, True, True], kind="stable", ignore_index=True)
    return pd.DataFrame({
        "Time (%)": _percent(s["total"]),
        "Total Time (ns)": s["total"].astype("int64"),
        "Instances": s["num"].astype("int64"),
        **_stat_columns(s),
        "Style": s["Style"],
        "Range": s["Range"],
    })


def _projected(r: pd.DataFrame) -> pd.DataFrame:
    return r[r["gpu_op_count"].fillna(0).astype("int64") > 0]


def _range_stacks(r: pd.DataFrame) -> pd.Series:
    """':1:4:7' from the root down, as nsys prints RangeStack."""
    parent = dict(zip(r["range_id"].tolist(), r["parent"].astype(object).tolist()))
    cache: dict[int, str] = {}

    def stack(rid: int) -> str:
        chain = []
        while rid is not None and rid is not pd.NA and rid not in cache:
            chain.append(rid)
            rid = parent.get(rid)
        text = cache.get(rid, "") if rid is not None and rid is not pd.NA else ""
        for c in reversed(chain):
            text = f"{text}:{c}"
            cache[c] = text
        return text

    return pd.Series([stack(x) for x in r["range_id"].tolist()], index=r.index)


def nvtx_gpu_proj_trace(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    all_ranges = tables["nvtx_ranges"]
    r = _projected(all_ranges)
    eligible = all_ranges[all_ranges["depth"].notna()]
    stacks = _range_stacks(eligible).reindex(r.index)
    out = pd.DataFrame({
        "Name": range_names(r, all_ranges.attrs.get("nsys_version", "")),
        "Projected Start (ns)": r["gpu_start_ns"].astype("int64"),
        "Projected Duration (ns)": r["gpu_projected_ns"].astype("int64"),
        "Orig Start (ns)": r["start_ns"].astype("int64"),
        "Orig Duration (ns)": r["duration_ns"].astype("int64"),
        "Style": r["style"].astype(object),
        "PID": r["pid"].astype("int64"),
        "TID": r["tid"].astype("int64"),
        "NumGPUOps": r["gpu_op_count"].astype("int64"),
        "Lvl": r["depth"].astype("Int64"),
        "NumChild": r["gpu_child_count"].astype("int64"),
        "RangeId": r["range_id"].astype("int64"),
        "ParentId": r["parent"].astype("Int64"),
        "RangeStack": stacks,
    })
    return out.sort_values(["Projected Start (ns)", "Projected Duration (ns)"], ascending=[True, False],
                           kind="stable", ignore_index=True)


def nvtx_gpu_proj_sum(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    all_ranges = tables["nvtx_ranges"]
    r = _projected(all_ranges)
    frame = pd.DataFrame({
        "Range": range_names(r, all_ranges.attrs.get("nsys_version", "")),
        "Style": r["style"].astype(object),
        "proj": r["gpu_projected_ns"].astype("int64"),
        "dur": r["duration_ns"].astype("int64"),
        "ops": r["gpu_op_count"].astype("int64"),
        "lvl": r["depth"].astype(float),
        "child": r["gpu_child_count"].astype(float),
    })
    g = frame.groupby(["Range", "Style"], sort=False)
    s = _stats(g["proj"])
    s["range_total"] = g["dur"].sum()
    s["ops"] = g["ops"].sum()
    s["avg_ops"] = g["ops"].mean()
    s["avg_lvl"] = g["lvl"].mean()
    s["avg_child"] = g["child"].mean()
    s = s.reset_index()
    s = s.sort_values(["total", "Range", "Style"], ascending=[False, True, True], kind="stable", ignore_index=True)
    return pd.DataFrame({
        "Range": s["Range"],
        "Style": s["Style"],
        "Total Proj Time (ns)": s["total"].astype("int64"),
        "Total Range Time (ns)": s["range_total"].astype("int64"),
        "Range Instances": s["num"].astype("int64"),
        **_stat_columns(s, prefix="Proj "),
        "Total GPU Ops": s["ops"],
        "Avg GPU Ops": round1(s["avg_ops"]),
        "Avg Range Lvl": round1(s["avg_lvl"]),
        "Avg Num Child": round1(s["avg_child"]),
    })


REPORTS = {
    "cuda_gpu_kern_sum": cuda_gpu_kern_sum,
    "nvtx_sum": nvtx_sum,
    "nvtx_gpu_proj_trace": nvtx_gpu_proj_trace,
    "nvtx_gpu_proj_sum": nvtx_gpu_proj_sum,
}
