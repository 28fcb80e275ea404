"""Roofline: every kernel of the run on one hierarchical roofline (DRAM, L2, L1 where ncu counted them), coloured
by family, under the device's tensor and FP32 roofs."""

from __future__ import annotations

import pandas as pd

from flashsight.outputs.report import figures, fmt
from flashsight.outputs.report.inputs import ReportData
from flashsight.outputs.report.model import Missing, Section, Text

# level -> (bytes column, peak column): the observation's peaks are at the clocks nsys saw, ncu's own at ncu's
LEVELS = [("DRAM", "dram_bytes", "peak_dram_bytes_per_s"), ("L2", "l2_bytes", "peak_l2_bytes_per_s"),
          ("L1", "l1_bytes", "peak_l1_bytes_per_s")]
ROOFS = [("tensor", "peak_tensor_flop_per_s"), ("FP32", "peak_fp32_flop_per_s")]


def _peak(obs: pd.DataFrame, ncu: pd.DataFrame | None, column: str, nsys: bool) -> tuple[float, str] | None:
    """The device's peak: the observation's (nsys clocks) where the points use nsys time, else ncu's own."""
    for frame, name, clock in ((obs, column, "nsys") if nsys else (obs, None, None), (obs, f"ncu_{column}", "ncu"),
                               (ncu, column, "ncu")):
        if frame is not None and name and name in frame and frame[name].notna().any():
            return float(frame[name].astype("float64").max()), clock
    return None


def section(data: ReportData) -> Section:
    obs = data.obs
    title = "Roofline"
    if obs.empty or not (obs["flop"].astype("float64") > 0).any():
        return Section("roofline", title, [Missing("No kernel with FLOP counters in this run (they come from ncu "
                                                   "jobs): no roofline.")])
    nsys = obs["achieved_flop_per_s"].notna().any()
    rate = "achieved_flop_per_s" if nsys else "ncu_flop_per_s"
    note = "ncu FLOPs over nsys time" if nsys else "ncu FLOPs over ncu time, locked clocks"
    ncu = data.table("ncu_kernels")
    levels, clocks, absent = [], {}, []
    for label, bytes_col, peak_col in LEVELS:
        peak = _peak(obs, ncu, peak_col, nsys)
        if bytes_col in obs and obs[bytes_col].notna().any() and peak is not None:
            levels.append((label, bytes_col, peak[0]))
            clocks[label] = peak[1]
        else:
            absent.append(label)
    roofs = []
    for label, column in ROOFS:
        peak = _peak(obs, ncu, column, nsys)
        if peak is not None:
            kind = obs["tensor_type"].dropna().mode() if label == "tensor" and "tensor_type" in obs else []
            roofs.append((f"{label} {kind.iloc[0]}" if len(kind) else label, peak[0]))
            clocks[label] = peak[1]
    fig = figures.roofline(obs, data.families(), rate, levels, roofs, note)
    blocks: list = [fig]
    at = {"nsys": "at the device's maximum clocks, which nsys sees", "ncu": "at ncu's locked clocks"}
    ceilings = "; ".join(f"{label} {fmt.rate(bw, 'TB/s', 1e12, 2)} ({at[clocks[label]]})" for label, _, bw in levels)
    roofs_text = "; ".join(f"{label} {fmt.rate(v, 'TFLOP/s', 1e12, 0)} ({at[clocks[label.split()[0]]]})"
                           for label, v in roofs)
    blocks.append(Text(f"Points: {note}. Bandwidth ceilings: {ceilings or 'none'}. Compute roofs (the highest "
                       f"among the run's kernels): {roofs_text or 'none'}."))
    if absent:
        blocks.append(Missing(f"No {' and '.join(absent)} bytes or peaks in this run's ncu data: those levels of "
                              "the hierarchical roofline are not drawn (flashsight's lean ncu sections collect them "
                              "from this version on)."))
    skipped = int((~(obs["flop"].astype("float64") > 0)).sum())
    if skipped:
        blocks.append(Text(f"{skipped} kernel observation(s) without FLOPs (no ncu counters, or no floating-point "
                           "work) are not on the plot."))
    return Section("roofline", title, blocks)
