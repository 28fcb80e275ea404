"""Readers for every input format, behind one entry point: `read_input(path) -> {table name: DataFrame}`.

nsys: .sqlite exports (profilers.read_capture exports a .nsys-rep or .qdstrm with nsys first: parsers read files only).
ncu:  .ncu-rep reports (through the official ncu_report module) and CSV pages (raw, details, source).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from flashsight.errors import FlashsightError, InputError

NSYS_SUFFIXES = (".sqlite", ".nsys-rep", ".qdstrm")
NCU_SUFFIXES = (".ncu-rep", ".csv")
_SQLITE_MAGIC = b"SQLite format 3\x00"


def input_kind(path: Path) -> str:
    """'nsys' or 'ncu', from the suffix (and the SQLite header for odd names); InputError otherwise."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a capture (give the .sqlite/.nsys-rep/.ncu-rep/.csv)")
    suffix = path.suffix.lower()
    if suffix in NSYS_SUFFIXES:
        return "nsys"
    if suffix in NCU_SUFFIXES:
        return "ncu"
    with open(path, "rb") as f:
        if f.read(16) == _SQLITE_MAGIC:
            return "nsys"
    raise InputError(f"{path}: not a recognised capture (expected {', '.join(NSYS_SUFFIXES + NCU_SUFFIXES)})")


def read_input(path: Path) -> dict[str, pd.DataFrame]:
    path = Path(path)
    if input_kind(path) == "nsys":
        from flashsight.parsers.nsys_sqlite import read_nsys

        return read_nsys(path)
    from flashsight.parsers.ncu_report import read_ncu

    return read_ncu(path)


def read_inputs(paths: list[Path], reader=None) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Read every input; a failing one is reported and the others still produce their tables.

    Tables of several inputs are concatenated with a `source_file` column naming the input.
    Returns (tables, failures: path -> one-line reason).
    """
    per_table: dict[str, list[pd.DataFrame]] = {}
    failures: dict[str, str] = {}
    reports = [Path(p) for p in paths if Path(p).suffix.lower() == ".ncu-rep" and Path(p).is_file()]
    prefetched = {}
    if len(reports) > 1:  # several reports: read in parallel by the persistent ncu_report readers
        from flashsight.parsers.ncu_report import read_ncu_reports

        prefetched = read_ncu_reports(reports)
    for path in paths:
        try:
            tables = prefetched.get(str(Path(path))) or (reader or read_input)(Path(path))
            if isinstance(tables, FlashsightError):
                raise tables
        except FlashsightError as exc:
            failures[str(path)] = str(exc)
            continue
        for name, df in tables.items():
            per_table.setdefault(name, []).append(df.assign(source_file=str(path)))
    merged = {name: pd.concat(dfs, ignore_index=True) if len(dfs) > 1 else dfs[0]
              for name, dfs in per_table.items()}
    return merged, failures
