#!/usr/bin/env bash
# Issue 14 on the GPU machine, in one call (<= 8 minutes wall); every figure lands in $OUT as it comes.
#
#   run: bash devtools/device_scale.sh          carry: [".devkit"]   (the kit needs adbc-driver-sqlite for step 3:
#        bash ../shared/device/fetch-kit.sh adbc-driver-sqlite==1.13.0 adbc-driver-manager==1.13.0 first)
#
# 1. ncu reading at scale: a 1,000-kernel `--set full` report (a CUDA launcher of four small kernels inside one
#    NVTX range, application replay), then flashsight's read of it into every table with 16 readers
#    (benchmarks/ncu_parse.py; target < 30 s), and with 1 reader if time is left.
# 2. the 8-config `--set full` decode sweep: flashsight's batched sweep vs one ncu process per config by hand
#    (devtools/sweep_vs_by_hand.py; the JIT is warmed first).
# nsys (a call of its own): bash devtools/device_scale.sh nsys   carry: [".devkit"]
#    benchmarks/nsys_parse.py at --rows ${NSYS_ROWS:-10000000} (built there from the committed shapes capture,
#    ~2.5 GB) against that machine's nsys 2025.3 `nsys stats -r cuda_gpu_kern_sum,nvtx_gpu_proj_sum`, both sides
#    timed in the same call (DEADLINE_S default 570).
# Budget knobs: CAPTURE_S (default 200), SWEEP_S (240 per side), DEADLINE_S (470 for the whole).
set -uo pipefail
OUT=${OUT:-/tmp/scale_out}
mkdir -p "$OUT"
source .devkit/setup.sh || exit 1
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 FLASHSIGHT_NCU_READERS=16
[ -f .devkit/jit.tgz ] && tar xzf .devkit/jit.tgz -C ~/.cache 2>/dev/null  # a JIT cache brought back earlier
START=$(date +%s)
MODE=${1:-ncu}
left() { echo $(( ${DEADLINE_S:-470} - ($(date +%s) - START) )); }
note() { echo "$(date +%T) [$(( $(date +%s) - START )) s] $*" | tee -a "$OUT/figures.txt"; }

if [ "$MODE" = nsys ]; then
  DEADLINE_S=${DEADLINE_S:-570}
  note "nsys at ${NSYS_ROWS:-10000000} rows: $(nsys --version 2>&1 | tail -1)"
  python3 -c "import adbc_driver_sqlite" 2>/dev/null && note "adbc-driver-sqlite present" || note "adbc-driver-sqlite missing"
  timeout $(( $(left) - 10 )) python3 benchmarks/nsys_parse.py --out /tmp/nsys_scale --rows "${NSYS_ROWS:-10000000}" \
    --stats-timeout $(( $(left) - 200 )) > "$OUT/nsys_parse.txt" 2>&1
  note "nsys exit $?: $(cat "$OUT/nsys_parse.txt")"
  cp /tmp/nsys_scale/bench.json "$OUT/nsys_bench.json" 2>/dev/null
  exit 0
fi

note "env: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); $(ncu --version | tail -1); $(nproc) cores"
python3 -c "import adbc_driver_sqlite" 2>/dev/null && note "adbc-driver-sqlite present" || note "adbc-driver-sqlite missing: nsys reads fall back to sqlite3"

# 1. a 1,000-kernel --set full report, read into every table
note "step 1: capture 1000 kernels under --set full (application replay), read with 16 readers"
timeout "${CAPTURE_S:-200}" python3 benchmarks/ncu_parse.py --make-report "$OUT/k1000/k1000.ncu-rep" --kernels 1000 \
  --set full --replay-mode application --readers 16 --skip one,floor,csv --json "$OUT/ncu_read_16.json" \
  > "$OUT/ncu_read_16.txt" 2>&1
note "step 1 exit $?: $(tr '\n' ' ' < "$OUT/ncu_read_16.txt" | tail -c 600)"
# 2. the sweep, both ways
if [ "$(left)" -gt 150 ]; then
  note "step 2: 8-config --set full decode sweep, flashsight batched vs by hand"
  timeout $(( $(left) - 20 )) python3 devtools/sweep_vs_by_hand.py --out "$OUT/sweep" --configs 8 \
    --timeout "${SWEEP_S:-240}" > "$OUT/sweep_vs_by_hand.txt" 2>&1
  note "step 2 exit $?: $(tr '\n' ' ' < "$OUT/sweep_vs_by_hand.txt" | tail -c 800)"
  tail -40 "$OUT/sweep/flashsight_sweep.log" > "$OUT/flashsight_sweep_tail.log" 2>/dev/null
else
  note "step 2 skipped: $(left) s left"
fi

# 1'. no 1000-kernel report (application replay failed or ran out of time): 250 kernels, kernel replay
if [ ! -s "$OUT/k1000/k1000.ncu-rep" ] && [ "$(left)" -gt 100 ]; then
  note "no 1000-kernel report: 250 kernels with kernel replay instead"
  timeout $(( $(left) - 40 )) python3 benchmarks/ncu_parse.py --make-report "$OUT/k250/k250.ncu-rep" --kernels 250 \
    --set full --replay-mode kernel --readers 16 --skip one,floor,csv --json "$OUT/ncu_read_16_k250.json" \
    > "$OUT/ncu_read_16_k250.txt" 2>&1
  note "fallback exit $?: $(tr '\n' ' ' < "$OUT/ncu_read_16_k250.txt" | tail -c 600)"
fi

# 1b. the same report through one reader (the old cost of a report: one process), if time is left
REP=$(ls "$OUT"/k1000/k1000.ncu-rep "$OUT"/k250/k250.ncu-rep 2>/dev/null | head -1)
if [ -n "$REP" ] && [ "$(left)" -gt 60 ]; then
  timeout $(( $(left) - 10 )) python3 benchmarks/ncu_parse.py "$REP" --readers 1 --skip one \
    --json "$OUT/ncu_read_1.json" > "$OUT/ncu_read_1.txt" 2>&1
  note "step 1b exit $?: $(tr '\n' ' ' < "$OUT/ncu_read_1.txt" | tail -c 600)"
fi

rm -rf "$OUT"/k1000/*.ncu-rep "$OUT"/k250/*.ncu-rep "$OUT"/sweep/fs "$OUT"/sweep/hand 2>/dev/null  # too big to bring back
note "done"
