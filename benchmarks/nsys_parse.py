"""Benchmark: flashsight's nsys ingest against `nsys stats` on one large export, both sides in one run.

The export is built from a real capture by replicating its rows (benchmarks/nsys_bigexport.py: --rows N gives
at least N kernels and N NVTX ranges), or given with --sqlite. On that one file, each in its own child process
(wall time, and peak RSS of the child and its descendants from wait4):
  flashsight  write_nsys: every canonical table streamed to Parquet (NVTX projection included), then the two
              summaries from the Parquet columns they need, written as CSV
  nsys stats  the same two reports: cuda_gpu_kern_sum,nvtx_gpu_proj_sum (nsys >= 2023), or what nsys 2022.x
              calls them, gpukernsum,nvtxgpuproj (2022's kernel summary is per name and launch shape, and its
              projection report is the per-range trace that nvtx_gpu_proj_sum later summed)
then checks that the two sides' reports agree row for row (integer columns exactly, rounded ones to 0.05),
prints them side by side and writes <out>/bench.json. Runs anywhere with an nsys (no GPU needed).

Usage: python3 benchmarks/nsys_parse.py --out DIR --rows 1000000 [--nsys PATH] [--stats-timeout 900] [--alone R]
       python3 benchmarks/nsys_parse.py --out DIR --sqlite EXPORT.sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

MIB = 2**20


def group_rss_mib(pgid: int) -> float:
    """Resident MiB of every process in the process group now (Linux /proc; 0 elsewhere)."""
    total = 0
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # pgrp
                total += int(fields[21])  # rss, pages
        except (OSError, ValueError, IndexError):
            continue
    return total * os.sysconf("SC_PAGE_SIZE") / MIB if total else 0.0


def timed_child(argv: list[str], log: Path, timeout_s: float | None = None, marks: tuple[str, ...] = ()) -> dict:
    """Run argv; wall seconds, peak RSS (MiB) of it and its descendants, exit code, timed out.

    Peak RSS is the larger of wait4's (the largest process, waited-for descendants included) and the process
    group's resident total sampled every 0.5 s: a child killed at the timeout leaves no rusage of its own.
    marks: texts of the log whose first appearance is timed (to the 0.5 s sample)."""
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        timed_out, sampled, next_sample, seen = False, 0.0, 0.0, {}
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            now = time.perf_counter() - t0
            if now >= next_sample:
                sampled, next_sample = max(sampled, group_rss_mib(proc.pid)), now + 0.5
                if len(seen) < len(marks):
                    text = log.read_text(errors="replace")
                    seen.update({m: round(now, 1) for m in marks if m not in seen and m in text})
            if timeout_s is not None and now > timeout_s and not timed_out:
                os.killpg(proc.pid, 9)  # its own session: nsys and its report child go together
                timed_out = True
            time.sleep(0.05)
        wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(max(usage.ru_maxrss / 1024, sampled), 1),
            "wait4_rss_mib": round(usage.ru_maxrss / 1024, 1), "sampled_group_rss_mib": round(sampled, 1),
            "exit": os.waitstatus_to_exitcode(status), "timed_out": timed_out, "marks_s": seen}


def report_names(version: str) -> tuple[str, str]:
    from flashsight.parsers.nsys_export import version_tuple

    return ("gpukernsum", "nvtxgpuproj") if version_tuple(version) < (2023,) else ("cuda_gpu_kern_sum", "nvtx_gpu_proj_sum")


def flashsight_child(sqlite: Path, out_dir: Path, reports: list[str]) -> None:
    """The flashsight side, in its own process: stream the tables to Parquet, then the two reports. Arrow on the
    system allocator, as the flashsight CLI sets it for its process (flashsight/host/memory.py)."""
    from flashsight.host.memory import use_system_allocator

    use_system_allocator()
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from flashsight.analysis import nsys_summaries
    from flashsight.parsers.nsys_sqlite import write_nsys

    t0 = time.perf_counter()
    tables_dir = out_dir / "flashsight_tables"
    rows = write_nsys(sqlite, tables_dir)
    t1 = time.perf_counter()
    kernel_cols = ["name", "duration_ns"]
    need = {  # each report with the table and columns it reads, one report at a time (the other's freed)
        "cuda_gpu_kern_sum": ("gpu_kernels", kernel_cols),
        "gpukernsum": ("gpu_kernels", kernel_cols + ["grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z"]),
        "nvtx_gpu_proj_sum": ("nvtx_ranges", ["domain", "name", "style", "duration_ns", "depth",
                                              "gpu_projected_ns", "gpu_op_count", "gpu_child_count"]),
        "nvtxgpuproj": ("nvtx_ranges", ["range_id", "domain", "name", "style", "start_ns", "duration_ns", "pid",
                                        "tid", "depth", "parent", "gpu_start_ns", "gpu_projected_ns", "gpu_op_count",
                                        "gpu_child_count"]),
    }
    version = pq.read_schema(tables_dir / "nvtx_ranges.parquet").metadata[b"nsys_version"].decode()
    for report in reports:
        name, cols = need[report]
        table = pq.read_table(tables_dir / f"{name}.parquet", columns=cols)
        frame = table.to_pandas(self_destruct=True, split_blocks=True)  # Arrow buffers freed as they convert
        del table
        frame.attrs["nsys_version"] = version
        df = nsys_summaries.REPORTS[report]({name: frame})
        del frame
        pacsv.write_csv(pa.Table.from_pandas(df, preserve_index=False), out_dir / f"flashsight_{report}.csv")
        del df
    t2 = time.perf_counter()
    print(json.dumps({"write_nsys_s": round(t1 - t0, 2), "reports_s": round(t2 - t1, 2), "rows": rows}))


KEYS = {"cuda_gpu_kern_sum": ["Name"], "gpukernsum": ["Name", "GridXYZ", "BlockXYZ"],
        "nvtx_gpu_proj_sum": ["Range", "Style"], "nvtxgpuproj": ["RangeId"]}


TREE = ["Lvl", "NumChild", "ParentId", "RangeStack"]


def compare(ours: Path, theirs: Path, report: str, ranges: Path) -> str:
    """'agree' or what differs, by tests/nsys_report_compare's rules (the same the unit tests use).

    nsys 2022.x's nvtxgpuproj finds parents through an R-tree of 32-bit float coordinates: far into a long
    capture it misses a parent or takes a looser one. Its tree columns are then compared row by row and every
    row where they differ is checked against flashsight's ranges: flashsight's parent must contain the range
    and be shorter than nsys's choice (or nsys must have none)."""
    import pandas as pd

    from tests.nsys_report_compare import assert_same_rows, read_nsys_csv

    a = pd.read_csv(ours, keep_default_na=False, na_values=[""])
    b = read_nsys_csv(theirs)
    for df in (a, b):
        if "ParentId" in df:
            df["ParentId"] = pd.to_numeric(df["ParentId"].replace("None", None)).astype("Int64")
    tree_note = ""
    if report == "nvtxgpuproj":
        a, b = a.set_index("RangeId").sort_index(), b.set_index("RangeId").sort_index()
        if list(a.index) != list(b.index):
            return f"DIFFER: {len(set(a.index) ^ set(b.index))} ranges projected by one side only"
        diff = pd.Series(False, index=a.index)
        for col in TREE:
            diff |= a[col].astype(str) != b[col].astype(str)
        bad_parent = a.index[diff & (a["ParentId"].fillna(-1) != b["ParentId"].fillna(-1))]
        r = pd.read_parquet(ranges, columns=["range_id", "start_ns", "end_ns"]).set_index("range_id")
        for rid in bad_parent:
            ours_p, theirs_p = a.at[rid, "ParentId"], b.at[rid, "ParentId"]
            child = r.loc[rid]
            p = r.loc[ours_p] if pd.notna(ours_p) else None
            if p is None or not (p.start_ns <= child.start_ns and p.end_ns >= child.end_ns):
                return f"DIFFER: range {rid}: flashsight's parent {ours_p} does not contain it"
            if pd.notna(theirs_p):
                q = r.loc[theirs_p]
                if q.end_ns - q.start_ns < p.end_ns - p.start_ns:
                    return f"DIFFER: range {rid}: nsys's parent {theirs_p} is tighter than flashsight's {ours_p}"
        tree_note = (f"; tree columns differ in {int(diff.sum()):,} rows, all from nsys 2022's parent links "
                     f"({len(bad_parent):,} verified: flashsight's parent contains the range and is tighter)"
                     if diff.any() else "")
        a, b = a[~diff].reset_index(), b[~diff].reset_index()
        full = len(diff)
    else:
        full = len(b)
    try:
        assert_same_rows(a, b, KEYS[report])
    except AssertionError as exc:
        return f"DIFFER: {str(exc)[:300]}"
    return f"agree ({full:,} rows{tree_note})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--rows", type=int, default=1_000_000, help="build an export of at least N kernels and N ranges")
    ap.add_argument("--sqlite", type=Path, help="an existing export instead of building one")
    ap.add_argument("--source", type=Path, help="the capture to replicate (default: the H100 shapes capture)")
    ap.add_argument("--nsys", default=os.environ.get("FLASHSIGHT_NSYS") or shutil.which("nsys") or "nsys")
    ap.add_argument("--stats-timeout", type=float, default=900, help="for `nsys stats` (reported, not fatal)")
    ap.add_argument("--deadline", type=float, help="seconds for the whole run: nsys stats is cut to fit")
    ap.add_argument("--concurrent", action="store_true",
                    help="run nsys stats and flashsight at the same time (each is timed on its own)")
    ap.add_argument("--keep", action="store_true", help="keep the export and the tables")
    ap.add_argument("--alone", default="", help="comma list of reports to time once more in an nsys stats of their own")
    ap.add_argument("--flashsight-child", nargs=3, metavar=("SQLITE", "OUTDIR", "REPORTS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.flashsight_child:
        sqlite, out, reports = args.flashsight_child
        flashsight_child(Path(sqlite), Path(out), reports.split(","))
        return
    if args.out is None:
        ap.error("--out is required")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report: dict = {}

    def dump(stage: str) -> None:  # bench.json after each stage: a run cut short keeps what it measured
        (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"[{time.perf_counter() - started:.0f} s] {stage}", flush=True)
    done = subprocess.run([args.nsys, "--version"], capture_output=True, text=True)
    nsys_version = done.stdout.strip().split()[-1].split("-")[0] if done.returncode == 0 else "?"
    report["nsys"] = {"path": args.nsys, "version": nsys_version}

    if args.sqlite:
        sqlite = args.sqlite.resolve()
    else:
        import nsys_bigexport

        sqlite = out / f"big_{args.rows}.sqlite"
        source = args.source or nsys_bigexport.DEFAULT_SOURCE
        if not sqlite.is_file():
            report["export"] = nsys_bigexport.build(source, sqlite, args.rows)
        else:
            report["export"] = {"reused": str(sqlite)}
    report["sqlite_mib"] = round(sqlite.stat().st_size / MIB, 1)
    reports = list(report_names(nsys_version))
    report["reports"] = reports
    dump(f"export ready: {report['sqlite_mib']:,.0f} MiB")

    fs_argv = [sys.executable, __file__, "--flashsight-child", str(sqlite), str(out), ",".join(reports)]
    argv = [args.nsys, "stats", "-r", ",".join(reports), "-f", "csv", "--force-export=false",
            "--force-overwrite=true", "-o", str(out / "nsys"), str(sqlite)]
    marks = tuple(f"nsys_{name}.csv]... PROCESSED" for name in reports)
    def stats_timeout() -> float:  # --stats-timeout, cut to what --deadline leaves from now
        left = args.deadline - (time.perf_counter() - started) - 30 if args.deadline else args.stats_timeout
        report["stats_timeout_s"] = round(min(left, args.stats_timeout), 1)
        return report["stats_timeout_s"]

    concurrent = None
    if args.concurrent:  # both at once on a many-core machine: nsys stats gets the time flashsight would take
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1)
        concurrent = pool.submit(timed_child, argv, out / "nsys_stats.log", stats_timeout(), marks)
        report["concurrent"] = True
    fs = timed_child(fs_argv, out / "flashsight.log")
    if fs["exit"] != 0:
        sys.exit(f"flashsight failed (exit {fs['exit']}), see {out / 'flashsight.log'}:\n"
                 f"{(out / 'flashsight.log').read_text()[-3000:]}")
    fs.update(json.loads((out / "flashsight.log").read_text().strip().splitlines()[-1]))
    report["flashsight"] = fs
    dump(f"flashsight: {fs['wall_s']:.1f} s, peak RSS {fs['peak_rss_mib']:,.0f} MiB")

    if concurrent is not None:
        ns = concurrent.result()
    else:
        ns = timed_child(argv, out / "nsys_stats.log", timeout_s=stats_timeout(), marks=marks)
    report["nsys_stats"] = ns
    dump(f"nsys stats: {ns['wall_s']:.1f} s{' (killed at its timeout)' if ns['timed_out'] else ''}, peak RSS "
         f"{ns['peak_rss_mib']:,.0f} MiB")
    log = (out / "nsys_stats.log").read_text(errors="replace")
    for name in reports:  # a report nsys finished is compared, even when the other one ran out of time
        if f"nsys_{name}.csv]... PROCESSED" in log:
            report[f"agree_{name}"] = compare(out / f"flashsight_{name}.csv", out / f"nsys_{name}.csv", name,
                                              out / "flashsight_tables" / "nvtx_ranges.parquet")
    if ns["exit"] == 0 and not ns["timed_out"]:
        report["speedup"] = round(ns["wall_s"] / fs["wall_s"], 2)
        report["rss_ratio"] = round(fs["peak_rss_mib"] / ns["peak_rss_mib"], 2)
    elif ns["timed_out"]:  # killed unfinished: its time and memory so far are lower bounds
        report["speedup_at_least"] = round(ns["wall_s"] / fs["wall_s"], 2)
        report["rss_ratio_at_most"] = round(fs["peak_rss_mib"] / max(ns["peak_rss_mib"], 1), 2)
    for name in filter(None, args.alone.split(",")):
        one = [args.nsys, "stats", "-r", name, "-f", "csv", "--force-export=false", "--force-overwrite=true",
               "-o", str(out / "alone"), str(sqlite)]
        report[f"nsys_stats_{name}_alone"] = timed_child(one, out / f"nsys_stats_{name}.log",
                                                         timeout_s=args.stats_timeout)
    if not args.keep:
        shutil.rmtree(out / "flashsight_tables", ignore_errors=True)
        if not args.sqlite:
            sqlite.unlink(missing_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")

    rows = fs["rows"]
    print(f"export: {sqlite.name}, {report['sqlite_mib']:,.0f} MiB: {rows.get('gpu_kernels', 0):,} kernels, "
          f"{rows.get('nvtx_ranges', 0):,} NVTX ranges, {rows.get('cuda_api', 0):,} API calls, "
          f"{rows.get('gpu_memops', 0):,} memcpy/memset")
    print(f"{'':44}{'wall s':>10}{'peak RSS MiB':>15}")
    print(f"{'flashsight (all tables -> Parquet + 2 reports)':44}{fs['wall_s']:>10.1f}{fs['peak_rss_mib']:>15.0f}")
    note = " (timed out: killed)" if ns["timed_out"] else "" if ns["exit"] == 0 else f" (exit {ns['exit']})"
    print(f"{'nsys ' + nsys_version + ' stats -r ' + ','.join(reports):44}{ns['wall_s']:>10.1f}"
          f"{ns['peak_rss_mib']:>15.0f}{note}")
    for name in filter(None, args.alone.split(",")):
        one = report[f"nsys_stats_{name}_alone"]
        note = " (timed out: killed)" if one["timed_out"] else "" if one["exit"] == 0 else f" (exit {one['exit']})"
        print(f"{'nsys stats -r ' + name + ' alone':44}{one['wall_s']:>10.1f}{one['peak_rss_mib']:>15.0f}{note}")
    print(f"flashsight: write_nsys {fs['write_nsys_s']:.1f} s, reports {fs['reports_s']:.1f} s")
    if "speedup" in report:
        print(f"flashsight {report['speedup']:.2f}x faster, at {report['rss_ratio']:.2f}x nsys's peak RSS")
    elif "speedup_at_least" in report:
        print(f"nsys stats was killed unfinished: flashsight at least {report['speedup_at_least']:.2f}x faster, at "
              f"most {report['rss_ratio_at_most']:.2f}x nsys's peak RSS so far")
    for name in reports:
        print(f"{name}: {report.get(f'agree_{name}', 'not compared (nsys did not finish)')}")


if __name__ == "__main__":
    main()
