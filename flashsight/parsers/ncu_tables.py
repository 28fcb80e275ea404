"""The canonical ncu tables from what every reader produces: an identity row per kernel and a long metrics table.

Both readers (.ncu-rep and CSV) end here, so a report gives the same tables whichever path it took.
"""

from __future__ import annotations

import math

import pandas as pd

from flashsight.schema.metric_catalog import COLUMNS
from flashsight.parsers.ncu_derive import NEEDED_PATTERN, derive, needed_metrics
from flashsight.parsers.warp_stalls import warp_stalls

METRIC_COLUMNS = ["kernel_id", "metric", "value", "unit", "text"]
KERNEL_LEAD = ["kernel_id", "name", "short_name", "mangled_name", "nvtx_domain", "nvtx_range", "grid_size",
               "block_size", "duration_ns", "sm_throughput_pct", "dram_throughput_pct", "dram_bytes",
               "tensor_pipe_pct", "achieved_occupancy_pct", "registers_per_thread"]
_INT_COLUMNS = ("duration_ns", "grid_size", "block_size", "registers_per_thread", "dram_bytes", "dram_read_bytes",
                "dram_write_bytes")


def assemble(identity: pd.DataFrame, metrics: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{ncu_kernels, ncu_metrics, warp_stalls, ncu_catalog} from identity + long metrics."""
    metrics = metrics[METRIC_COLUMNS].reset_index(drop=True)
    metrics["kernel_id"] = metrics["kernel_id"].astype("int64")
    metrics["value"] = metrics["value"].astype("float64")
    wanted = {m for col in COLUMNS for m in col.candidates} | set(needed_metrics())
    names = metrics["metric"].astype(str)
    picked = metrics[(metrics["metric"].isin(wanted) | names.str.match(NEEDED_PATTERN.pattern))
                     & metrics["value"].notna()]
    by_kernel: dict[int, dict] = {int(k): {} for k in identity["kernel_id"]}
    for k, name, value in zip(picked["kernel_id"], picked["metric"].astype(str), picked["value"]):
        by_kernel.setdefault(int(k), {})[name] = value

    rows, chosen = [], []
    for ident in identity.to_dict("records"):
        values = by_kernel.get(int(ident["kernel_id"]), {})
        row = dict(ident)
        for col in COLUMNS:
            metric = next((c for c in col.candidates if c in values), None)
            row[col.name] = values[metric] * col.factor(metric) if metric else math.nan
            chosen.append({"kernel_id": ident["kernel_id"], "column": col.name, "metric": metric})
        _fill_launch_and_bytes(row, chosen)
        rows.append(row)
    kernels = derive(pd.DataFrame(rows), by_kernel)
    for col in _INT_COLUMNS:
        kernels[col] = kernels[col].round().astype("Int64")
    lead = [c for c in KERNEL_LEAD if c in kernels.columns]
    kernels = kernels[lead + [c for c in kernels.columns if c not in lead]]
    return {
        "ncu_kernels": kernels,
        "ncu_metrics": metrics,
        "warp_stalls": warp_stalls(metrics),
        "ncu_catalog": pd.DataFrame(chosen, columns=["kernel_id", "column", "metric"]),
    }


def _product(*dims) -> float:
    if any(d is None or (isinstance(d, float) and math.isnan(d)) for d in dims):
        return math.nan
    return float(math.prod(dims))


def _fill_launch_and_bytes(row: dict, chosen: list[dict]) -> None:
    """Columns with a fallback that is not a single metric: launch sizes from the dims, DRAM bytes from a rate."""
    kid = row["kernel_id"]
    if math.isnan(row["grid_size"]):
        row["grid_size"] = _product(row.get("grid_x"), row.get("grid_y"), row.get("grid_z"))
        _record(chosen, kid, "grid_size", "Grid Size (x·y·z)")
    if math.isnan(row["block_size"]):
        row["block_size"] = _product(row.get("block_x"), row.get("block_y"), row.get("block_z"))
        _record(chosen, kid, "block_size", "Block Size (x·y·z)")
    read, write = row["dram_read_bytes"], row["dram_write_bytes"]
    if not (math.isnan(read) or math.isnan(write)):
        row["dram_bytes"], source = read + write, "dram__bytes_read.sum + dram__bytes_write.sum"
    elif not (math.isnan(row["dram_bytes_per_s"]) or math.isnan(row["duration_ns"])):
        row["dram_bytes"] = row["dram_bytes_per_s"] * row["duration_ns"] / 1e9
        source = "dram__bytes.sum.per_second × gpu__time_duration.sum"
    else:
        row["dram_bytes"], source = math.nan, None
    chosen.append({"kernel_id": kid, "column": "dram_bytes", "metric": source})


def _record(chosen: list[dict], kid, column: str, source: str) -> None:
    for entry in reversed(chosen):
        if entry["kernel_id"] == kid and entry["column"] == column:
            entry["metric"] = source
            return
