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


def _col(name: str, *candidates: str, note: str = "") -> Column:
    return Column(name, candidates, note)


# The columns of ncu_kernels that come straight from one metric (values in ncu's base units).
COLUMNS: tuple[Column, ...] = (
    _col("duration_ns", "gpu__time_duration.sum"),
    _col("elapsed_cycles", "gpc__cycles_elapsed.max", "sm__cycles_elapsed.max"),
    _col("sm_frequency_hz", "sm__cycles_elapsed.avg.per_second", "smsp__cycles_elapsed.avg.per_second"),
    _col("dram_frequency_hz", "dram__cycles_elapsed.avg.per_second"),
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
    _col("issue_active_pct", "smsp__issue_active.avg.pct_of_peak_sustained_active"),
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
# Per-SM-per-cycle CUDA-core FP32 FMA throughput, only used when a report has no `…peak_sustained` metric.
FP32_FMA_PER_SM_PER_CYCLE = {"7.0": 64, "7.5": 64, "8.0": 64, "8.6": 128, "8.7": 128, "8.9": 128, "9.0": 128}

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


def resolve(available: Container[str]) -> dict[str, str | None]:
    """Canonical column -> the first candidate present in `available` (None when none is)."""
    return {col.name: next((m for m in col.candidates if m in available), None) for col in COLUMNS}


def candidates_of(column: str) -> tuple[str, ...]:
    for col in COLUMNS:
        if col.name == column:
            return col.candidates
    raise KeyError(column)
