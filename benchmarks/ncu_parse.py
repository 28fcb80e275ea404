"""How long flashsight takes to read an ncu report, next to what users do today.

Paths timed on the same .ncu-rep (best and median of --repeat runs, wall clock):
  flashsight   read_ncu(report): every table (ncu_kernels, ncu_metrics, warp_stalls, ncu_source)
  ncu csv      `ncu --import R --csv --page raw` + pandas.read_csv (needs the ncu CLI)
  ncu_report   ncu_report.load_report + one metric_by_name().value() per metric (the floor under flashsight)
  flashsight on the CSV: read_ncu on the raw page exported once (for comparison with the report path)

Usage (on the GPU machine for --make-report and the ncu column; anywhere for an existing report):
  python3 benchmarks/ncu_parse.py --make-report OUT/bench.ncu-rep [--kernels 240] [--json OUT/bench.json]
  python3 benchmarks/ncu_parse.py REPORT.ncu-rep
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from flashsight.parsers.ncu_report import read_ncu  # noqa: E402

# Tiny elementwise kernels inside one NVTX range: many kernels, each profiled in a few passes.
_WORKLOAD = """
import sys, torch, nvtx
x = torch.ones(1 << 16, device="cuda"); x.add_(1); x.mul_(1.0); torch.sin(x); torch.cuda.synchronize()
with nvtx.annotate("bench"):
    for i in range(int(sys.argv[1]) // 3):
        x.add_(1); x.mul_(0.5); x = torch.sin(x)
torch.cuda.synchronize()
"""


def make_report(path: Path, kernels: int, ncu: str) -> None:
    stem = path.with_suffix("") if path.suffix == ".ncu-rep" else path
    stem.parent.mkdir(parents=True, exist_ok=True)
    argv = [ncu, "--section", "SpeedOfLight", "--nvtx", "--nvtx-include", "bench/", "--export", str(stem),
            "--force-overwrite", sys.executable, "-c", _WORKLOAD, str(kernels)]
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    print(f"made {stem}.ncu-rep ({kernels} kernels) in {time.perf_counter() - started:.1f} s")


def timed(fn, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def via_ncu_csv(report: Path, ncu: str) -> pd.DataFrame:
    out = subprocess.run([ncu, "--import", str(report), "--csv", "--page", "raw"],
                         check=True, capture_output=True, text=True).stdout
    return pd.read_csv(io.StringIO(out), header=[0, 1], low_memory=False)


def via_ncu_report(report: Path) -> int:
    import ncu_report

    ctx, count = ncu_report.load_report(str(report)), 0
    for r in range(ctx.num_ranges()):
        rng = ctx.range_by_idx(r)
        for a in range(rng.num_actions()):
            action = rng.action_by_idx(a)
            for name in action.metric_names():
                action.metric_by_name(name).value()
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", nargs="?", type=Path)
    parser.add_argument("--make-report", type=Path, help="profile a many-kernel workload into this .ncu-rep first")
    parser.add_argument("--kernels", type=int, default=240)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ncu", default=shutil.which("ncu") or "ncu")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    report = args.make_report or args.report
    if report is None:
        parser.error("give a REPORT or --make-report PATH")
    if args.make_report:
        make_report(args.make_report, args.kernels, args.ncu)
        report = args.make_report.with_suffix(".ncu-rep") if args.make_report.suffix != ".ncu-rep" else report

    rows = []
    times, tables = timed(lambda: read_ncu(report), args.repeat)
    kernels = len(tables["ncu_kernels"])
    rows.append(("flashsight read_ncu (all tables)", times, f"{len(tables['ncu_metrics'])} metric rows"))
    times, count = timed(lambda: via_ncu_report(report), args.repeat)
    rows.append(("ncu_report: every metric value()", times, f"{count} values"))
    if shutil.which(args.ncu):
        times, df = timed(lambda: via_ncu_csv(report, args.ncu), args.repeat)
        rows.append(("ncu --csv --page raw + read_csv", times, f"{df.shape[0]}x{df.shape[1]} cells"))
        raw_csv = report.with_name(report.stem + "_raw.csv")
        raw_csv.write_text(subprocess.run([args.ncu, "--import", str(report), "--csv", "--page", "raw"],
                                          check=True, capture_output=True, text=True).stdout)
        times, csv_tables = timed(lambda: read_ncu(raw_csv), args.repeat)
        rows.append(("flashsight read_ncu(raw CSV export)", times, f"{len(csv_tables['ncu_metrics'])} metric rows"))
    else:
        rows.append(("ncu --csv --page raw + read_csv", [], "ncu CLI not found"))

    print(f"\n{report} ({report.stat().st_size / 1e6:.1f} MB, {kernels} kernels), best / median of {args.repeat}:")
    print(f"{'path':36} {'best s':>8} {'median s':>9} {'ms/kernel':>10}  result")
    figures = []
    for name, times, what in rows:
        if times:
            best, median = min(times), statistics.median(times)
            print(f"{name:36} {best:8.3f} {median:9.3f} {1000 * best / max(kernels, 1):10.2f}  {what}")
        else:
            best = median = None
            print(f"{name:36} {'-':>8} {'-':>9} {'-':>10}  {what}")
        figures.append(dict(path=name, best_s=best, median_s=median, result=what))
    if args.json:
        args.json.write_text(json.dumps(dict(report=str(report), kernels=kernels, runs=figures), indent=2) + "\n")


if __name__ == "__main__":
    main()
