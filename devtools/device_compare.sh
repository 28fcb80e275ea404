#!/usr/bin/env bash
# Device call for `flashsight compare` (issue 12), in one call:
#   bash devtools/device_compare.sh        carry: [".devkit"]   (.devkit/jit.tgz from device_runs.sh saves JIT time)
# Sweeps devtools/plans/small.toml twice back to back (a, b: the same plan) and small_variant_tc.toml once (decode
# batch 32 GQA on tensor cores), then prints
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
for run in a b tc; do
  plan=devtools/plans/small.toml; [ $run = tc ] && plan=devtools/plans/small_variant_tc.toml
  step "sweep $run ($plan)"
  start=$(date +%s)
  timeout -k 20 ${SWEEP_S:-170} python3 -m flashsight sweep "$plan" --out /tmp/runs/h200_small_$run \
      > "$R/sweep_$run.log" 2>&1
  echo "rc $? wall $(( $(date +%s) - start )) s"; tail -2 "$R/sweep_$run.log"
done
pack() { tar czf "$OUT/compare_runs.tgz" --exclude='*.nsys-rep' --exclude='*.qdstrm' --exclude='*.sqlite' \
    --exclude='*.ncu-rep' --exclude='*.export.log' -C "$R" .; }
pack
step "compare a b (the same plan twice)"
python3 -m flashsight compare /tmp/runs/h200_small_a /tmp/runs/h200_small_b --json > "$R/compare_a_b.json"
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
python3 -m flashsight compare /tmp/runs/h200_small_a /tmp/runs/h200_small_b --all | tail -40
step "compare a tc (decode batch 32 GQA on tensor cores)"
python3 -m flashsight compare /tmp/runs/h200_small_a /tmp/runs/h200_small_tc --markdown | tee "$R/compare_a_tc.md"
echo "exit ${PIPESTATUS[0]}"
python3 -m flashsight compare /tmp/runs/h200_small_a /tmp/runs/h200_small_tc --json > "$R/compare_a_tc.json"
du -sh /tmp/runs/*
pack
