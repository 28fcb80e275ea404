#!/usr/bin/env bash
# Device step (issue 10): does ncu accept the lean capture's metrics on this GPU, and do flashsight's derived
# columns equal ncu's own figures? From the repo root, after `source .devkit/setup.sh`:
#   GEMM_SIZE=8192 bash devtools/device_derived.sh DIR
# 1. flashsight's lean argv over devtools/ncu_kernels.py (prefill fa2 = mma.sync, decode CUDA-core and tensor-core,
#    norms, rope, a cuBLAS bf16 GEMM = warpgroup MMA), 2. the same kernels under --set full; both reports' derived
#    columns beside ncu's own (devtools/check_derived.py). Reports land as DIR/{lean,full}.ncu-rep.
# Exit 3 when the lean capture failed (ncu refused a metric: every ncu job of a sweep would fail the same way).
set -uo pipefail
W=${1:?usage: device_derived.sh DIR}; mkdir -p "$W"
RANGES=(prefill decode decode_tc rmsnorm fused_add_rmsnorm rope gemm)
INCLUDES=$(printf -- '--nvtx-include %s/ ' "${RANGES[@]}")
echo "=== warm the JIT outside ncu ($(date +%T))"; timeout 300 python3 devtools/ncu_kernels.py | tail -1
echo "=== lean capture, flashsight's own argv ($(date +%T))"
lean=$(python3 -m flashsight.profilers.ncu --stem "$W/lean" $INCLUDES -- python3 devtools/ncu_kernels.py)
echo "$ $lean" > "$W/lean.log"
eval "timeout 300 $lean" >> "$W/lean.log" 2>&1; rc=$?
echo "lean exit $rc"; grep -E "==ERROR==|==WARNING==" "$W/lean.log" | head -5
[ $rc = 0 ] && [ -f "$W/lean.ncu-rep" ] || { tail -20 "$W/lean.log"; exit 3; }
python3 devtools/check_derived.py "$W/lean.ncu-rep"
echo "=== full set of the same kernels ($(date +%T))"
timeout 300 ncu --set full --nvtx $INCLUDES --target-processes all --export "$W/full" --force-overwrite \
  python3 devtools/ncu_kernels.py > "$W/full.log" 2>&1; echo "full exit $?"
[ -f "$W/full.ncu-rep" ] && python3 devtools/check_derived.py "$W/full.ncu-rep"
exit 0
