#!/usr/bin/env bash
# Device call for the foundation: env, run, profile under nsys and ncu, plus the parser helpers' captures.
# Usage on the GPU machine (from the repo root): bash devtools/device_foundation.sh   ($OUT is set by the device tool)
set -uo pipefail
source .devkit/setup.sh
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
W=/tmp/fs; rm -rf $W; mkdir -p $W
step() { echo; echo "=== $* ($(date +%T))"; }
step env;                python3 -m flashsight env; python3 -m flashsight env --json > $W/env.json
step run;                python3 -m flashsight run rmsnorm -p batch=128 -p hidden=4096 --out $W/run
step "run fused";        python3 -m flashsight run rmsnorm -p op=fused_add_rmsnorm --out $W/run_fused
step "profile nsys";     python3 -m flashsight profile rmsnorm -p batch=128 -p hidden=4096 --tool nsys --out $W/nsys
step "profile ncu";      python3 -m flashsight profile rmsnorm -p batch=128 -p hidden=4096 --tool ncu --out $W/ncu
step "profile ncu fused"; python3 -m flashsight profile rmsnorm -p op=fused_add_rmsnorm --tool ncu --out $W/ncu_fused
ls -la $W/*
tar czf $OUT/foundation.tgz --exclude='*.qdstrm' -C $W .
for extra in "$@"; do step "$extra"; bash -c "$extra"; done
du -sh $OUT/*
