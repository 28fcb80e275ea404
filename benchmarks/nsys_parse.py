"""Benchmark: flashsight's nsys parsing against `nsys stats` on one large capture (GPU machine only).

Builds a CUDA launcher (nvcc), captures it under nsys: --kernels tiny kernels on two streams, each inside its
own registered-string push/pop range of domain `bench`, and every --per-batch kernels a default-domain
`batch` range around them (>= 1M kernels and >= 1M ranges by default). Then, on the same .sqlite, times
  flashsight: read_nsys (all tables, NVTX projection included) + cuda_gpu_kern_sum + nvtx_gpu_proj_sum
  nsys:       nsys stats -r cuda_gpu_kern_sum,nvtx_gpu_proj_sum -f csv
each in its own child process (wall time and peak RSS from wait4), checks that both give the same numbers,
prints them side by side and writes <out>/bench.json.

Usage: python3 benchmarks/nsys_parse.py --out OUTDIR [--kernels 1000000] [--per-batch 1000] [--reuse]
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

LAUNCHER_CU = r"""
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>
#include <cstdio>
#include <cstdlib>

__global__ void bench_tiny_a(float* p, int i) { if (threadIdx.x == 0) p[blockIdx.x] += (float)i; }
__global__ void bench_tiny_b(float* p, int i) { p[threadIdx.x] *= 0.5f; }

int main(int argc, char** argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    long per_batch = argc > 2 ? atol(argv[2]) : 1000;
    float* d = nullptr;
    if (cudaMalloc(&d, 4096 * sizeof(float)) != cudaSuccess) { fprintf(stderr, "cudaMalloc failed\n"); return 1; }
    cudaMemset(d, 0, 4096 * sizeof(float));
    cudaStream_t s[2];
    cudaStreamCreate(&s[0]);
    cudaStreamCreate(&s[1]);
    nvtxDomainHandle_t dom = nvtxDomainCreateA("bench");
    nvtxEventAttributes_t a = {0};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
    a.message.registered = nvtxDomainRegisterStringA(dom, "launch");
    for (long i = 0; i < n; ++i) {
        if (i % per_batch == 0) { if (i) nvtxRangePop(); nvtxRangePushA("batch"); }
        nvtxDomainRangePushEx(dom, &a);
        if (i & 1) bench_tiny_a<<<1, 32, 0, s[0]>>>(d, (int)i);
        else       bench_tiny_b<<<1, 32, 0, s[1]>>>(d, (int)i);
        nvtxDomainRangePop(dom);
    }
    if (n) nvtxRangePop();
    cudaDeviceSynchronize();
    printf("launched %ld kernels\n", n);
    return 0;
}
"""


def find_nvcc() -> str:
    for cand in (os.environ.get("NVCC"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if cand and os.access(cand, os.X_OK):
            return cand
    sys.exit("nvcc not found: set NVCC")


def timed_child(argv: list[str], log: Path) -> tuple[float, float, int]:
    """Run argv; return (wall seconds, peak RSS in MiB over it and its children, exit code)."""
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode


def flashsight_child(sqlite: Path, out_dir: Path) -> None:
    """What the flashsight side runs in its own process: parse, summarise, write the two summaries."""
    from flashsight.analysis import nsys_summaries as nsys_stats
    from flashsight.parsers.nsys_sqlite import read_nsys

    t0 = time.perf_counter()
    tables = read_nsys(sqlite)
    t1 = time.perf_counter()
    kern = nsys_stats.cuda_gpu_kern_sum(tables)
    proj = nsys_stats.nvtx_gpu_proj_sum(tables)
    t2 = time.perf_counter()
    kern.to_csv(out_dir / "flashsight_cuda_gpu_kern_sum.csv", index=False)
    proj.to_csv(out_dir / "flashsight_nvtx_gpu_proj_sum.csv", index=False)
    rows = {name: len(df) for name, df in tables.items()}
    print(json.dumps({"read_nsys_s": t1 - t0, "summaries_s": t2 - t1, "rows": rows}))


def compare(ours: Path, theirs: Path, key: list[str]) -> str:
    import pandas as pd

    a, b = pd.read_csv(ours), pd.read_csv(theirs)
    cols = [c for c in b.columns if c in a.columns and ("(ns)" in c or c in ("Instances", "Range Instances", "Total GPU Ops"))]
    cols = [c for c in cols if "Avg" not in c and "Med" not in c and "StdDev" not in c]  # exact integers only
    a, b = a.set_index(key).sort_index(), b.set_index(key).sort_index()
    if list(a.index) != list(b.index):
        return f"DIFFERENT groups: {sorted(set(a.index) ^ set(b.index))[:5]}"
    bad = [c for c in cols if not (a[c].astype("int64") == b[c].astype("int64")).all()]
    return "agree" if not bad else f"DIFFER in {bad}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--kernels", type=int, default=1_000_000)
    ap.add_argument("--per-batch", type=int, default=1000)
    ap.add_argument("--reuse", action="store_true", help="reuse <out>/bench.sqlite if it exists")
    ap.add_argument("--timeout", type=float, default=600, help="per step: capture, import, export")
    ap.add_argument("--stats-timeout", type=float, default=300, help="for `nsys stats` (reported, not fatal)")
    ap.add_argument("--flashsight-child", nargs=2, metavar=("SQLITE", "OUTDIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.flashsight_child:
        flashsight_child(Path(args.flashsight_child[0]), Path(args.flashsight_child[1]))
        return
    if args.out is None:
        ap.error("--out is required")

    from flashsight.orchestrator import nsys as nsys_orch
    from flashsight.profilers import tools

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    stem, sqlite = out / "bench", out / "bench.sqlite"
    report: dict = {"kernels": args.kernels, "per_batch": args.per_batch}
    nsys = tools.require_nsys()
    report["nsys_version"] = nsys.version

    if not (args.reuse and sqlite.is_file()):
        for old in out.glob("bench.*"):
            old.unlink()
        (out / "launcher.cu").write_text(LAUNCHER_CU)
        subprocess.run([find_nvcc(), "-O2", "-o", str(out / "launcher"), str(out / "launcher.cu"), "-ldl"], check=True)
        t0 = time.perf_counter()
        done = nsys_orch.profile(
            stem, [str(out / "launcher"), str(args.kernels), str(args.per_batch)], out / "profile.log",
            timeout_s=args.timeout,
        )
        report["capture_s"] = time.perf_counter() - t0
        if not done.ok:
            sys.exit(f"nsys profile failed ({done.describe_failure()}), see {out / 'profile.log'}")
        t0 = time.perf_counter()
        nsys_orch.to_sqlite(stem, timeout_s=args.timeout)  # imports the .qdstrm when nsys left only that
        report["import_export_s"] = time.perf_counter() - t0
    report["sqlite_mib"] = sqlite.stat().st_size / 2**20

    # Linux counts the parent's memory at fork into a child's peak RSS: measure that floor with `true`.
    report["rss_floor_mib"] = timed_child(["true"], out / "floor.log")[1]
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    fs_log = out / "flashsight.log"
    wall, rss, rc = timed_child([sys.executable, __file__, "--flashsight-child", str(sqlite), str(out)], fs_log)
    if rc != 0:
        sys.exit(f"flashsight failed (exit {rc}), see {fs_log}:\n{fs_log.read_text()[-3000:]}")
    report["flashsight"] = {"wall_s": wall, "peak_rss_mib": rss, **json.loads(fs_log.read_text().strip().splitlines()[-1])}

    ref_stem = out / "nsys"
    argv = [nsys.path, "stats", "-r", "cuda_gpu_kern_sum,nvtx_gpu_proj_sum", "-f", "csv", "--force-export=false",
            "--force-overwrite=true", "-o", str(ref_stem), str(sqlite)]
    wall, rss, rc = timed_child(["timeout", str(int(args.stats_timeout))] + argv, out / "nsys_stats.log")
    report["nsys_stats"] = {"wall_s": wall, "peak_rss_mib": rss, "exit": rc, "timed_out": rc == 124}
    if rc == 0:
        report["cuda_gpu_kern_sum"] = compare(out / "flashsight_cuda_gpu_kern_sum.csv", out / "nsys_cuda_gpu_kern_sum.csv", ["Name"])
        report["nvtx_gpu_proj_sum"] = compare(out / "flashsight_nvtx_gpu_proj_sum.csv", out / "nsys_nvtx_gpu_proj_sum.csv", ["Range", "Style"])

    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    fs, ns = report["flashsight"], report["nsys_stats"]
    print(f"capture: {args.kernels} kernels, {report['sqlite_mib']:.0f} MiB sqlite, nsys {report['nsys_version']}")
    print(f"{'':28}{'wall s':>10}{'peak RSS MiB':>15}")
    print(f"{'flashsight (parse+2 sums)':28}{fs['wall_s']:>10.1f}{fs['peak_rss_mib']:>15.0f}")
    note = " (timed out)" if ns["timed_out"] else "" if ns["exit"] == 0 else f" (exit {ns['exit']})"
    print(f"{'nsys stats (2 reports)':28}{ns['wall_s']:>10.1f}{ns['peak_rss_mib']:>15.0f}{note}")
    print(f"flashsight: read_nsys {fs['read_nsys_s']:.1f} s, summaries {fs['summaries_s']:.1f} s; "
          f"capture {report.get('capture_s', 0):.0f} s, import+export {report.get('import_export_s', 0):.0f} s")
    print(f"rows: {fs['rows']}; peak RSS includes a floor of {report['rss_floor_mib']:.0f} MiB (this process at fork)")
    print(f"cuda_gpu_kern_sum: {report.get('cuda_gpu_kern_sum')}, nvtx_gpu_proj_sum: {report.get('nvtx_gpu_proj_sum')}")


if __name__ == "__main__":
    main()
