"""nsys ingest, pass 1: the NVTX ranges, read once into compact arrays (Ranges), in start order.

Besides the ranges themselves it holds their tree (nvtx_projection.range_forest, over the ranges that end on
the thread they started on), their domains' names, the push/pop tree and its nvtx_path labels, and
_pp_innermost: the innermost push/pop range of a call, which the CUDA API pass asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from flashsight.errors import InputError
from flashsight.parsers import nvtx_projection as proj
from flashsight.parsers.nsys_export import Export, _query, version_tuple
from flashsight.parsers.nsys_strings import _PID_SHIFT, _check_times, _Strings
from flashsight.parsers.sqlite_arrow import SqliteColumns

# NVTX event types (ENUM_NSYS_EVENT_TYPE): ranges in their two styles, plain and NVTXT-file forms.
PUSHPOP, STARTEND, NVTXT_PUSHPOP, NVTXT_STARTEND, DOMAIN_CREATE = 59, 60, 70, 71, 75
RANGE_TYPES = (PUSHPOP, STARTEND, NVTXT_PUSHPOP, NVTXT_STARTEND)
_PUSHPOP_TYPES = (PUSHPOP, NVTXT_PUSHPOP)


# --- 1. NVTX ranges --------------------------------------------------------------------------------------


@dataclass
class Ranges:
    """The NVTX ranges as compact arrays, in start order (sparse columns as positions + values)."""

    n: int
    range_id: np.ndarray
    start: np.ndarray
    end: np.ndarray
    unclosed: np.ndarray
    gtid: np.ndarray
    pushpop: np.ndarray
    crossed: np.ndarray  # ended on another thread: no part in the projection or the trees
    text: np.ndarray  # string codes (int32, -1 = none)
    domain: np.ndarray  # codes into domain_names (int32, -1 = default domain)
    domain_names: list
    domain_id: np.ndarray  # int32, -1 where NULL (domain_id_ok)
    domain_id_ok: np.ndarray
    sparse: dict  # end_gtid, category: (positions, values)
    # trees and labels
    forest: proj.Forest | None = None  # over elig
    elig: np.ndarray | None = None  # indices of same-thread ranges (None: all of them)
    pp: np.ndarray | None = None  # indices of same-thread push/pop ranges
    pp_path_codes: np.ndarray | None = None  # per pp range: code into path_names
    path_names: list | None = None
    elig_index: proj.RangeIndex | None = None
    pp_of_elig: np.ndarray | None = None  # per elig range: index into pp of it or its nearest push/pop ancestor
    # projection results (per elig range)
    gpu_start: np.ndarray | None = None
    gpu_end: np.ndarray | None = None
    op_count: np.ndarray | None = None

    @property
    def n_elig(self) -> int:
        return self.n if self.elig is None else len(self.elig)

    def elig_full(self) -> np.ndarray:
        return np.arange(self.n) if self.elig is None else self.elig


def _read_ranges(export: Export, cols: SqliteColumns, strings: _Strings) -> Ranges:
    if not export.has("NVTX_EVENTS"):
        return _no_ranges()
    has = lambda c: export.has("NVTX_EVENTS", c)  # noqa: E731
    opt = lambda c: f'"{c}"' if has(c) else "NULL"  # noqa: E731
    types = ",".join(map(str, RANGE_TYPES))
    sql = (f'SELECT rowid AS range_id, start, "end" AS end_raw, eventType AS event_type, '
           f'{opt("textId")} AS text_id, text, globalTid AS global_tid, {opt("endGlobalTid")} AS end_global_tid, '
           f'{opt("domainId")} AS domain_id, {opt("category")} AS category '
           f"FROM NVTX_EVENTS WHERE eventType IN ({types})")
    total = _count(export, sql)
    cat = {k: np.empty(total, dtype=t) for k, t in (
        ("rid", np.int64), ("s", np.int64), ("e", np.int64), ("eok", bool), ("pp", bool), ("txt", np.int32),
        ("g", np.int64), ("cross", bool), ("d", np.int32), ("dok", bool))}
    sparse: dict[str, tuple[list, list]] = {"end_gtid": ([], []), "category": ([], [])}
    offset = 0
    for chunk in cols.chunks(sql, text_columns=("text",), table="NVTX_EVENTS"):
        if offset + chunk.num_rows > total:
            raise InputError(f"{export.path}: NVTX_EVENTS changed while it was read")
        start, end, e_ok = _check_times("NVTX_EVENTS", chunk, export.path, end_may_be_null=True)
        rid, _ = chunk.ints("range_id")
        tid_ids, tid_ok = chunk.ints("text_id")
        code = strings.codes(tid_ids, tid_ok)
        inline = strings.add_texts(chunk.texts("text"))
        code = np.where(code >= 0, code, inline)  # registered string, else the inline text
        et, _ = chunk.ints("event_type")
        g, g_ok = chunk.ints("global_tid")
        d, d_ok = chunk.ints("domain_id")
        for name, col in (("end_gtid", "end_global_tid"), ("category", "category")):
            v, ok = chunk.ints(col)
            where = np.flatnonzero(ok)
            sparse[name][0].append(where + offset)
            sparse[name][1].append(v[where])
        _, eg_ok = chunk.ints("end_global_tid")
        sl = slice(offset, offset + chunk.num_rows)
        for key, val in (("rid", rid), ("s", start), ("e", np.where(e_ok, end, 0)), ("eok", e_ok),
                         ("pp", np.isin(et, _PUSHPOP_TYPES)), ("txt", code), ("g", np.where(g_ok, g, 0)),
                         ("cross", eg_ok), ("d", np.where(d_ok, d, -1)), ("dok", d_ok)):
            cat[key][sl] = val
        offset += chunk.num_rows
    if not offset:
        return _no_ranges()
    if offset < total:
        cat = {k: v[:offset] for k, v in cat.items()}
    sp = {k: (np.concatenate(p) if p else np.zeros(0, np.int64), np.concatenate(v) if v else np.zeros(0, np.int64))
          for k, (p, v) in sparse.items()}
    start = cat["s"]
    if len(start) > 1 and not (start[1:] >= start[:-1]).all():  # by start, as nsys's traces list them
        order = np.argsort(start, kind="stable")
        for k in cat:
            cat[k] = cat[k][order]
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        sp = {k: (rank[p], v) for k, (p, v) in sp.items()}
        del order, rank
    n = len(cat["s"])
    # Unclosed ranges end at the last NVTX timestamp: of range events in newer nsys, of all events in 2022.x.
    scope = "" if version_tuple(export.version) < (2023,) else f"WHERE eventType IN ({types})"
    row = _query(export, f'SELECT max(max(start), max("end")) FROM NVTX_EVENTS {scope}').fetchone()
    max_ts = row[0] if row and isinstance(row[0], int) else 0
    unclosed = ~cat.pop("eok")
    end = cat.pop("e")
    end[unclosed] = max_ts
    domain, domain_names = _domains(export, cols, strings, cat["d"], cat["dok"], cat["g"])
    r = Ranges(
        n=n, range_id=cat["rid"], start=cat["s"], end=end, unclosed=unclosed, gtid=cat["g"],
        pushpop=cat["pp"], crossed=cat["cross"], text=cat["txt"], domain=domain, domain_names=domain_names,
        domain_id=cat["d"], domain_id_ok=cat["dok"], sparse=sp,
    )
    _trees(r, strings)
    return r


def _count(export: Export, sql: str) -> int:
    row = _query(export, f"SELECT count(*) FROM ({sql})").fetchone()
    return int(row[0]) if row and row[0] else 0


def _no_ranges() -> Ranges:
    z = np.zeros(0, dtype=np.int64)
    b = np.zeros(0, dtype=bool)
    i = np.zeros(0, dtype=np.int32)
    r = Ranges(0, z, z, z, b, z, b, b, i, i, [], i, b, {"end_gtid": (z, z), "category": (z, z)})
    r.forest = proj.range_forest(z, z, z)
    r.pp, r.pp_path_codes, r.path_names, r.pp_of_elig = z, z, [], z
    r.gpu_start, r.gpu_end, r.op_count = z, z, z
    return r


def _domains(export, cols, strings, domain_id, domain_ok, gtid):
    """Per range, the code of its domain's name (the domain-create event of the same process, as nsys matches
    it) into a list of names; -1 for the default domain or an unknown one."""
    if not export.has("NVTX_EVENTS", "domainId"):
        return np.full(len(domain_id), -1, dtype=np.int32), []
    has_text_id = export.has("NVTX_EVENTS", "textId")
    rows = []
    sql = (f'SELECT domainId AS domain_id, globalTid AS global_tid, {"textId" if has_text_id else "NULL"} AS text_id, '
           f"text, start FROM NVTX_EVENTS WHERE eventType = {DOMAIN_CREATE}")
    for chunk in cols.chunks(sql, text_columns=("text",)):
        d, d_ok = chunk.ints("domain_id")
        g, _ = chunk.ints("global_tid")
        t, t_ok = chunk.ints("text_id")
        s, _ = chunk.ints("start")
        reg = strings.codes(t, t_ok)
        texts = chunk.texts("text").to_pylist()
        for k in range(chunk.num_rows):
            if not d_ok[k]:
                continue
            name = strings.values[reg[k]] if reg[k] >= 0 else texts[k]
            rows.append((int(s[k]), int(d[k]), (int(g[k]) >> _PID_SHIFT) & 0xFFFFFF, name))
    first: dict[tuple[int, int], str] = {}
    for _, d, pid_key, name in sorted(rows, key=lambda x: x[0]):
        first.setdefault((d, pid_key), name)
    names = sorted({v for v in first.values() if v is not None})
    code_of = {v: i for i, v in enumerate(names)}
    out = np.full(len(domain_id), -1, dtype=np.int32)
    if first:
        pair = np.where(domain_ok, domain_id, -1).astype(np.int64) * (1 << 24) + ((gtid >> _PID_SHIFT) & 0xFFFFFF)
        keys, uniq = pd.factorize(pair)
        per_uniq = np.array([code_of.get(first.get((int(u) >> 24, int(u) & 0xFFFFFF)), -1) for u in uniq.tolist()],
                            dtype=np.int32)
        out = per_uniq[keys]
    return out, names


def _labels(r: Ranges, strings: _Strings, idx: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Path element of each range in idx: its text, prefixed 'domain:' outside the default domain (as nsys
    names it). Built once per distinct (domain, text) pair; returns codes and their labels."""
    if not len(idx):
        return np.zeros(0, dtype=np.int64), []
    pair = r.domain[idx].astype(np.int64) * (len(strings.values) + 2) + r.text[idx].astype(np.int64) + 1
    codes, uniq = pd.factorize(pair)
    labels = []
    for key in uniq.tolist():
        d, t = divmod(key, len(strings.values) + 2)
        text = strings.values[t - 1] if t >= 1 else ""
        labels.append(f"{r.domain_names[d]}:{text}" if d >= 0 else text)
    return codes, labels


def _trees(r: Ranges, strings: _Strings) -> None:
    """nsys's tree (nvtx_gpu_proj_trace: every same-thread range, both styles, all domains), and from it the
    push/pop tree of nvtx_path: where ranges nest, a push/pop range's parent there is its nearest push/pop
    ancestor; segments where ranges overlap without nesting get a push/pop tree of their own."""
    sub = lambda a, i: a if i is None else a[i]  # noqa: E731
    r.elig = None if not r.crossed.any() else np.flatnonzero(~r.crossed).astype(np.int32)
    f = r.forest = proj.range_forest(sub(r.gtid, r.elig), sub(r.start, r.elig), sub(r.end, r.elig))
    r.elig_index = proj.RangeIndex(r.gtid, r.start, r.end, f.parent, f.laminar, idx=r.elig, order=f.order)
    n_e = r.n_elig
    is_pp = sub(r.pushpop, r.elig)
    pp_e = np.flatnonzero(is_pp).astype(np.int32)  # elig positions of push/pop ranges
    pp_pos = np.full(n_e, -1, dtype=np.int32)  # elig position -> pp position
    pp_pos[pp_e] = np.arange(len(pp_e), dtype=np.int32)
    # nearest push/pop ancestor-or-self of every elig range, climbing the forest (as many steps as levels)
    anc = np.where(is_pp, np.arange(n_e, dtype=np.int32), f.parent)
    todo = np.flatnonzero((anc >= 0) & ~is_pp[np.maximum(anc, 0)])
    while len(todo):
        anc[todo] = f.parent[anc[todo]]
        todo = todo[(anc[todo] >= 0) & ~is_pp[np.maximum(anc[todo], 0)]]
    r.pp_of_elig = np.where(anc >= 0, pp_pos[np.maximum(anc, 0)], -1).astype(np.int32)
    # push/pop parent and depth: the nearest push/pop proper ancestor
    up = f.parent[pp_e]
    pp_parent = np.where(up >= 0, r.pp_of_elig[np.maximum(up, 0)], -1).astype(np.int64)
    pp_depth = np.zeros(len(pp_e), dtype=np.int64)
    for d in range(1, int(f.depth.max()) + 1 if n_e else 0):  # parents first: by the forest's depth
        at = np.flatnonzero((f.depth[pp_e] == d) & (pp_parent >= 0))
        pp_depth[at] = pp_depth[pp_parent[at]] + 1
    odd = np.flatnonzero(~f.laminar[pp_e])
    if len(odd):  # overlapping segments: the push/pop ranges there make their own tree
        e_idx = pp_e[odd]
        full = e_idx if r.elig is None else r.elig[e_idx]
        sub_parent, sub_depth = proj.range_tree(r.gtid[full], r.start[full], r.end[full])
        pp_parent[odd] = np.where(sub_parent >= 0, odd[np.maximum(sub_parent, 0)], -1)
        pp_depth[odd] = sub_depth
    r.pp = pp_e if r.elig is None else r.elig[pp_e]
    label_codes, labels = _labels(r, strings, r.pp)
    paths = proj.paths(pd.Categorical.from_codes(label_codes, categories=pd.Index(labels, dtype=object))
                       if labels else pd.Categorical([]), pp_parent, pp_depth)
    r.pp_path_codes = np.asarray(paths.codes, dtype=np.int32)
    r.path_names = list(paths.categories)


def _pp_innermost(r: Ranges, target: np.ndarray, flagged: np.ndarray, gq, start, end) -> np.ndarray:
    """Per call, its innermost enclosing push/pop range (index into r.pp, -1 for none): the nearest push/pop
    ancestor-or-self of its innermost same-thread range; where ranges overlap without nesting, the shortest
    push/pop range among every range containing the call."""
    out = np.where(target >= 0, r.pp_of_elig[np.maximum(target, 0)], -1) if r.n_elig else np.full(len(target), -1)
    fl = np.flatnonzero(flagged)
    if len(fl):
        calls, rngs = r.elig_index.containers(gq[fl], start[fl], end[fl], r.forest.seg_first)
        full = rngs if r.elig is None else r.elig[rngs]
        keep = r.pushpop[full]
        calls, rngs, full = calls[keep], rngs[keep], full[keep]
        out[fl] = -1
        if len(calls):
            length = r.end[full] - r.start[full]
            best = np.lexsort((-r.start[full], length, calls))  # per call: shortest, then latest start first
            first = best[np.r_[True, calls[best][1:] != calls[best][:-1]]]
            out[fl[calls[first]]] = r.pp_of_elig[rngs[first]]
    return out
