"""Derived ncu_kernels columns: FLOPs by precision and tensor type, the hierarchical roofline (DRAM, L2, L1 bytes,
rates, intensities, ceilings), % of peak, ncu's own bottleneck class and flashsight's bound class.

Inputs are ncu's own counters; peaks come from the report itself: `…peak_sustained` per-cycle metrics times the
clock the kernel ran at (`…cycles_elapsed.avg.per_second` of the unit), else device attributes. ncu locks clocks
to base by default, so these are the peaks at the clocks ncu saw (kernel_observations rescales them to the clocks
nsys saw). Every derived figure ncu states itself is equal to it (tests/parsers/test_ncu_derived.py):
- tensor_peak_pct: against the DENSE peak of the op path the kernel used (ncu's
  `sm__ops_path_tensor_op_<op>_src_<t>[_dst_<d>]_sparsity_off.sum.pct_of_peak_sustained_elapsed`; the sparse path
  where sparse ops ran), never the aggregate `sm__ops_path_tensor_src_<t>` peak, which is the best of all paths
  (sparse wgmma: 2× the dense wgmma and 3× the dense mma.sync rate on SM 9.0).
- peaks and rates of every roofline level equal ncu's roofline metrics (`…peak_sustained_elapsed.per_second`,
  `derived__lts__lts2xbar_bytes.sum.per_second`, …); fp32/fp64 % equal the SOLFPRoofline rule's figures.
- sol_bottleneck is ncu's SOLBottleneck rule (its thresholds: 60 % latency, 80 % high throughput, 10 points
  balanced, 1 wave), so it equals the rule's title in the report.

The bound class (`bound`), for a kernel engineer's first glance:
1. latency — neither the SM nor memory reaches 60 % of its peak (ncu's "Latency Issue" / "Small Grid").
2. otherwise, where FLOPs, DRAM bytes and peaks are known: the DRAM roofline — memory if the arithmetic intensity
   lies left of the ridge point (the dense peak of the dominant precision ÷ the DRAM peak), compute otherwise.
   (`sm__throughput` alone can call a decode kernel "compute" because its load/store pipes are busy.)
3. otherwise ncu's rule: compute or memory when one leads by ≥ 10 points, else balanced.
`bound_reason` names the deciding rule with its numbers, the margin and the runner-up, in ncu's words.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from flashsight.schema.metric_catalog import (CUDA_CORE_PEAKS, FLOP_INSTRUCTIONS, FMA_PER_SM_PER_CYCLE,
                                               MEMORY_LEVELS, TENSOR_AGGREGATE_PER_DENSE, TENSOR_OP_PARTS,
                                               TENSOR_OP_TYPES)

LATENCY_THRESHOLD_PCT = 60.0  # ncu SOLBottleneck: both below -> latency issue
HIGH_THRESHOLD_PCT = 80.0  # ncu SOLBottleneck: either above -> high throughput
BALANCED_POINTS = 10.0  # ncu SOLBottleneck: closer than this -> balanced
WAVES_THRESHOLD = 1.0  # ncu SOLBottleneck: fewer waves -> small grid

# Tensor op paths as the report names them; int paths (imma/igmma/bmma) count integer ops, not FLOPs.
TENSOR_PATH = re.compile(r"^sm__ops_path_tensor_op_(?P<op>h(?:g)?mma)_src_(?P<src>fp16|bf16|tf32)"
                         r"(?:_dst_(?P<dst>fp16|fp32))?_sparsity_(?P<sparsity>on|off)\.sum$")
# Aggregate type -> FLOP column (fp8 is two aggregates: dense and sparse).
_TENSOR_COLUMNS = {"fp16": "tensor_fp16_flop", "bf16_dst_fp32": "tensor_bf16_flop",
                   "tf32_dst_fp32": "tensor_tf32_flop", "fp8_sparsity_off": "tensor_fp8_flop",
                   "fp8_sparsity_on": "tensor_fp8_flop", "fp64": "tensor_fp64_flop"}
_PATH_TYPE = {"fp16": "fp16", "bf16": "bf16_dst_fp32", "tf32": "tf32_dst_fp32"}


def needed_metrics() -> list[str]:
    """Metrics derive() reads besides the catalog columns (see also NEEDED_PATTERN)."""
    names = ["smsp__cycles_elapsed.avg", "sm__cycles_elapsed.avg", "dram__bytes.sum.peak_sustained",
             "dram__cycles_elapsed.avg.per_second", "dram__bytes_read.sum.pct_of_peak_sustained_elapsed",
             "dram__bytes_write.sum.pct_of_peak_sustained_elapsed",
             "device__attribute_memory_clock_rate", "device__attribute_global_memory_bus_width",
             "device__attribute_multiprocessor_count", "device__attribute_clock_rate",
             "launch__waves_per_multiprocessor",
             *(f"sm__inst_executed_pipe_tensor_op_{op}{suffix}" for op in ("hmma", "gmma")
               for suffix in (".sum", ".sum.pct_of_peak_sustained_active"))]
    names += [metric for metric, _ in CUDA_CORE_PEAKS.values()]
    for group in FLOP_INSTRUCTIONS.values():
        for stem, _ in group:
            names += [f"{stem}.sum", f"{stem}.sum.per_cycle_elapsed"]
    for t in [*TENSOR_OP_TYPES, *(p for parts in TENSOR_OP_PARTS.values() for p in parts)]:
        names += [f"sm__ops_path_tensor_src_{t}.sum", f"sm__ops_path_tensor_src_{t}.sum.peak_sustained"]
    for level in MEMORY_LEVELS.values():
        names += [f"{level['active']}.sum", f"{level['active']}.sum.per_second",
                  f"{level['active']}.sum.peak_sustained", f"{level['active']}.sum.pct_of_peak_sustained_elapsed",
                  level["clock"],
                  f"{level['derived']}.sum.per_second", f"{level['derived']}.sum.peak_sustained"]
    return names


# Every tensor op path's count and peak (the paths differ between GPUs; the pattern takes them all).
NEEDED_PATTERN = re.compile(r"^sm__ops_path_tensor_op_\w+\.sum(\.peak_sustained)?$")


def _get(m: dict, name: str) -> float:
    value = m.get(name)
    return float(value) if value is not None and not (isinstance(value, float) and math.isnan(value)) else math.nan


def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _instructions(m: dict, stem: str) -> float:
    """Thread instructions of a counter: `.sum` when collected, else the full set's per-cycle rate × cycles."""
    direct = _get(m, f"{stem}.sum")
    if not math.isnan(direct):
        return direct
    return _get(m, f"{stem}.sum.per_cycle_elapsed") * _get(m, "smsp__cycles_elapsed.avg")


def _tensor_ops(m: dict, t: str, suffix: str = ".sum") -> float:
    """Tensor ops of one source type: its total, else the sum of its per-destination parts."""
    total = _get(m, f"sm__ops_path_tensor_src_{t}{suffix}")
    if math.isnan(total) and t in TENSOR_OP_PARTS:
        parts = [_get(m, f"sm__ops_path_tensor_src_{p}{suffix}") for p in TENSOR_OP_PARTS[t]]
        if not all(math.isnan(v) for v in parts):
            total = max(parts) if suffix.endswith("peak_sustained") else float(np.nansum(parts))
    return total


def _nansum(values) -> float:
    values = [v for v in values if not _nan(v)]
    return float(sum(values)) if values else math.nan


def _pct(part: float, whole: float) -> float:
    return 100 * part / whole if whole and not math.isnan(whole) and whole > 0 else math.nan


# ---------------------------------------------------------------------------------------------- clocks


def clocks(row: dict, m: dict) -> dict:
    """The clock of each unit the kernel ran at under ncu (Hz); device attributes where a report has none."""
    sm_hz = row.get("sm_frequency_hz", math.nan)
    if _nan(sm_hz):
        sm_hz = _get(m, "device__attribute_clock_rate") * 1e3
    dram_hz = row.get("dram_frequency_hz", math.nan)
    return {"sm": sm_hz, "dram": dram_hz if not _nan(dram_hz) else _get(m, "dram__cycles_elapsed.avg.per_second"),
            "l2": _get(m, MEMORY_LEVELS["l2"]["clock"]), "l1": _get(m, MEMORY_LEVELS["l1"]["clock"])}


# ---------------------------------------------------------------------------------------------- tensor


def tensor_paths(m: dict) -> dict[str, tuple[float, float]]:
    """{op path: (ops, ops per cycle at peak)} of the floating-point tensor paths that ran (ops > 0)."""
    used = {}
    for name, value in m.items():
        match = TENSOR_PATH.match(name)
        if match and not _nan(value) and value > 0:
            path = name.removeprefix("sm__ops_path_tensor_op_").removesuffix(".sum")
            used[path] = (float(value), _get(m, f"{name}.peak_sustained"))
    return used


def _tensor_family(m: dict) -> str | None:
    """Which MMA family ran, from the tensor-pipe instruction counters (a capture without op-path metrics): the
    lean capture's counts, else the full set's %. wgmma kernels also issue a few mma.sync: gmma wins."""
    for op, family in (("gmma", "hgmma"), ("hmma", "hmma")):
        for suffix in (".sum", ".sum.pct_of_peak_sustained_active"):
            value = _get(m, f"sm__inst_executed_pipe_tensor_op_{op}{suffix}")
            if not math.isnan(value) and value > 0:
                return family
    return None


def tensor_peak(m: dict, row: dict, tensor: dict[str, float], sm_hz: float, seconds: float) -> dict:
    """The dense peak of the path(s) the kernel used, and its tensor % against them.

    With op-path metrics: each path's ops at its own peak (one path: exactly ncu's pct_of_peak_sustained_elapsed).
    Without: the aggregate peak ÷ the catalog's aggregate-per-dense share of the family that ran (SM 9.0)."""
    paths = tensor_paths(m)
    main_type = max((t for t in tensor if t != "int8" and not _nan(tensor[t]) and tensor[t] > 0),
                    key=lambda t: tensor[t], default=None)
    out = {"tensor_type": main_type, "tensor_path": None, "tensor_peak_basis": None,
           "peak_tensor_flop_per_s": math.nan, "tensor_peak_pct": math.nan}
    if paths and all(not math.isnan(peak) for _, peak in paths.values()):
        main = max(paths, key=lambda p: paths[p][0])
        busy = sum(ops / (peak * sm_hz * seconds) for ops, peak in paths.values())
        out.update(tensor_path=main, tensor_peak_basis="op path peak (sm__ops_path_tensor_op_…peak_sustained)",
                   peak_tensor_flop_per_s=paths[main][1] * sm_hz, tensor_peak_pct=100 * busy)
        return out
    if main_type is None:
        return out
    aggregate = _tensor_ops(m, main_type, ".sum.peak_sustained")
    if main_type.startswith("fp8_"):  # split by sparsity already: the aggregate is the path's own peak
        share, basis = 1.0, "aggregate peak (fp8 runs on warpgroup MMA only)"
        family = "hgmma"
    else:
        family = _tensor_family(m)
        share = TENSOR_AGGREGATE_PER_DENSE.get((str(row.get("compute_capability") or ""), family), math.nan)
        basis = f"aggregate peak ÷ {share:g} (catalog: dense {family} share)" if not math.isnan(share) else None
    peak = aggregate / share * sm_hz
    out.update(tensor_path=f"{family}_src_{main_type}" if family else None, tensor_peak_basis=basis,
               peak_tensor_flop_per_s=peak, tensor_peak_pct=_pct(tensor[main_type] / seconds, peak))
    return out


# ---------------------------------------------------------------------------------------------- memory


def memory_levels(row: dict, m: dict, hz: dict, seconds: float) -> dict:
    """Bytes, bytes/s, peak bytes/s and % of peak of DRAM, L2 and L1, as ncu's hierarchical roofline counts them."""
    out = {}
    dram = row.get("dram_bytes", math.nan)
    rate = row.get("dram_bytes_per_s", math.nan)  # ncu's own dram__bytes.sum.per_second wins where present
    out["dram_bytes_per_s"] = rate if not _nan(rate) else dram / seconds
    peak = _get(m, "dram__bytes.sum.peak_sustained") * hz["dram"]
    if math.isnan(peak):  # DDR: two transfers per memory clock
        peak = _get(m, "device__attribute_memory_clock_rate") * 1e3 * 2 * \
            _get(m, "device__attribute_global_memory_bus_width") / 8
    out["peak_dram_bytes_per_s"] = peak
    out["dram_peak_pct"] = _pct(out["dram_bytes_per_s"], peak)
    for name, level in MEMORY_LEVELS.items():
        per_cycle = _get(m, f"{level['derived']}.sum.peak_sustained")
        if math.isnan(per_cycle):
            per_cycle = _get(m, f"{level['active']}.sum.peak_sustained") * level["bytes_per_cycle"]
        active = _get(m, f"{level['active']}.sum")
        level_bytes = active * level["bytes_per_cycle"]
        level_rate = _get(m, f"{level['derived']}.sum.per_second")
        if math.isnan(level_rate):
            level_rate = _get(m, f"{level['active']}.sum.per_second") * level["bytes_per_cycle"]
        if math.isnan(level_rate):
            level_rate = level_bytes / seconds
        if math.isnan(level_bytes):
            level_bytes = level_rate * seconds
        out[f"{name}_bytes"] = level_bytes
        out[f"{name}_bytes_per_s"] = level_rate
        out[f"peak_{name}_bytes_per_s"] = per_cycle * hz[name]
        pct = _pct(level_rate, out[f"peak_{name}_bytes_per_s"])  # ncu's own % where the clocks are missing
        stated = _get(m, f"{level['active']}.sum.pct_of_peak_sustained_elapsed")
        out[f"{name}_peak_pct"] = pct if not math.isnan(pct) else stated
    return out


# ---------------------------------------------------------------------------------------------- one kernel


def derive_one(row: dict, m: dict) -> dict:
    """Derived columns for one kernel: `row` holds the catalog columns, `m` metric name -> base value."""
    seconds = row.get("duration_ns", math.nan) / 1e9
    hz = clocks(row, m)
    out: dict = {}
    cuda = {kind: sum(_instructions(m, stem) * weight for stem, weight in group)
            for kind, group in FLOP_INSTRUCTIONS.items()}
    tensor = {t: _tensor_ops(m, t) for t in TENSOR_OP_TYPES}
    tensor_flop = _nansum(v for t, v in tensor.items() if t != "int8")
    out.update(fp64_flop=cuda["fp64"], fp32_flop=cuda["fp32"], fp16_flop=cuda["fp16"], tensor_flop=tensor_flop,
               tensor_int_ops=tensor["int8"])
    for t, column in _TENSOR_COLUMNS.items():  # by tensor type (fp8: dense + sparse)
        out[column] = _nansum([out.get(column, math.nan), tensor[t]])
    if all(_nan(v) for v in tensor.values()):  # no aggregates in the report: the op paths by source type
        for path, (ops, _peak) in tensor_paths(m).items():
            column = _TENSOR_COLUMNS[_PATH_TYPE[TENSOR_PATH.match(f"sm__ops_path_tensor_op_{path}.sum")["src"]]]
            out[column] = _nansum([out[column], ops])
        out["tensor_flop"] = tensor_flop = _nansum(out[c] for c in set(_TENSOR_COLUMNS.values()))
        tensor = {**tensor, **{t: out[_TENSOR_COLUMNS[t]] for t in ("fp16", "bf16_dst_fp32", "tf32_dst_fp32")}}
    cuda_flop = _nansum(cuda.values())
    out["flop"] = _nansum([cuda_flop, tensor_flop])
    out["flop_per_s"] = out["flop"] / seconds

    # Ceilings per precision at the clocks ncu saw: CUDA-core FMA peaks, the tensor path's dense peak.
    for kind, (metric, flop_per_inst) in CUDA_CORE_PEAKS.items():
        per_cycle = _get(m, metric)
        if math.isnan(per_cycle):  # the catalog's per-SM rate × the report's SM count
            per_cycle = FMA_PER_SM_PER_CYCLE[kind].get(str(row.get("compute_capability") or ""), math.nan) * \
                _get(m, "device__attribute_multiprocessor_count")
        out[f"peak_{kind}_flop_per_s"] = per_cycle * flop_per_inst * hz["sm"]
    for kind in CUDA_CORE_PEAKS:
        out[f"{kind}_peak_pct"] = _pct(cuda[kind] / seconds, out[f"peak_{kind}_flop_per_s"])
    out.update(tensor_peak(m, row, tensor, hz["sm"], seconds))

    # The dominant precision sets the compute ceiling of the roofline.
    work = {"tensor": tensor_flop, **cuda}
    dominant = max((k for k in work if not _nan(work[k]) and work[k] > 0), key=lambda k: work[k], default="fp32")
    peak_flop = out["peak_tensor_flop_per_s"] if dominant == "tensor" else out[f"peak_{dominant}_flop_per_s"]
    out["compute_precision"] = dominant
    out["peak_compute_flop_per_s"] = peak_flop
    out["compute_peak_pct"] = _pct(work[dominant] / seconds, peak_flop) if not _nan(work[dominant]) else math.nan

    out.update(memory_levels(row, m, hz, seconds))
    dram = row.get("dram_bytes", math.nan)
    out["arithmetic_intensity"] = out["flop"] / dram if not _nan(dram) and dram > 0 else math.nan
    out["ridge_intensity"] = peak_flop / out["peak_dram_bytes_per_s"]
    for level in MEMORY_LEVELS:
        level_bytes = out[f"{level}_bytes"]
        out[f"{level}_intensity"] = out["flop"] / level_bytes if not _nan(level_bytes) and level_bytes > 0 else math.nan
        out[f"{level}_ridge_intensity"] = peak_flop / out[f"peak_{level}_bytes_per_s"]

    waves = row.get("waves_per_sm", math.nan)
    out["sol_bottleneck"] = sol_bottleneck(row.get("sm_throughput_pct"), row.get("memory_throughput_pct"),
                                           _get(m, "launch__waves_per_multiprocessor") if _nan(waves) else waves)
    out["bound"], out["bound_reason"] = bound_class(row, out)
    return out


# ---------------------------------------------------------------------------------------------- bound


def sol_bottleneck(sm: float | None, mem: float | None, waves: float | None) -> str | None:
    """ncu's SOLBottleneck rule (SpeedOfLight section): the title it gives a kernel from SM and memory %."""
    if _nan(sm) or _nan(mem):
        return None
    if sm >= HIGH_THRESHOLD_PCT or mem >= HIGH_THRESHOLD_PCT:
        return "High Throughput"
    if sm < LATENCY_THRESHOLD_PCT and mem < LATENCY_THRESHOLD_PCT:
        return "Small Grid" if not _nan(waves) and waves < WAVES_THRESHOLD else "Latency Issue"
    if abs(sm - mem) >= BALANCED_POINTS:
        return "High Compute Throughput" if sm > mem else "High Memory Throughput"
    return "Balanced Throughput"


def _sol_text(title: str, sm: float, mem: float) -> str:
    return f"ncu: {title} (SM {sm:.1f}% vs memory {mem:.1f}% of peak)"


def bound_class(row: dict, derived: dict) -> tuple[str | None, str | None]:
    sm, mem = row.get("sm_throughput_pct", math.nan), row.get("memory_throughput_pct", math.nan)
    if _nan(mem):
        mem = row.get("dram_throughput_pct", math.nan)
    if _nan(sm) and _nan(mem):
        return None, None
    sm, mem = (0.0 if _nan(sm) else sm), (0.0 if _nan(mem) else mem)
    title = derived.get("sol_bottleneck") or sol_bottleneck(sm, mem, math.nan)
    top, runner = ("compute", "memory") if sm >= mem else ("memory", "compute")
    margin = abs(sm - mem)
    if sm < LATENCY_THRESHOLD_PCT and mem < LATENCY_THRESHOLD_PCT:
        short = LATENCY_THRESHOLD_PCT - max(sm, mem)
        return "latency", (f"latency: SM {sm:.1f}% and memory {mem:.1f}% both < {LATENCY_THRESHOLD_PCT:.0f}% of peak "
                           f"(ncu: {title}); the nearer is {top}, {short:.1f} points short")
    intensity, ridge = derived.get("arithmetic_intensity", math.nan), derived.get("ridge_intensity", math.nan)
    if not (_nan(intensity) or _nan(ridge)) and intensity > 0:
        side = "memory" if intensity < ridge else "compute"
        factor = ridge / intensity if side == "memory" else intensity / ridge
        rel = "below" if side == "memory" else "above"
        return side, (f"roofline: {intensity:.1f} FLOP/B is {factor:.1f}× {rel} the ridge {ridge:.1f} FLOP/B "
                      f"({derived.get('compute_precision')} peak ÷ DRAM peak); {_sol_text(title, sm, mem)}")
    if margin < BALANCED_POINTS:
        return "balanced", (f"balanced: SM {sm:.1f}% vs memory {mem:.1f}% of peak, {margin:.1f} points apart "
                            f"(< ncu's {BALANCED_POINTS:.0f}-point margin: {title}); runner-up {runner}; "
                            "no FLOP/byte counters for a roofline")
    return top, (f"{top}: SM {sm:.1f}% vs memory {mem:.1f}% of peak, {margin:.1f} points ahead of {runner} "
                 f"(ncu: {title}); no FLOP/byte counters for a roofline")


def derive(kernels: pd.DataFrame, metrics_by_kernel: dict[int, dict]) -> pd.DataFrame:
    """kernels with the derived columns added (one derive_one per row)."""
    records = [derive_one(row, metrics_by_kernel.get(row["kernel_id"], {})) for row in kernels.to_dict("records")]
    derived = pd.DataFrame.from_records(records, index=kernels.index)
    kernels = kernels.copy()
    for column in derived.columns.intersection(kernels.columns):  # a measured value beats a derived one
        kernels[column] = kernels[column].fillna(derived.pop(column))
    return pd.concat([kernels, derived], axis=1)
