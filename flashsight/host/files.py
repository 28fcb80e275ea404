"""Writing tables and JSON atomically: a temp file beside the target, then a rename.

An interrupted writer leaves either the old file or the new one, never half of one. Every table is checked
against its declared schema (schema/tables.py) first; Parquet files get exactly the declared Arrow types, so all
files of one table agree (empty ones included) and a pyarrow dataset over many runs loses nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from flashsight.schema.tables import conform, validate

FORMATS = ("parquet", "csv", "json")


@contextmanager
def atomic_path(target: Path):
    """Yield a temp path in the target's folder; rename it over the target when the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(obj, target: Path) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    return Path(target)


def write_table(df: pd.DataFrame, out_dir: Path, name: str, fmt: str = "parquet") -> Path:
    """Write one canonical table as <out_dir>/<name>.<fmt> (SchemaError, before anything is written, when it does
    not match its schema)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format {fmt!r} (choose from {', '.join(FORMATS)})")
    arrow = conform(df, name) if fmt == "parquet" else None
    if arrow is None:
        validate(df, name)  # CSV and JSON have no types to give, but the columns must be right
    target = Path(out_dir) / f"{name}.{fmt}"
    with atomic_path(target) as tmp:
        if fmt == "parquet":
            pq.write_table(arrow, tmp)
        elif fmt == "csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_json(tmp, orient="records", lines=True)
    return target


def write_tables(tables: dict[str, pd.DataFrame], out_dir: Path, formats=("parquet",)) -> list[Path]:
    return [write_table(df, out_dir, name, fmt) for name, df in tables.items() for fmt in formats]
