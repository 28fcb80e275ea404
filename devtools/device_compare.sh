#!/usr/bin/env bash
# Device call for `flashsight compare` (issue 12), in one call:
#   bash devtools/device_compare.sh        carry: [".devkit"]   (.devkit/jit.tgz from device_runs.sh saves JIT time)
# Sweeps devtools/plans/compare.toml twice back to back (a, b: the same plan) and compare_tc.toml once (decode batch
# 32 GQA on tensor cores; PLAN=NAME sweeps devtools/plans/NAME.toml and NAME_tc.toml instead), then prints
#   compare a b        the false-positive count: rows that are not `unchanged`, by verdict (expected: 0 regressed)
#   compare a tc       the changed config flagged, with its counters (Markdown)
# into $OUT/compare.log, and packs the three run directories without raw captures, with the compare JSON and
# Markdown beside them, as $OUT/compare_runs.tgz (tests/data/runs/ takes them): two files, as few as $OUT allows.
set -uo pipefail
source .devkit/setup.sh || exit 1
[ -f .devkit/jit.tgz ] && tar xzf .devkit/jit.tgz -C ~/.cache
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 COLUMNS=160
exec > >(tee -a "$OUT/compare.log") 2>&1
step() { echo; echo "=== $* ($(date +%T))"; }
R=/tmp/runs; mkdir -p $R
pack() { tar czf "$OUT/compare_runs.tgz" --exclude='*.nsys-rep' --exclude='*.qdstrm' --exclude='*.sqlite' \
    --exclude='*.ncu-rep' --exclude='*.export.log' -C "$R" .; }
for run in a b tc; do
  plan=devtools/plans/${PLAN:-compare}.toml; [ $run = tc ] && plan=devtools/plans/${PLAN:-compare}_tc.toml
  limit=${SWEEP_S:-170}; [ $run = tc ] && limit=$(( limit + 50 ))  # the tensor-core decode JIT-compiles on a fresh machine
  step "sweep $run ($plan)"
  start=$(date +%s)
  timeout -k 20 $limit python3 -m flashsight sweep "$plan" --out $R/h200_cmp_$run \
      > "$R/sweep_$run.log" 2>&1
  echo "rc $? wall $(( $(date +%s) - start )) s"; tail -2 "$R/sweep_$run.log"
  pack
done
step "compare a b (the same plan twice)"
python3 -m flashsight compare $R/h200_cmp_a $R/h200_cmp_b --json > "$R/compare_a_b.json"
echo "exit $?"
python3 - "$R/compare_a_b.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
rows = report["rows"]
print(f"{len(rows)} rows, by verdict: {report['counts']}; floor {report['floor_pct']:.1f}% ({report['floor_source']})")
ratios = sorted(r["ratio"] for r in rows if r["ratio"] is not None)
print(f"ratios {ratios[0]:.3f}..{ratios[-1]:.3f}; false positives (regressed): "
      f"{sum(r['verdict'] == 'regressed' for r in rows)}")
for r in rows:
    if r["verdict"] != "unchanged":
        print(f"  {r['verdict']:<12} {r['config']} · {r['short_name']}: {r['ratio']} {r['interval']} ({r['note']})")
PY
python3 -m flashsight compare $R/h200_cmp_a $R/h200_cmp_b --all | tail -40
step "compare a tc (decode batch 32 GQA on tensor cores)"
python3 -m flashsight compare $R/h200_cmp_a $R/h200_cmp_tc --markdown | tee "$R/compare_a_tc.md"
echo "exit ${PIPESTATUS[0]}"
python3 -m flashsight compare $R/h200_cmp_a $R/h200_cmp_tc --json > "$R/compare_a_tc.json"
du -sh /tmp/runs/*
pack
