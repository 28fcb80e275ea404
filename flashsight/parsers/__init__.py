"""Readers for every input format, behind one entry point: `read_input(path) -> {table name: DataFrame}`.

nsys: .sqlite exports (profilers.read_capture exports a .nsys-rep or .qdstrm with nsys first: parsers read files only).
ncu:  .ncu-rep reports (through the official ncu_report module) and CSV pages (raw, details, source).

Several inputs (`read_inputs`) become one table set: each table concatenated with a `source_file` column, an
input given twice (the same file, or a copy with the same bytes) read once, and `kernel_id` unique across the
set: each input's ncu kernels are numbered after the previous input's, so `ncu_metrics` joins `ncu_kernels` on
`kernel_id` alone. `ncu_id` keeps ncu's own ID (the ID column of its CSV pages) within its report.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from flashsight.errors import FlashsightError, InputError
from flashsight.parsers.input_file import check_input_file

NSYS_SUFFIXES = (".sqlite", ".nsys-rep", ".qdstrm")
NCU_SUFFIXES = (".ncu-rep", ".csv")
_SQLITE_MAGIC = b"SQLite format 3\x00"


def input_kind(path: Path) -> str:
    """'nsys' or 'ncu', from the suffix (and the SQLite header for odd names); InputError otherwise."""
    path = Path(path)
    check_input_file(path)
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


@dataclass(frozen=True)
class Note:
    """Something a reader of the tables should know about one input: level is 'info' or 'warning'."""

    level: str
    path: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}: {self.text}"


def read_inputs(paths: list[Path], reader=None, resolve=None,
                notes: list[Note] | None = None) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Read every input; a failing one is reported and the others still produce their tables.

    resolve(path) -> the file the reader reads (profilers: an nsys report's SQLite export); duplicates are
    recognised on that file. notes, when a list, receives what was read from each input (kernel counts, NVTX
    ranges) and the duplicates skipped. Returns (tables, failures: path -> one-line reason).
    """
    per_table: dict[str, list[pd.DataFrame]] = {}
    failures: dict[str, str] = {}
    notes = notes if notes is not None else []
    seen = _Seen()
    next_kernel = 0
    prefetched = _prefetch_ncu_reports(paths)
    for path in paths:
        path = Path(path)
        try:
            check_input_file(path)
            same = seen.check(path)
            if same is None and resolve is not None:
                real = Path(resolve(path))
                same = seen.check(real) if real != path else None
            else:
                real = path
            if same is not None:
                notes.append(Note("warning", str(path), f"the same capture as {same}: read once"))
                continue
            tables = prefetched.get(str(real)) or (reader or read_input)(real)
            if isinstance(tables, FlashsightError):
                raise tables
        except FlashsightError as exc:
            failures[str(path)] = str(exc)
            continue
        next_kernel = _number_kernels(tables, next_kernel)
        notes.extend(_what_was_read(str(path), tables))
        for name, df in tables.items():
            per_table.setdefault(name, []).append(df.assign(source_file=str(path)))
    merged = {name: pd.concat(dfs, ignore_index=True) if len(dfs) > 1 else dfs[0]
              for name, dfs in per_table.items()}
    return merged, failures


def _prefetch_ncu_reports(paths: list[Path]) -> dict[str, dict[str, pd.DataFrame] | Exception]:
    """Several .ncu-rep inputs read in parallel by the persistent ncu_report readers: path -> tables or error.

    Only distinct readable regular files are sent; anything else is left to the loop in read_inputs, which
    reports it (or skips the duplicate) exactly as for a single input.
    """
    reports, seen = [], _Seen()
    for p in map(Path, paths):
        if p.suffix.lower() != ".ncu-rep":
            continue
        try:
            check_input_file(p)
            if seen.check(p) is None:
                reports.append(p)
        except (FlashsightError, OSError):
            continue
    if len(reports) < 2:
        return {}
    from flashsight.parsers.ncu_report import read_ncu_reports

    return read_ncu_reports(reports)


class _Seen:
    """Files already read, by identity (device, inode) and, for files of equal size, by content."""

    def __init__(self):
        self.by_inode: dict[tuple[int, int], str] = {}
        self.by_size: dict[int, list[tuple[str, str | None]]] = {}

    def check(self, path: Path) -> str | None:
        """The earlier input this one duplicates, or None (and it is remembered)."""
        st = os.stat(path)
        key = (st.st_dev, st.st_ino)
        if key in self.by_inode:
            return self.by_inode[key]
        self.by_inode[key] = str(path)
        same_size = self.by_size.setdefault(st.st_size, [])
        digest = None
        for i, (other, other_digest) in enumerate(same_size):
            digest = digest or _digest(path)
            other_digest = other_digest or _digest(Path(other))
            same_size[i] = (other, other_digest)
            if digest == other_digest:
                return other
        same_size.append((str(path), digest))
        return None


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=20)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return h.hexdigest()


def _number_kernels(tables: dict[str, pd.DataFrame], first: int) -> int:
    """Shift this input's kernel_id by `first` in every table (ncu_id keeps ncu's own); the next input's first."""
    ids = [df["kernel_id"].dropna() for df in tables.values() if "kernel_id" in df.columns]
    ids = [s for s in ids if len(s)]
    if not ids:
        return first
    if first:
        for name, df in tables.items():
            if "kernel_id" in df.columns:
                df = df.copy()
                df["kernel_id"] = df["kernel_id"] + first
                tables[name] = df
    return int(max(s.max() for s in ids)) + first + 1


def _what_was_read(path: str, tables: dict[str, pd.DataFrame]) -> list[Note]:
    """Kernel counts (a report cut between two kernels reads as a shorter one: this is what a sweep compares
    with what it launched), and a warning when an nsys capture holds no NVTX range."""
    out = []
    if "ncu_kernels" in tables:
        n = len(tables["ncu_kernels"])
        out.append(Note("info", path, f"{n:,} ncu kernel{'' if n == 1 else 's'}"))
    elif "ncu_source" in tables:
        n = tables["ncu_source"][["name", "block"]].drop_duplicates().shape[0]
        out.append(Note("info", path, f"source of {n:,} kernel(s)"))
    if "gpu_kernels" in tables:
        ranges = len(tables.get("nvtx_ranges", ()))
        out.append(Note("info", path, f"{len(tables['gpu_kernels']):,} GPU kernels, {ranges:,} NVTX ranges"))
        if ranges == 0:
            out.append(Note("warning", path, NO_NVTX_WARNING))
    return out


NO_NVTX_WARNING = ("no NVTX range: nvtx_path is empty and measured ranges cannot be found (was NVTX traced? "
                   "under nsys 2022.x the `nvtx` Python package records nothing: nsys's injection predates "
                   "nvtxDomainIsEnabled)")
