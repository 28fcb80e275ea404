"""The declared tables: every column the parsers write is declared, conform casts to the declared types, and a
table that breaks its schema is one clear error naming the table and the column."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from flashsight.errors import FlashsightError
from flashsight.schema.tables import (CONTEXT, LABEL, TABLES, SchemaError, arrow_schema, conform, declared_type,
                                      pandas_dtypes, validate)
from tests.ncu_data import ncu_tables

# A capture of each reader: nsys 2025 (H100) and 2022 (CPU only); ncu .ncu-rep and the raw, details and source pages.
NCU_CAPTURES = ("dec.ncu-rep", "h100/full.ncu-rep", "dec_raw.csv", "ncsv_details.csv", "ncsv_source_rms.csv")


def _undeclared(tables: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    return {name: [c for c in df.columns if declared_type(name, c) is None] for name, df in tables.items()
            if any(declared_type(name, c) is None for c in df.columns)}


def test_every_column_the_parsers_write_is_declared(fi_tables, cpu_tables):
    seen = set()
    for tables in (fi_tables, cpu_tables, *(ncu_tables(n) for n in NCU_CAPTURES)):
        assert _undeclared(tables) == {}
        seen |= set(tables)
    assert seen == set(TABLES) - {"jobs", "kernel_observations", "workload_results", "job_conditions"}


def test_the_design_contract_columns_are_required():
    assert {"start_ns", "end_ns", "duration_ns", "device_id", "stream_id", "correlation_id", "name", "short_name",
            "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z", "nvtx_path"} == set(TABLES["gpu_kernels"].required)
    assert TABLES["ncu_metrics"].required == ["kernel_id", "metric", "value", "unit", "text"]
    assert TABLES["warp_stalls"].required == ["kernel_id", "reason", "source", "value", "pct"]
    assert TABLES["workload_results"].required == ["job_id", "config_id"]
    assert len(TABLES["kernel_observations"].required) == 17


def test_conform_fills_optional_columns_and_keeps_unknown_ones(fi_tables):
    kernels = fi_tables["gpu_kernels"].drop(columns=["green_context_id"]).assign(batch=4, job_id="j1")
    table = conform(kernels, "gpu_kernels")
    assert table.schema.field("green_context_id").type == pa.int64() and table["green_context_id"].null_count == 29
    assert table.schema.field("batch").type == pa.int64() and table["batch"].to_pylist() == [4] * 29  # a param
    assert table.schema.field("job_id").type == CONTEXT["job_id"] == LABEL
    assert table["name"].to_pylist() == kernels["name"].astype(str).tolist()
    validate(table, "gpu_kernels")


def test_an_empty_table_gets_every_declared_type(cpu_tables):
    assert cpu_tables["gpu_kernels"].empty
    table = conform(cpu_tables["gpu_kernels"], "gpu_kernels")
    assert table.num_rows == 0
    assert {f.name: f.type for f in table.schema} == {f.name: f.type for f in arrow_schema("gpu_kernels")}


def test_a_missing_required_column_names_table_and_column(fi_tables):
    with pytest.raises(SchemaError, match=r"^table gpu_kernels: required column 'name' is missing$"):
        conform(fi_tables["gpu_kernels"].drop(columns=["name"]), "gpu_kernels")
    assert issubclass(SchemaError, FlashsightError)  # the CLI shows it as one line


def test_values_that_cannot_take_the_declared_type_are_refused(fi_tables):
    kernels = fi_tables["gpu_kernels"]
    text = kernels.assign(start_ns=kernels["start_ns"].astype(str))
    with pytest.raises(SchemaError, match=r"table gpu_kernels: column 'start_ns' holds .*string values, declared int64"):
        conform(text, "gpu_kernels")
    fractions = kernels.assign(duration_ns=kernels["duration_ns"] + 0.5)
    with pytest.raises(SchemaError, match=r"table gpu_kernels: column 'duration_ns' cannot be int64"):
        conform(fractions, "gpu_kernels")
    whole = kernels.assign(duration_ns=kernels["duration_ns"].astype(float))  # whole floats are fine
    assert conform(whole, "gpu_kernels")["duration_ns"].to_pylist() == kernels["duration_ns"].tolist()


def test_validate_checks_an_arrow_table_strictly(fi_tables):
    table = conform(fi_tables["nvtx_ranges"], "nvtx_ranges")
    validate(table, "nvtx_ranges")
    i = table.schema.get_field_index("domain")
    loose = table.set_column(i, "domain", table["domain"].cast(pa.large_string()))
    with pytest.raises(SchemaError, match=r"table nvtx_ranges: column 'domain' is large_string, declared dictionary"):
        validate(loose, "nvtx_ranges")
    with pytest.raises(SchemaError, match=r"table nvtx_ranges: required column 'style' is missing"):
        validate(table.drop_columns(["style"]), "nvtx_ranges")


def test_a_table_without_a_schema_is_refused():
    with pytest.raises(SchemaError, match=r"no schema declared for table 'kernel_stats'"):
        conform(pd.DataFrame({"a": [1]}), "kernel_stats")


def test_a_nullable_integer_reads_back_as_it_was_written(tmp_path):
    """conform drops pandas' dtype note only for the columns it changed: ncu_source's kernel_id (Int64 with
    nulls on a source page) reads back as Int64."""
    from flashsight.host.files import write_table

    source = ncu_tables("ncsv_source_rms.csv")["ncu_source"]
    assert str(source["kernel_id"].dtype) == "Int64" and source["kernel_id"].isna().all()
    back = pd.read_parquet(write_table(source, tmp_path, "ncu_source"))
    assert str(back["kernel_id"].dtype) == "Int64" and back["sass"].tolist() == source["sass"].tolist()


def test_ncu_source_declares_a_column_for_every_stall_reason():
    from flashsight.schema.stalls import REASONS

    declared = {c.name for c in TABLES["ncu_source"].columns}
    assert {f"stall_{r}" for r in REASONS} <= declared


def test_a_column_mixing_numbers_and_text_is_refused(fi_tables):
    kernels = fi_tables["gpu_kernels"].head(2).assign(batch=[1, "x"])  # a param of two types
    with pytest.raises(SchemaError, match=r"^table gpu_kernels: .*column batch"):
        conform(kernels, "gpu_kernels")


def test_pandas_dtypes_are_the_declared_types_in_order():
    dtypes = pandas_dtypes("workload_results")
    assert list(dtypes) == [c.name for c in TABLES["workload_results"].columns]
    assert [dtypes[c] for c in ("job_id", "median_ns", "stdev_ns", "correct")] == ["string", "Int64", "float64",
                                                                                    "boolean"]
    with pytest.raises(SchemaError, match=r"^table ncu_metrics: column 'metric' is declared label, which has no "):
        pandas_dtypes("ncu_metrics")
