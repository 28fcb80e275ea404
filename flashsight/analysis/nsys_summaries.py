"""nsys's own summaries recomputed from the canonical tables, with nsys's column names and row order.

  cuda_gpu_kern_sum(tables)    = nsys stats -r cuda_gpu_kern_sum      (per demangled kernel name)
  nvtx_sum(tables)             = nsys stats -r nvtx_sum               (per range name and style, every thread)
  nvtx_gpu_proj_trace(tables)  = nsys stats -r nvtx_gpu_proj_trace    (one row per range with GPU work)
  nvtx_gpu_proj_sum(tables)    = nsys stats -r nvtx_gpu_proj_sum      (the trace grouped by name and style)
  gpukernsum(tables)           = nsys 2022.x stats -r gpukernsum      (per name, grid and block)
  nvtxgpuproj(tables)          = nsys 2022.x stats -r nvtxgpuproj     (the trace, 2022's range names)

Integer columns (totals, counts, min, max) agree to the nanosecond. Avg/Med/StdDev/% are rounded to one
decimal like nsys's SQL round(); medians of an even count average the two middle values, StdDev is the
sample standard deviation (0 for one instance). Range names follow the nsys that made the export:
'domain:text' with ':text' for the default domain since 2023, 'text' for the default domain before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


def _code_stats(codes: np.ndarray, values: np.ndarray, ngroups: int, others: dict | None = None) -> pd.DataFrame:
    """_stats of int values per group code (0 <= code < ngroups, every code used), in numpy: one sort by
    (code, value) instead of a groupby's per-aggregation passes, so peak memory is a few arrays of the rows.
    Sums are exact int64; avg is total / count (as nsys's SQL: integer sum, then a division); the median of an
    even count averages the two middle values; std is the two-pass sample standard deviation (0 for one).
    others: name -> (a function giving the values, 'sum' | 'mean') aggregated over the same groups, one at a
    time (mean skips NaN)."""
    values = np.asarray(values, dtype=np.int64)
    order = np.lexsort((values, codes))
    v = values[order]
    num = np.bincount(codes, minlength=ngroups).astype(np.int64)
    st = np.concatenate(([0], np.cumsum(num)[:-1])) if ngroups else np.zeros(0, np.int64)
    if not len(v):
        z = np.zeros(0)
        out = pd.DataFrame({"total": z.astype(np.int64), "num": z.astype(np.int64), "avg": z, "med": z,
                            "min": z.astype(np.int64), "max": z.astype(np.int64), "std": z})
        for name in others or {}:
            out[name] = z
        return out
    total = np.add.reduceat(v, st)
    avg = total / num
    mid = st + (num - 1) // 2
    upper = st + num // 2
    med = (v[mid].astype(float) + v[upper].astype(float)) / 2  # odd counts: mid == upper
    dev = v.astype(float)
    dev -= np.repeat(avg, num)
    dev *= dev
    ss = np.add.reduceat(dev, st)
    del dev
    std = np.where(num > 1, np.sqrt(ss / np.maximum(num - 1, 1)), 0.0)
    out = pd.DataFrame({"total": total, "num": num, "avg": avg, "med": med, "min": v[st], "max": v[st + num - 1],
                        "std": std})
    del v
    for name, (col, how) in (others or {}).items():
        x = np.asarray(col())[order]
        if how == "sum":
            out[name] = np.add.reduceat(x.astype(np.int64), st)
        else:
            x = x.astype(float)
            ok = ~np.isnan(x)
            n_ok = np.add.reduceat(ok.astype(np.int64), st)
            out[name] = np.add.reduceat(np.where(ok, x, 0.0), st) / np.where(n_ok > 0, n_ok, np.nan)
    return out


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


def _time_columns(s: pd.DataFrame) -> dict:
    """The leading columns every nsys *_sum report shares: time share, total, instances, then the statistics."""
    return {"Time (%)": _percent(s["total"]), "Total Time (ns)": s["total"].astype("int64"),
            "Instances": s["num"].astype("int64"), **_stat_columns(s)}


def cuda_gpu_kern_sum(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    k = tables["gpu_kernels"]
    s = _summary(k["duration_ns"], pd.Categorical(k["name"])).reset_index(names="Name")
    s["Name"] = s["Name"].astype(object)
    s = s.sort_values(["total", "num", "Name"], ascending=[False, True, True], kind="stable", ignore_index=True)
    return pd.DataFrame({
        **_time_columns(s),
        "Name": s["Name"],
    })


def range_names(ranges: pd.DataFrame, version: str | None = None) -> pd.Series:
    """nsys's display name of each range: 'domain:text' (':text' in the default domain; plain 'text' there
    for exports made by nsys before 2023). A categorical, each name built once per (domain, text) pair."""
    version = version if version is not None else ranges.attrs.get("nsys_version", "")
    old = bool(version) and version_tuple(version) < (2023,)
    domain = pd.Categorical(ranges["domain"])
    text = pd.Categorical(ranges["name"])
    d_codes = np.asarray(domain.codes, dtype=np.int64)
    t_codes = np.asarray(text.codes, dtype=np.int64)
    pair = (d_codes + 1) * (len(text.categories) + 1) + (t_codes + 1)
    codes, uniq = pd.factorize(pair)
    names = []
    for key in uniq.tolist():
        d, t = divmod(key, len(text.categories) + 1)
        label = str(text.categories[t - 1]) if t else ""
        names.append(label if d == 0 and old else f"{domain.categories[d - 1] if d else ''}:{label}")
    cats = pd.Index(names, dtype=object)
    if cats.has_duplicates:  # two pairs can spell one name ('a:b' + 'c' and 'a' + 'b:c'): plain strings
        return pd.Series(np.asarray(names, dtype=object)[codes], index=ranges.index)
    return pd.Series(pd.Categorical.from_codes(codes, categories=cats), index=ranges.index)


def nvtx_sum(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    r = tables["nvtx_ranges"]
    keys = [range_names(r).rename("Range"), r["style"].rename("Style")]
    s = _summary(r["duration_ns"], keys).reset_index()
    s["Range"], s["Style"] = s["Range"].astype(object), s["Style"].astype(object)
    s = s.sort_values(["total", "Range", "Style"], ascending=[False, True, True], kind="stable", ignore_index=True)
    return pd.DataFrame({
        **_time_columns(s),
        "Style": s["Style"],
        "Range": s["Range"],
    })


def _projected_rows(r: pd.DataFrame) -> np.ndarray:
    """Positions of the ranges with GPU work (gpu_op_count > 0; NA counts as none)."""
    return np.flatnonzero(r["gpu_op_count"].to_numpy(dtype=np.int64, na_value=0) > 0)


def _range_stacks(r: pd.DataFrame) -> pd.Series:
    """':1:4:7' from the root down, as nsys prints RangeStack: built level by level, parents first, as Arrow
    strings (a few bytes a range, not a Python object each). Each level's stacks are an array of that level's
    ranges only (its parents are all in the level before), assembled once at the end: a few copies of the
    strings at the peak, not a few per level."""
    n = len(r)
    ids = r["range_id"].to_numpy(np.int64)
    parent = r["parent"].astype("Int64")
    pos = pd.Index(ids).get_indexer(parent.fillna(-1).to_numpy(np.int64))
    pos[parent.isna().to_numpy()] = -1
    del parent
    empty, colon = pa.scalar("", pa.large_string()), pa.scalar(":", pa.large_string())
    own = pc.binary_join_element_wise(empty, pa.array(ids).cast(pa.large_string()), colon)  # ":<id>"
    done = pos < 0
    level_rows = np.flatnonzero(done)
    chunks = [own.take(pa.array(level_rows))]
    at = np.full(n, -1, dtype=np.int64)  # position of each range's stack in the concatenated levels
    at[level_rows] = np.arange(len(level_rows))
    base = len(level_rows)
    while not done.all():
        ready = np.flatnonzero(~done & (pos >= 0) & done[np.maximum(pos, 0)])
        if not len(ready):  # a cycle (identical ranges): nsys leaves them out of its tree
            break
        in_prev = at[pos[ready]] - (base - len(chunks[-1]))  # parents: all in the previous level
        chunks.append(pc.binary_join_element_wise(chunks[-1].take(pa.array(in_prev)), own.take(pa.array(ready)),
                                                  empty))
        at[ready] = base + np.arange(len(ready))
        base += len(ready)
        done[ready] = True
    del own, pos, done
    stacked = pa.concat_arrays(chunks)
    del chunks
    values = stacked.take(pa.array(at, mask=at < 0))
    del stacked
    return pd.Series(pd.array(values, dtype=pd.ArrowDtype(pa.large_string())), index=r.index)


def nvtx_gpu_proj_trace(tables: dict[str, pd.DataFrame], version: str | None = None) -> pd.DataFrame:
    all_ranges = tables["nvtx_ranges"]
    version = all_ranges.attrs.get("nsys_version", "") if version is None else version
    ops = all_ranges["gpu_op_count"].fillna(0).to_numpy(np.int64)
    rows = np.flatnonzero(ops > 0)
    start = all_ranges["gpu_start_ns"].to_numpy()[rows].astype(np.int64)
    projected = all_ranges["gpu_projected_ns"].to_numpy()[rows].astype(np.int64)
    rows = rows[np.lexsort((-projected, start))]  # by projected start, longest first (stable, as nsys orders)
    del start, projected
    eligible = all_ranges.loc[all_ranges["depth"].notna(), ["range_id", "parent"]]
    stacks = _range_stacks(eligible).reindex(all_ranges.index[rows]).array
    del eligible

    def col(name, nullable=False):  # one column of the projected ranges, gathered in nsys's order
        values = all_ranges[name].iloc[rows]
        return pd.array(values, dtype="Int64") if nullable else values.to_numpy().astype(np.int64)

    out = {"Name": range_names(all_ranges[["domain", "name"]].iloc[rows], version).to_numpy()}
    for label, name in (("Projected Start (ns)", "gpu_start_ns"), ("Projected Duration (ns)", "gpu_projected_ns"),
                        ("Orig Start (ns)", "start_ns"), ("Orig Duration (ns)", "duration_ns")):
        out[label] = col(name)
    out["Style"] = all_ranges["style"].iloc[rows].to_numpy()
    for label, name, nullable in (("PID", "pid", False), ("TID", "tid", False), ("NumGPUOps", "gpu_op_count", False),
                                  ("Lvl", "depth", True), ("NumChild", "gpu_child_count", False),
                                  ("RangeId", "range_id", False), ("ParentId", "parent", True)):
        out[label] = col(name, nullable)
    out["RangeStack"] = stacks
    return pd.DataFrame(out, copy=False)  # the gathered columns as they are (no consolidating copy)


def nvtx_gpu_proj_sum(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    all_ranges = tables["nvtx_ranges"]
    rows = _projected_rows(all_ranges)

    def col(name, dtype=np.int64, na=0):  # one column of the projected ranges (no copy of the whole frame)
        return all_ranges[name].to_numpy(dtype=dtype, na_value=na)[rows] if len(rows) else np.zeros(0, dtype)

    names = range_names(all_ranges[["domain", "name"]].iloc[rows], all_ranges.attrs.get("nsys_version", "")).array
    r_codes, r_labels = pd.factorize(names, use_na_sentinel=False)
    s_codes, s_labels = pd.factorize(all_ranges["style"].iloc[rows].array, use_na_sentinel=False)
    del names
    codes, pairs = pd.factorize(r_codes.astype(np.int64) * (len(s_labels) + 1) + s_codes)
    del r_codes, s_codes
    s = _code_stats(codes, col("gpu_projected_ns"), len(pairs), {
        "range_total": (lambda: col("duration_ns"), "sum"), "ops": (lambda: col("gpu_op_count"), "sum"),
        "avg_ops": (lambda: col("gpu_op_count"), "mean"), "avg_lvl": (lambda: col("depth", float, np.nan), "mean"),
        "avg_child": (lambda: col("gpu_child_count", float, np.nan), "mean")})
    s.insert(0, "Range", np.asarray(r_labels, dtype=object)[pairs // (len(s_labels) + 1)])
    s.insert(1, "Style", np.asarray(s_labels, dtype=object)[pairs % (len(s_labels) + 1)])
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


def gpukernsum(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """nsys 2022.x's gpukernsum: per demangled name and launch shape (printf('%4d %4d %4d') of grid and block)."""
    k = tables["gpu_kernels"]
    dims = ("grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z")
    codes = np.zeros(len(k), dtype=np.int64)
    for c in dims:  # one code per distinct launch shape, column by column (no frame of six columns)
        col_codes, col_uniq = pd.factorize(k[c].to_numpy(np.int64))
        codes = codes * (len(col_uniq) + 1) + col_codes
    codes, uniq_rows = pd.factorize(codes)
    first = pd.Series(np.arange(len(k))).groupby(codes).first().to_numpy()
    values = np.stack([k[c].to_numpy(np.int64)[first] for c in dims], axis=1) if len(k) else np.zeros((0, 6), int)
    shapes = [(f"{gx:4d} {gy:4d} {gz:4d}", f"{bx:4d} {by:4d} {bz:4d}") for gx, gy, gz, bx, by, bz in values.tolist()]
    key = pd.Series(codes, index=k.index, name="shape")
    s = _summary(k["duration_ns"], [pd.Categorical(k["name"]), key]).reset_index()
    s.columns = ["Name", "shape", *s.columns[2:]]
    s["Name"] = s["Name"].astype(object)
    s = s.sort_values(["total", "Name", "shape"], ascending=[False, True, True], kind="stable", ignore_index=True)
    return pd.DataFrame({
        **_time_columns(s),
        "GridXYZ": [shapes[c][0] for c in s["shape"]],
        "BlockXYZ": [shapes[c][1] for c in s["shape"]],
        "Name": s["Name"],
    })


def nvtxgpuproj(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """nsys 2022.x's nvtxgpuproj: the projection trace, default-domain ranges named by their text alone."""
    return nvtx_gpu_proj_trace(tables, version="2022.4")


REPORTS = {
    "cuda_gpu_kern_sum": cuda_gpu_kern_sum,
    "nvtx_sum": nvtx_sum,
    "nvtx_gpu_proj_trace": nvtx_gpu_proj_trace,
    "nvtx_gpu_proj_sum": nvtx_gpu_proj_sum,
    "gpukernsum": gpukernsum,
    "nvtxgpuproj": nvtxgpuproj,
}
