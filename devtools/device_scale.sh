#!/usr/bin/env bash
# Issue 14 on the GPU machine: each step named on the command line, in that order, in one call (DEADLINE_S for
# all of them, default 570); $OUT gets figures.txt and scale.tgz (the logs and JSON), repacked after each step.
#
#   run: bash devtools/device_scale.sh read nsys      carry: [".devkit"]
#        (the kit: bash ../shared/device/fetch-kit.sh ncu-report==2026.3.1 adbc-driver-sqlite==1.13.0
#         adbc-driver-manager==1.13.0; the nsys and read steps need neither FlashInfer nor the JIT cache)
#
# read   a 1,000-kernel `--set full` report read into every table (benchmarks/ncu_parse.py; target < 30 s), with
#        16 readers, then with 1 if time is left. The report is the committed H200 --set full capture's kernels
#        repeated (benchmarks/ncu_bigreport.py): capturing 1,000 kernels under --set full was tried here and
#        did not finish (1,000 small kernels with application replay: not in 200 s; 250 with kernel replay:
#        not in 100 s).
# sweep  the 8-config `--set full` decode sweep: flashsight's batched sweep vs one ncu process per config by
#        hand, and one such process that profiles nothing (devtools/sweep_vs_by_hand.py; JIT warmed first).
# nsys   benchmarks/nsys_parse.py at --rows ${NSYS_ROWS:-10000000} (the export built there from the committed
#        shapes capture, ~2.3 GB) against that machine's nsys 2025.3 `nsys stats -r cuda_gpu_kern_sum,
#        nvtx_gpu_proj_sum`, both timed in the same call (at the same time: CONCURRENT=0 runs one after the
#        other; 10M needs more than one call's 10 minutes that way).
# Knobs: SWEEP_S (240 per side), DEADLINE_S (570 for the whole call).
set -uo pipefail
OUT=${OUT:-/tmp/scale_out}
W=/tmp/scale
rm -rf "$W"
mkdir -p "$OUT" "$W"
pack() { tar czf "$OUT/scale.tgz" --exclude='*.ncu-rep' --exclude='*.sqlite' -C "$W" . 2>/dev/null; }
source .devkit/setup.sh || exit 1
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 FLASHSIGHT_NCU_READERS=16
[ -f .devkit/jit.tgz ] && tar xzf .devkit/jit.tgz -C ~/.cache 2>/dev/null  # a JIT cache brought back earlier
START=$(date +%s)
left() { echo $(( ${DEADLINE_S:-570} - ($(date +%s) - START) )); }
note() { echo "$(date +%T) [$(( $(date +%s) - START )) s] $*" | tee -a "$OUT/figures.txt"; pack; }
oneline() { tr '\n' ' ' < "$1" | tail -c "${2:-800}"; }

note "env: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); $(ncu --version | tail -1);" \
  "$(nsys --version 2>&1 | tail -1); $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
python3 -c "import adbc_driver_sqlite" 2>/dev/null && note "adbc-driver-sqlite present" || note "adbc-driver-sqlite missing: nsys reads fall back to sqlite3"

step_read() {
  note "read: a 1,000-kernel --set full report, 16 readers"
  python3 benchmarks/ncu_bigreport.py /tmp/k1000.ncu-rep --kernels 1000 > "$W/ncu_bigreport.txt" 2>&1
  note "built: $(oneline "$W/ncu_bigreport.txt")"
  timeout $(( $(left) - 10 )) python3 benchmarks/ncu_parse.py /tmp/k1000.ncu-rep --readers 16 \
    --skip one,csv,floor --json "$W/ncu_read_16.json" > "$W/ncu_read_16.txt" 2>&1
  note "read exit $?: $(oneline "$W/ncu_read_16.txt")"
  if [ "${READ_ONE:-0}" = 1 ] && [ "$(left)" -gt 400 ]; then
    timeout 150 python3 benchmarks/ncu_parse.py /tmp/k1000.ncu-rep --readers 1 --skip one,floor,csv \
      --json "$W/ncu_read_1.json" > "$W/ncu_read_1.txt" 2>&1
    note "1 reader exit $?: $(oneline "$W/ncu_read_1.txt" 300)"
  fi
  rm -f /tmp/k1000.ncu-rep
}

step_sweep() {
  note "sweep: 8-config --set full decode sweep, flashsight batched vs by hand"
  timeout $(( $(left) - 20 )) python3 devtools/sweep_vs_by_hand.py --out "$W/sweep" --configs 8 \
    --timeout "${SWEEP_S:-240}" > "$W/sweep_vs_by_hand.txt" 2>&1
  note "sweep exit $?: $(oneline "$W/sweep_vs_by_hand.txt")"
  rm -rf "$W"/sweep/hand
  find "$W/sweep" -name '*.ncu-rep' -delete
}

step_nsys() {
  note "nsys at ${NSYS_ROWS:-10000000} rows (nsys stats and flashsight at the same time: ${CONCURRENT:-1})"
  timeout $(( $(left) - 5 )) python3 benchmarks/nsys_parse.py --out /tmp/nsys_scale --rows "${NSYS_ROWS:-10000000}" \
    --deadline $(( $(left) - 15 )) $([ "${CONCURRENT:-1}" = 1 ] && echo --concurrent) > "$W/nsys_parse.txt" 2>&1 &
  local bench=$!
  while kill -0 $bench 2>/dev/null; do  # bench.json and the logs as they come: a cut call keeps them
    sleep 15; cp /tmp/nsys_scale/bench.json /tmp/nsys_scale/*.log "$W/" 2>/dev/null; pack
  done
  wait $bench
  note "nsys exit $?: $(cat "$W/nsys_parse.txt")"
  cp /tmp/nsys_scale/bench.json /tmp/nsys_scale/*.log "$W/" 2>/dev/null
  pack
}

for step in "${@:-read sweep}"; do
  for s in $step; do "step_$s"; done
done
note "done"
