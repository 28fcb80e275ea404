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

from dataclasses import dataclass

import numpy as np
import pandas as pd

_NONE = -1


# --- the range tree --------------------------------------------------------------------------------------


def range_tree(tid: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parent and depth of each range (see forest)."""
    forest = range_forest(tid, start, end)
    return forest.parent, forest.depth


@dataclass
class Forest:
    parent: np.ndarray  # index of the parent range, -1 for a root
    depth: np.ndarray  # 0 for roots
    laminar: np.ndarray  # False for ranges of a segment where ranges overlap without nesting
    seg_first: np.ndarray  # position (in thread, start, -end order) of the first range of the range's segment


def range_forest(tid: np.ndarray, start: np.ndarray, end: np.ndarray) -> Forest:
    """Parent (index into the arrays, -1 for a root) and depth (0 for roots) of each range.

    The parent of a range is the shortest other range of the same thread that contains it
    (start <= its start and end >= its end). Identical ranges: the first in (start, -end, index) order is
    the parent of the next (nsys makes them each other's parent and drops both from its tree).

    One sorted sweep, in numpy: per thread, ranges in (start, -end) order fall into segments (a segment ends
    where every range so far has ended). Where ranges nest, a range's depth is the number of earlier ranges
    still open at its start, and its parent the last earlier range one level up. A segment where that parent
    does not contain the range (ranges overlapping without nesting) is redone by the general sweep.
    """
    n = len(start)
    parent = np.full(n, _NONE, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int64)
    if n == 0:
        return Forest(parent, depth, np.ones(0, dtype=bool), np.zeros(0, dtype=np.int64))
    tid, start, end = (np.asarray(a, dtype=np.int64) for a in (tid, start, end))
    order = np.lexsort((np.arange(n), -end, start, tid))
    t, s, e = tid[order], start[order], end[order]
    cuts = np.flatnonzero(t[1:] != t[:-1]) + 1
    bounds = np.concatenate(([0], cuts, [n]))
    seg = np.empty(n, dtype=np.int64)
    dep = np.empty(n, dtype=np.int64)
    seg_base = 0
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        ss, ee = s[lo:hi], e[lo:hi]
        prev_max = np.empty(hi - lo, dtype=np.int64)
        prev_max[0] = np.iinfo(np.int64).min
        if hi - lo > 1:
            prev_max[1:] = np.maximum.accumulate(ee[:-1])
        new_seg = ss > prev_max  # every earlier range of the thread ended before this one starts
        seg[lo:hi] = seg_base + np.cumsum(new_seg) - 1
        seg_base = int(seg[hi - 1]) + 1
        # open at ss[k]: earlier ranges whose end >= ss[k]; ranges ending before it all come earlier
        dep[lo:hi] = np.arange(hi - lo) - np.searchsorted(np.sort(ee), ss, "left")
    # parent of k: the last position before k at depth dep[k] - 1 (one level up, same segment when nested)
    pos = np.arange(n, dtype=np.int64)
    key = dep * n + pos
    by_key = np.argsort(key, kind="stable")
    sorted_key = key[by_key]
    has_parent = dep > 0
    q = np.searchsorted(sorted_key, (dep[has_parent] - 1) * n + pos[has_parent], "left") - 1
    par = np.full(n, _NONE, dtype=np.int64)
    par[has_parent] = by_key[np.maximum(q, 0)]
    bad = has_parent & ((par < 0) | (e[np.maximum(par, 0)] < e) | (seg[np.maximum(par, 0)] != seg))
    parent_sorted = par
    redo = np.zeros(n, dtype=bool)
    if bad.any():
        redo = np.isin(seg, np.unique(seg[bad]))
        idx = np.flatnonzero(redo)
        sub_parent = np.full(len(idx), _NONE, dtype=np.int64)
        sub_depth = np.zeros(len(idx), dtype=np.int64)
        # the general sweep, once per thread: a segment's ranges have all ended before the next one starts
        cuts = np.flatnonzero(t[idx][1:] != t[idx][:-1]) + 1
        for part in np.split(np.arange(len(idx)), cuts):
            _overlap_sweep(part, s[idx], e[idx], sub_parent, sub_depth)
        parent_sorted[idx] = np.where(sub_parent >= 0, idx[np.maximum(sub_parent, 0)], _NONE)
        dep[idx] = sub_depth
    parent[order] = np.where(parent_sorted >= 0, order[np.maximum(parent_sorted, 0)], _NONE)
    depth[order] = dep
    laminar = np.empty(n, dtype=bool)
    laminar[order] = ~redo
    first_of_seg = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    seg_first = np.empty(n, dtype=np.int64)
    seg_first[order] = first_of_seg[seg - seg[0]] if n else first_of_seg
    return Forest(parent, depth, laminar, seg_first)


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


class RangeIndex:
    """The ranges of every thread sorted by start, for finding a call's innermost enclosing range.

    tid, start, end, parent: per range (parent as returned by range_tree, indices into these arrays).
    `laminar` (per range, optional): False where range_tree found ranges overlapping without nesting; a
    call whose candidate range lies there is flagged so the caller can match it against every range.
    """

    def __init__(self, tid, start, end, parent, laminar=None):
        self.tid, self.start, self.end, self.parent = tid, start, end, parent
        self.laminar = np.ones(len(start), dtype=bool) if laminar is None else laminar
        self.order = np.lexsort((np.arange(len(start)), -end, start, tid))  # the sweep's order: outer first
        st = tid[self.order]
        self.tids, self.first = np.unique(st, return_index=True)
        self.last = np.append(self.first[1:], len(st))
        self.sorted_start = start[self.order]

    def candidates(self, c_tid: np.ndarray, c_start: np.ndarray) -> np.ndarray:
        """Per call, the last range of its thread that started at or before it (-1 for none)."""
        cand = np.full(len(c_start), _NONE, dtype=np.int64)
        if len(self.tids) == 0 or len(c_start) == 0:
            return cand
        block = np.clip(np.searchsorted(self.tids, c_tid), 0, len(self.tids) - 1)
        known = self.tids[block] == c_tid
        for b in np.unique(block[known]).tolist():
            sel = np.flatnonzero(known & (block == b))
            lo, hi = self.first[b], self.last[b]
            pos = np.searchsorted(self.sorted_start[lo:hi], c_start[sel], "right") - 1
            cand[sel] = np.where(pos >= 0, self.order[lo + np.maximum(pos, 0)], _NONE)
        return cand

    def innermost(self, c_tid, c_start, c_end) -> tuple[np.ndarray, np.ndarray]:
        """(innermost enclosing range or -1, flagged) per call: climb from the candidate through its parents
        until one contains the call (for nested ranges the first container met is the innermost).
        flagged: the candidate lies where ranges overlap without nesting (the climb may miss a container)."""
        cand = self.candidates(c_tid, c_start)
        flagged = cand >= 0
        flagged[flagged] = ~self.laminar[cand[flagged]]
        result = np.full(len(c_start), _NONE, dtype=np.int64)
        todo = np.flatnonzero(cand != _NONE)
        while len(todo):
            c = cand[todo]
            inside = self.end[c] >= c_end[todo]
            result[todo[inside]] = c[inside]
            climb = todo[~inside]
            cand[climb] = self.parent[cand[climb]]
            todo = climb[cand[climb] != _NONE]
        return result, flagged

    def containers(self, c_tid, c_start, c_end, seg_first) -> tuple[np.ndarray, np.ndarray]:
        """Every (call, range) pair with the range containing the call, for calls in non-nesting segments:
        each call is checked against the ranges of its segment that started at or before it.
        seg_first: per range, the first range (sweep order position) of its segment."""
        cand = self.candidates(c_tid, c_start)
        ok = cand >= 0
        calls = np.flatnonzero(ok)
        if not len(calls):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        pos_of = np.empty(len(self.order), dtype=np.int64)
        pos_of[self.order] = np.arange(len(self.order))
        hi = pos_of[cand[calls]] + 1
        lo = seg_first[cand[calls]]
        lengths = hi - lo
        call_rep = np.repeat(calls, lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        rng = self.order[np.repeat(lo, lengths) + offsets]
        inside = (self.start[rng] <= c_start[call_rep]) & (self.end[rng] >= c_end[call_rep])
        return call_rep[inside], rng[inside]


def nullable_int(values: np.ndarray, valid: np.ndarray) -> pd.arrays.IntegerArray:
    """Int64 array holding values where valid, NA elsewhere."""
    return pd.arrays.IntegerArray(np.where(valid, values, 0).astype(np.int64), ~np.asarray(valid, dtype=bool))


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
