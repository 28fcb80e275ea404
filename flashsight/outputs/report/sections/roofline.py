"""Roofline: every kernel of the run on one hierarchical roofline, coloured by family."""

from __future__ import annotations

from flashsight.outputs.report import figures, fmt
from flashsight.outputs.report.inputs import ReportData
from flashsight.outputs.report.model import Missing, Section, Text


def section(data: ReportData) -> Section:
    obs = data.obs
    title = "Roofline"
    if obs.empty or "flop" not in obs or not (obs["flop"].astype("float64") > 0).any():
        return Section("roofline", title, [Missing("No kernel with FLOP and byte counters in this run (they come "
                                                   "from ncu jobs): no roofline.")])
    nsys = obs["achieved_flop_per_s"].notna().any()
    rate = "achieved_flop_per_s" if nsys else "flop_per_s"
    note = "FLOPs over nsys time" if nsys else "FLOPs over ncu duration, locked clocks"
    fig, levels = figures.roofline(obs, data.families(), rate, note)
    blocks: list = [fig]
    hz = data.clocks.get("ncu_sm_clock_median_hz")
    blocks.append(Text(f"Ceilings are the device's peaks as ncu measured them (compute roofs at ncu's SM clock, "
                       f"{fmt.hz(hz)} median); points use {note}, so a point can sit above a compute roof by the "
                       f"clock ratio. Memory levels drawn: {', '.join(levels) or 'none'}."))
    missing = [lv for lv, *_ in figures.LEVELS if lv not in levels]
    if missing:
        blocks.append(Missing(f"No {' and '.join(missing)} bytes or peaks in this run's ncu sections: those "
                              "levels of the hierarchical roofline are not drawn."))
    skipped = int((~(obs["flop"].astype("float64") > 0)).sum())
    if skipped:
        blocks.append(Text(f"{skipped} kernel observation(s) without FLOPs (no ncu counters, or no floating-point "
                           "work) are not on the plot."))
    return Section("roofline", title, blocks)
