#!/usr/bin/env bash
# Device call: re-check `flashsight profile` under both tools, re-capture the nsys shapes (graph nodes), and run
# both parse benchmarks. Everything lands in $OUT as a few tarballs/logs.
set -uo pipefail
source .devkit/setup.sh
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
W=/tmp/fs; rm -rf $W; mkdir -p $W
step() { echo; echo "=== $* ($(date +%T))"; }
step "profile ncu";  python3 -m flashsight profile rmsnorm -p batch=128 -p hidden=4096 --tool ncu --out $W/ncu; echo "exit $?"
step "profile ncu fused"; python3 -m flashsight profile rmsnorm -p op=fused_add_rmsnorm -p batch=4096 --tool ncu --out $W/ncu_fused; echo "exit $?"
step "profile nsys"; python3 -m flashsight profile rmsnorm -p batch=128 -p hidden=4096 --tool nsys --out $W/nsys 2>&1 | grep -v Processing; echo "exit $?"
step "stalls";       python3 -m flashsight stalls $W/ncu_fused --top 5
tar czf $OUT/profile.tgz --exclude='*.qdstrm' --exclude='*.nsys-rep' -C $W .
step "nsys shapes";  bash devtools/capture_nsys.sh /tmp/nsys_shapes > /tmp/nsys_shapes.log 2>&1; echo "exit $?"; tail -5 /tmp/nsys_shapes.log
tar czf $OUT/nsys_shapes.tgz -C /tmp nsys_shapes nsys_shapes.log
step "nsys bench";   timeout ${NSYS_BENCH_TIMEOUT:-280} python3 benchmarks/nsys_parse.py --out /tmp/nsys_bench 2>&1 | grep -v Processing | tee $OUT/nsys_bench.txt | tail -30
cp /tmp/nsys_bench/bench.json $OUT/nsys_bench.json 2>/dev/null
step "ncu bench";    timeout ${NCU_BENCH_TIMEOUT:-150} python3 benchmarks/ncu_parse.py --make-report /tmp/bench/bench.ncu-rep --kernels 240 --json $OUT/ncu_bench.json 2>&1 | tee $OUT/ncu_bench.txt | tail -30
step done
