"""Canonical columns ⇄ ncu metric names, in order of preference.

Metric names differ between GPU architectures and ncu versions, so every canonical column lists candidates and
the first one a report holds fills it; the ncu_kernels reader records which one that was (table ncu_catalog).

Architecture notes. Checked against real reports: SM 9.0 (H100, ncu 2025.3.1, tests/data/ncu). From ncu's
documentation, metric reference and `--query-metrics` listings, not yet seen in a capture here: SM 8.0/8.6/8.9.
- SM 8.0 (A100), 8.6 (GA10x), 8.9 (AD10x): DRAM % is `dram__throughput.avg.pct_of_peak_sustained_elapsed`
  (ncu's nvprof table maps dram_utilization there); tensor work runs on the hmma/imma (and on 8.0 dmma) pipes:
  `sm__pipe_tensor_op_hmma_cycles_active` (nvprof's tensor_precision_fu_utilization),
  `sm__inst_executed_pipe_tensor_op_hmma`; FP16 tensor ops may be split by destination
  (`sm__ops_path_tensor_src_fp16_dst_fp16` / `…_dst_fp32`, summed then); FP8 tensor ops exist on 8.9 only.
  8.6/8.9 execute FP32 on two pipes (FMA heavy/lite): 128 FP32 FMA per SM per cycle, against 64 on 8.0.
- SM 9.0 (H100/H200): `dram__throughput…` is absent and `gpu__dram_throughput…` present; warpgroup MMA adds the
  gmma pipe (`sm__inst_executed_pipe_tensor_op_gmma`, `…hgmma…` ops paths) and a `gmma` warp-state stall reason
  that PC sampling calls `warpgroup_arrive`; `sm__pipe_tensor_cycles_active` covers hmma and gmma alike
  (the captured cuBLAS wgmma GEMM shows 84 % there); `sm__ops_path_tensor_src_fp16` is one total.
- Everywhere: `gpu__time_duration.sum` (ns), `sm__throughput…` and `gpu__compute_memory_throughput…` (the Speed of
  Light pair), `launch__*` (launch statistics), `sm__warps_active.avg.pct_of_peak_sustained_active` (occupancy).
- `--set full` records the CUDA-core FLOP counters only as `….sum.per_cycle_elapsed`; the lean capture asks for
  `….sum` (EXTRA_METRICS_SM90). Both give the same counts (tested on the H100 captures).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str  # canonical column of ncu_kernels
    candidates: tuple[str, ...]  # ncu metric names, best first
    note: str = ""
    scale: tuple[tuple[str, float], ...] = ()  # (candidate, factor) where a candidate needs a unit change

    def factor(self, metric: str) -> float:
        return dict(self.scale).get(metric, 1.0)


def _col(name: str, *candidates: str | tuple[str, float], note: str = "") -> Column:
    names = tuple(c if isinstance(c, str) else c[0] for c in candidates)
    return Column(name, names, note, tuple(c for c in candidates if not isinstance(c, str)))


# The columns of ncu_kernels that come straight from one metric (values in ncu's base units).
COLUMNS: tuple[Column, ...] = (
    _col("duration_ns", "gpu__time_duration.sum"),
    _col("elapsed_cycles", "gpc__cycles_elapsed.max", "sm__cycles_elapsed.max"),
    _col("sm_frequency_hz", "sm__cycles_elapsed.avg.per_second", "smsp__cycles_elapsed.avg.per_second",
         "gpc__cycles_elapsed.avg.per_second", note="the GPC clock is the SM's clock domain (fi2 has only it)"),
    _col("dram_frequency_hz", "dram__cycles_elapsed.avg.per_second"),
    _col("device_sm_clock_hz", ("device__attribute_clock_rate", 1e3), note="the device's maximum SM clock (kHz)"),
    _col("device_memory_clock_hz", ("device__attribute_memory_clock_rate", 1e3), note="the memory clock (kHz)"),
    _col("l2_frequency_hz", "lts__cycles_elapsed.avg.per_second"),
    _col("l1_frequency_hz", "l1tex__cycles_elapsed.avg.per_second"),
    _col("sm_throughput_pct", "sm__throughput.avg.pct_of_peak_sustained_elapsed"),
    _col("memory_throughput_pct", "gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed"),
    _col(
        "dram_throughput_pct",
        "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed",  # SM 9.0+
        "dram__throughput.avg.pct_of_peak_sustained_elapsed",  # SM 7.x / 8.x
        note="SM 9.0 has only the gpu__ form",
    ),
    _col("l1_throughput_pct", "l1tex__throughput.avg.pct_of_peak_sustained_active"),
    _col("l2_throughput_pct", "lts__throughput.avg.pct_of_peak_sustained_elapsed"),
    _col("dram_read_bytes", "dram__bytes_read.sum"),
    _col("dram_write_bytes", "dram__bytes_write.sum"),
    _col("dram_bytes_per_s", "dram__bytes.sum.per_second"),
    _col(
        "tensor_pipe_pct",
        "sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active",  # all tensor pipes (full set)
        "sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active",  # SM 8.x, and what fi2 asked for
        "sm__inst_executed_pipe_tensor.avg.pct_of_peak_sustained_active",  # SM 7.x / 8.x instruction form
        note="hmma cycles also count HFMA2.MMA register moves, so a few % shows on kernels with no MMA",
    ),
    _col("tensor_hmma_inst", "sm__inst_executed_pipe_tensor_op_hmma.sum"),
    _col("tensor_gmma_inst", "sm__inst_executed_pipe_tensor_op_gmma.sum", note="SM 9.0 warpgroup MMA"),
    _col("achieved_occupancy_pct", "sm__warps_active.avg.pct_of_peak_sustained_active"),
    _col("theoretical_occupancy_pct", "sm__maximum_warps_per_active_cycle_pct"),
    _col("registers_per_thread", "launch__registers_per_thread"),
    _col("grid_size", "launch__grid_size"),
    _col("block_size", "launch__block_size"),
    _col("shared_mem_per_block_bytes", "launch__shared_mem_per_block"),
    _col("waves_per_sm", "launch__waves_per_multiprocessor"),
    _col("issue_active_pct", "smsp__issue_active.avg.pct_of_peak_sustained_active",
         ("smsp__issue_active.avg.per_cycle_active", 100.0),
         note="one issue per cycle is an SMSP's peak, so per_cycle_active × 100 is the same percentage"),
    _col("sm_issue_active_elapsed_pct", "sm__issue_active.avg.pct_of_peak_sustained_elapsed",
         note="per elapsed cycle (idle SMs count): lower than issue_active_pct where SMs sit idle"),
    _col("warp_cycles_per_issue", "smsp__average_warp_latency_per_inst_issued.ratio"),
)

# FLOP counters: CUDA-core instructions, (metric stem, FLOPs per thread instruction). The full set records
# `<stem>.sum.per_cycle_elapsed` only; an explicit --metrics gives `<stem>.sum`.
FLOP_INSTRUCTIONS: dict[str, tuple[tuple[str, int], ...]] = {
    "fp64": (
        ("smsp__sass_thread_inst_executed_op_dadd_pred_on", 1),
        ("smsp__sass_thread_inst_executed_op_dmul_pred_on", 1),
        ("smsp__sass_thread_inst_executed_op_dfma_pred_on", 2),
    ),
    "fp32": (
        ("smsp__sass_thread_inst_executed_op_fadd_pred_on", 1),
        ("smsp__sass_thread_inst_executed_op_fmul_pred_on", 1),
        ("smsp__sass_thread_inst_executed_op_ffma_pred_on", 2),
    ),
    # Half instructions are packed (HFMA2): two lanes, as ncu's own roofline counts them.
    "fp16": (
        ("smsp__sass_thread_inst_executed_op_hadd_pred_on", 2),
        ("smsp__sass_thread_inst_executed_op_hmul_pred_on", 2),
        ("smsp__sass_thread_inst_executed_op_hfma_pred_on", 4),
    ),
}
# Tensor-pipe work: `sm__ops_path_tensor_src_<type>` counts operations (one FMA = 2), over hmma and gmma alike.
TENSOR_OP_TYPES: tuple[str, ...] = (
    "fp16",
    "bf16_dst_fp32",
    "tf32_dst_fp32",
    "fp8_sparsity_off",
    "fp8_sparsity_on",
    "fp64",
    "int8",
)
# Where a type's total is split by destination on other GPUs/versions (`ncu --query-metrics` lists
# `…src_fp16_dst_fp16` and `…src_fp16_dst_fp32` separately there), the parts are summed instead.
TENSOR_OP_PARTS: dict[str, tuple[str, ...]] = {"fp16": ("fp16_dst_fp16", "fp16_dst_fp32")}
# Per-SM-per-cycle CUDA-core FMA throughput, only used when a report has no `…peak_sustained` metric: FP32 from
# ncu's documentation per architecture; FP64 and FP16 (HFMA2 instructions) as the H100 full-set report states them
# (8,448 and 16,896 per cycle over 132 SMs).
FMA_PER_SM_PER_CYCLE: dict[str, dict[str, int]] = {
    "fp32": {"7.0": 64, "7.5": 64, "8.0": 64, "8.6": 128, "8.7": 128, "8.9": 128, "9.0": 128},
    "fp64": {"9.0": 64},
    "fp16": {"9.0": 128},
}
# CUDA-core peaks per precision, as ncu's roofline charts build them: FMA instructions per cycle × FLOPs each.
CUDA_CORE_PEAKS: dict[str, tuple[str, int]] = {
    "fp64": ("sm__sass_thread_inst_executed_op_dfma_pred_on.sum.peak_sustained", 2),
    "fp32": ("sm__sass_thread_inst_executed_op_ffma_pred_on.sum.peak_sustained", 2),
    "fp16": ("sm__sass_thread_inst_executed_op_hfma_pred_on.sum.peak_sustained", 4),
}

# Tensor-core op paths: `sm__ops_path_tensor_op_<op>_src_<src>[_dst_<dst>]_sparsity_<on|off>` counts the ops of
# one instruction family (hmma: mma.sync; hgmma: SM 9.0 warpgroup MMA) and types, each with its own peak. The
# dense peak of the path a kernel used is what its tensor % must be measured against (ncu's
# `…_sparsity_off.sum.pct_of_peak_sustained_elapsed`); the aggregate `sm__ops_path_tensor_src_<t>` peak is the
# best of all paths it covers: for fp16/bf16/tf32 the sparse wgmma rate. Seen in H100 full-set reports.
TENSOR_OP_PATHS: tuple[str, ...] = (
    "hgmma_src_fp16", "hgmma_src_bf16_dst_fp32", "hgmma_src_tf32_dst_fp32",
    "hmma_src_fp16_dst_fp16", "hmma_src_fp16_dst_fp32", "hmma_src_bf16_dst_fp32", "hmma_src_tf32_dst_fp32",
)
TENSOR_PATH_METRIC = "sm__ops_path_tensor_op_{path}_sparsity_{sparsity}.sum"
# A capture without the op-path metrics (a lean capture before flashsight 0.3, or --set basic) still says which
# family ran (`sm__inst_executed_pipe_tensor_op_{gmma,hmma}.sum`) and the aggregate peak of the type. On SM 9.0
# the aggregate is this many times the dense peak of each family (H100 full-set report, every type:
# 1,081,344 aggregate fp16/bf16 vs 540,672 dense hgmma vs 360,448 dense hmma ops per cycle; tf32 540,672 /
# 270,336 / 180,224): dense peak = aggregate ÷ share. `tensor_peak_basis` says which way a row's peak came.
TENSOR_AGGREGATE_PER_DENSE: dict[tuple[str, str], float] = {
    ("9.0", "hgmma"): 2.0,
    ("9.0", "hmma"): 3.0,
}
# fp8 runs on warpgroup MMA only, and its aggregates are split by sparsity already: their peaks are the path's.
TENSOR_TYPES_BY_SPARSITY = ("fp8_sparsity_off", "fp8_sparsity_on")

# The hierarchical roofline's memory levels as ncu's SpeedOfLight roofline charts define them (SM 9.0): bytes are
# active cycles × bytes per cycle; the peaks are per-cycle peaks × the level's own clock.
#   L2:  L2 → crossbar traffic, `lts__lts2xbar_cycles_active` × 32 B (derived__lts__lts2xbar_bytes)
#   L1:  L1 local/global/shared writeback, `l1tex__lsu_writeback_active_mem_lgds` × 128 B
#        (derived__l1tex__lsu_writeback_bytes_mem_lgds)
MEMORY_LEVELS: dict[str, dict] = {
    "l2": {"active": "lts__lts2xbar_cycles_active", "bytes_per_cycle": 32,
           "clock": "lts__cycles_elapsed.avg.per_second", "derived": "derived__lts__lts2xbar_bytes"},
    "l1": {"active": "l1tex__lsu_writeback_active_mem_lgds", "bytes_per_cycle": 128,
           "clock": "l1tex__cycles_elapsed.avg.per_second", "derived": "derived__l1tex__lsu_writeback_bytes_mem_lgds"},
}

# Extra metrics a lean (non-full) capture needs for tensor %, DRAM bytes and FLOPs on SM 9.0 (all seen in H100
# full-set reports). Requesting a name the GPU lacks makes ncu fail, so this list is per architecture.
EXTRA_METRICS_SM90: tuple[str, ...] = (
    "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed",
    "dram__bytes_read.sum",
    "dram__bytes_write.sum",
    "dram__bytes.sum.peak_sustained",
    "dram__cycles_elapsed.avg.per_second",
    "sm__cycles_elapsed.avg.per_second",
    "sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active",
    "sm__inst_executed_pipe_tensor_op_hmma.sum",
    "sm__inst_executed_pipe_tensor_op_gmma.sum",
    "sm__sass_thread_inst_executed_op_ffma_pred_on.sum.peak_sustained",
    *(f"{stem}.sum" for group in FLOP_INSTRUCTIONS.values() for stem, _ in group),
    *(f"sm__ops_path_tensor_src_{t}.sum" for t in TENSOR_OP_TYPES),
    *(f"sm__ops_path_tensor_src_{t}.sum.peak_sustained" for t in TENSOR_OP_TYPES),
)
# Added in flashsight 0.3 for the dense tensor peaks, the per-precision ceilings and the hierarchical roofline;
# every name is in the H100 full-set report (tests/data/ncu/h100/full.ncu-rep), in exactly this form.
ROOFLINE_METRICS_SM90: tuple[str, ...] = (
    *(TENSOR_PATH_METRIC.format(path=p, sparsity=s) + suffix for p in TENSOR_OP_PATHS for s in ("off", "on")
      for suffix in ("", ".peak_sustained")),
    CUDA_CORE_PEAKS["fp64"][0],
    CUDA_CORE_PEAKS["fp16"][0],
    "lts__lts2xbar_cycles_active.sum.per_second",
    "lts__lts2xbar_cycles_active.sum.peak_sustained",
    "lts__cycles_elapsed.avg.per_second",
    "l1tex__lsu_writeback_active_mem_lgds.sum",
    "l1tex__lsu_writeback_active_mem_lgds.sum.peak_sustained",
    "l1tex__cycles_elapsed.avg.per_second",
)
EXTRA_METRICS_SM90 = EXTRA_METRICS_SM90 + ROOFLINE_METRICS_SM90


def resolve(available: Container[str]) -> dict[str, str | None]:
    """Canonical column -> the first candidate present in `available` (None when none is)."""
    return {col.name: next((m for m in col.candidates if m in available), None) for col in COLUMNS}


def candidates_of(column: str) -> tuple[str, ...]:
    for col in COLUMNS:
        if col.name == column:
            return col.candidates
    raise KeyError(column)
