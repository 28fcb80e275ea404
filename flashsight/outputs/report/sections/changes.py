"""What changed against a baseline run: the compare analysis (`Run.compare`, the same rows as `flashsight
compare BASE NEW`), changed rows first, the unchanged ones after; runs that are not comparable are compared anyway
here and the differences are listed (the report is for reading, the CLI's exit code is for gating)."""

from __future__ import annotations

import pandas as pd

from flashsight.errors import FlashsightError
from flashsight.outputs import compare_view as view
from flashsight.outputs.report.model import Missing, Section, Table, Text


def section(run, baseline) -> Section:
    if not hasattr(baseline, "compare"):
        raise FlashsightError("--baseline needs `flashsight compare` (the compare analysis), which this flashsight "
                              "does not have")
    frame = view.with_short_configs(baseline.compare(run, allow_mismatch=True))
    title = "What changed"
    base = frame.attrs.get("base") or str(baseline.path or "the baseline")
    blocks: list = [Text(f"Against **{base}** (base) → this run (new): {view.summary_line(frame)}. Ratio = new / "
                         "base nsys median with its 95% block-bootstrap interval.")]
    blocks += [Missing(f"Not comparable, compared anyway: {line}") for line in frame.attrs.get("mismatches", [])]
    if frame.empty:
        return Section("changes", title, blocks + [Missing("No config or kernel in common and none on one side.")])
    order = {v: i for i, v in enumerate(view.MARKS)}
    frame = frame.assign(_o=frame["verdict"].map(order)).sort_values("_o", kind="stable")
    table = pd.DataFrame({
        "change": [view.MARKS[v].strip() or "=" for v in frame["verdict"]],
        "verdict": frame["verdict"],
        "config": [view.config_label(r) for r in frame.to_dict("records")],
        "kernel": [view.kernel_label(r) for r in frame.to_dict("records")],
        "base": frame["base_median_ns"].map(view.duration), "new": frame["new_median_ns"].map(view.duration),
        "ratio [95% interval]": [view.ratio_text(r) for r in frame.to_dict("records")],
        "counters moved": frame["counters_moved"].fillna("").astype(str),
    })
    changed = frame["verdict"] != "unchanged"
    if changed.any():
        blocks.append(Table(table[changed.values].reset_index(drop=True),
                            caption="Rows that changed (or could not be decided, or exist on one side only)"))
    else:
        blocks.append(Text("No row changed beyond the noise."))
    if (~changed).any():
        blocks.append(Table(table[(~changed).values].reset_index(drop=True), caption="Unchanged rows"))
    return Section("changes", title, blocks)
