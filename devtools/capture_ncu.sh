#!/usr/bin/env bash
# Capture devtools/ncu_kernels.py under Nsight Compute and keep what the ncu parser tests compare with:
#   OUTDIR/full.ncu-rep        --set full --import-source yes, one NVTX include per range
#   OUTDIR/subset.ncu-rep      SpeedOfLight + WarpStateStats + SourceCounters + MemoryWorkloadAnalysis, with the
#                              catalog's extra metrics, built by flashsight.profilers.ncu (fallback: sections only)
#   OUTDIR/<rep>_raw.csv, <rep>_raw_base.csv, <rep>_details.csv, <rep>_source_decode.csv   ncu's own CSV pages
#   OUTDIR/bench.txt, bench.json   benchmarks/ncu_parse.py on a >=200-kernel report (the report itself is dropped)
#   OUTDIR/shapes.json, ncu_version.txt, capture.log;  and OUTDIR.tar.gz of all that (checked to be <= 16 MB)
# Usage, on the GPU machine from the repository root:
#   source .devkit/setup.sh && bash devtools/capture_ncu.sh OUTDIR     (env NCU=..., PYTHON=... to override)
set -euo pipefail
OUT=${1:?usage: devtools/capture_ncu.sh OUTDIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NCU=${NCU:-ncu}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG="$OUT/capture.log"
: > "$LOG"
cd "$ROOT"
"$NCU" --version | tee "$OUT/ncu_version.txt"
RANGES=(prefill decode rmsnorm fused_add_rmsnorm rope gemm)
INCLUDES=()
for r in "${RANGES[@]}"; do INCLUDES+=(--nvtx-include "$r/"); done

# 0. FlashInfer JIT outside ncu (a compile under the profiler would take far longer); also records the shapes.
timeout 600 "$PY" devtools/ncu_kernels.py 2>>"$LOG" | tail -1 > "$OUT/shapes.json"

# 1. Full set, with source.
timeout 600 "$NCU" --set full --import-source yes --nvtx "${INCLUDES[@]}" --target-processes all \
  --export "$OUT/full" --force-overwrite "$PY" devtools/ncu_kernels.py >>"$LOG" 2>&1

# 2. Section subset through flashsight's own argv builder (checks that ncu accepts the catalog's extra metrics).
SUBSET=(--section SpeedOfLight --section WarpStateStats --section SourceCounters --section MemoryWorkloadAnalysis)
subset_cmd=$("$PY" -m flashsight.profilers.ncu --ncu "$NCU" --stem "$OUT/subset" "${SUBSET[@]}" \
  $(printf -- '--nvtx-include %s/ ' "${RANGES[@]}") -- "$PY" devtools/ncu_kernels.py)
echo "$ $subset_cmd" >>"$LOG"
if ! eval "timeout 600 $subset_cmd" >>"$LOG" 2>&1 || [ ! -f "$OUT/subset.ncu-rep" ]; then
  echo "subset with extra metrics failed; retrying without them (see capture.log)" | tee -a "$LOG"
  subset_cmd=$("$PY" -m flashsight.profilers.ncu --ncu "$NCU" --no-extra-metrics --stem "$OUT/subset" \
    "${SUBSET[@]}" $(printf -- '--nvtx-include %s/ ' "${RANGES[@]}") -- "$PY" devtools/ncu_kernels.py)
  eval "timeout 600 $subset_cmd" >>"$LOG" 2>&1
  echo "subset_without_extra_metrics" > "$OUT/subset_FALLBACK"
fi

# 3. ncu's own CSV pages of both reports: the reference values.
for rep in full subset; do
  R="$OUT/$rep.ncu-rep"
  "$NCU" --import "$R" --csv --page raw > "$OUT/${rep}_raw.csv"
  "$NCU" --import "$R" --csv --page raw --print-units base > "$OUT/${rep}_raw_base.csv"
  "$NCU" --import "$R" --csv --page details > "$OUT/${rep}_details.csv"
  "$NCU" --import "$R" --csv --page source --print-source sass --kernel-name regex:BatchDecode \
    > "$OUT/${rep}_source_decode.csv" 2>>"$LOG" || echo "source page of $rep failed" | tee -a "$LOG"
done

# 4. Benchmark on a >=200-kernel report (kept outside OUTDIR: only the figures come back).
BENCH_DIR=$(mktemp -d)
timeout 400 "$PY" benchmarks/ncu_parse.py --make-report "$BENCH_DIR/bench.ncu-rep" --kernels 240 \
  --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.txt" || echo "benchmark failed (see bench.txt)" | tee -a "$LOG"
ls -l "$BENCH_DIR" >> "$OUT/bench.txt"
rm -rf "$BENCH_DIR"

ls -l "$OUT"
tar -czf "$OUT.tar.gz" -C "$(dirname "$OUT")" "$(basename "$OUT")"
size=$(stat -c %s "$OUT.tar.gz")
echo "$OUT.tar.gz: $size bytes"
[ "$size" -le $((16 * 1024 * 1024)) ] || { echo "tarball over 16 MB: drop full.ncu-rep's source or fewer ranges" >&2; exit 1; }
