"""Renderings of a comparison frame (analysis/compare.py): the terminal table, JSON, and an asv-style Markdown
table for a pull-request comment or the report's "what changed" section. Tables in, text out; nothing parsed.
"""

from __future__ import annotations

import json
import math

import pandas as pd
from rich.console import Console
from rich.table import Table

# asv's marks: + slower, - faster; ~ not decided, ? seen on one side only
MARKS = {"regressed": "+", "improved": "-", "unchanged": " ", "inconclusive": "~", "base_only": "?",
         "new_only": "?", "not_compared": "?"}
STYLES = {"regressed": "bold red", "improved": "bold green", "unchanged": "dim", "inconclusive": "yellow",
          "base_only": "magenta", "new_only": "magenta", "not_compared": "dim"}
COUNTER_COLUMNS = ("dram_bytes", "flop", "registers_per_thread", "achieved_occupancy_pct", "top_stall",
                   "top_stall_pct")


# ------------------------------------------------------------------------------------------------ figures


def duration(ns) -> str:
    if _missing(ns):
        return "–"
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns / 1e6:.2f} ms"


def ratio_text(row: dict) -> str:
    if _missing(row.get("ratio")):
        return "–"
    if _missing(row.get("ci_low")):
        return f"{row['ratio']:.3f}"
    return f"{row['ratio']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def kernel_label(row: dict) -> str:
    if row["kind"] == "config":
        return "(no nsys kernels)"
    if row["kind"] == "step":
        return "(all kernels of one step)"
    grid = f"{row['grid_x']},{row['grid_y']},{row['grid_z']}"
    block = f"{row['block_x']},{row['block_y']},{row['block_z']}"
    nth = f" #{row['occurrence'] + 1}" if row.get("occurrence") else ""
    return f"{row['short_name']} grid({grid}) block({block}){nth}"


def config_label(row: dict) -> str:
    """The config by the parameters that tell it from the others of its workload (`short_config`, else the
    measured range's name); a config paired across a parameter change says the change."""
    label = row.get("short_config") or row["config"]
    changed = row.get("changed_params")
    return f"{label} ({changed})" if isinstance(changed, str) and changed else str(label)


def with_short_configs(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds `short_config`: the workload and only the parameters that vary among its configs in this comparison
    ('decode batch=32 num_kv_heads=8' instead of all twelve)."""
    params = {c: json.loads(p) for c, p in zip(frame["config_id"], frame["params_json"]) if isinstance(p, str)}
    varying: dict[str, list[str]] = {}
    for workload, ids in frame.groupby("workload", dropna=True)["config_id"].unique().items():
        seen = [params[c] for c in ids if c in params]
        keys = dict.fromkeys(k for p in seen for k in p)
        varying[workload] = [k for k in keys if len({json.dumps(p.get(k)) for p in seen}) > 1]

    def label(row) -> str | None:
        if row["config_id"] not in params or pd.isna(row["workload"]):
            return None
        mine = params[row["config_id"]]
        shown = " ".join(f"{k}={_value(mine.get(k))}" for k in varying.get(row["workload"], []))
        return f"{row['workload']} {shown}".strip()

    return frame.assign(short_config=frame.apply(label, axis=1) if len(frame) else [])


def _value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def counts(frame: pd.DataFrame) -> dict[str, int]:
    return {v: int(n) for v, n in frame["verdict"].value_counts().items()}


def summary_line(frame: pd.DataFrame) -> str:
    found = counts(frame)
    parts = [f"{found[v]} {v}" for v in MARKS if found.get(v)]
    return (f"{len(frame)} rows: {', '.join(parts) or 'none'} (threshold {frame.attrs.get('threshold_pct', 5):g}%, "
            f"floor {frame.attrs.get('floor_pct', 2):.1f}% from {frame.attrs.get('floor_source', 'default')})")


# ------------------------------------------------------------------------------------------------ terminal


def print_compare(frame: pd.DataFrame, console: Console, *, all_rows: bool = False) -> None:
    """The rows that are not `unchanged` (all with all_rows), then one summary line."""
    for line in frame.attrs.get("mismatches", []):
        console.print(f"[yellow]not comparable, compared anyway:[/] {line}")
    frame = with_short_configs(frame)
    shown = frame if all_rows else frame[frame["verdict"] != "unchanged"]
    if len(shown):
        table = Table("", "config", "kernel", "base", "new", "ratio [95% interval]", "verdict", "counters moved",
                      box=None, show_edge=False)
        for row in shown.to_dict("records"):
            style = STYLES[row["verdict"]]
            table.add_row(MARKS[row["verdict"]], config_label(row), kernel_label(row), duration(row["base_median_ns"]),
                          duration(row["new_median_ns"]), ratio_text(row), f"[{style}]{row['verdict']}[/]",
                          row["counters_moved"] or "")
        console.print(table)
    console.print(summary_line(frame))


# ------------------------------------------------------------------------------------------------ JSON


def compare_json(frame: pd.DataFrame) -> dict:
    """{"rows": [...], ...}: real JSON (numbers, null, objects), one object per row."""
    rows = []
    for row in frame.to_dict("records"):
        kernel = row["kind"] == "kernel"
        rows.append({
            "config_id": row["config_id"], "new_config_id": _plain(row["new_config_id"]),
            "changed_params": _plain(row["changed_params"]),
            "workload": _plain(row["workload"]), "config": _plain(row["config"]),
            "params": json.loads(row["params_json"]) if isinstance(row["params_json"], str) else None,
            "kind": row["kind"], "short_name": _plain(row["short_name"]),
            "mangled_name": _plain(row["mangled_name"]),
            "grid": [int(row[f"grid_{a}"]) for a in "xyz"] if kernel else None,
            "block": [int(row[f"block_{a}"]) for a in "xyz"] if kernel else None,
            "occurrence": int(row["occurrence"]) if kernel else None,
            "verdict": row["verdict"], "ratio": _plain(row["ratio"]),
            "interval": [_plain(row["ci_low"]), _plain(row["ci_high"])],
            "base_median_ns": _plain(row["base_median_ns"]), "new_median_ns": _plain(row["new_median_ns"]),
            "base_launches": int(row["base_launches"]), "new_launches": int(row["new_launches"]),
            "drift_pct": _plain(row["drift_pct"]), "floor_pct": _plain(row["floor_pct"]), "note": row["note"],
            "counters": {side: {c: _plain(row[f"{side}_{c}"]) for c in COUNTER_COLUMNS} for side in ("base", "new")},
            "counters_moved": row["counters_moved"] or "",
        })
    attrs = frame.attrs
    return {"base": attrs.get("base"), "new": attrs.get("new"), "threshold_pct": attrs.get("threshold_pct"),
            "floor_pct": attrs.get("floor_pct"), "floor_source": attrs.get("floor_source"),
            "mismatches": list(attrs.get("mismatches", [])), "counts": counts(frame), "rows": rows}


def _plain(value):
    """A JSON value: None for NaN/NA, Python numbers for numpy ones."""
    if _missing(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


# ------------------------------------------------------------------------------------------------ Markdown


def compare_markdown(frame: pd.DataFrame, *, heading: str | None = None) -> str:
    """asv-style: the changed rows as a table (mark, before, after, ratio, config · kernel, counters moved), the
    unchanged ones folded in a <details> block, and the summary line."""
    lines = [f"## {heading}", ""] if heading else []
    for line in frame.attrs.get("mismatches", []):
        lines.append(f"> **not comparable, compared anyway:** {_cell(line)}")
    if frame.attrs.get("mismatches"):
        lines.append("")
    frame = with_short_configs(frame)
    changed = frame[frame["verdict"] != "unchanged"]
    same = frame[frame["verdict"] == "unchanged"]
    if len(changed):
        lines += _table(changed)
    else:
        lines.append("No row changed beyond the noise.")
    if len(same):
        lines += ["", f"<details><summary>{len(same)} unchanged rows</summary>", "", *_table(same), "", "</details>"]
    lines += ["", summary_line(frame) + ". `+` slower, `-` faster, `~` inconclusive, `?` one side only; "
              "ratio = new / base median with its 95% block-bootstrap interval."]
    return "\n".join(lines) + "\n"


def _table(frame: pd.DataFrame) -> list[str]:
    head = ["| Change | Before | After | Ratio [95% interval] | Verdict | Config · kernel | Counters moved |",
            "|:---:|---:|---:|---:|---|---|---|"]
    body = [f"| {MARKS[r['verdict']].strip()} | {duration(r['base_median_ns'])} | {duration(r['new_median_ns'])} | "
            f"{ratio_text(r)} | {r['verdict']} | {_cell(config_label(r))} · {_cell(kernel_label(r))} | "
            f"{_cell(r['counters_moved'] or '')} |" for r in frame.to_dict("records")]
    return head + body


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
