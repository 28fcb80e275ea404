"""Findings: the rule-based sentences of analysis.findings, each linked to the table rows behind its numbers."""

from __future__ import annotations

from flashsight.analysis.findings import findings
from flashsight.analysis.result_metrics import jit_latencies
from flashsight.outputs.report.inputs import ReportData
from flashsight.outputs.report.model import Findings, Missing, Section


def section(data: ReportData) -> Section:
    results = data.table("workload_results")
    found = findings(data.obs, data.clocks, None if results is None else jit_latencies(results))
    if found.empty:
        return Section("findings", "Findings", [Missing("No rule found what it needs in this run (the rules read "
                                                        "the joint observation: ncu counters with nsys times).")])
    by_row = data.obs.set_index("row_id")
    items = []
    for row in found.itertuples(index=False):
        links = [(f"{by_row.at[r, 'family']} {by_row.at[r, 'label']} · {by_row.at[r, 'short_name']}", r)
                 for r in row.refs if r in by_row.index]
        items.append((row.finding_id, row.text, links))
    return Section("findings", "Findings", [Findings(items)])
