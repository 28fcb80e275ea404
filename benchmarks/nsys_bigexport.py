"""A large nsys export made from a real one by replicating its rows (for benchmarks/nsys_parse.py).

The source's annotated window W = [first NVTX range start, last range end] is copied `blocks` times, each copy
shifted in time by the window's length (plus 1 us) and in correlation id by the largest id (plus 1): its NVTX
ranges, the CUDA API calls in W that launched GPU work, and those kernels, memcpys and memsets. Rows before W
stay once as they are (set-up), rows after W (tear-down) move behind the last copy. Every relation nsys's
reports use (a call's correlation id and process, a range's thread and interval) holds within each copy and
no copy overlaps another, so `nsys stats` of the result is the source's report repeated: that is what the
benchmark checks flashsight against. API calls that launched nothing are left out of the copies (the source's
set-up creates 128 streams: repeated, they would outnumber the kernels 6 to 1).

The default source, tests/data/nsys/h100_shapes/shapes.sqlite (an H100, nsys 2025.3), holds per window 47
kernels, 8 memcpy/memset, 55 launching calls and 31 NVTX ranges in two domains on two threads: nested
push/pop ranges, overlapping start/end ranges, a range ended on another thread, ranges without GPU work.

Usage: python3 benchmarks/nsys_bigexport.py OUT.sqlite --rows 1000000 [--source SQLITE]
  --rows N: at least N kernels and at least N NVTX ranges.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT / "tests" / "data" / "nsys" / "h100_shapes" / "shapes.sqlite"
RANGE_TYPES = "59, 60, 70, 71"
OPS = ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET")
RUNTIME, NVTX = "CUPTI_ACTIVITY_KIND_RUNTIME", "NVTX_EVENTS"


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]


def _tables(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def window_counts(source: Path) -> dict:
    """What one copy of the source's window holds, and the shifts that keep copies apart."""
    db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        w0, w1 = db.execute(f'SELECT min(start), max("end") FROM {NVTX} WHERE eventType IN ({RANGE_TYPES})').fetchone()
        tables = _tables(db)
        ops = [t for t in OPS if t in tables]
        corr = max(db.execute(f"SELECT max(correlationId) FROM {t}").fetchone()[0] or 0 for t in ops + [RUNTIME])
        counts = {"window": (w0, w1), "period_ns": (w1 - w0) + 1000, "corr_shift": corr + 1, "ops": ops}
        counts["ranges"] = db.execute(
            f'SELECT count(*) FROM {NVTX} WHERE eventType IN ({RANGE_TYPES}) AND start >= ? AND "end" <= ?',
            (w0, w1)).fetchone()[0]
        for t in ops:
            counts[t] = db.execute(_launched_in_window(t, "main"), (w0, w1)).fetchone()[0]
        return counts
    finally:
        db.close()


def _launched_in_window(op_table: str, schema: str, select: str = "count(*)") -> str:
    """Rows of op_table whose launching call (same correlation id and process) starts in W (?, ?)."""
    return f"""SELECT {select} FROM {schema}.{op_table} AS o WHERE EXISTS (
                 SELECT 1 FROM {schema}.{RUNTIME} AS r WHERE r.correlationId = o.correlationId
                   AND (r.globalTid & -16777216) = o.globalPid AND r.start >= ? AND r.start <= ?)"""


def build(source: Path, out: Path, rows: int) -> dict:
    """Write the replicated export to `out`; returns what it holds."""
    info = window_counts(source)
    per_copy = min(info["ranges"], info.get(OPS[0], 0) or info["ranges"])
    blocks = max(1, math.ceil(rows / per_copy))
    w0, w1 = info["window"]
    period, cshift = info["period_ns"], info["corr_shift"]
    last = (blocks - 1) * period
    tmp = out.with_suffix(".partial")
    tmp.unlink(missing_ok=True)
    shutil.copyfile(source, tmp)
    db = sqlite3.connect(tmp)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA temp_store = FILE")
    db.execute("ATTACH DATABASE ? AS src", (f"file:{source}?mode=ro",))
    t0 = time.perf_counter()

    def shifted(table: str, cols: list[str], shift_time: str, shift_corr: str) -> str:
        out_cols = []
        for c in cols:
            q = f'"{c}"'
            if c in ("start", "end"):
                out_cols.append(f"{q} + {shift_time}")
            elif c == "correlationId":
                out_cols.append(f"{q} + {shift_corr}")
            else:
                out_cols.append(q)
        return ", ".join(out_cols)

    copies = f"WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < {blocks - 1})"
    # 1. rows after W move behind the last copy (tear-down); in-window rows get their copies 1..blocks-1.
    for table in [NVTX, RUNTIME, *info["ops"]]:
        cols = _columns(db, table)
        col_list = ", ".join(f'"{c}"' for c in cols)
        if table == NVTX:
            in_window = f'eventType IN ({RANGE_TYPES}) AND start >= {w0} AND "end" <= {w1}'
            after = f"start > {w1}"
        elif table == RUNTIME:
            launched = " OR ".join(
                f"EXISTS (SELECT 1 FROM src.{t} AS o WHERE o.correlationId = s.correlationId "
                f"AND o.globalPid = (s.globalTid & -16777216))" for t in info["ops"])
            in_window = f"start >= {w0} AND start <= {w1} AND ({launched or '0'})"
            after = f"start > {w1}"
        else:
            call = (f"(SELECT r.start FROM src.{RUNTIME} AS r WHERE r.correlationId = s.correlationId "
                    f"AND (r.globalTid & -16777216) = s.globalPid LIMIT 1)")
            in_window = f"{call} BETWEEN {w0} AND {w1}"
            after = f"{call} > {w1}"
        if last:
            db.execute(f'UPDATE main.{table} SET start = start + {last}, "end" = "end" + {last} WHERE rowid IN '
                       f"(SELECT rowid FROM src.{table} AS s WHERE {after})")
        if blocks > 1:
            db.execute(f"CREATE TEMP TABLE block AS SELECT {col_list} FROM src.{table} AS s WHERE {in_window} "
                       f"ORDER BY start")
            db.execute(f"INSERT INTO main.{table} ({col_list}) {copies} SELECT "
                       f"{shifted(table, cols, f'k.n * {period}', f'k.n * {cshift}')} "
                       f"FROM k CROSS JOIN temp.block ORDER BY k.n, temp.block.rowid")
            db.execute("DROP TABLE temp.block")
        db.commit()
    db.execute("DETACH DATABASE src")
    if "TARGET_INFO_SYSTEM_ENV" in _tables(db):  # the profiled process's environment: never carried along
        db.execute("DELETE FROM TARGET_INFO_SYSTEM_ENV")
    db.commit()
    db.close()
    tmp.replace(out)
    result = {"source": str(source), "blocks": blocks, "build_s": time.perf_counter() - t0,
              "sqlite_bytes": out.stat().st_size}
    db = sqlite3.connect(f"file:{out}?mode=ro", uri=True)
    result["ranges"] = db.execute(f"SELECT count(*) FROM {NVTX} WHERE eventType IN ({RANGE_TYPES})").fetchone()[0]
    for t in info["ops"] + [RUNTIME]:
        result[t] = db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
    db.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--rows", type=int, default=1_000_000, help="at least this many kernels and NVTX ranges")
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = ap.parse_args()
    if not args.source.is_file():
        sys.exit(f"{args.source}: no such file")
    print(build(args.source, args.out, args.rows))


if __name__ == "__main__":
    main()
