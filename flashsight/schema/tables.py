"""The canonical tables: one Arrow schema each, what `conform` casts a table to and `validate` checks.

Every file of a table has one Arrow type per column, empty tables included (a CPU-only capture's empty
gpu_kernels too), so `pyarrow.dataset.dataset([...])` over the files of many captures and runs keeps every row
and value. Repeated text (kernel names, NVTX paths, metric names, a sweep's job_id) is dictionary-encoded:
small in memory for 10M-row tables, and read back by pandas as `category`.

The tables are declared in tables.toml: every column in the order its parsers write it, with its type. Required
columns must be there; optional ones are added as typed nulls when missing, so every file of a table has every
declared column. Columns a table does not declare (a sweep's config parameters, a new metric) are kept with the
type Arrow infers. The columns a sweep or `parse` adds to any table (CONTEXT: `job_id`, `config_id`, `workload`,
`tool`, `source_file`) have one type too, but are never added where missing.

Types were taken from parsing every committed capture (tests/data) and the shared H100 fixtures: nsys 2022.4
(CPU-only), 2024/2025 (H100); ncu .ncu-rep reports and raw/details/source CSV pages.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from flashsight.errors import FlashsightError

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


TYPES: dict[str, pa.DataType] = {"int": INT, "float": FLOAT, "bool": BOOL, "text": TEXT, "label": LABEL,
                                  "utc_time": UTC_TIME}

# The columns a sweep (orchestrator/merge.py) or `parse` (source_file) puts in front of any table; `run` is what
# flashsight.load of several runs adds.
CONTEXT: dict[str, pa.DataType] = {"job_id": LABEL, "config_id": LABEL, "workload": LABEL, "tool": LABEL,
                                   "source_file": LABEL, "run": LABEL}


def _column(name: str, spec: str) -> Column:
    kind, *flags = spec.split()
    return Column(name, TYPES[kind], required=flags == ["required"])


def _load(path: Path) -> dict[str, Table]:
    doc = tomllib.loads(path.read_text())
    return {name: Table(name, t["row"], tuple(_column(c, spec) for c, spec in t["columns"].items()))
            for name, t in doc.items()}


TABLES: dict[str, Table] = _load(Path(__file__).with_name("tables.toml"))


def table_spec(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise SchemaError(f"no schema declared for table {name!r} (declare it in flashsight/schema/tables.toml; "
                          f"known: {', '.join(TABLES)})") from None


def arrow_schema(name: str) -> pa.Schema:
    """The declared columns of a table, in order: the schema to give `pyarrow.dataset.dataset(..., schema=)`."""
    return pa.schema([pa.field(c.name, c.type) for c in table_spec(name).columns])


# The pandas dtype of each declared type in the frames analysis builds (workload_results, job_conditions,
# kernel_observations): nullable ones (float64 holds NaN), so an empty or all-null column keeps its type.
PANDAS_DTYPES: dict[pa.DataType, str] = {INT: "Int64", FLOAT: "float64", BOOL: "boolean", TEXT: "string"}


def pandas_dtypes(name: str) -> dict[str, str]:
    """The declared columns of a table, in order, with their pandas dtypes (int Int64, float float64, bool boolean,
    text string). A table declaring another type (label, utc_time) has no pandas dtype here: SchemaError."""
    spec = table_spec(name)
    odd = [c for c in spec.columns if c.type not in PANDAS_DTYPES]
    if odd:
        kind = next(k for k, t in TYPES.items() if t == odd[0].type)
        raise SchemaError(f"table {name}: column {odd[0].name!r} is declared {kind}, which has no pandas dtype here "
                          "(int, float, bool and text have)")
    return {c.name: PANDAS_DTYPES[c.type] for c in spec.columns}


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
    try:
        table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # e.g. an object column mixing numbers and text
        raise SchemaError(f"table {name}: {str(exc).splitlines()[0]}") from None
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
    meta = dict(table.schema.metadata or {})
    if b"pandas" not in meta or not changed:
        return table
    pandas_meta = json.loads(meta[b"pandas"])
    pandas_meta["columns"] = [c for c in pandas_meta["columns"] if c.get("field_name", c["name"]) not in changed]
    meta[b"pandas"] = json.dumps(pandas_meta).encode()
    return table.replace_schema_metadata(meta)
