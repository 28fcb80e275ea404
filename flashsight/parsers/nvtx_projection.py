"""NVTX ranges projected onto the GPU, computed the way `nsys stats -r nvtx_gpu_proj_trace` defines it.

nsys's definition (its report SQL, 2022.4 to 2025.3):
- a GPU operation (kernel, memcpy, memset) belongs to the CUDA API call with the same correlation id in the
  same process; a range owns the operations whose API call lies entirely inside it ([start, end], ties
  included) on the range's own thread. Ranges that ended on another thread take no part.
- projected start/end = first op start / last op end (gaps included); op count = distinct correlation ids.
- a range's parent is the tightest (shortest) range on the same thread that contains it; the level is the
  depth in that tree; NumChild counts children that have GPU operations themselves.

nsys evaluates this with an R-tree self join in SQLite. Here it is sorting and windows instead, O(n log n):
per thread, API calls sorted by start; a range's calls form one index window [lo, hi) found by binary
search, and min/max/count over every window come from numpy's reduceat in one pass. The parent tree is one
stack sweep per thread (a scan of the open ranges only where ranges overlap without nesting).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_NONE = -1


# --- the range tree --------------------------------------------------------------------------------------


def range_tree(tid: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parent (index into the arrays, -1 for a root) and depth (0 for roots) of each range.

    The parent of a range is the shortest other range of the same thread that contains it
    (start <= its start and end >= its end). Identical ranges: the first in (start, -end, index) order is
    the parent of the next (nsys makes them each other's parent and drops both from its tree).
    """
    n = len(start)
    parent = np.full(n, _NONE, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int64)
    if n == 0:
        return parent, depth
    order = np.lexsort((np.arange(n), -end, start, tid))
    tid_sorted = tid[order]
    cuts = np.flatnonzero(np.diff(tid_sorted)) + 1
    for idx in np.split(order, cuts):
        if not _nested_sweep(idx, start, end, parent, depth):
            _overlap_sweep(idx, start, end, parent, depth)
    return parent, depth


def _nested_sweep(idx, start, end, parent, depth) -> bool:
    """Stack sweep for properly nested ranges; False as soon as two ranges overlap without nesting."""
    s, e, ids = start[idx].tolist(), end[idx].tolist(), idx.tolist()
    stack: list[int] = []  # positions into s/e/ids, innermost last
    par = [_NONE] * len(ids)
    dep = [0] * len(ids)
    for k in range(len(ids)):
        sk, ek = s[k], e[k]
        while stack and e[stack[-1]] < sk:
            stack.pop()
        if stack:
            top = stack[-1]
            if e[top] < ek:
                return False  # top started earlier, ends inside this range: not nested
            par[k] = top
            dep[k] = dep[top] + 1
        stack.append(k)
    ids_arr = np.asarray(ids)
    parent[ids_arr] = [ids[p] if p != _NONE else _NONE for p in par]
    depth[ids_arr] = dep
    return True


def _overlap_sweep(idx, start, end, parent, depth) -> None:
    """General case: the parent is the shortest open range that contains this one."""
    s, e, ids = start[idx].tolist(), end[idx].tolist(), idx.tolist()
    open_: list[tuple[int, int, int]] = []  # (end, length, position)
    dep = [0] * len(ids)
    for k in range(len(ids)):
        sk, ek = s[k], e[k]
        open_ = [o for o in open_ if o[0] >= sk]
        best, best_len = _NONE, None
        for oe, ol, ok in open_:
            if oe >= ek and (best_len is None or ol < best_len):
                best, best_len = ok, ol
        if best != _NONE:
            parent[ids[k]] = ids[best]
            dep[k] = dep[best] + 1
        depth[ids[k]] = dep[k]
        open_.append((ek, ek - sk, k))


# --- API calls -> ranges ---------------------------------------------------------------------------------


def api_ops(ops: pd.DataFrame, api: pd.DataFrame) -> pd.DataFrame:
    """One row per API call that launched GPU work: its thread, times, correlation id, first op start and
    last op end. ops: start, end, correlation_id, global_pid; api: start, end, correlation_id, global_tid.
    """
    api_key = api[["start", "end", "correlation_id", "global_tid"]].copy()
    api_key["global_pid"] = api_key["global_tid"].to_numpy() & ~np.int64(0xFFFFFF)
    api_key["api_row"] = np.arange(len(api_key))
    joined = ops[["start", "end", "correlation_id", "global_pid"]].merge(
        api_key.rename(columns={"start": "api_start", "end": "api_end"}),
        on=["correlation_id", "global_pid"],
        how="inner",
    )
    per_call = joined.groupby("api_row", sort=False).agg(
        op_start=("start", "min"),
        op_end=("end", "max"),
        api_start=("api_start", "first"),
        api_end=("api_end", "first"),
        correlation_id=("correlation_id", "first"),
        global_tid=("global_tid", "first"),
    )
    return per_call.reset_index()


def project(ranges: pd.DataFrame, calls: pd.DataFrame) -> pd.DataFrame:
    """GPU projection per range. ranges: global_tid, start, end; calls: api_ops() output.

    Returns a frame aligned with `ranges`: gpu_start_ns, gpu_end_ns (nullable), gpu_op_count.
    """
    n = len(ranges)
    gpu_start = np.zeros(n, dtype=np.int64)
    gpu_end = np.zeros(n, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    r_tid = ranges["global_tid"].to_numpy(np.int64)
    r_s = ranges["start"].to_numpy(np.int64)
    r_e = ranges["end"].to_numpy(np.int64)
    calls_by_tid = {t: g for t, g in calls.groupby("global_tid", sort=False)} if len(calls) else {}
    for t, r_idx in pd.Series(np.arange(n)).groupby(r_tid).groups.items():
        g = calls_by_tid.get(t)
        if g is None:
            continue
        r_idx = np.asarray(r_idx)
        g = g.sort_values(["api_start", "api_end"], kind="stable")
        a_s, a_e = g["api_start"].to_numpy(np.int64), g["api_end"].to_numpy(np.int64)
        o_s, o_e = g["op_start"].to_numpy(np.int64), g["op_end"].to_numpy(np.int64)
        corr = g["correlation_id"].to_numpy(np.int64)
        lo = np.searchsorted(a_s, r_s[r_idx], "left")  # first call starting at or after the range start
        hi = np.searchsorted(a_s, r_e[r_idx], "right")  # calls starting at or before the range end
        has = lo < hi
        if not has.any():
            continue
        win = r_idx[has]
        lo, hi = lo[has], hi[has]
        last_end = _window_reduce(np.maximum, a_e, lo, hi)
        gs = _window_reduce(np.minimum, o_s, lo, hi)
        ge = _window_reduce(np.maximum, o_e, lo, hi)
        cnt = hi - lo
        unique_corr = not pd.Series(corr).duplicated().any()
        # A call that starts inside the range but ends after it (nested or overlapping calls) or repeated
        # correlation ids: redo those windows exactly.
        slow = np.flatnonzero(last_end > r_e[win]) if unique_corr else np.arange(len(win))
        for k in slow.tolist():
            inside = slice(lo[k], hi[k])
            keep = a_e[inside] <= r_e[win[k]]
            if keep.any():
                gs[k], ge[k] = o_s[inside][keep].min(), o_e[inside][keep].max()
                cnt[k] = len(np.unique(corr[inside][keep]))
            else:
                cnt[k] = 0
        gpu_start[win], gpu_end[win], count[win] = gs, ge, cnt
    has_ops = count > 0
    return pd.DataFrame(
        {
            "gpu_start_ns": nullable_int(gpu_start, has_ops),
            "gpu_end_ns": nullable_int(gpu_end, has_ops),
            "gpu_op_count": count,
        },
        index=ranges.index,
    )


def nullable_int(values: np.ndarray, valid: np.ndarray) -> pd.arrays.IntegerArray:
    """Int64 array holding values where valid, NA elsewhere."""
    return pd.arrays.IntegerArray(np.where(valid, values, 0).astype(np.int64), ~np.asarray(valid, dtype=bool))


def _window_reduce(ufunc, values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """ufunc over values[lo[k]:hi[k]] for every k (all windows non-empty), in one C pass."""
    padded = np.append(values, values[-1])  # hi may equal len(values): keep every index in bounds
    bounds = np.empty(2 * len(lo), dtype=np.int64)
    bounds[0::2], bounds[1::2] = lo, hi
    return ufunc.reduceat(padded, bounds)[0::2]


# --- API calls -> innermost enclosing push/pop range ------------------------------------------------------


def innermost_range(
    r_tid: np.ndarray, r_start: np.ndarray, r_end: np.ndarray, r_parent: np.ndarray,
    c_tid: np.ndarray, c_start: np.ndarray, c_end: np.ndarray,
) -> np.ndarray:
    """For each call, the index of the innermost range of its thread containing [start, end], or -1.

    Start from the last range that started at or before the call, then climb parents until one contains
    the call (nested ranges make the first container met the innermost). Exact when the thread's ranges
    nest, as push/pop ranges of one domain always do; pushes of two domains interleaved without nesting
    can leave a range out of the chain.
    """
    result = np.full(len(c_start), _NONE, dtype=np.int64)
    if len(r_start) == 0 or len(c_start) == 0:
        return result
    order = np.lexsort((r_start, r_tid))
    st, ss = r_tid[order], r_start[order]
    # Candidates: per thread, searchsorted within that thread's block of the sorted ranges.
    tids, first = np.unique(st, return_index=True)
    last = np.append(first[1:], len(st))
    block = np.searchsorted(tids, c_tid)
    block = np.clip(block, 0, len(tids) - 1)
    known = tids[block] == c_tid
    cand = np.full(len(c_start), _NONE, dtype=np.int64)
    for b in np.unique(block[known]).tolist():
        sel = np.flatnonzero(known & (block == b))
        pos = np.searchsorted(ss[first[b]:last[b]], c_start[sel], "right") - 1
        cand[sel] = np.where(pos >= 0, order[first[b] + np.maximum(pos, 0)], _NONE)
    todo = np.flatnonzero(cand != _NONE)
    while len(todo):
        c = cand[todo]
        inside = r_end[c] >= c_end[todo]
        result[todo[inside]] = c[inside]
        climb = todo[~inside]
        cand[climb] = r_parent[cand[climb]]
        todo = climb[cand[climb] != _NONE]
    return result


def paths(labels: pd.Categorical, parent: np.ndarray, depth: np.ndarray, sep: str = "/") -> pd.Categorical:
    """'outer/inner' path of every range from its label and parent, built once per distinct path."""
    n = len(parent)
    codes = np.full(n, _NONE, dtype=np.int64)
    names: list[str] = []
    name_code: dict[str, int] = {}  # two (parent, label) pairs can spell the same path: one category
    index: dict[tuple[int, int], int] = {}
    label_codes = np.asarray(labels.codes, dtype=np.int64)
    label_names = list(labels.categories)
    for level in range(int(depth.max()) + 1 if n else 0):
        at = np.flatnonzero(depth == level)
        par_code = codes[parent[at]] if level else np.full(len(at), _NONE)
        pair_key = (par_code + 1) * (len(label_names) + 1) + (label_codes[at] + 1)
        inv, uniq_keys = pd.factorize(pair_key)
        uniq = np.stack([uniq_keys // (len(label_names) + 1) - 1, uniq_keys % (len(label_names) + 1) - 1], axis=1)
        new = np.empty(len(uniq), dtype=np.int64)
        for u, (pc, lc) in enumerate(uniq.tolist()):
            key = (pc, lc)
            if key not in index:
                text = label_names[lc] if lc >= 0 else ""
                full = text if pc == _NONE else names[pc] + sep + text
                if full not in name_code:
                    name_code[full] = len(names)
                    names.append(full)
                index[key] = name_code[full]
            new[u] = index[key]
        codes[at] = new[inv.ravel()]
    return pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype=object)) if names else \
        pd.Categorical([None] * n)
