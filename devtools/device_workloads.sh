#!/usr/bin/env bash
# Device call for issue 3 (the workload study): every workload at its default and the extremes of its study
# grid (devtools/device_workloads.py: one process, a fresh one after a CUDA fault), CUDA-graph decode in four
# variants (FlashInfer's graph wrapper or the plain wrapper captured, PDL on or off), the CLI paths (run with
# --json, the README's own-workload example under run and ncu, invalid parameters, too large for memory), then
# the JIT study (cold / disk hit / memory hit per family).
# Usage on the GPU machine, from the repo root:
#   bash devtools/device_workloads.sh          everything (~5-6 min on a fresh H100)
#   bash devtools/device_workloads.sh rerun    only what the first device run could not finish: prefill,
#                                              CUDA-graph decode, optional configs, the decode-graph CLI run (~3-4 min)
#   bash devtools/device_workloads.sh graph    CUDA-graph decode variants, optional configs, decode-graph CLI (~2-3 min)
# ($OUT is set by the device tool; KERNEL_BUDGET_S: seconds after which optional configs are skipped.)
# Everything lands in $OUT: kernels/{table.md,summary.json,results/*/result.json}, cli/, jit/, env.json, ...
set -uo pipefail
OUT=${OUT:?set OUT to the folder for the results}
MODE=${1:-all}
source .devkit/setup.sh
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
T0=$(date +%s)
step() { echo; echo "=== $* ($(date +%T), +$(( $(date +%s) - T0 )) s)"; }
fs() { python3 -m flashsight "$@"; }
GRAPH=graph-wrapper,graph-wrapper-nopdl,graph-plain,graph-plain-nopdl,graph-tc
mkdir -p "$OUT/cli"

step env
fs env --json > "$OUT/env.json"; fs env
fs workloads --json > "$OUT/workloads.json"

if [ "$MODE" = rerun ]; then
  step "kernel workloads: prefill, CUDA-graph decode variants, optional"
  python3 devtools/device_workloads.py "$OUT/kernels" "${KERNEL_BUDGET_S:-150}" --groups "prefill,$GRAPH,optional" \
    2>&1 | tee "$OUT/kernels.log"
elif [ "$MODE" = graph ]; then
  step "kernel workloads: CUDA-graph decode variants, then optional configs while the budget lasts"
  python3 devtools/device_workloads.py "$OUT/kernels" "${KERNEL_BUDGET_S:-100}" --groups "$GRAPH,optional" \
    2>&1 | tee "$OUT/kernels.log"
  step "CLI: run --json (decode, CUDA graph, defaults)"
  fs run decode -p cuda_graph=true -p batch=64 --json --out "$OUT/cli/decode_graph" > "$OUT/cli/decode_graph.json"
  echo "exit $?"
  step "done in $(( $(date +%s) - T0 )) s"; exit 0
else
  step "kernel workloads (one process; a fresh one after a CUDA fault)"
  python3 devtools/device_workloads.py "$OUT/kernels" "${KERNEL_BUDGET_S:-270}" \
    --groups "norm,rope,decode,prefill,$GRAPH,optional" 2>&1 | tee "$OUT/kernels.log"
fi

step "CLI: run --json (decode, CUDA graph, defaults), env.json in the run directory"
fs run decode -p cuda_graph=true -p batch=64 --json --out "$OUT/cli/decode_graph" > "$OUT/cli/decode_graph.json"
echo "exit $?"; ls "$OUT/cli/decode_graph"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['nvtx_range'], r['rates'].get('tokens_per_s'), r['correctness']['ok'])" \
  "$OUT/cli/decode_graph.json" 2>/dev/null

step "CLI: the README's own-workload example (file), under run and under ncu with --nvtx-include"
awk '/^# matmul.py/{f=1} f&&/^```$/{exit} f' README.md > /tmp/fs_matmul.py
fs run /tmp/fs_matmul.py -p n=4096 --json --out "$OUT/cli/user_file"; echo "exit $?"
timeout 120 python3 -m flashsight profile /tmp/fs_matmul.py -p n=4096 --tool ncu --nvtx-include 'mine@step/' \
  --out /tmp/fs_user_ncu; echo "exit $?"; cp /tmp/fs_user_ncu/job.json "$OUT/cli/user_ncu_job.json" 2>/dev/null

[ "$MODE" = rerun ] && { step "done in $(( $(date +%s) - T0 )) s"; exit 0; }

step "CLI: a module:function"
(cd tests/data/workloads && python3 -m flashsight run fs_echo_mod:add -p a=1 -p b=2 --json --out "$OUT/cli/user_fn"); echo "exit $?"

step "CLI: invalid parameters and configs too large for memory (each: one line, non-zero exit)"
for args in "prefill -p num_kv_heads=6" "decode -p num_kv_heads=2" "rope -p variant=nope" \
            "prefill -p batch=4096 -p seq_len=65536" "decode -p batch=100000 -p kv_len=65536"; do
  # shellcheck disable=SC2086
  fs run $args --out "$OUT/cli/bad" 2>&1 | tail -3; echo "exit ${PIPESTATUS[0]}  <- flashsight run $args"
done

step "JIT study: cold / disk hit / memory hit per family"
fs run jit --out "$OUT/jit"; echo "exit $?"

step "done in $(( $(date +%s) - T0 )) s"
du -sh "$OUT"/* 2>/dev/null
