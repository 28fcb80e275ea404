#!/usr/bin/env bash
# Device calls for the overnight sweep (issue 6). Run from the repo root on the GPU machine; $OUT is set by the tool.
#
#   phase 1 (fresh machine):  bash devtools/device_sweep.sh 1      carry: [".devkit"]
#       starts devtools/sweep_device_plan.toml (the largest part of the default plan that fits) under nsys and
#       ncu, and cuts the orchestrator off with `timeout` (SIGTERM, SIGKILL 20 s later) after CUT_S seconds
#       (default 170). Leaves $OUT/sweep_run.tgz (the run directory without raw captures) and, when small
#       enough, $OUT/fi_cache.tgz.part0N (FlashInfer's JIT cache in parts, so phase 2 does not compile again).
#   between: put sweep_run.tgz (and the fi_cache parts) into .sweepcarry/ in the repo root (git-ignored locally via
#       .git/info/exclude; create it with: mkdir -p .sweepcarry && echo /.sweepcarry/ >> .git/info/exclude)
#   phase 2 (a second call):  bash devtools/device_sweep.sh 2      carry: [".devkit", ".sweepcarry"]
#       --resume to completion (RESUME_S, default 380), prints jobs.parquet status counts, duplicate / lost
#       checks from the state store and the merged tables' row counts, packs the run again as $OUT/sweep_run.tgz
#       (if the resume was cut short as well, another phase 2 with it continues); then the per-job overhead of
#       both modes side by side (OVERHEAD_S, default 150; SKIP_OVERHEAD=1 skips it).
#   overhead alone:           bash devtools/device_sweep.sh overhead   carry: [".devkit"]
#       (OVERHEAD_TOOLS=ncu for one tool; about 20 s of JIT, then ~1 minute per tool)
set -uo pipefail
PHASE=${1:?usage: devtools/device_sweep.sh 1|2|overhead}
source .devkit/setup.sh || exit 1
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 COLUMNS=160
RUN=/tmp/sweep_run
CARRY=${SWEEP_CARRY:-.sweepcarry}
PLAN=devtools/sweep_device_plan.toml
step() { echo; echo "=== $* ($(date +%T))"; }
fs() { python3 -m flashsight "$@"; }

report() {  # status counts, duplicate/lost checks, merged row counts
  python3 - "$RUN" <<'EOF'
import json, sqlite3, sys
from pathlib import Path
import pandas as pd
run = Path(sys.argv[1])
jobs = pd.read_parquet(run / "jobs.parquet")
print("jobs.parquet status counts:", jobs.status.value_counts().to_dict())
print("attempts:", jobs.attempts.value_counts().sort_index().to_dict())
print(jobs.groupby(["workload", "tool"]).agg(jobs=("job_id", "size"), ok=("status", lambda s: (s == "succeeded").sum()),
      median_s=("duration_s", "median")).to_string())
db = sqlite3.connect(run / "sweep.db")
ev = pd.read_sql("SELECT job_id, kind, detail FROM events", db)
print("events:", ev.kind.value_counts().to_dict())
twice = ev[ev.kind == "succeeded"].job_id.value_counts()
print("jobs recorded succeeded twice:", int((twice > 1).sum()))
planned = set(jobs.job_id)
print("jobs lost (in the plan, not in the store):", len(planned - set(pd.read_sql("SELECT job_id FROM jobs", db).job_id)))
bad = jobs[jobs.status != "succeeded"]
if len(bad):
    print(bad[["workload", "tool", "params_json", "status", "error"]].to_string(max_colwidth=120))
for table in sorted(run.glob("*.parquet")):
    if table.stem != "jobs":
        print(f"merged {table.stem:<14} {len(pd.read_parquet(table)):>9,} rows")
EOF
}

case "$PHASE" in
1)
  rm -rf "$RUN"
  step env; fs env | head -20
  step "dry run"; fs sweep "$PLAN" --dry-run --out "$RUN" | tail -3
  step "sweep, cut off after ${CUT_S:-170} s"
  timeout -k 20 "${CUT_S:-170}" python3 -m flashsight sweep "$PLAN" --out "$RUN" --gpus 0
  echo "orchestrator exit code: $? (124/130/137: cut off by timeout)"
  step "state at the cut"; report
  ls "$RUN" "$RUN/batches" 2>/dev/null | head -30
  step "pack"
  tar czf "$OUT/sweep_run.tgz" --exclude='*.nsys-rep' --exclude='*.qdstrm' --exclude='profile.sqlite' \
      --exclude='*.ncu-rep' -C /tmp sweep_run
  if [ -d ~/.cache/flashinfer ]; then  # 15 MB parts (16 MiB per file back; <24 MB: the tree that travels is <64 MiB)
    tar czf /tmp/fi_cache.tgz -C ~/.cache flashinfer
    size=$(stat -c %s /tmp/fi_cache.tgz)
    if [ "$size" -lt 24000000 ]; then split -b 15000000 -d /tmp/fi_cache.tgz "$OUT/fi_cache.tgz.part"
    else echo "JIT cache $size bytes: too large to bring back, phase 2 compiles again"; fi
  fi
  ls -l "$OUT"
  ;;
2)
  [ -f "$CARRY/sweep_run.tgz" ] || { echo "no $CARRY/sweep_run.tgz: place phase 1's file there and carry $CARRY" >&2; exit 1; }
  rm -rf "$RUN"; tar xzf "$CARRY/sweep_run.tgz" -C /tmp
  if ls "$CARRY"/fi_cache.tgz.part* >/dev/null 2>&1; then
    mkdir -p ~/.cache && cat "$CARRY"/fi_cache.tgz.part* | tar xz -C ~/.cache && echo "JIT cache restored"
  fi
  step "state carried from phase 1"; report
  step "resume"
  timeout -k 20 "${RESUME_S:-380}" python3 -m flashsight sweep --out "$RUN" --resume --gpus 0
  echo "orchestrator exit code: $?"
  step "after resume"; report
  # Same packing as phase 1: if the resume was cut short too, this file resumes again in another phase 2.
  tar czf "$OUT/sweep_run.tgz" --exclude='*.nsys-rep' --exclude='*.qdstrm' --exclude='profile.sqlite' \
      --exclude='*.ncu-rep' -C /tmp sweep_run
  if [ "${SKIP_OVERHEAD:-0}" != 1 ]; then
    step "per-job overhead, process vs batched"
    timeout -k 10 "${OVERHEAD_S:-150}" python3 devtools/sweep_overhead.py /tmp/overhead --batches "${OVERHEAD_BATCHES:-1,32,512,4096}" --tools "${OVERHEAD_TOOLS:-none,nsys,ncu}"
    cp /tmp/overhead/overhead.csv "$OUT/" 2>/dev/null
  fi
  ls -l "$OUT"
  ;;
overhead)
  step "warm the JIT cache"; fs run rmsnorm -p batch=1 --out /tmp/warm >/dev/null && echo warm
  step "per-job overhead, process vs batched"
  python3 devtools/sweep_overhead.py /tmp/overhead --batches "${OVERHEAD_BATCHES:-1,32,512,4096}" --tools "${OVERHEAD_TOOLS:-none,nsys,ncu}"
  cp /tmp/overhead/overhead.csv "$OUT/"
  ;;
*) echo "unknown phase $PHASE" >&2; exit 2 ;;
esac
