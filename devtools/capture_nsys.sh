#!/usr/bin/env bash
# Capture devtools/nsys_shapes.py under nsys on a GPU machine and keep what the parser tests compare with:
#   OUTDIR/shapes.sqlite          the export, with TARGET_INFO_SYSTEM_ENV emptied (the profiled process's env)
#   OUTDIR/shapes_<report>.csv    nsys's own `nsys stats -f csv` output, one file per report
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

rm -f "$OUT"/shapes.{qdstrm,nsys-rep,sqlite} "$OUT"/shapes_*.csv
timeout 300 "$NSYS" profile --trace=cuda,nvtx,osrt --sample=none --cpuctxsw=none --force-overwrite=true \
  -o "$OUT/shapes" "$PY" "$ROOT/devtools/nsys_shapes.py" 2>&1 | tee -a "$LOG"

if [ ! -f "$OUT/shapes.nsys-rep" ]; then
  [ -f "$OUT/shapes.qdstrm" ] || { echo "nsys wrote neither shapes.nsys-rep nor shapes.qdstrm" >&2; exit 1; }
  timeout 300 "${IMPORTER:-QdstrmImporter}" -i "$OUT/shapes.qdstrm" 2>&1 | tee -a "$LOG"
fi
timeout 300 "$NSYS" export --type sqlite --force-overwrite=true -o "$OUT/shapes.sqlite" "$OUT/shapes.nsys-rep" 2>&1 | tee -a "$LOG"

# One report per call, so one report this nsys lacks does not cost the others.
# Files are named <basename>_<report>.csv by nsys itself.
for report in cuda_gpu_kern_sum nvtx_sum nvtx_gpu_proj_sum nvtx_gpu_proj_trace cuda_gpu_trace \
              nvtx_pushpop_trace nvtx_startend_sum nvtx_kern_sum cuda_api_sum cuda_gpu_mem_size_sum; do
  timeout 300 "$NSYS" stats -f csv --force-overwrite=true -o "$OUT/shapes" -r "$report" "$OUT/shapes.sqlite" \
    >>"$LOG" 2>&1 || echo "report $report failed (see capture.log)" | tee -a "$LOG"
done

# The export holds the profiled process's whole environment: empty that table before the file is shared.
"$PY" - "$OUT/shapes.sqlite" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
if db.execute("SELECT 1 FROM sqlite_master WHERE name='TARGET_INFO_SYSTEM_ENV'").fetchone():
    db.execute("DELETE FROM TARGET_INFO_SYSTEM_ENV")
db.commit()
db.execute("VACUUM")
db.close()
EOF
rm -f "$OUT/shapes.qdstrm"
ls -l "$OUT"
