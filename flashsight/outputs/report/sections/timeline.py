"""Timeline: one measured step of one config per family (its heaviest), from nsys: streams, kernels, NVTX."""

from __future__ import annotations

from flashsight.analysis.timeline import measured_steps
from flashsight.outputs.report import figures, fmt
from flashsight.outputs.report.inputs import ReportData
from flashsight.outputs.report.model import Missing, Section, Text


def selected_configs(data: ReportData) -> list[str]:
    """Per family, the config whose kernels take the longest (sum of nsys medians)."""
    obs = data.obs.dropna(subset=["nsys_median_ns"]) if "nsys_median_ns" in data.obs else data.obs.iloc[0:0]
    if obs.empty:
        return []
    per_config = obs.groupby(["family", "config_id"], sort=False)["nsys_median_ns"].sum().reset_index()
    best = per_config.sort_values("nsys_median_ns", ascending=False).groupby("family", sort=False).head(1)
    order = {f: i for i, f in enumerate(data.families())}
    return list(best.assign(o=best["family"].map(order)).sort_values("o")["config_id"])


def section(data: ReportData) -> Section:
    kernels = data.table("gpu_kernels")
    if kernels is None or kernels.empty:
        return Section("timeline", "Timeline", [Missing("No nsys kernels in this run (no nsys job succeeded, or "
                                                        "the workloads launched no GPU work): no timeline.")])
    chosen = selected_configs(data)
    steps = measured_steps(kernels, data.table("nvtx_ranges"), data.table("gpu_memops"), chosen)
    if steps.empty:
        return Section("timeline", "Timeline", [Missing("No kernels inside a measured range: no timeline.")])
    family = dict(zip(data.labels["config_id"], data.labels["family"]))
    titles = {c: data.label_of(c) if data.label_of(c) == family.get(c) else f"{family.get(c, '')} {data.label_of(c)}"
              for c in chosen}
    families = dict(zip(data.labels["config_id"], data.labels["family"]))
    fig = figures.timeline(steps, titles, families, data.families(), chosen)
    lines = []
    for c in chosen:
        part = steps[steps["config_id"] == c]
        if part.empty:
            continue
        kernels = int((part["kind"] == "kernel").sum())
        lines.append(f"{titles.get(c, c)}: {_n(kernels)} busy {fmt.ns(part['busy_ns'].iloc[0])} of a "
                     f"{fmt.ns(part['step_ns'].iloc[0])} step")
    return Section("timeline", "Timeline", [Text(f"The middle step of each family's heaviest config, from nsys "
                                                 f"({'; '.join(lines)}). A step lasts until the next one's first "
                                                 "kernel: the gap is launch and host time."), fig])


def _n(kernels: int) -> str:
    return f"{kernels} kernel{'s' if kernels != 1 else ''}"


