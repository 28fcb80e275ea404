"""The morning warp-stall report: per kernel, what bounds it and where its warps wait; for a sweep, each kernel's
top reasons across the grid of configs (render_stall_grid).

For each profiled kernel: duration, SM / DRAM / tensor-pipe %, the bound class with its reason, the top N stall
reasons with a bar and a one-line reading, and the hottest SASS lines. PC sampling (SourceCounters) is the primary
source when present; the warp-state ratios (WarpStateStats) are shown beside it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from flashsight.analysis.families import family_of, ordered_families
from flashsight.analysis.stall_matrix import as_grid, stall_matrix
from flashsight.analysis.stalls import top_source_lines
from flashsight.schema.stalls import NOT_A_STALL, REASONS

BAR_WIDTH = 24


def render_stalls(tables: dict[str, pd.DataFrame], console: Console, kernel_regex: str | None = None,
                  top: int = 5, title: str | None = None) -> int:
    """Print the report; returns how many kernels it showed (0: it printed nothing, not even `title`).

    Tables parsed from several inputs (a sweep's job_id, parse's source_file) are reported input by input, since
    kernel_id is only unique within one ncu report; an input without a matching kernel prints nothing.
    """
    kernels = tables.get("ncu_kernels")
    keys = [c for c in ("job_id", "source_file") if kernels is not None and c in kernels.columns]
    if keys and kernels[keys].drop_duplicates().shape[0] > 1:
        shown = 0
        for key, part in kernels.groupby(keys, sort=False):
            subset = {"ncu_kernels": part}
            for name in ("warp_stalls", "ncu_source"):
                other = tables.get(name)
                if other is not None and all(k in other.columns for k in keys):
                    wanted = pd.Series(key if isinstance(key, tuple) else (key,), index=keys)
                    match = (other[keys] == wanted).all(axis=1)
                    subset[name] = other[match]
            label = " · ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
            shown += render_stalls(subset, console, kernel_regex, top, title=label)
        return shown
    stalls = tables.get("warp_stalls", pd.DataFrame(columns=["kernel_id", "reason", "source", "value", "pct"]))
    source = tables.get("ncu_source")
    pattern = re.compile(kernel_regex) if kernel_regex else None
    if kernels is None or kernels.empty:
        if source is not None and not source.empty:  # a source page alone: hot lines only
            return _render_source_only(source, console, kernel_regex, top, title)
        if pattern is None:
            console.print("[yellow]no profiled kernels in this input[/]")
        return 0
    hot = top_source_lines(source, n=3) if source is not None and not source.empty else None
    matching = [k for k in kernels.to_dict("records")
                if not pattern or any(pattern.search(str(k.get(c) or "")) for c in ("name", "short_name", "nvtx_range"))]
    if matching and title:
        console.rule(title, style="dim")
    for kernel in matching:
        kernel_stalls = stalls[stalls["kernel_id"] == kernel["kernel_id"]]
        kernel_hot = hot[hot["kernel_id"] == kernel["kernel_id"]] if hot is not None else None
        console.print(_kernel_panel(kernel, kernel_stalls, kernel_hot, top))
    return len(matching)


def render_stall_grid(tables: dict[str, pd.DataFrame], labels: pd.DataFrame, console: Console,
                      kernel_regex: str | None = None, top: int = 5) -> int:
    """A sweep's stalls: per workload, per kernel, its top reasons (rows) across the configs of the grid
    (columns). Kernels that do not match `kernel_regex` print nothing. Returns how many kernels it showed."""
    kernels, stalls = tables.get("ncu_kernels"), tables.get("warp_stalls")
    if kernels is None or kernels.empty:
        return 0
    pattern = re.compile(kernel_regex) if kernel_regex else None
    if pattern:
        fields = [c for c in ("name", "short_name", "nvtx_range") if c in kernels]
        hit = kernels[fields].astype(str).apply(lambda col: col.str.contains(pattern, regex=True)).any(axis=1)
        kernels = kernels[hit]
    matrix = stall_matrix(stalls, kernels, labels, top=top)
    if matrix.empty:
        return 0
    order = list(labels["label"])
    families = ordered_families(matrix["workload"])
    shown = 0
    for workload, per_workload in sorted(matrix.groupby("workload", sort=False),
                                         key=lambda item: families.index(family_of(item[0]))):
        console.rule(f"[bold]{workload}[/]")
        for kernel, part in per_workload.groupby("short_name", sort=False):
            grid = as_grid(part, order)
            console.print(f"[bold]{kernel}[/] [dim]({part['source'].iloc[0].replace('_', ' ')}, % of stalls)[/]",
                          soft_wrap=True)
            for block in _column_blocks(list(grid.columns), console.width):  # a wide grid: several tables
                table = Table(box=None, header_style="dim", pad_edge=False)
                table.add_column("stall reason", no_wrap=True)
                for column in block:  # one swept parameter per header line keeps columns narrow
                    table.add_column("\n".join(str(column).split(" ")), justify="right", no_wrap=True)
                for reason, values in grid[block].iterrows():
                    table.add_row(REASONS.get(reason, (reason,))[0], *[_pct(v) for v in values])
                console.print(table)
            shown += 1
    return shown


REASON_WIDTH = 20  # "Math Pipe Throttle" and the column gap


def _column_blocks(columns: list[str], width: int) -> list[list[str]]:
    """Config columns in groups that fit the console beside the reason column."""
    blocks: list[list[str]] = [[]]
    used = REASON_WIDTH
    for column in columns:
        need = max(len(part) for part in str(column).split(" ")) + 2
        if blocks[-1] and used + need > width:
            blocks.append([])
            used = REASON_WIDTH
        blocks[-1].append(column)
        used += need
    return blocks


def _pct(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0f}%"


def _duration(ns) -> str:
    if ns is None or pd.isna(ns):
        return "–"
    return f"{ns / 1e3:.1f} µs" if ns < 1e6 else f"{ns / 1e6:.2f} ms"


def _bar(pct: float) -> Text:
    filled = 0 if pd.isna(pct) else max(0.0, min(1.0, pct / 100)) * BAR_WIDTH
    full = int(filled)
    partial = " ▏▎▍▌▋▊▉"[int((filled - full) * 8)] if full < BAR_WIDTH else ""
    return Text("█" * full + partial.strip(), style="cyan")


def _kernel_panel(kernel: dict, stalls: pd.DataFrame, hot: pd.DataFrame | None, top: int) -> Panel:
    bound = kernel.get("bound") or "–"
    colour = {"memory": "blue", "compute": "magenta", "latency": "yellow"}.get(bound, "white")
    facts = Text.assemble(
        ("duration ", "dim"), _duration(kernel.get("duration_ns")),
        ("  SM ", "dim"), _pct(kernel.get("sm_throughput_pct")),
        ("  DRAM ", "dim"), _pct(kernel.get("dram_throughput_pct")),
        ("  tensor ", "dim"), _pct(kernel.get("tensor_pipe_pct")),
        ("  bound ", "dim"), (bound, f"bold {colour}"),
    )
    parts: list = [facts]
    if kernel.get("bound_reason"):
        parts.append(Text(f"  {kernel['bound_reason']}", style="dim"))
    parts.append(_stall_table(stalls, top))
    if hot is not None and len(hot):
        parts.append(_hot_table(hot))
    range_note = f"  [dim]{kernel['nvtx_range']}[/]" if kernel.get("nvtx_range") else ""
    title = f"[bold]#{kernel['kernel_id']} {kernel.get('short_name') or kernel.get('name')}[/]{range_note}"
    return Panel(Group(*parts), title=title, title_align="left", expand=True)


def _stall_table(stalls: pd.DataFrame, top: int) -> Table | Text:
    real = stalls[stalls["reason"] != NOT_A_STALL].dropna(subset=["pct"])
    if real.empty:
        return Text("no warp-stall metrics (profile with WarpStateStats or SourceCounters)", style="yellow")
    sources = set(real["source"])
    primary = "pc_sampling" if "pc_sampling" in sources else "warp_state"
    other = "warp_state" if primary == "pc_sampling" else None
    first = real[real["source"] == primary].sort_values("pct", ascending=False).head(top)
    other_pct = real[real["source"] == other].set_index("reason")["pct"] if other in sources else pd.Series(dtype=float)
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="dim")
    table.add_column("stall reason")
    table.add_column("sampled" if primary == "pc_sampling" else "warp state", justify="right")
    table.add_column("")
    if len(other_pct):
        table.add_column("warp state", justify="right", style="dim")
    table.add_column("reading", style="dim", overflow="fold")
    for row in first.itertuples():
        label, reading = REASONS.get(row.reason, (row.reason, ""))
        cells = [label, f"{row.pct:.1f}%", _bar(row.pct)]
        if len(other_pct):
            cells.append(_pct(other_pct.get(row.reason)))
        table.add_row(*cells, reading)
    return table


def _hot_table(hot: pd.DataFrame) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="dim", title_justify="left")
    table.add_column("hot line")
    table.add_column("samples", justify="right")
    table.add_column("SASS", overflow="ellipsis", no_wrap=True, max_width=60)
    table.add_column("mostly", style="dim")
    for row in hot.itertuples():
        cuda_file = getattr(row, "cuda_file", None)  # None, or NaN when read back from Parquet
        where = f"{Path(cuda_file).name}:{row.cuda_line}" if isinstance(cuda_file, str) and cuda_file else \
            f"{row.address:#x}"
        reason = REASONS.get(row.top_reason, (row.top_reason,))[0] if isinstance(row.top_reason, str) else "–"
        table.add_row(where, f"{row.samples:.0f} ({row.share_pct:.0f}%)", row.sass,
                      f"{reason} {_pct(row.top_reason_pct)}")
    return table


def _render_source_only(source: pd.DataFrame, console: Console, kernel_regex: str | None, top: int,
                        title: str | None = None) -> int:
    pattern = re.compile(kernel_regex) if kernel_regex else None
    hot = top_source_lines(source, n=top)
    shown = 0
    for (name, block), lines in hot.groupby(["name", "block"], sort=False):
        if pattern and not pattern.search(name):
            continue
        if shown == 0 and title:
            console.rule(title, style="dim")
        console.print(Panel(_hot_table(lines), title=f"[bold]{name}[/] [dim](source page block {block})[/]",
                            title_align="left"))
        shown += 1
    return shown
