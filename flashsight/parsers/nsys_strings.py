"""nsys ingest: the export's string table and the small array helpers every pass builds its columns with.

_Strings reads StringIds once and hands out codes into one sorted list of strings (inline NVTX texts are
appended to it), and turns codes into Arrow dictionary columns; _categorical, _lookup and _ints build the other
columns from numpy arrays; _check_times reads a chunk's start/end and turns damaged values into an InputError.
_PID_SHIFT splits a global thread/process id into pid and tid, as every table needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from flashsight.errors import InputError
from flashsight.parsers.nsys_export import Export
from flashsight.parsers.sqlite_arrow import Chunk, SqliteColumns

_PID_SHIFT = 24


# --- strings ---------------------------------------------------------------------------------------------


class _Strings:
    """StringIds, read once: id -> code into `values` (sorted, distinct); also texts given inline (NVTX text)."""

    def __init__(self, export: Export, cols: SqliteColumns):
        self.path = export.path
        ids, vals = [], []
        if export.has("StringIds"):
            for chunk in cols.chunks("SELECT id, value FROM StringIds", text_columns=("value",)):
                i, ok = chunk.ints("id")
                v = chunk.texts("value").to_pylist()
                ids.extend(i[ok].tolist())
                vals.extend(x for x, good in zip(v, ok) if good)
        self.values: list[str] = sorted({v for v in vals if v is not None})
        self._code = {v: c for c, v in enumerate(self.values)}
        pairs = [(i, self._code[v]) for i, v in zip(ids, vals) if v is not None and i >= 0]
        self.max_id = max((i for i, _ in pairs), default=-1)
        if self.max_id < 50_000_000:
            self.dense = np.full(self.max_id + 2, -1, dtype=np.int32)
            for i, c in pairs:
                self.dense[i] = c
            self.lookup = None
        else:  # very sparse ids: a dict
            self.dense = None
            self.lookup = dict(pairs)

    def codes(self, ids: np.ndarray, valid: np.ndarray, strict: bool = False) -> np.ndarray:
        """Codes of StringIds ids (-1 for NULL or unknown ids). strict: an id with no string (the export lost
        part of StringIds) is an InputError, as for the names a kernel or a call must have."""
        out = np.full(len(ids), -1, dtype=np.int32)
        ok = valid & (ids >= 0)
        wanted = ok.copy() if strict else None
        if self.dense is not None:
            ok &= ids <= self.max_id
            out[ok] = self.dense[ids[ok]]
        else:
            out[ok] = [self.lookup.get(i, -1) for i in ids[ok].tolist()]
        if strict and (wanted & (out < 0)).any():
            used = np.unique(ids[wanted])
            missing = np.unique(ids[wanted & (out < 0)])
            raise InputError(f"{self.path}: StringIds has no string for id {int(missing[0])} "
                             f"({len(missing)} of the {len(used)} ids used here): the export is damaged")
        return out

    def add_texts(self, texts: pa.Array) -> np.ndarray:
        """Codes of inline texts (new strings are appended to `values`); -1 for NULL."""
        enc = texts.dictionary_encode()
        local = enc.dictionary.to_pylist()
        mapping = np.empty(len(local) + 1, dtype=np.int32)
        mapping[-1] = -1
        for k, v in enumerate(local):
            code = self._code.get(v)
            if code is None:
                code = self._code[v] = len(self.values)
                self.values.append(v)
            mapping[k] = code
        idx = enc.indices
        raw = idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64) if idx.null_count else \
            idx.to_numpy(zero_copy_only=False).astype(np.int64)
        return mapping[raw]

    def array(self, codes: np.ndarray, categories: list[str] | None = None) -> pa.DictionaryArray:
        """A dictionary column from codes (-1 = null), with only the strings used as its dictionary."""
        values = self.values if categories is None else categories
        used = np.unique(codes[codes >= 0])
        remap = np.full(len(values) + 1, -1, dtype=np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        local = remap[codes]
        dictionary = pa.array([values[u] for u in used.tolist()], type=pa.string())
        return pa.DictionaryArray.from_arrays(pa.array(local, mask=local < 0, type=pa.int32()), dictionary)


def _categorical(labels: list, codes: np.ndarray) -> pa.DictionaryArray:
    """A dictionary column from python labels (None allowed) and codes into them (-1 = null)."""
    labels = list(labels)
    idx = np.asarray(codes, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(idx, mask=idx < 0, type=pa.int32()),
                                          pa.array(labels, type=pa.string()))


def _lookup(mapping: dict[int, int], values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """mapping[value] per element (an enum id -> a label code), -1 for unknown or missing values."""
    out = np.full(len(values), -1, dtype=np.int32)
    if not mapping:
        return out
    keys = np.array(sorted(mapping), dtype=np.int64)
    codes = np.array([mapping[k] for k in keys.tolist()], dtype=np.int32)
    pos = np.clip(np.searchsorted(keys, values), 0, len(keys) - 1)
    hit = valid & (keys[pos] == values)
    out[hit] = codes[pos[hit]]
    return out


def _ints(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    values = np.asarray(values, dtype=np.int64)
    if valid is None or valid.all():
        return pa.array(values, type=pa.int64())
    return pa.array(values, mask=~valid, type=pa.int64())


def _check_times(table: str, chunk: Chunk, path: Path, end_may_be_null: bool = False):
    """start/end of a chunk as int64, or an InputError for damaged values."""
    start, s_ok = chunk.ints("start")
    end_col = "end" if "end" in chunk.columns else "end_raw"
    end, e_ok = chunk.ints(end_col)
    bad_start = int((~s_ok).sum())
    bad_end = chunk.bad.get(end_col, 0) + (0 if end_may_be_null else int((~e_ok).sum()))
    if bad_start or bad_end:
        raise InputError(f"{path}: {table} has {bad_start + bad_end:,} start/end values that are NULL or not "
                         "integers in one chunk of rows (a damaged export)")
    return start, end, e_ok
