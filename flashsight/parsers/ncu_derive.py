"""Derived ncu_kernels columns: FLOPs, DRAM bytes and rates, arithmetic intensity, % of peak, bound class.

Inputs are ncu's own counters; peaks come from the report itself: `…peak_sustained` per-cycle metrics times the
measured clock (`…cycles_elapsed.avg.per_second`), else device attributes (memory clock × bus width; SM count ×
clock × the per-SM FMA rate of the catalog). ncu locks clocks to base by default, so these peaks are the peaks at
the clocks the kernel actually ran at.

The bound class (`bound`), for a kernel engineer's first glance:
1. latency  — neither the SM nor memory reaches 60 % of its peak (max(sm_throughput_pct, tensor_pipe_pct,
   memory_throughput_pct) < 60): the same threshold as ncu's SOLBottleneck rule; stalls, occupancy or launch
   size dominate.
2. otherwise, where FLOPs, DRAM bytes and peaks are known: the roofline — memory if the arithmetic intensity
   (FLOP per DRAM byte) lies left of the ridge point (peak FLOP/s ÷ peak bytes/s of the work's own pipe: tensor
   when tensor FLOPs dominate, else FP32), compute otherwise. (`sm__throughput` alone can call a decode kernel
   "compute" because its load/store pipes are busy; the roofline does not.)
3. otherwise the larger of sm_throughput_pct and memory_throughput_pct.
`bound_reason` says which step decided, with the numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from flashsight.schema.metric_catalog import (FLOP_INSTRUCTIONS, FP32_FMA_PER_SM_PER_CYCLE, TENSOR_OP_PARTS,
                                               TENSOR_OP_TYPES)

LATENCY_THRESHOLD_PCT = 60.0


def needed_metrics() -> list[str]:
    """Metrics derive() reads besides the catalog columns."""
    names = ["smsp__cycles_elapsed.avg", "dram__bytes.sum.peak_sustained", "dram__cycles_elapsed.avg.per_second",
             "sm__cycles_elapsed.avg.per_second", "sm__sass_thread_inst_executed_op_ffma_pred_on.sum.peak_sustained",
             "device__attribute_memory_clock_rate", "device__attribute_global_memory_bus_width",
             "device__attribute_multiprocessor_count", "device__attribute_clock_rate"]
    for group in FLOP_INSTRUCTIONS.values():
        for stem, _ in group:
            names += [f"{stem}.sum", f"{stem}.sum.per_cycle_elapsed"]
    for t in [*TENSOR_OP_TYPES, *(p for parts in TENSOR_OP_PARTS.values() for p in parts)]:
        names += [f"sm__ops_path_tensor_src_{t}.sum", f"sm__ops_path_tensor_src_{t}.sum.peak_sustained"]
    return names


def _tensor_ops(m: dict, t: str, suffix: str = ".sum") -> float:
    """Tensor ops of one source type: its total, else the sum of its per-destination parts."""
    total = _get(m, f"sm__ops_path_tensor_src_{t}{suffix}")
    if math.isnan(total) and t in TENSOR_OP_PARTS:
        parts = [_get(m, f"sm__ops_path_tensor_src_{p}{suffix}") for p in TENSOR_OP_PARTS[t]]
        if not all(math.isnan(v) for v in parts):
            total = max(parts) if suffix.endswith("peak_sustained") else float(np.nansum(parts))
    return total


def _get(m: dict, name: str) -> float:
    value = m.get(name)
    return float(value) if value is not None and not (isinstance(value, float) and math.isnan(value)) else math.nan


def _instructions(m: dict, stem: str) -> float:
    """Thread instructions of a counter: `.sum` when collected, else the full set's per-cycle rate × cycles."""
    direct = _get(m, f"{stem}.sum")
    if not math.isnan(direct):
        return direct
    return _get(m, f"{stem}.sum.per_cycle_elapsed") * _get(m, "smsp__cycles_elapsed.avg")


def derive_one(row: dict, m: dict) -> dict:
    """Derived columns for one kernel: `row` holds the catalog columns, `m` metric name -> base value."""
    seconds = row.get("duration_ns", math.nan) / 1e9
    out: dict = {}
    flops = {kind: sum(_instructions(m, stem) * weight for stem, weight in group)
             for kind, group in FLOP_INSTRUCTIONS.items()}
    tensor = {t: _tensor_ops(m, t) for t in TENSOR_OP_TYPES}
    tensor_flop = sum(v for t, v in tensor.items() if t != "int8" and not math.isnan(v)) if any(
        not math.isnan(v) for t, v in tensor.items() if t != "int8") else math.nan
    cuda_flop = sum(flops.values())
    out.update(fp64_flop=flops["fp64"], fp32_flop=flops["fp32"], fp16_flop=flops["fp16"],
               tensor_flop=tensor_flop, tensor_int_ops=tensor["int8"])
    out["flop"] = np.nansum([cuda_flop, tensor_flop]) if not (math.isnan(cuda_flop) and math.isnan(tensor_flop)) \
        else math.nan
    out["flop_per_s"] = out["flop"] / seconds

    dram = row.get("dram_bytes", math.nan)
    out["dram_bytes_per_s"] = dram / seconds  # ncu's own dram__bytes.sum.per_second wins where present
    out["arithmetic_intensity"] = out["flop"] / dram if dram and dram > 0 else math.nan

    # Peaks from the report: per-cycle peak × measured clock, else device attributes.
    sm_hz = _get(m, "sm__cycles_elapsed.avg.per_second")
    if math.isnan(sm_hz):
        sm_hz = _get(m, "device__attribute_clock_rate") * 1e3
    peak_dram = _get(m, "dram__bytes.sum.peak_sustained") * _get(m, "dram__cycles_elapsed.avg.per_second")
    if math.isnan(peak_dram):  # DDR: two transfers per memory clock
        peak_dram = _get(m, "device__attribute_memory_clock_rate") * 1e3 * 2 * \
            _get(m, "device__attribute_global_memory_bus_width") / 8
    peak_fp32 = _get(m, "sm__sass_thread_inst_executed_op_ffma_pred_on.sum.peak_sustained") * 2 * sm_hz
    if math.isnan(peak_fp32):
        per_sm = FP32_FMA_PER_SM_PER_CYCLE.get(str(row.get("compute_capability") or ""), math.nan)
        peak_fp32 = per_sm * 2 * _get(m, "device__attribute_multiprocessor_count") * sm_hz
    main_type = max((t for t in tensor if t != "int8" and tensor[t] > 0), key=lambda t: tensor[t], default=None)
    peak_tensor = _tensor_ops(m, main_type, ".sum.peak_sustained") * sm_hz if main_type else math.nan
    out.update(peak_dram_bytes_per_s=peak_dram, peak_fp32_flop_per_s=peak_fp32, peak_tensor_flop_per_s=peak_tensor,
               tensor_type=main_type)
    out["dram_peak_pct"] = 100 * out["dram_bytes_per_s"] / peak_dram
    out["fp32_peak_pct"] = 100 * flops["fp32"] / seconds / peak_fp32
    out["tensor_peak_pct"] = 100 * tensor_flop / seconds / peak_tensor if main_type else math.nan

    tensor_dominates = main_type is not None and tensor_flop >= np.nansum([cuda_flop])
    peak_flop = peak_tensor if tensor_dominates else peak_fp32
    out["compute_peak_pct"] = 100 * out["flop_per_s"] / peak_flop
    out["ridge_intensity"] = peak_flop / peak_dram
    out["bound"], out["bound_reason"] = bound_class(row, out["arithmetic_intensity"], out["ridge_intensity"])
    return out


def bound_class(row: dict, intensity: float, ridge: float) -> tuple[str | None, str | None]:
    # The compute side: SM throughput, or the tensor pipe where it is busier (MMA-heavy kernels).
    sm = np.nanmax([row.get("sm_throughput_pct", math.nan), row.get("tensor_pipe_pct", math.nan), -math.inf])
    sm = math.nan if sm == -math.inf else sm
    mem = row.get("memory_throughput_pct", math.nan)
    if mem is None or math.isnan(mem):
        mem = row.get("dram_throughput_pct", math.nan)
    if math.isnan(sm) and math.isnan(mem):
        return None, None
    top = np.nanmax([sm, mem])
    if top < LATENCY_THRESHOLD_PCT:
        return "latency", f"compute {sm:.0f}% and memory {mem:.0f}% both < {LATENCY_THRESHOLD_PCT:.0f}% of peak"
    if not (math.isnan(intensity) or math.isnan(ridge)):
        side = "memory" if intensity < ridge else "compute"
        rel = "<" if side == "memory" else "≥"
        return side, (f"roofline: {intensity:.1f} FLOP/B {rel} ridge {ridge:.1f} FLOP/B "
                      f"(compute {sm:.0f}%, memory {mem:.0f}%)")
    side = "compute" if (math.isnan(mem) or sm >= mem) else "memory"
    return side, f"compute {sm:.0f}% vs memory {mem:.0f}% (no FLOP/byte counters for a roofline)"


def derive(kernels: pd.DataFrame, metrics_by_kernel: dict[int, dict]) -> pd.DataFrame:
    """kernels with the derived columns added (one derive_one per row)."""
    records = [derive_one(row, metrics_by_kernel.get(row["kernel_id"], {})) for row in kernels.to_dict("records")]
    derived = pd.DataFrame.from_records(records, index=kernels.index)
    kernels = kernels.copy()
    for column in derived.columns.intersection(kernels.columns):  # a measured value beats a derived one
        kernels[column] = kernels[column].fillna(derived.pop(column))
    return pd.concat([kernels, derived], axis=1)
