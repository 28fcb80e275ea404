"""Shared access to the ncu test captures in tests/data/ncu (stored gzip'ed: .ncu-rep files compress ~10x).

`ncu_file(name)` gives a plain copy in a temporary folder (made once per test session); `ncu_tables(name)` reads
it with flashsight once and caches the tables (treat them as read-only).
"""

from __future__ import annotations

import atexit
import functools
import gzip
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from flashsight.parsers.ncu_report import read_ncu

DATA = Path(__file__).parent / "data" / "ncu"
_TMP = Path(tempfile.mkdtemp(prefix="flashsight-ncu-tests-"))
atexit.register(shutil.rmtree, _TMP, True)


@functools.cache
def ncu_file(name: str) -> Path:
    """tests/data/ncu/<name>(.gz) as a plain file; name may include a sub-folder (h100/full.ncu-rep)."""
    plain = DATA / name
    if plain.exists():
        return plain
    target = _TMP / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(DATA / f"{name}.gz", "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


@functools.cache
def ncu_tables(name: str) -> dict[str, pd.DataFrame]:
    return read_ncu(ncu_file(name))
