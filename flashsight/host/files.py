"""Writing tables and JSON atomically: a temp file beside the target, then a rename; and a whole folder of
tables replaced at once (`replace_table_dir`).

An interrupted writer leaves either the old file or the new one, never half of one. Every table is checked
against its declared schema (schema/tables.py) first; Parquet files get exactly the declared Arrow types, so all
files of one table agree (empty ones included) and a pyarrow dataset over many runs loses nothing. Files get
the mode an ordinary open() would give them (0666 less the umask), not mkstemp's 0600, so teammates can read a
shared run.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from flashsight.schema.tables import conform, validate

FORMATS = ("parquet", "csv", "json", "jsonl")  # json: one JSON array of records; jsonl: JSON Lines
TABLE_SUFFIXES = tuple(f".{fmt}" for fmt in FORMATS)


def _current_umask() -> int:
    """The process umask, read without changing it where Linux says it (os.umask is a set-and-restore that
    would race with other threads creating files)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    return 0o666 & ~_current_umask()


def dir_mode() -> int:
    return 0o777 & ~_current_umask()


@contextmanager
def atomic_path(target: Path):
    """Yield a temp path in the target's folder; rename it over the target when the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:200]}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, file_mode())
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
            df.to_json(tmp, orient="records", lines=fmt == "jsonl")
    return target


def write_tables(tables: dict[str, pd.DataFrame], out_dir: Path, formats=("parquet",)) -> list[Path]:
    return [write_table(df, out_dir, name, fmt) for name, df in tables.items() for fmt in formats]


# --- a folder of tables, replaced as a whole -------------------------------------------------------------


def foreign_entries(folder: Path) -> list[str]:
    """Names in a folder that are not table files (nor our own leftover temp files): a folder holding them is
    not ours to replace."""
    return sorted(e.name for e in os.scandir(folder)
                  if not (e.is_file(follow_symlinks=False) and (e.name.endswith(TABLE_SUFFIXES)
                                                                or (e.name.startswith(".") and e.name.endswith(".tmp")))))


def staging_dir(target: Path) -> Path:
    """A new empty folder beside target (same file system, so it can be renamed over it), umask-respecting."""
    target = Path(target)
    path = Path(tempfile.mkdtemp(prefix=f".{target.name[:120]}.new-", dir=target.parent))
    os.chmod(path, dir_mode())
    return path


def replace_table_dir(staged: Path, target: Path) -> None:
    """Put the staged folder where target is, in one step where the kernel allows (renameat2 RENAME_EXCHANGE),
    and remove what was there: no table of the earlier set survives, and a reader never sees a mixture."""
    staged, target = Path(staged), Path(target)
    if not target.exists():
        os.rename(staged, target)
        return
    if _exchange(staged, target):
        shutil.rmtree(staged, ignore_errors=True)  # now holds the old set
        return
    old = target.with_name(f".{target.name[:120]}.old-{os.getpid()}")
    os.rename(target, old)
    try:
        os.rename(staged, target)
    except OSError:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0
