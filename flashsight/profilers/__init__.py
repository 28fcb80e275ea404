"""One adapter per profiler (none, nsys, ncu) behind one interface (base.Profiler): locate the tool, build the
argv, name and convert its artifacts, check a finished job. No tool branch lives outside this package.

`read_capture` is the one reader of any capture a user or a job hands over: nsys reports are converted
(.qdstrm imported, .nsys-rep exported to SQLite) with the tool, then the parsers read files only.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from flashsight.profilers.base import TOOLS, Profiler, ToolOptions, get_profiler

__all__ = ["TOOLS", "Profiler", "ToolOptions", "get_profiler", "read_capture", "read_captures"]


def read_capture(path: Path, export_dir: Path | None = None) -> dict[str, pd.DataFrame]:
    """The canonical tables of one capture: .sqlite / .nsys-rep / .qdstrm / .ncu-rep / ncu CSV page."""
    from flashsight.parsers import read_input
    from flashsight.profilers.nsys import needs_export, to_sqlite

    path = Path(path)
    if needs_export(path):
        path = to_sqlite(path, out_dir=export_dir)
    return read_input(path)


def read_captures(paths: list[Path]) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every capture read (see parsers.read_inputs for the failure policy), nsys reports converted first."""
    from flashsight.parsers import read_inputs

    return read_inputs(list(paths), reader=read_capture)
