#!/usr/bin/env bash
# Device call (issue 11): the default sweep (the study's grid, 104 jobs, ~8 min estimated) ends with its report.
#   bash devtools/device_report.sh        carry: [".devkit"]        (one call; the command limit is 10 min)
# Prints the sweep's summary line and its "report: ..." line, then the report's Findings, and packs
# $OUT/study_report.tgz (report.md, report.html, figures/) and $OUT/study_tables.tgz (the run without raw captures:
# commit it under tests/data/runs/ and re-run devtools/make_sample.py to ship the full study as the sample).
# The screenshot is taken off the GPU machine (no browser there): chromium --headless --no-sandbox
# --screenshot=docs/report.png --window-size=1400,2400 file://$PWD/<unpacked>/report/report.html
set -uo pipefail
source .devkit/setup.sh || exit 1
[ -f .devkit/jit.tgz ] && tar xzf .devkit/jit.tgz -C ~/.cache
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 COLUMNS=160
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
run=/tmp/runs/study
echo "=== sweep (default plan) $(date +%T)"
start=$(date +%s)
timeout -k 20 ${SWEEP_S:-520} python3 -m flashsight sweep --out "$run" > "$OUT/study_sweep.log" 2>&1
tail -4 "$OUT/study_sweep.log"
echo "wall $(( $(date +%s) - start )) s"
[ -f "$run/report/report.md" ] || python3 -m flashsight report "$run"   # a sweep cut by the timeout: report anyway
echo "=== findings"
sed -n '/^## Findings/,/^<a id=/p' "$run/report/report.md" | sed 's/ — rows:.*//'
tar czf "$OUT/study_report.tgz" -C "$run" report && ls -la "$OUT/study_report.tgz"
tar czf "$OUT/study_tables.tgz" --exclude='*.nsys-rep' --exclude='*.qdstrm' --exclude='*.sqlite' \
    --exclude='*.ncu-rep' --exclude='*.export.log' --exclude='report' -C /tmp/runs study && ls -la "$OUT/study_tables.tgz"
