#!/usr/bin/env bash
# Capture devtools/nsys_shapes.py under nsys on a GPU machine and keep what the parser tests compare with:
#   OUTDIR/shapes.sqlite          the export, with TARGET_INFO_SYSTEM_ENV emptied (the profiled process's env)
#   OUTDIR/shapes_<report>.csv    nsys's own `nsys stats -f csv` output, one file per report
#   OUTDIR/shapes_graphnodes.*    the same with --cuda-graph-trace=node (graph kernels as kernel rows)
#   OUTDIR/nsys_version.txt, OUTDIR/capture.log
# Usage: devtools/capture_nsys.sh OUTDIR      (env NSYS=/path/to/nsys to pick another nsys)
set -euo pipefail
OUT=${1:?usage: devtools/capture_nsys.sh OUTDIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NSYS=${NSYS:-nsys}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG="$OUT/capture.log"
: > "$LOG"
"$NSYS" --version | tee "$OUT/nsys_version.txt"

agents_before=$(pgrep -f -- 'nsys --start-agent' || true)
end_new_agents() {  # a killed run can leave an agent behind: end only the ones this script started
  for pid in $(pgrep -f -- 'nsys --start-agent' || true); do
    grep -qx "$pid" <<<"$agents_before" || { echo "ending left-behind nsys agent $pid" | tee -a "$LOG"; kill "$pid" 2>/dev/null || true; }
  done
}
trap end_new_agents EXIT

capture() {  # capture NAME [extra nsys profile flags...]
  local name=$1; shift
  rm -f "$OUT/$name".{qdstrm,nsys-rep,sqlite} "$OUT/$name"_*.csv
  timeout 300 "$NSYS" profile --trace=cuda,nvtx,osrt --sample=none --cpuctxsw=none --force-overwrite=true "$@" \
    -o "$OUT/$name" "$PY" "$ROOT/devtools/nsys_shapes.py" 2>&1 | tee -a "$LOG"
  if [ ! -f "$OUT/$name.nsys-rep" ]; then
    [ -f "$OUT/$name.qdstrm" ] || { echo "nsys wrote neither $name.nsys-rep nor $name.qdstrm" >&2; exit 1; }
    timeout 300 "${IMPORTER:-QdstrmImporter}" -i "$OUT/$name.qdstrm" 2>&1 | tee -a "$LOG"
  fi
  timeout 300 "$NSYS" export --type sqlite --force-overwrite=true -o "$OUT/$name.sqlite" "$OUT/$name.nsys-rep" 2>&1 | tee -a "$LOG"
  # One report per call, so one report this nsys lacks does not cost the others.
  # Files are named <basename>_<report>.csv by nsys itself.
  for report in cuda_gpu_kern_sum nvtx_sum nvtx_gpu_proj_sum nvtx_gpu_proj_trace cuda_gpu_trace \
                nvtx_pushpop_trace nvtx_startend_sum nvtx_kern_sum cuda_api_sum cuda_gpu_mem_size_sum; do
    timeout 300 "$NSYS" stats -f csv --force-overwrite=true -o "$OUT/$name" -r "$report" "$OUT/$name.sqlite" \
      >>"$LOG" 2>&1 || echo "report $report failed (see capture.log)" | tee -a "$LOG"
  done
  # The export and the report hold the profiled process's whole environment: empty that table, drop the rest.
  "$PY" - "$OUT/$name.sqlite" <<'EOF2'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
if db.execute("SELECT 1 FROM sqlite_master WHERE name='TARGET_INFO_SYSTEM_ENV'").fetchone():
    db.execute("DELETE FROM TARGET_INFO_SYSTEM_ENV")
db.commit()
db.execute("VACUUM")
db.close()
EOF2
  rm -f "$OUT/$name.qdstrm" "$OUT/$name.nsys-rep"
}

capture shapes                                        # nsys's default: CUDA graphs traced as whole graphs
capture shapes_graphnodes --cuda-graph-trace=node     # graph kernels traced one by one
ls -l "$OUT"
