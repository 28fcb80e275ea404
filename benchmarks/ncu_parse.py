"""How long flashsight takes to read an ncu report into all its tables, next to the floor and what users do today.

Paths timed on the same .ncu-rep (wall clock, each from a cold start: reader processes are started inside):
  flashsight N readers  read_ncu through a pool of N persistent readers (slices of kernels read in parallel)
  flashsight 1 reader   the same through one reader (what every report cost before: one process per report)
  ncu_report floor      load_report + one metric_by_name().value() per metric, in this process (no per-PC data)
  ncu csv               `ncu --import R --csv --page raw` + pandas.read_csv (needs the ncu CLI)

--make-report profiles a CUDA launcher (built with nvcc: four small kernels round-robin inside one NVTX range
`bench`) under ncu first; `--set full` with application replay (the launcher runs once per pass, which costs
far less than replaying 1,000 tiny kernels 38 times each).

Usage (GPU machine for --make-report and the ncu column; anywhere for an existing report):
  python3 benchmarks/ncu_parse.py --make-report OUT/k1000.ncu-rep --kernels 1000 --set full [--json F]
  python3 benchmarks/ncu_parse.py REPORT.ncu-rep [--readers 16] [--skip floor,csv,one]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LAUNCHER_CU = r"""
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>
#include <cstdio>
#include <cstdlib>
__global__ void bench_add(float* x, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] += 1.0f; }
__global__ void bench_scale(float* x, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] *= 0.5f; }
__global__ void bench_sum(const float* x, float* out, int n) {
    __shared__ float s[256];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    s[threadIdx.x] = i < n ? x[i] : 0.0f;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) { if (threadIdx.x < k) s[threadIdx.x] += s[threadIdx.x + k]; __syncthreads(); }
    if (threadIdx.x == 0) atomicAdd(out, s[0]);
}
__global__ void bench_fma(float* x, const float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) { float v = x[i]; for (int k = 0; k < 16; ++k) v = fmaf(v, 1.0001f, y[i]); x[i] = v; }
}
int main(int argc, char** argv) {
    int kernels = argc > 1 ? atoi(argv[1]) : 1000;
    const int n = 1 << 16;
    float *x, *y, *out;
    if (cudaMalloc(&x, n * sizeof(float)) || cudaMalloc(&y, n * sizeof(float)) || cudaMalloc(&out, sizeof(float))) {
        fprintf(stderr, "cudaMalloc failed\n"); return 1;
    }
    cudaMemset(x, 0, n * sizeof(float)); cudaMemset(y, 0, n * sizeof(float));
    bench_add<<<n / 256, 256>>>(x, n); cudaDeviceSynchronize();  // warm-up, outside the range
    nvtxRangePushA("bench");
    for (int k = 0; k < kernels; ++k) {
        switch (k % 4) {
            case 0: bench_add<<<n / 256, 256>>>(x, n); break;
            case 1: bench_scale<<<n / 256, 256>>>(x, n); break;
            case 2: bench_sum<<<n / 256, 256>>>(x, out, n); break;
            default: bench_fma<<<n / 256, 256>>>(x, y, n); break;
        }
    }
    cudaDeviceSynchronize();
    nvtxRangePop();
    printf("launched %d kernels\n", kernels);
    return 0;
}
"""


def find_nvcc() -> str:
    for cand in (os.environ.get("NVCC"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if cand and os.access(cand, os.X_OK):
            return cand
    sys.exit("nvcc not found: set NVCC")


def make_report(path: Path, kernels: int, ncu: str, ncu_set: str, replay: str) -> float:
    stem = path.with_suffix("") if path.suffix == ".ncu-rep" else path
    stem.parent.mkdir(parents=True, exist_ok=True)
    src, exe = stem.parent / "launcher.cu", stem.parent / "launcher"
    src.write_text(LAUNCHER_CU)
    subprocess.run([find_nvcc(), "-O2", "-o", str(exe), str(src), "-ldl"], check=True)
    argv = [ncu, "--set", ncu_set, "--replay-mode", replay, "--nvtx", "--nvtx-include", "bench/",
            "--export", str(stem), "--force-overwrite", str(exe), str(kernels)]
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    took = time.perf_counter() - started
    print(f"made {stem}.ncu-rep ({kernels} kernels, --set {ncu_set}, {replay} replay) in {took:.1f} s", flush=True)
    return took


def read_with_pool(report: Path, readers: int) -> tuple[float, dict]:
    from flashsight.parsers.ncu_readers import ReaderPool

    os.environ.pop("FLASHSIGHT_NCU_IN_PROCESS", None)
    pool = ReaderPool(readers)
    started = time.perf_counter()
    try:
        tables = pool.read(report)
    finally:
        pool.close()
    return time.perf_counter() - started, tables


def via_ncu_report(report: Path) -> tuple[float, int]:
    import ncu_report

    started = time.perf_counter()
    ctx, count = ncu_report.load_report(str(report)), 0
    for r in range(ctx.num_ranges()):
        rng = ctx.range_by_idx(r)
        for a in range(rng.num_actions()):
            action = rng.action_by_idx(a)
            for name in action.metric_names():
                action.metric_by_name(name).value()
                count += 1
    return time.perf_counter() - started, count


def via_ncu_csv(report: Path, ncu: str) -> tuple[float, tuple]:
    import pandas as pd

    started = time.perf_counter()
    out = subprocess.run([ncu, "--import", str(report), "--csv", "--page", "raw"],
                         check=True, capture_output=True, text=True).stdout
    df = pd.read_csv(io.StringIO(out), header=[0, 1], low_memory=False)
    return time.perf_counter() - started, df.shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", nargs="?", type=Path)
    parser.add_argument("--make-report", type=Path, help="profile the launcher into this .ncu-rep first")
    parser.add_argument("--kernels", type=int, default=1000)
    parser.add_argument("--set", dest="ncu_set", default="full")
    parser.add_argument("--replay-mode", default="application", choices=["application", "kernel"])
    parser.add_argument("--readers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip", default="", help="comma list of: one, floor, csv")
    parser.add_argument("--ncu", default=shutil.which("ncu") or "ncu")
    parser.add_argument("--json", type=Path, help="also write the figures here (rewritten after each path)")
    args = parser.parse_args()
    report = args.make_report or args.report
    if report is None:
        parser.error("give a REPORT or --make-report PATH")
    figures: dict = {"report": str(report), "readers": args.readers}

    def dump():
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")

    if args.make_report:
        report = args.make_report if args.make_report.suffix == ".ncu-rep" else args.make_report.with_suffix(".ncu-rep")
        figures["capture_s"] = round(make_report(args.make_report, args.kernels, args.ncu, args.ncu_set,
                                                 args.replay_mode), 1)
        dump()
    skip = set(filter(None, args.skip.split(",")))
    figures["report_mb"] = round(report.stat().st_size / 1e6, 1)

    took, tables = read_with_pool(report, args.readers)
    kernels = len(tables["ncu_kernels"])
    figures.update(kernels=kernels, rows={k: len(v) for k, v in tables.items()})
    figures[f"flashsight_{args.readers}_readers_s"] = round(took, 2)
    # peak RSS: this process (the tables) and the largest reader (its readers have exited: reaped children)
    figures["peak_rss_mib"] = {"main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                               "largest_reader": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024}
    print(f"flashsight, {args.readers} readers: {took:.2f} s for {kernels} kernels "
          f"({', '.join(f'{k} {len(v):,}' for k, v in tables.items())}); peak RSS {figures['peak_rss_mib']['main']:,} "
          f"MiB here, {figures['peak_rss_mib']['largest_reader']:,} MiB in the largest reader", flush=True)
    dump()
    del tables
    if "one" not in skip:
        took, _ = read_with_pool(report, 1)
        figures["flashsight_1_reader_s"] = round(took, 2)
        print(f"flashsight, 1 reader: {took:.2f} s", flush=True)
        dump()
    if "floor" not in skip:
        took, count = via_ncu_report(report)
        figures["ncu_report_floor_s"], figures["ncu_report_values"] = round(took, 2), count
        print(f"ncu_report, one value() per metric, one process: {took:.2f} s ({count:,} values, no per-PC data)",
              flush=True)
        dump()
    if "csv" not in skip and shutil.which(args.ncu):
        took, shape = via_ncu_csv(report, args.ncu)
        figures["ncu_csv_raw_s"] = round(took, 2)
        print(f"ncu --csv --page raw + read_csv: {took:.2f} s ({shape[0]}x{shape[1]} cells)", flush=True)
        dump()


if __name__ == "__main__":
    main()
