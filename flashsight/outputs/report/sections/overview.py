"""Overview: the machine and tool versions, the plan, jobs by outcome, wall time, the failures with their log
tails, and the conditions the numbers were measured under."""

from __future__ import annotations

import pandas as pd

from flashsight.analysis.run_summary import failures, outcomes, wall_time_s
from flashsight.outputs.report import fmt
from flashsight.outputs.report.inputs import ReportData
from flashsight.outputs.report.model import Missing, Pre, Section, Table, Text


def section(data: ReportData) -> Section:
    jobs = data.jobs
    blocks: list = [Text(_summary(data))]
    blocks += _environment(data)
    if data.plan_text:
        blocks.append(Pre(data.plan_text.strip(), caption="plan.toml"))
    elif data.jobs.empty:
        blocks.append(Missing("No jobs table and no plan: these are bare captures, so there are no configs, "
                              "outcomes or wall time to report; configs are the captures' NVTX ranges."))
    counts = outcomes(jobs)
    if len(counts):
        shown = counts.loc[:, (counts != 0).any(axis=0) | (counts.columns == "tool")]
        blocks.append(Table(shown.astype(str), caption="Jobs by outcome (one job = one config under one tool)"))
    children = [_failures(data), _conditions(data)]
    return Section("overview", "Overview", blocks, [c for c in children if c is not None])


def _summary(data: ReportData) -> str:
    jobs = data.jobs
    parts = [f"Run **{data.name}**"]
    if len(jobs):
        by = jobs["status"].value_counts()
        status = ", ".join(f"{int(by[s])} {s.replace('_', ' ')}" for s in ("succeeded", "failed", "timed_out",
                                                                           "pending", "running") if s in by)
        parts.append(f"{len(jobs)} jobs ({status})")
        wall = wall_time_s(jobs)
        if wall is not None:
            parts.append(f"{_duration(wall)} from the first job's start to the last one's end")
    n_configs = data.configs["config_id"].nunique() if len(data.configs) else 0
    workloads = data.families()
    if n_configs:
        parts.append(f"{n_configs} configs of {len(workloads)} workload famil{'y' if len(workloads) == 1 else 'ies'} "
                     f"({', '.join(workloads)})")
    kernels = len(data.obs)
    parts.append(f"{kernels} kernel observation{'s' if kernels != 1 else ''} (config × kernel)")
    return "; ".join(parts) + ". What the numbers say in a few sentences: [Findings](#findings)."


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def _environment(data: ReportData) -> list:
    env = data.env
    if not env:
        return [Missing("No env.json in this run: GPU, driver and tool versions are unknown.")]
    gpu = env.get("gpu") or {}
    rows = []
    devices = gpu.get("devices") or []
    if devices:
        names = pd.Series([d.get("name") for d in devices]).value_counts()
        d = devices[0]
        rows.append(("GPU", ", ".join(f"{n} ×{c}" for n, c in names.items())
                     + f" (CC {d.get('compute_capability')}, {d.get('sm_count')} SMs, "
                       f"{fmt.gib(d.get('memory_total_bytes'))}, SM clock max {d.get('sm_clock_max_mhz')} MHz, "
                       f"memory clock max {d.get('mem_clock_max_mhz')} MHz)"))
    elif not gpu.get("available", True):
        rows.append(("GPU", f"none ({gpu.get('reason') or 'not available'})"))
    rows.append(("driver", f"{fmt.text(gpu.get('driver_version'))} (CUDA {fmt.text(gpu.get('cuda_driver_version'))})"))
    torch = env.get("torch") or {}
    rows.append(("torch", f"{fmt.text(torch.get('version'))} (CUDA runtime {fmt.text(torch.get('cuda_runtime'))})"
                 if torch.get("installed") else "not installed"))
    fi = env.get("flashinfer") or {}
    rows.append(("FlashInfer", fmt.text(fi.get("version")) if fi.get("installed") else "not installed"))
    tools = env.get("tools") or {}
    for tool in ("nsys", "ncu"):
        t = tools.get(tool)
        rows.append((tool, f"{t.get('version')} ({t.get('path')})" if t else "not found"))
    rows.append(("ncu_report module", fmt.text(tools.get("ncu_report_module"))))
    rows.append(("flashsight / Python", f"{fmt.text(env.get('flashsight'))} / {fmt.text(env.get('python'))}"))
    rows.append(("host", f"{fmt.text(env.get('host'))} ({fmt.text(env.get('platform'))})"))
    return [Table(pd.DataFrame(rows, columns=["", "environment (env.json)"]), caption="Machine and tools")]


def _failures(data: ReportData) -> Section | None:
    failed = failures(data.jobs)
    if data.jobs.empty:
        return None
    if failed.empty:
        return Section("failures", "Failures", [Text("No job failed or timed out.")])
    table = pd.DataFrame({
        "job": failed["job_id"], "workload": failed["workload"], "tool": failed["tool"],
        "config": [data.label_of(c) for c in failed["config_id"]], "status": failed["status"],
        "attempts": failed["attempts"].map(fmt.count) if "attempts" in failed else fmt.DASH,
        "error": failed["error"].map(lambda e: fmt.text(e)[:200]),
    })
    blocks: list = [Table(table, caption=f"{len(failed)} job(s) failed or timed out",
                          anchors=[f"job-{j}" for j in failed["job_id"]])]
    for row in failed.itertuples(index=False):
        tail = row.log_tail if isinstance(row.log_tail, str) and row.log_tail.strip() else None
        blocks.append(Pre(tail.rstrip() if tail else "(no log tail recorded)",
                          caption=f"{row.job_id} ({row.workload}, {row.tool}): last lines of job.log"))
    return Section("failures", "Failures", blocks)


def _conditions(data: ReportData) -> Section:
    c = data.clocks
    rows = [("nsys (timings, achieved rates)", "the GPU's own clocks: flashsight does not lock them"
             + (f"; device max SM clock {fmt.hz(c['device_max_sm_clock_hz'])}"
                if not fmt.missing(c["device_max_sm_clock_hz"]) else ""))]
    if c["ncu_clock_control"] is not None:
        locked = c["ncu_clock_control"] == "base"
        rows.append(("ncu clock control", "locked to base (ncu's default --clock-control base)" if locked
                     else f"--clock-control {c['ncu_clock_control']}"))
    if c["ncu_kernels"]:
        rows.append(("ncu SM clock measured", f"median {fmt.hz(c['ncu_sm_clock_median_hz'])} "
                     f"({fmt.hz(c['ncu_sm_clock_min_hz'])}–{fmt.hz(c['ncu_sm_clock_max_hz'])}) over "
                     f"{c['ncu_kernels']} profiled kernels (sm__cycles_elapsed.avg.per_second)"))
    rows += _nvml_rows(data.table("job_conditions"))
    blocks: list = [Table(pd.DataFrame(rows, columns=["", "condition"]),
                          caption="What the numbers were measured under")]
    if c["ncu_kernels"] == 0:
        blocks.append(Missing("No ncu kernels in this run: no counters, so no rates, roofline or stalls."))
    return Section("conditions", "Measurement conditions", blocks)


def _nvml_rows(conditions: pd.DataFrame | None) -> list[tuple[str, str]]:
    """What NVML saw just before and after each job: throttling, SM clocks, temperature, power."""
    if conditions is None or conditions.empty:
        return [("throttling", "not recorded by this run (no per-job NVML samples: conditions.json)")]
    known = conditions[conditions["nvml_error"].isna()] if "nvml_error" in conditions else conditions
    if known.empty:
        why = conditions["nvml_error"].dropna().iloc[0]
        return [("throttling", f"unknown: NVML was not available ({why})")]
    throttled = known[known["throttled"].fillna(False).astype(bool)]
    rows = [("throttling", f"{len(throttled)} of {len(known)} jobs saw a power, thermal or hardware slowdown "
             "(NVML, just before or after the job)" + (": " + ", ".join(
                 f"{j} ({r})" for j, r in zip(throttled["job_id"].head(5),
                                                throttled["throttle_reasons_after"].fillna(
                                                    throttled["throttle_reasons_before"]).head(5))) if len(throttled)
                 else ""))]
    for column, label, unit in (("sm_clock_hz", "SM clock (NVML)", "hz"), ("temperature_c", "temperature", "°C"),
                                ("power_w", "power", "W")):
        values = pd.concat([known.get(f"{column}_before", pd.Series(dtype=float)),
                            known.get(f"{column}_after", pd.Series(dtype=float))]).dropna().astype(float)
        if len(values):
            show = (lambda v: fmt.hz(v)) if unit == "hz" else (lambda v: f"{v:.0f} {unit}")
            rows.append((label, f"{show(values.min())}–{show(values.max())} across the jobs' before/after samples"))
    return rows
