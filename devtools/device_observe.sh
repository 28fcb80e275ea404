#!/usr/bin/env bash
# Device call for issue 10 (the joint observation), from the repo root:   bash devtools/device_observe.sh
#   carry: [".devkit"]   (jit cache: .devkit/jit.tgz if present)            about 8-10 minutes on an H200
# 1. ncu accepts the lean capture's new metrics (op paths, CUDA-core peaks, L2/L1 roofline) on this GPU: the lean
#    argv of flashsight.profilers.ncu over devtools/ncu_kernels.py (prefill, decode, norms, rope, a cuBLAS bf16
#    GEMM), and the same kernels under --set full; both reports' derived columns beside ncu's own figures
#    (devtools/check_derived.py): tensor % must equal ncu's op-path %, sol must equal ncu's SOLBottleneck.
# 2. devtools/plans/observe.toml swept (kernel_observations.parquet, workload_results, job_conditions with NVML
#    clocks/throttle/power/temperature), and observe_free.toml (ncu --clock-control none): the figures of both.
# $OUT gets the two reports (gzip), both run directories without raw captures, and every log.
set -uo pipefail
source .devkit/setup.sh || exit 1
[ -f .devkit/jit.tgz ] && tar xzf .devkit/jit.tgz -C ~/.cache
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 COLUMNS=200
W=/tmp/observe; rm -rf $W; mkdir -p $W
step() { echo; echo "=== $* ($(date +%T))"; }
step env; python3 -m flashsight env | head -14; nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem --format=csv
bash devtools/device_derived.sh $W || exit 3
for r in lean full; do [ -f $W/$r.ncu-rep ] && gzip -9 -c $W/$r.ncu-rep > $OUT/h200_$r.ncu-rep.gz; done
cp $W/*.log $OUT/ 2>/dev/null

for run in observe observe_free; do
  step "sweep $run"
  start=$(date +%s)
  timeout -k 20 ${SWEEP_S:-240} python3 -m flashsight sweep devtools/plans/$run.toml --out $W/$run 2>&1 | tail -6
  echo "wall $(( $(date +%s) - start )) s"
  ls $W/$run/*.parquet | xargs -n1 basename | tr '\n' ' '; echo
  python3 devtools/observation_figures.py $W/$run --all
  python3 - $W/$run <<'EOF'
import sys, pandas as pd
c = pd.read_parquet(f"{sys.argv[1]}/job_conditions.parquet")
cols = ["tool", "scope", "ncu_clock_control", "ncu_cache_control", "throttled", "sm_clock_before_hz",
        "sm_clock_after_hz", "sm_clock_max_hz", "power_before_w", "power_after_w", "temperature_before_c",
        "temperature_after_c", "throttle_reasons_after", "gpu", "driver", "nvml_error"]
with pd.option_context("display.width", 250, "display.max_columns", 30):
    print(c[cols].drop_duplicates(subset=["tool", "sm_clock_after_hz", "power_after_w"]).to_string(index=False))
r = pd.read_parquet(f"{sys.argv[1]}/workload_results.parquet")
print(r.groupby(["workload", "tool"])[["timing_valid", "correct"]].agg(lambda s: s.all()).to_string())
EOF
  tar czf $OUT/$run.tgz --exclude='*.nsys-rep' --exclude='*.qdstrm' --exclude='*.sqlite' --exclude='*.ncu-rep' \
      --exclude='batches' -C $W $run
done

step "ncu time / nsys time: base clocks vs the GPU's own"
python3 - $W <<'EOF'
import sys, pandas as pd
base = pd.read_parquet(f"{sys.argv[1]}/observe/kernel_observations.parquet")
free = pd.read_parquet(f"{sys.argv[1]}/observe_free/kernel_observations.parquet")
key = ["config_id", "step_position"]
both = base.merge(free, on=key, suffixes=("_base", "_none"))
print(pd.DataFrame({"workload": both["workload_base"], "kernel": both["short_name_base"].str.slice(0, 36),
                    "nsys_us": both["nsys_median_ns_base"] / 1e3, "ncu_base_us": both["ncu_duration_ns_base"] / 1e3,
                    "ncu_none_us": both["ncu_duration_ns_none"] / 1e3,
                    "ncu_GHz_base": both["ncu_sm_frequency_hz_base"] / 1e9,
                    "ncu_GHz_none": both["ncu_sm_frequency_hz_none"] / 1e9}).round(2).to_string(index=False))
EOF
tar czf $OUT/jit.tgz -C ~/.cache flashinfer 2>/dev/null
step done
