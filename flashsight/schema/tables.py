"""The canonical tables: one Arrow schema each, what `conform` casts a table to and `validate` checks.

Every file of a table has one Arrow type per column, empty tables included (a CPU-only capture's empty
gpu_kernels too), so `pyarrow.dataset.dataset([...])` over the files of many captures and runs keeps every row
and value. Repeated text (kernel names, NVTX paths, metric names, a sweep's job_id) is dictionary-encoded:
small in memory for 10M-row tables, and read back by pandas as `category`.

A table declares its columns in the order its parsers write them. Required columns must be there; optional
ones are added as typed nulls when missing, so every file of a table has every declared column. Columns a table
does not declare (a sweep's config parameters, a new metric) are kept with the type Arrow infers. The columns a
sweep or `parse` adds to any table (`job_id`, `config_id`, `workload`, `tool`, `source_file`) have one type too,
but are never added where missing.

Types were taken from parsing every committed capture (tests/data) and the shared H100 fixtures: nsys 2022.4
(CPU-only), 2024/2025 (H100); ncu .ncu-rep reports and raw/details/source CSV pages.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from flashsight.errors import FlashsightError
from flashsight.schema.stalls import REASONS

INT = pa.int64()
FLOAT = pa.float64()
BOOL = pa.bool_()
TEXT = pa.large_string()
LABEL = pa.dictionary(pa.int32(), pa.string())  # repeated text, once per file (Parquet reads values back as string)
UTC_TIME = pa.timestamp("us", tz="UTC")


class SchemaError(FlashsightError):
    """A table that does not match its declared schema (a missing required column, a column of the wrong type)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    required: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    row: str  # what one row is
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


def _cols(spec: str, type_: pa.DataType, required: bool = False) -> list[Column]:
    """Columns of one type from a space-separated list of names; a trailing '*' marks one required."""
    return [Column(n.rstrip("*"), type_, required or n.endswith("*")) for n in spec.split()]


def _table(name: str, row: str, *groups: list[Column], order: str) -> Table:
    """A table whose columns come in `order` (space-separated names), each typed by one of the groups."""
    typed = {c.name: c for group in groups for c in group}
    names = order.split()
    assert sorted(names) == sorted(typed), (name, set(names) ^ set(typed))
    return Table(name, row, tuple(typed[n] for n in names))


# The columns a sweep (orchestrator/merge.py) or `parse` (source_file) puts in front of any table.
CONTEXT: dict[str, pa.DataType] = {"job_id": LABEL, "config_id": LABEL, "workload": LABEL, "tool": LABEL,
                                   "source_file": LABEL, "run": LABEL}

TABLES: dict[str, Table] = {t.name: t for t in (
    _table(
        "gpu_kernels", "kernel execution in an nsys capture (times: the GPU's own clock)",
        _cols("start_ns* end_ns* duration_ns* device_id* context_id stream_id* correlation_id* grid_x* grid_y* "
              "grid_z* block_x* block_y* block_z* registers_per_thread static_shared_memory_bytes "
              "dynamic_shared_memory_bytes shared_memory_executed_bytes local_memory_per_thread_bytes grid_id "
              "graph_node_id green_context_id pid tid nvtx_range_id", INT),
        _cols("name* short_name* mangled_name launch_type api_name nvtx_path*", LABEL),
        order="start_ns end_ns duration_ns device_id context_id stream_id correlation_id name short_name "
              "mangled_name grid_x grid_y grid_z block_x block_y block_z registers_per_thread "
              "static_shared_memory_bytes dynamic_shared_memory_bytes shared_memory_executed_bytes "
              "local_memory_per_thread_bytes grid_id graph_node_id launch_type green_context_id pid tid api_name "
              "nvtx_path nvtx_range_id"),
    _table(
        "gpu_memops", "memcpy or memset in an nsys capture",
        _cols("start_ns* end_ns* duration_ns* bytes* value device_id context_id stream_id correlation_id "
              "graph_node_id pid tid nvtx_range_id", INT),
        _cols("op kind* src_kind dst_kind api_name nvtx_path*", LABEL),
        order="start_ns end_ns duration_ns op kind bytes value src_kind dst_kind device_id context_id stream_id "
              "correlation_id graph_node_id pid tid api_name nvtx_path nvtx_range_id"),
    _table(
        "cuda_api", "CUDA runtime or driver call in an nsys capture",
        _cols("start_ns* end_ns* duration_ns* pid* tid* correlation_id* return_value nvtx_range_id", INT),
        _cols("name* symbol api nvtx_path", LABEL),
        order="start_ns end_ns duration_ns name symbol api pid tid correlation_id return_value nvtx_path "
              "nvtx_range_id"),
    _table(
        "nvtx_ranges", "NVTX range instance in an nsys capture, with its GPU projection",
        _cols("range_id start_ns* end_ns* duration_ns* depth* parent pid tid end_tid domain_id category "
              "gpu_start_ns* gpu_end_ns* gpu_projected_ns* gpu_op_count* gpu_child_count", INT),
        _cols("domain* name* style* nvtx_path", LABEL),
        _cols("unclosed", BOOL),
        order="range_id domain name style start_ns end_ns duration_ns unclosed depth parent pid tid end_tid "
              "domain_id category gpu_start_ns gpu_end_ns gpu_projected_ns gpu_op_count gpu_child_count nvtx_path"),
    _table(
        "devices", "GPU of an nsys capture",
        _cols("device_id* sm_count clock_rate_hz total_memory_bytes memory_bandwidth_bytes_per_s l2_cache_bytes "
              "compute_major compute_minor threads_per_warp max_warps_per_sm max_blocks_per_sm "
              "max_threads_per_block max_registers_per_sm max_shared_memory_per_sm_bytes "
              "max_shared_memory_per_block_optin_bytes async_engines cuda_device is_discrete", INT),
        _cols("name* chip_name bus_location uuid compute_capability", TEXT),
        order="device_id name chip_name bus_location uuid sm_count clock_rate_hz total_memory_bytes "
              "memory_bandwidth_bytes_per_s l2_cache_bytes compute_major compute_minor threads_per_warp "
              "max_warps_per_sm max_blocks_per_sm max_threads_per_block max_registers_per_sm "
              "max_shared_memory_per_sm_bytes max_shared_memory_per_block_optin_bytes async_engines cuda_device "
              "is_discrete compute_capability"),
    _table(
        "ncu_kernels", "profiled kernel instance in an ncu report (times and rates: ncu's locked clocks)",
        _cols("kernel_id* grid_size* block_size* duration_ns* dram_bytes* registers_per_thread* process_id "
              "context_id stream_id device_id grid_x grid_y grid_z block_x block_y block_z dram_read_bytes "
              "dram_write_bytes", INT),
        _cols("name* short_name* mangled_name nvtx_domain* nvtx_range* process_name compute_capability "
              "tensor_type bound bound_reason", TEXT),
        _cols("sm_throughput_pct* dram_throughput_pct* tensor_pipe_pct* achieved_occupancy_pct* elapsed_cycles "
              "sm_frequency_hz dram_frequency_hz memory_throughput_pct l1_throughput_pct l2_throughput_pct "
              "dram_bytes_per_s tensor_hmma_inst tensor_gmma_inst theoretical_occupancy_pct "
              "shared_mem_per_block_bytes waves_per_sm issue_active_pct warp_cycles_per_issue fp64_flop fp32_flop "
              "fp16_flop tensor_flop tensor_int_ops flop flop_per_s arithmetic_intensity peak_dram_bytes_per_s "
              "peak_fp32_flop_per_s peak_tensor_flop_per_s dram_peak_pct fp32_peak_pct tensor_peak_pct "
              "compute_peak_pct ridge_intensity", FLOAT),
        order="kernel_id name short_name mangled_name nvtx_domain nvtx_range grid_size block_size duration_ns "
              "sm_throughput_pct dram_throughput_pct dram_bytes tensor_pipe_pct achieved_occupancy_pct "
              "registers_per_thread process_id process_name context_id stream_id device_id compute_capability "
              "grid_x grid_y grid_z block_x block_y block_z elapsed_cycles sm_frequency_hz dram_frequency_hz "
              "memory_throughput_pct l1_throughput_pct l2_throughput_pct dram_read_bytes dram_write_bytes "
              "dram_bytes_per_s tensor_hmma_inst tensor_gmma_inst theoretical_occupancy_pct "
              "shared_mem_per_block_bytes waves_per_sm issue_active_pct warp_cycles_per_issue fp64_flop fp32_flop "
              "fp16_flop tensor_flop tensor_int_ops flop flop_per_s arithmetic_intensity peak_dram_bytes_per_s "
              "peak_fp32_flop_per_s peak_tensor_flop_per_s tensor_type dram_peak_pct fp32_peak_pct "
              "tensor_peak_pct compute_peak_pct ridge_intensity bound bound_reason"),
    _table(
        "ncu_metrics", "(kernel, metric) of an ncu report: the value in base units, as ncu printed it",
        _cols("kernel_id*", INT), _cols("metric* unit*", LABEL), _cols("value*", FLOAT), _cols("text*", TEXT),
        order="kernel_id metric value unit text"),
    _table(
        "warp_stalls", "(kernel, stall reason, source warp_state | pc_sampling)",
        _cols("kernel_id*", INT), _cols("reason* source* metric", TEXT), _cols("value* pct*", FLOAT),
        order="kernel_id reason source value pct metric"),
    _table(
        "ncu_source", "(kernel, SASS instruction): executions and stall samples by reason",
        _cols("kernel_id* block address* cuda_line", INT), _cols("name* sass* cuda_file", TEXT),
        # Counts, but floats: the .ncu-rep reader gets them as floats (whole numbers), the CSV page as ints.
        _cols("inst_executed samples samples_not_issued " + " ".join(f"stall_{r}" for r in REASONS), FLOAT),
        order="kernel_id name block address sass cuda_file cuda_line inst_executed samples "
              + " ".join(f"stall_{r}" for r in REASONS) + " samples_not_issued"),
    _table(
        "ncu_catalog", "(kernel, canonical ncu_kernels column): the ncu metric that filled it",
        _cols("kernel_id*", INT), _cols("column* metric", TEXT), order="kernel_id column metric"),
    _table(
        "ncu_details", "(kernel, row of ncu's details page): section, label and value",
        _cols("kernel_id*", INT), _cols("section* label* metric unit text", TEXT), _cols("value", FLOAT),
        order="kernel_id section label metric value unit text"),
    _table(
        "ncu_rules", "(kernel, rule ncu's details page reports): its finding and estimated speed-up",
        _cols("kernel_id*", INT), _cols("section* rule* type description speedup_type", TEXT),
        _cols("speedup_pct", FLOAT), order="kernel_id section rule type description speedup_type speedup_pct"),
    _table(
        "jobs", "job of a sweep (jobs.parquet), its config parameters as columns between tool and status",
        _cols("job_id* config_id* workload* tool* status* error log_tail ncu_options params_json batch_id "
              "job_dir", TEXT),
        _cols("attempts", INT), _cols("started_at", UTC_TIME), _cols("duration_s", FLOAT),
        order="job_id config_id workload tool status attempts started_at duration_s error log_tail ncu_options "
              "params_json batch_id job_dir"),
    _table(
        "kernel_observations",
        "(config, kernel of the measured step): ncu's counters over the nsys time of the same kernel",
        _cols("config_id* workload* short_name* mangled_name* bound* top_stall*", TEXT),
        _cols("nsys_launches* nsys_median_ns* ncu_duration_ns* dram_bytes*", INT),
        _cols("ncu_sm_frequency_hz* flop* achieved_flop_per_s* achieved_dram_bytes_per_s* tensor_peak_pct* "
              "dram_peak_pct* top_stall_pct*", FLOAT),
        order="config_id workload short_name mangled_name nsys_launches nsys_median_ns ncu_duration_ns "
              "ncu_sm_frequency_hz flop dram_bytes achieved_flop_per_s achieved_dram_bytes_per_s tensor_peak_pct "
              "dram_peak_pct bound top_stall top_stall_pct"),
    _table(
        "workload_results", "job: the workload's own timing, rates and correctness (result.json), with its params",
        _cols("job_id* config_id*", TEXT), order="job_id config_id"),
)}


def table_spec(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise SchemaError(f"no schema declared for table {name!r} (declare it in flashsight/schema/tables.py; "
                          f"known: {', '.join(TABLES)})") from None


def arrow_schema(name: str) -> pa.Schema:
    """The declared columns of a table, in order: the schema to give `pyarrow.dataset.dataset(..., schema=)`."""
    return pa.schema([pa.field(c.name, c.type) for c in table_spec(name).columns])


def declared_type(table: str, column: str) -> pa.DataType | None:
    """The type a column of `table` must have (a declared or context column), None for others."""
    col = table_spec(table).column(column)
    return col.type if col is not None else CONTEXT.get(column)


def conform(df: pd.DataFrame | pa.Table, name: str) -> pa.Table:
    """The table as Arrow with every declared column in its declared type (optional missing ones as nulls).

    Raises SchemaError naming the table and column for a missing required column or a column whose values cannot
    take the declared type (text where numbers belong, fractions where integers belong).
    """
    spec = table_spec(name)
    table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
    missing = [c for c in spec.required if c not in table.column_names]
    if missing:
        raise SchemaError(f"table {name}: required column {missing[0]!r} is missing"
                          + (f" (and {', '.join(missing[1:])})" if missing[1:] else ""))
    changed = []
    for i, field in enumerate(table.schema):
        want = declared_type(name, field.name)
        if want is not None and field.type != want:
            table = table.set_column(i, pa.field(field.name, want), _cast(table.column(i), want, name, field.name))
            changed.append(field.name)
    for col in spec.columns:
        if col.name not in table.column_names:
            table = table.append_column(pa.field(col.name, col.type), pa.nulls(len(table), col.type))
            changed.append(col.name)
    return _pandas_metadata_for(table, changed)


def validate(data: pd.DataFrame | pa.Table, name: str) -> None:
    """Raise SchemaError unless `data` is a valid `name` table.

    An Arrow table (e.g. read back from Parquet) must have every required column and every declared column in
    exactly its declared type; a DataFrame must be one `conform` can cast.
    """
    if isinstance(data, pd.DataFrame):
        conform(data, name)
        return
    spec = table_spec(name)
    for col in spec.required:
        if col not in data.column_names:
            raise SchemaError(f"table {name}: required column {col!r} is missing")
    for field in data.schema:
        want = declared_type(name, field.name)
        if want is not None and field.type != want:
            raise SchemaError(f"table {name}: column {field.name!r} is {field.type}, declared {want}")


def _family(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        return _family(t.value_type)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_timestamp(t):
        return "time"
    return str(t)


def _cast(column: pa.ChunkedArray, want: pa.DataType, table: str, name: str) -> pa.ChunkedArray:
    if column.null_count == len(column):  # empty or all nulls (Arrow's `null` type, all-None objects)
        return pa.chunked_array([pa.nulls(len(column), want)])
    if _family(column.type) != _family(want):
        raise SchemaError(f"table {table}: column {name!r} holds {column.type} values, declared {want}")
    try:
        return column.cast(want)  # safe: a fraction never becomes an integer, nothing overflows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaError(f"table {table}: column {name!r} cannot be {want}: {str(exc).splitlines()[0]}") from None


def _pandas_metadata_for(table: pa.Table, changed: list[str]) -> pa.Table:
    """Keep pandas' dtype notes (a nullable Int64 reads back as Int64) only for the columns left as they were:
    a note about a column's old type would make pandas read its new type wrongly."""
    import json

    meta = dict(table.schema.metadata or {})
    if b"pandas" not in meta or not changed:
        return table
    pandas_meta = json.loads(meta[b"pandas"])
    pandas_meta["columns"] = [c for c in pandas_meta["columns"] if c.get("field_name", c["name"]) not in changed]
    meta[b"pandas"] = json.dumps(pandas_meta).encode()
    return table.replace_schema_metadata(meta)
