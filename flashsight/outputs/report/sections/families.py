"""One section per workload family: a row per config × kernel, the plot of the metric that matters against the
swept parameters, the stall matrix (reason × config) of each kernel, its hottest source lines, and the
workload's own result.json figures where the run has them."""

from __future__ import annotations

import pandas as pd

from flashsight.analysis.families import FAMILY_ORDER, family_of, family_title, swept_params
from flashsight.analysis.result_metrics import jit_latencies, user_metrics
from flashsight.analysis.stall_matrix import as_grid, stall_matrix
from flashsight.analysis.stalls import top_source_lines
from flashsight.outputs.report import figures, fmt
from flashsight.outputs.report.inputs import ReportData
from flashsight.schema.stalls import REASONS
from flashsight.outputs.report.model import Missing, Section, Table, Text

# The metric that matters per family: (x parameter, y column, axis label, scale). rmsnorm is drawn as bars.
PLOTS = {
    "decode": ("batch", "gbps", "DRAM GB/s (ncu bytes / step time)", 1e9),
    "prefill": ("seq_len", "tflops", "TFLOP/s (ncu FLOPs / step time)", 1e12),
    "rope": ("tokens", "gbps", "DRAM GB/s (ncu bytes / step time)", 1e9),
}


def sections(data: ReportData) -> list[Section]:
    return [_family(data, family) for family in data.families()]


def _family(data: ReportData, family: str) -> Section:
    workloads = [w for w in data.configs["workload"].unique() if family_of(w) == family]
    configs = data.configs[data.configs["workload"].isin(workloads)]
    obs = data.obs[data.obs["family"] == family]
    sid = f"family-{_slug(family)}"
    blocks: list = [Text(_summary(data, family, workloads, configs, obs))]
    blocks += _missing_tools(data, workloads, obs)
    children: list[Section] = []
    profiled = True  # False: a family whose jobs run no profiler by design
    if len(obs):
        blocks.append(_config_table(obs))
        blocks += _plots(data, family, workloads, configs, obs)
        if obs["ncu_duration_ns"].notna().any():  # stalls and source lines come from ncu
            children.append(_stalls(data, family, sid, obs))
            children.append(_hot_lines(data, family, sid, obs))
    ranges = _nvtx_ranges(data, configs) if family not in FAMILY_ORDER else None
    if ranges is not None:
        blocks.append(ranges)
    results = _results(data, workloads)
    if family == "jit":
        jit = _jit(data, workloads, sid)
        blocks += jit
        if not any(isinstance(b, Missing) for b in jit):
            # the latencies table is what its result.json holds, and a JIT probe runs no profiler: nothing missing
            results, profiled = None, False
    elif family not in FAMILY_ORDER and obs.empty:
        blocks += _user_plots(data, family, workloads, configs)
    if results is not None:
        children.append(Section(f"{sid}-results", "The workload's own results (result.json)", [results]))
    if profiled and obs.empty:
        lacks = "no kernels" + ("" if ranges is not None else ", no NVTX ranges") + \
            ("" if results is not None else ", no result.json rows (workload_results)")
        blocks.append(Missing(f"For {family} this run has {lacks}: no kernel rates, roofline points or stalls."))
    return Section(sid, family_title(family), blocks, [c for c in children if c is not None])


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()


def _summary(data, family, workloads, configs, obs) -> str:
    jobs = data.jobs[data.jobs["workload"].isin(workloads)] if len(data.jobs) else data.jobs
    parts = [f"{len(configs)} config{'s' if len(configs) != 1 else ''}"]
    if len(jobs):
        by_tool = jobs.groupby("tool")["status"].agg(lambda s: f"{(s == 'succeeded').sum()}/{len(s)}")
        parts.append("jobs succeeded by tool: " + ", ".join(f"{t} {v}" for t, v in by_tool.items()))
    swept = sorted({p for w in workloads for p in swept_params(data.configs, w)})
    if swept:
        parts.append("swept: " + ", ".join(f"`{p}`" for p in swept))
    if len(obs):
        parts.append(f"{obs['short_name'].nunique()} distinct kernel{'s' if obs['short_name'].nunique() != 1 else ''}")
    if len(workloads) == 1 and workloads[0] != family:
        parts.append(f"workload `{workloads[0]}`")
    return "; ".join(parts) + "."


def _missing_tools(data, workloads, obs) -> list:
    out = []
    tools = set(data.jobs.loc[data.jobs["workload"].isin(workloads) & (data.jobs["status"] == "succeeded"), "tool"]) \
        if len(data.jobs) else set()
    has_nsys = "nsys_median_ns" in obs and obs["nsys_median_ns"].notna().any()
    has_ncu = "ncu_duration_ns" in obs and obs["ncu_duration_ns"].notna().any()
    if len(obs) and not has_nsys:
        out.append(Missing("No nsys timings for these kernels" + (" (no nsys job succeeded)" if "nsys" not in tools
                           else "") + ": times and rates below are ncu's own, at its locked clocks."))
    if len(obs) and not has_ncu:
        out.append(Missing("No ncu counters for these kernels" + (" (no ncu job succeeded)" if "ncu" not in tools
                           else "") + ": no FLOPs, bytes, rates, bound class or stalls, only nsys times."))
    return out


def _config_table(obs: pd.DataFrame) -> Table:
    nsys_time = obs["nsys_median_ns"].notna().any()
    flop_rate = obs["achieved_flop_per_s"] if nsys_time else obs["ncu_flop_per_s"]
    byte_rate = obs["achieved_dram_bytes_per_s"] if nsys_time else obs["ncu_dram_bytes_per_s"]
    tensor_pct = obs["tensor_peak_pct"] if nsys_time else obs["ncu_tensor_peak_pct"]
    dram_pct = obs["dram_peak_pct"] if nsys_time else obs["ncu_dram_peak_pct"]
    stall = [f"{REASONS.get(r, (r,))[0]} {fmt.pct(p, 0)}" if isinstance(r, str) else fmt.DASH
             for r, p in zip(obs["top_stall"], obs["top_stall_pct"])]
    table = pd.DataFrame({
        "config": obs["label"], "kernel": obs["short_name"].map(fmt.text),
        "launches": obs["nsys_launches"].map(fmt.count),
        "nsys median": obs["nsys_median_ns"].map(fmt.ns), "ncu duration": obs["ncu_duration_ns"].map(fmt.ns),
        "TFLOP/s": flop_rate.map(fmt.tflops), "GB/s": byte_rate.map(fmt.gbps),
        "tensor %": tensor_pct.map(fmt.pct), "DRAM %": dram_pct.map(fmt.pct),
        "bound": obs["bound"].map(fmt.text), "top stall": stall,
    })
    partial = obs["missing"].fillna("").astype(str).str.len() > 0
    if partial.any() and not partial.all():  # some kernels seen by one tool only: say which and why, per row
        table["seen by one tool"] = obs["reason"].where(partial).map(fmt.text).values
    has_ncu = obs["ncu_duration_ns"].notna().any()
    caption = "One row per config × kernel." + (
        (" Rates: ncu's FLOPs and DRAM bytes over the nsys median time; % of peak at the clocks nsys saw "
         "(the device's own)." if nsys_time else
         " Rates and % of peak: ncu's counters over ncu's duration, at its locked clocks.") if has_ncu else
        " nsys times only (the GPU's own clocks).")
    empty = [c for c in table.columns[2:] if (table[c] == fmt.DASH).all()]  # a column no row has: say it once, above
    return Table(table.drop(columns=empty).reset_index(drop=True), caption=caption, anchors=list(obs["row_id"]))


def config_totals(obs: pd.DataFrame, data: ReportData) -> pd.DataFrame:
    """Per config: the step's time (sum of its kernels' nsys medians, else ncu durations), FLOPs, bytes, rates."""
    time_col = "nsys_median_ns" if obs["nsys_median_ns"].notna().any() else "ncu_duration_ns"
    g = obs.groupby("config_id", sort=False)
    totals = pd.DataFrame({"time_ns": g[time_col].sum(min_count=1), "flop": g["flop"].sum(min_count=1),
                           "dram_bytes": g["dram_bytes"].sum(min_count=1), "kernels": g.size()}).reset_index()
    totals["tflops"] = totals["flop"] / (totals["time_ns"] / 1e9)
    totals["gbps"] = totals["dram_bytes"] / (totals["time_ns"] / 1e9)
    params = data.configs.drop(columns=[c for c in ("workload",) if c in data.configs])
    totals = totals.merge(data.labels[["config_id", "label"]], on="config_id", how="left")
    totals = totals.merge(params, on="config_id", how="left")
    totals.attrs["time_source"] = "nsys" if time_col == "nsys_median_ns" else "ncu"
    return totals


def _plots(data, family, workloads, configs, obs) -> list:
    totals = config_totals(obs, data)
    if len(totals) < 2:  # one config: its row above says it all
        return []
    clock = "nsys medians" if totals.attrs["time_source"] == "nsys" else "ncu durations, locked clocks"
    colour = figures.colour_of(family, data.families())
    swept = list(dict.fromkeys(p for w in workloads for p in swept_params(data.configs, w)))
    name = f"family-{_slug(family)}"
    totals["tip"] = [f"{family} {lab}\nstep {fmt.ns(t)} ({k} kernel{'s' if k != 1 else ''}), {fmt.tflops(f)}, "
                     f"{fmt.gbps(b)}" for lab, t, k, f, b in zip(totals["label"], totals["time_ns"], totals["kernels"],
                                                               totals["tflops"], totals["gbps"])]
    if family == "rmsnorm" and "op" in totals:
        totals["dram_mb"] = totals["dram_bytes"]
        group = "batch" if "batch" in swept else None
        fig = figures.grouped_bars(totals, "op", group, [("dram_bytes", "DRAM bytes per step (MB, ncu)", 1e6),
                                                        ("time_ns", f"step time (µs, {clock})", 1e3)],
                                   title="RMSNorm: plain, fused add+norm and the unfused pair", name=name,
                                   caption=f"DRAM bytes (ncu) and time ({clock}) of one step per op.", colour=colour)
        return [fig]
    x, y, ylabel, scale = PLOTS.get(family, (None, None, None, None))
    if x not in swept:
        x = next((p for p in swept if pd.to_numeric(totals.get(p), errors="coerce").notna().all()), None) \
            if swept else None
    if y is None:
        y, ylabel, scale = ("gbps", "DRAM GB/s (ncu bytes / step time)", 1e9) if totals["gbps"].notna().any() else \
            ("time_ns", f"step time (µs, {clock})", 1e3)
    if totals[y].isna().all():
        return [Missing(f"No {ylabel} for {family}: the counters it needs are not in this run.")]
    series = [p for p in swept if p != x]
    fig = figures.metric_vs_param(totals, x, y, series, ylabel=ylabel, scale=scale,
                                  title=f"{family_title(family)}: {ylabel.split(' (')[0]} vs {x or 'config'}",
                                  name=name, caption=f"{ylabel} per config ({clock}); hover a point for its config.",
                                  colour=colour)
    return [fig]


def _jit(data, workloads, sid) -> list:
    results = data.table("workload_results")
    if results is None:
        return [Missing("No result.json rows (workload_results): the JIT study's latencies are not in this run.")]
    jit = jit_latencies(results[results["workload"].isin(workloads)])
    if jit.empty:
        return [Missing("The JIT jobs' result.json records hold no per-family latencies.")]
    table = pd.DataFrame({"config": [data.label_of(c) for c in jit["config_id"]], "kernel family": jit["family"],
                          "cold compile": jit["cold_s"].map(fmt.seconds),
                          "disk-cache hit": jit["disk_hit_s"].map(fmt.seconds),
                          "memory-cache hit": jit["memory_hit_s"].map(fmt.seconds)})
    frame = jit.assign(label=jit["family"], tip=[f"{f}: cold {fmt.seconds(c)}, disk hit {fmt.seconds(d)}, memory "
                                                 f"hit {fmt.seconds(m)}" for f, c, d, m in
                                                 zip(jit["family"], jit["cold_s"], jit["disk_hit_s"],
                                                     jit["memory_hit_s"])])
    fig = figures.grouped_bars(frame, "family", None, [("cold_s", "cold compile (s)", 1.0),
                                                      ("disk_hit_s", "disk-cache hit (ms)", 1e-3),
                                                      ("memory_hit_s", "memory-cache hit (µs)", 1e-6)],
                               title="FlashInfer JIT: first use, disk-cache hit, memory-cache hit (wall time)",
                               name=f"{sid}", caption="Wall time of each family's first call: compiling (cold), "
                               "loading the compiled module from disk, and calling it again in the same process.",
                               colour=figures.colour_of("jit", data.families()))
    return [Table(table, caption="JIT latencies per kernel family (wall time, the JIT probe's own)"), fig]


def _user_plots(data, family, workloads, configs) -> list:
    """A user's workload without kernels: its own numeric result fields against the swept parameter."""
    results = data.table("workload_results")
    swept = [p for w in workloads for p in swept_params(data.configs, w)]
    if results is None or not swept:
        return []
    metrics = user_metrics(results[results["workload"].isin(workloads)])
    if metrics.empty:
        return []
    varying = [m for m, g in metrics.groupby("metric", sort=False) if g["value"].nunique() > 1][:3]
    out = []
    for metric in varying:
        frame = metrics[metrics["metric"] == metric].merge(data.configs, on="config_id", how="left")
        frame = frame.merge(data.labels[["config_id", "label"]], on="config_id", how="left")
        frame["tip"] = [f"{family} {lab}: {metric} = {v:.6g}" for lab, v in zip(frame["label"], frame["value"])]
        out.append(figures.metric_vs_param(frame, swept[0], "value", [p for p in swept[1:]], ylabel=metric, scale=1.0,
                                           title=f"{family}: {metric} vs {swept[0]}",
                                           name=f"family-{_slug(family)}-{_slug(metric)}",
                                           caption=f"`{metric}` from the workload's result.json, per config.",
                                           colour=figures.colour_of(family, data.families()), logx=False))
    return out


def _stalls(data, family, sid, obs) -> Section:
    kernels, stalls = data.table("ncu_kernels"), data.table("warp_stalls")
    if kernels is None or stalls is None:
        return Section(f"{sid}-stalls", "Stall matrix", [Missing("No warp-stall metrics (no ncu job, or ncu ran "
                                                                 "without WarpStateStats/SourceCounters).")])
    fam_kernels = kernels[kernels["config_id"].isin(set(obs["config_id"]))] if "config_id" in kernels else kernels
    matrix = stall_matrix(stalls, fam_kernels, data.labels)
    if matrix.empty:
        return Section(f"{sid}-stalls", "Stall matrix", [Missing("No warp-stall samples for these kernels.")])
    order = list(dict.fromkeys(obs["label"]))
    blocks: list = [Text("Share of stalls by reason (rows: the kernel's top reasons across the grid; columns: "
                         "configs). PC sampling where collected, else warp-state ratios.")]
    for (workload, kernel), part in matrix.groupby(["workload", "short_name"], sort=False):
        grid = as_grid(part, order)
        cells = grid.apply(lambda col: col.map(lambda v: fmt.pct(v, 0)))
        cells.insert(0, "reason", [REASONS.get(r, (r,))[0] for r in grid.index])
        shade = grid.reset_index(drop=True)
        shade.insert(0, "reason", float("nan"))
        source = part["source"].iloc[0].replace("_", " ")
        blocks.append(Table(cells.reset_index(drop=True), caption=f"{kernel} ({source})", shade=shade))
    return Section(f"{sid}-stalls", "Stall matrix", blocks)


def _hot_lines(data, family, sid, obs) -> Section:
    source, kernels = data.table("ncu_source"), data.table("ncu_kernels")
    title = "Hottest source lines"
    if source is None or source.empty or kernels is None:
        return Section(f"{sid}-hot", title, [Missing("No source-level samples (ncu's SourceCounters section was "
                                                    "not collected).")])
    blocks: list = []
    main = data.main[data.main["family"] == family]
    for kernel in dict.fromkeys(main["short_name"].dropna()):
        rows = obs[(obs["short_name"] == kernel) & obs["ncu_duration_ns"].notna() & obs["ncu_kernel_id"].notna()]
        if rows.empty:
            continue
        row = rows.loc[rows["ncu_duration_ns"].astype("float64").idxmax()]
        part = source[source["kernel_id"] == row["ncu_kernel_id"]]
        if "job_id" in source:  # kernel ids are per report: the ncu job's
            part = part[part["job_id"] == row["ncu_job_id"]]
        if part.empty:
            continue
        hot = top_source_lines(part, n=5)
        table = pd.DataFrame({
            "line": [f"{str(f).rsplit('/', 1)[-1]}:{l}" if isinstance(f, str) else f"{a:#x}"
                     for f, l, a in zip(hot.get("cuda_file", [None] * len(hot)), hot.get("cuda_line", [None] * len(hot)),
                                        hot["address"])],
            "samples": [f"{s:.0f} ({p:.0f}%)" for s, p in zip(hot["samples"], hot["share_pct"])],
            "SASS": hot["sass"].map(lambda t: fmt.text(t)[:70]),
            "mostly": [f"{REASONS.get(r, (r,))[0]} {fmt.pct(p, 0)}" if isinstance(r, str) else fmt.DASH
                       for r, p in zip(hot["top_reason"], hot["top_reason_pct"])],
        })
        blocks.append(Table(table, caption=f"{kernel} at {row['label']} (its longest ncu config): top lines by "
                                           "PC samples"))
    if not blocks:
        blocks.append(Missing("No source-level samples for these kernels."))
    return Section(f"{sid}-hot", title, blocks)


def _nvtx_ranges(data, configs) -> Table | None:
    """A user's workload: its own NVTX ranges per config (count and CPU time), which nsys saw even without kernels."""
    ranges = data.table("nvtx_ranges")
    if ranges is None or "config_id" not in ranges:
        return None
    part = ranges[ranges["config_id"].isin(set(configs["config_id"])) & ranges["duration_ns"].notna()]
    if part.empty:
        return None
    domain = part["domain"].astype(object).where(part["domain"].notna(), "")
    part = part.assign(range=(domain + ":" + part["name"].astype(str)).str.lstrip(":"))
    g = part.groupby(["config_id", "range"], sort=False)["duration_ns"]
    stats = pd.DataFrame({"n": g.size(), "total": g.sum(), "median": g.median()}).reset_index()
    table = pd.DataFrame({"config": [data.label_of(c) for c in stats["config_id"]], "NVTX range": stats["range"],
                          "instances": stats["n"].map(fmt.count), "total": stats["total"].map(fmt.ns),
                          "median": stats["median"].map(fmt.ns)})
    return Table(table, caption="The workload's NVTX ranges as nsys recorded them (CPU time, nsys's clock)")


RESULT_COLUMNS = [("tool", "tool", fmt.text), ("median_ns", "median step (CUDA events)", fmt.ns),
                  ("achieved_flop_per_s", "analytic TFLOP/s", fmt.tflops),
                  ("achieved_bytes_per_s", "analytic GB/s", fmt.gbps), ("items_per_s", "items/s", lambda v: fmt.si(v, "/s")),
                  ("correct", "correct", fmt.text), ("max_abs_err", "max abs err", lambda v: fmt.DASH if fmt.missing(v)
                                                      else f"{float(v):.2g}")]


def _results(data, workloads) -> Table | None:
    """The workload's own result.json per job: its timing (CUDA events around each step) and analytic rates;
    under ncu the timing says nothing about the kernels (ncu replays them), so those jobs are left out."""
    results = data.table("workload_results")
    if results is None or "workload" not in results:
        return None
    part = results[results["workload"].isin(workloads)]
    if "timing_valid" in part:
        part = part[part["timing_valid"].fillna(True).astype(bool)]
    if part.empty:
        return None
    table = pd.DataFrame({"config": [data.label_of(c) for c in part["config_id"]]})
    for column, title, show in RESULT_COLUMNS:
        if column in part and part[column].notna().any():
            table[title] = part[column].map(show).values
    if len(table.columns) == 2 and "result_json" in part:  # a user's own JSON: show it as it was written
        table["result.json"] = part["result_json"].map(lambda t: fmt.text(t)[:160]).values
    return Table(table, caption="One row per job, as its result.json reported it (the workload's own timing and "
                                "analytic FLOPs/bytes; ncu jobs left out: their timing is ncu's replays)")
