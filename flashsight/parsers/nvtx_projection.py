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
    order: np.ndarray  # the ranges in (thread, start, -end) order: the sweep's, and RangeIndex's


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
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return Forest(z, z, np.ones(0, dtype=bool), z, z.astype(np.int32))
    tid, start, end = (np.asarray(a, dtype=np.int64) for a in (tid, start, end))
    order = np.lexsort((-end, start, tid))  # stable: identical ranges keep their index order
    t = tid[order]
    s = start[order]
    e = end[order]
    cuts = np.flatnonzero(t[1:] != t[:-1]) + 1
    bounds = np.concatenate(([0], cuts, [n])).tolist()
    seg = np.empty(n, dtype=np.int64)
    dep = np.empty(n, dtype=np.int64)
    seg_base = 0
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        ss, ee = s[lo:hi], e[lo:hi]
        new_seg = np.empty(hi - lo, dtype=bool)
        new_seg[0] = True
        if hi - lo > 1:
            np.greater(ss[1:], np.maximum.accumulate(ee[:-1]), out=new_seg[1:])  # all earlier ranges ended
        seg[lo:hi] = np.cumsum(new_seg)
        seg[lo:hi] += seg_base - 1
        seg_base = int(seg[hi - 1]) + 1
        # open at ss[k]: earlier ranges whose end >= ss[k]; ranges ending before it all come earlier
        dep[lo:hi] = np.arange(hi - lo) - np.searchsorted(np.sort(ee), ss, "left")
    # parent of k: the last position before k at depth dep[k] - 1 (one level up, same segment when nested),
    # found level by level (depths are few; no sort of all ranges)
    par = np.full(n, _NONE, dtype=np.int64)
    above = np.flatnonzero(dep == 0)
    level = 1
    while len(above):
        here = np.flatnonzero(dep == level)
        if not len(here):
            break
        q = np.searchsorted(above, here, "left") - 1
        par[here] = np.where(q >= 0, above[np.maximum(q, 0)], _NONE)
        above, level = here, level + 1
    del above
    has_parent = np.flatnonzero(dep > 0)
    p = par[has_parent]
    bad = has_parent[(p < 0) | (e[np.maximum(p, 0)] < e[has_parent]) | (seg[np.maximum(p, 0)] != seg[has_parent])]
    del p, has_parent
    if dep.min() < 0:  # cannot happen for ranges sorted as above; a guard for the sweep's invariant
        bad = np.concatenate([bad, np.flatnonzero(dep < 0)])
    redo = np.zeros(n, dtype=bool)
    if len(bad):
        redo = np.isin(seg, np.unique(seg[bad]))
        idx = np.flatnonzero(redo)
        sub_parent = np.full(len(idx), _NONE, dtype=np.int64)
        sub_depth = np.zeros(len(idx), dtype=np.int64)
        # the general sweep, once per thread: a segment's ranges have all ended before the next one starts
        cuts = np.flatnonzero(t[idx][1:] != t[idx][:-1]) + 1
        for part in np.split(np.arange(len(idx)), cuts):
            _overlap_sweep(part, s[idx], e[idx], sub_parent, sub_depth)
        par[idx] = np.where(sub_parent >= 0, idx[np.maximum(sub_parent, 0)], _NONE)
        dep[idx] = sub_depth
    del t, s, e
    parent = np.empty(n, dtype=np.int64)
    parent[order] = np.where(par >= 0, order[np.maximum(par, 0)], _NONE)
    del par
    depth = np.empty(n, dtype=np.int64)
    depth[order] = dep
    del dep
    laminar = np.empty(n, dtype=bool)
    laminar[order] = ~redo
    first_of_seg = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    seg_first = np.empty(n, dtype=np.int64)
    seg_first[order] = first_of_seg[seg - seg[0]]
    return Forest(parent.astype(np.int32), depth.astype(np.int32), laminar, seg_first.astype(np.int32),
                  order.astype(np.int32))


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

    tid, start, end: of every range; idx: the ranges that take part (indices into those, None for all);
    parent: per indexed range (range_forest's, indices into idx); laminar (per indexed range, optional): False
    where range_forest found ranges overlapping without nesting: a call whose candidate range lies there is
    flagged so the caller can match it against every range. Results are indices into idx.
    """

    def __init__(self, tid, start, end, parent, laminar=None, idx=None, order=None):
        self.idx = idx
        sub = (lambda a: a) if idx is None else (lambda a: a[idx])  # noqa: E731
        t, s = sub(tid), sub(start)
        self.parent = parent
        self.laminar = np.ones(len(s), dtype=bool) if laminar is None else laminar
        # range_forest's order (outer ranges first), given or computed
        self.order = order if order is not None else np.lexsort((-sub(end), s, t)).astype(np.int32)
        st = t[self.order]  # sorted by thread: its blocks start where the thread changes
        self.first = np.flatnonzero(np.r_[True, st[1:] != st[:-1]]) if len(st) else np.zeros(0, dtype=np.int64)
        self.tids = st[self.first]
        del st
        self.last = np.append(self.first[1:], len(s))
        self.sorted_start = s[self.order]
        self._end, self._start = end, start
        self._pos_of = None

    def end(self, i: np.ndarray) -> np.ndarray:
        return self._end[i] if self.idx is None else self._end[self.idx[i]]

    def start(self, i: np.ndarray) -> np.ndarray:
        return self._start[i] if self.idx is None else self._start[self.idx[i]]

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
            inside = self.end(c) >= c_end[todo]
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
        if self._pos_of is None:  # range -> its position in the sweep's order (once)
            self._pos_of = np.empty(len(self.order), dtype=np.int32)
            self._pos_of[self.order] = np.arange(len(self.order), dtype=np.int32)
        hi = self._pos_of[cand[calls]] + 1
        lo = seg_first[cand[calls]]
        lengths = hi - lo
        call_rep = np.repeat(calls, lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        rng = self.order[np.repeat(lo, lengths) + offsets]
        inside = (self.start(rng) <= c_start[call_rep]) & (self.end(rng) >= c_end[call_rep])
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
