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


def capture_file(path: Path, export_dir: Path | None = None) -> Path:
    """The file the parsers read for a capture: an nsys report's SQLite export (made now if needed), else itself."""
    from flashsight.profilers.nsys import needs_export, to_sqlite

    path = Path(path)
    return to_sqlite(path, out_dir=export_dir) if needs_export(path) else path


def read_capture(path: Path, export_dir: Path | None = None) -> dict[str, pd.DataFrame]:
    """The canonical tables of one capture: .sqlite / .nsys-rep / .qdstrm / .ncu-rep / ncu CSV page."""
    from flashsight.parsers import read_input

    return read_input(capture_file(path, export_dir))


def read_captures(paths: list[Path], notes: list | None = None) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every capture read (see parsers.read_inputs for the failure policy, duplicates and kernel_id), nsys
    reports converted first. notes, when a list, receives parsers.Note records (kernel counts, warnings)."""
    from flashsight.parsers import read_input, read_inputs

    return read_inputs(list(paths), reader=read_input, resolve=capture_file, notes=notes)
