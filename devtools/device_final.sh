#!/usr/bin/env bash
# Last device call of a session: `flashsight profile` under ncu with the stall report (RMSNorm and an MHA decode,
# whose report is kept as test data), the CUDA-graph decode re-run, and the ncu batched overhead.
set -uo pipefail
source .devkit/setup.sh
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} COLUMNS=140
R=$OUT; W=/tmp/fs; rm -rf $W; mkdir -p $W
step() { echo; echo "=== $* ($(date +%T))"; }
step "profile rmsnorm ncu"; python3 -m flashsight profile rmsnorm -p batch=4096 -p op=fused_add_rmsnorm --tool ncu --out $W/norm; echo "exit $?"
step "stalls rmsnorm";      python3 -m flashsight stalls $W/norm --top 4
step "profile decode ncu";  python3 -m flashsight profile decode -p batch=32 -p num_kv_heads=32 --tool ncu --out $W/decode_mha; echo "exit $?"
step "stalls decode";       python3 -m flashsight stalls $W/decode_mha --top 5
step "profile decode nsys"; python3 -m flashsight profile decode -p batch=32 -p num_kv_heads=32 --tool nsys --out $W/decode_nsys 2>&1 | grep -v Processing; echo "exit $?"
tar czf $R/final_profiles.tgz --exclude='*.qdstrm' --exclude='*.nsys-rep' --exclude='profile.sqlite' -C $W .
step "workloads: CUDA-graph decode re-run"
mkdir -p /tmp/wl; (OUT=/tmp/wl timeout 240 bash devtools/device_workloads.sh graph > /tmp/wl/graph.log 2>&1); tail -40 /tmp/wl/graph.log
tar czf $R/workloads_graph.tgz -C /tmp wl
step "ncu batched overhead"
OVERHEAD_TOOLS=ncu timeout 150 bash devtools/device_sweep.sh overhead 2>&1 | tail -8
step done
