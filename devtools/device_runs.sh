#!/usr/bin/env bash
# Device call: real run directories for the tests of the joint observation, the report and compare.
#   bash devtools/device_runs.sh        carry: [".devkit"]
# Sweeps devtools/plans/small.toml (a) and small_variant.toml (variant; RUNS="a b variant" adds a repeat), packs each
# run directory without raw captures (.nsys-rep/.qdstrm/.sqlite/.ncu-rep) as $OUT/<run>.tgz, and the JIT
# cache as $OUT/jit.tgz (put it at .devkit/jit.tgz for the next call).
set -uo pipefail
source .devkit/setup.sh || exit 1
[ -f .devkit/jit.tgz ] && tar xzf .devkit/jit.tgz -C ~/.cache
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 COLUMNS=160
step() { echo; echo "=== $* ($(date +%T))"; }
pack() {  # run dir -> $OUT/<name>.tgz without raw captures
  tar czf "$OUT/$2.tgz" --exclude='*.nsys-rep' --exclude='*.qdstrm' --exclude='*.sqlite' --exclude='*.ncu-rep' \
      --exclude='*.export.log' -C "$(dirname "$1")" "$(basename "$1")"
  ls -la "$OUT/$2.tgz"
}
step env; python3 -m flashsight env | head -12
for run in ${RUNS:-a variant}; do
  plan=devtools/plans/small.toml; [ $run = variant ] && plan=devtools/plans/small_variant.toml
  step "sweep $run ($plan)"
  start=$(date +%s)
  timeout -k 20 ${SWEEP_S:-260} python3 -m flashsight sweep "$plan" --out /tmp/runs/h200_small_$run \
      > "$OUT/sweep_$run.log" 2>&1
  echo "rc $?"; tail -4 "$OUT/sweep_$run.log"
  echo "wall $(( $(date +%s) - start )) s"
  pack /tmp/runs/h200_small_$run h200_small_$run
  [ $run = a ] && tar czf "$OUT/jit.tgz" -C ~/.cache flashinfer && ls -la "$OUT/jit.tgz"
done
du -sh /tmp/runs/*
