"""Terminal renderings (rich) of the environment probe, workload list, a run's result, a profiled job and a parse.

Piped output is not wrapped: a console that is not a terminal prints long lines whole (soft wrap) and tables at
their natural width (`print_wide`), so `flashsight workloads | grep` sees every variant name.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def terminal_console(stderr: bool = False) -> Console:
    """A rich Console for stdout (or stderr) that wraps only on a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    try:
        is_tty = stream.isatty()
    except (AttributeError, ValueError):
        is_tty = False
    return Console(stderr=stderr, soft_wrap=not is_tty)


def print_wide(console: Console, renderable) -> None:
    """Print a table at its natural width when the console is not a terminal (else fitted to the terminal)."""
    if console.is_terminal:
        console.print(renderable)
        return
    width = console.measure(renderable, options=console.options.update_width(1 << 16)).maximum
    saved = console.width  # print(width=) is capped at the console's width: widen the console itself
    console.width = max(width, saved)
    try:
        console.print(renderable, crop=False)
    finally:
        console.width = saved


def _gib(n: int | None) -> str:
    return f"{n / 2**30:.1f} GiB" if n else "-"


def _mib(n: int | None) -> str:
    return f"{n / 2**20:.1f} MiB" if n is not None else "-"


def print_env(info: dict, console: Console) -> None:
    gpu = info["gpu"]
    console.print(f"[bold]flashsight {info['flashsight']}[/bold]  python {info['python']}  {info['platform']}")
    if gpu["available"]:
        console.print(f"driver {gpu['driver_version']}  CUDA driver {gpu['cuda_driver_version']}")
        table = Table("GPU", "name", "CC", "SMs", "memory", "SM clock max", "mem clock max", box=None)
        for d in gpu["devices"]:
            table.add_row(str(d["index"]), d["name"], d["compute_capability"] or "-", str(d["sm_count"] or "-"),
                          _gib(d["memory_total_bytes"]), f"{d['sm_clock_max_mhz'] or '-'} MHz",
                          f"{d['mem_clock_max_mhz'] or '-'} MHz")
        print_wide(console, table)
    else:
        console.print(f"[yellow]no GPU[/yellow]: {gpu['reason']}")
    torch = info["torch"]
    if torch["installed"]:
        console.print(f"torch {torch['version']}  CUDA runtime {torch['cuda_runtime'] or '-'}  "
                      f"cuda available: {torch['cuda_available']}")
    else:
        console.print("torch: not installed (install the \\[gpu] extra to run workloads)")
    fi = info["flashinfer"]
    cache = fi["jit_cache"]
    console.print(f"flashinfer: {fi['version'] or 'not installed'}  JIT cache {cache['path']}: "
                  + (f"{_mib(cache['size_bytes'])}, {cache['modules']} modules" if cache["exists"] else "absent"))
    for folder, entry in cache.get("folders", {}).items():
        console.print(f"  {folder}: {_mib(entry['size_bytes'])}, {entry['modules']} modules")
    tools = info["tools"]
    for name in ("nsys", "ncu"):
        tool = tools[name]
        console.print(f"{name}: " + (f"{tool['path']} ({tool['version']})" if tool else "[yellow]not found[/yellow]"))
    console.print(f"qdstrm importer: {tools['qdstrm_importer'] or 'not found'}")
    console.print(f"ncu_report module: {tools['ncu_report_module'] or 'not installed'}")


def print_workloads(described: list[dict], console: Console) -> None:
    for w in described:
        console.print(f"[bold]{w['name']}[/bold]  {w['description']}")
        table = Table("param", "type", "default", "allowed", "help", box=None, padding=(0, 2))
        for p in w["params"]:
            allowed = ", ".join(map(str, p["choices"])) if "choices" in p else (
                f">= {p['min']:g}" if "min" in p else "")
            table.add_row(p["name"], p["type"], str(p["default"]), allowed, p["help"])
        print_wide(console, table)
        if w["study_grid"]:
            grid = "  ".join(f"{k}={v}" for k, v in w["study_grid"].items())
            console.print(f"  study grid: {grid}\n")


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_result(result: dict, console: Console) -> None:
    timing, rates, check = result["timing"], result["rates"], result["correctness"]
    table = Table(title=f"{result['workload']}  ({result['device']['name']})", box=None, show_header=True)
    for col in ("measured range", "median ms", "min ms", "TFLOP/s", "GB/s", "AI (FLOP/B)", "check"):
        table.add_column(col, justify="left" if col == "measured range" else "right")
    extra = rates.get("item_name")
    if extra:
        table.add_column(f"{extra}/s", justify="right")
    valid = result.get("timing_valid", True)  # False under ncu: replay makes wall time meaningless
    timed = (lambda value, spec: _fmt(value, spec)) if valid else (lambda value, spec: "n/a")
    row = [result["nvtx_range"], timed(timing["median_ms"], ".4f"), timed(timing["min_ms"], ".4f"),
           timed(rates["achieved_tflops"], ".3f"), timed(rates["achieved_gbps"], ".1f"),
           _fmt(rates["arithmetic_intensity"], ".3f"),
           ("ok" if check.get("ok") else "MISMATCH") + f" (max err {check.get('max_abs_err', 0):.2g})"]
    if extra:
        row.append(timed(rates[f"{extra}_per_s"], ".4g"))
    table.add_row(*row)
    print_wide(console, table)
    if not valid:
        console.print(f"[dim]timed under {result.get('profiler')}: kernel durations are in ncu_kernels.parquet[/dim]")
    console.print(f"[dim]{result['iters']} measured steps after {result['warmup']} warm-up; "
                  f"set-up and JIT {result['prepare_s']:.1f} s[/dim]")


def print_job(outcome, job_dir: Path, console: Console) -> None:
    console.print(f"[bold]{outcome.tool}[/bold] job {outcome.status} in {outcome.duration_s:.1f} s -> {job_dir}")
    if outcome.result:
        print_any_result(outcome.result, console)
    for name, rows in outcome.tables.items():
        console.print(f"  {name:<14} {rows:>9,} rows")


def print_parse(outcome, out: Path, console: Console) -> None:
    """Rows per table, what each input held (kernel counts: compare them with what was launched) and the files."""
    for name, df in outcome.tables.items():
        console.print(f"{name:<14} {len(df):>9,} rows")
    for note in outcome.notes:
        if note.level == "info":
            console.print(f"[dim]{escape(str(note))}[/dim]")
    if outcome.written:
        console.print(f"[dim]{len(outcome.written)} file(s) in {escape(str(out))}[/dim]")


def print_any_result(result: dict, console: Console) -> None:
    """A kernel workload's result as its table, the JIT study's as its own, anything else (users') as JSON."""
    if result.get("kind") == "jit":
        print_jit_result(result, console)
    elif {"timing", "rates", "correctness", "device"} <= set(result):
        print_result(result, console)
    else:
        console.print_json(data=result)


def print_jit_result(result: dict, console: Console) -> None:
    table = Table(title=f"FlashInfer {result.get('flashinfer_version') or ''} JIT (wall time)", box=None)
    for col in ("family", "cold s", "disk hit s", "memory hit ms", "cache", "modules", "import torch+FI s"):
        table.add_column(col, justify="left" if col == "family" else "right")
    for family, r in result["families"].items():
        table.add_row(family, _fmt(r["cold_s"], ".2f"), _fmt(r["disk_hit_s"], ".3f"),
                      _fmt(r["memory_hit_s"] * 1e3 if r["memory_hit_s"] is not None else None, ".3f"),
                      _mib(r["cache"]["size_bytes"]), str(r["cache"]["modules"]),
                      _fmt(r["import_torch_s"] + r["import_flashinfer_s"], ".2f"))
    print_wide(console, table)
    cache = result["default_cache"]
    console.print(f"[dim]default cache {cache['path']}: "
                  + (f"{_mib(cache['size_bytes'])}, {cache['modules']} modules" if cache["exists"] else "absent")
                  + "[/dim]")
