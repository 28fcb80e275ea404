"""Benchmark: what the damage checks on opening an nsys export cost, beside the parse they guard.

Builds a large export by replicating the committed H100 FlashInfer capture (tests/data/nsys/h100_fi/fi.sqlite:
its kernels, memcpys, CUDA API calls and NVTX ranges, shifted in time and correlation id per copy), then times,
each in a child process of its own (warm page cache, best of --repeat):
  checks:    flashsight.parsers.nsys_checks on the opened export (quick_check, value scans, table consistency)
  parse:     flashsight.parsers.nsys_sqlite.read_nsys (every table, NVTX projection; checks included)
and prints both with the checks' share of the parse.

Usage: python3 benchmarks/nsys_checks.py --out DIR [--copies 8000] [--repeat 3] [--reuse]
(8000 copies: 1.26M rows, ~63 MB; 63,500 copies: ~10M rows, ~0.5 GB and ~10 GB of RAM for the parse.)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "data" / "nsys" / "h100_fi" / "fi.sqlite"
TABLES = ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_RUNTIME", "NVTX_EVENTS")


def build(dst: Path, copies: int) -> dict[str, int]:
    shutil.copy(SOURCE, dst)
    dst.chmod(0o644)
    db = sqlite3.connect(dst)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    span = max(db.execute(f'SELECT max(coalesce("end", start)) - min(start) + 1 FROM {t}').fetchone()[0]
               for t in TABLES)
    corr = db.execute("SELECT max(correlationId) + 1 FROM CUPTI_ACTIVITY_KIND_RUNTIME").fetchone()[0]
    db.execute("CREATE TEMP TABLE k (k INTEGER PRIMARY KEY)")
    db.executemany("INSERT INTO k VALUES (?)", [(i,) for i in range(1, copies)])
    rows = {}
    for table in TABLES:
        cols = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]
        expr = {c: f'"{c}" + k.k * {span}' if c in ("start", "end") else
                (f'"{c}" + k.k * {corr}' if c == "correlationId" else f'"{c}"') for c in cols}
        where = " WHERE t.eventType IN (59, 60, 70, 71)" if table == "NVTX_EVENTS" else ""
        db.execute(f'CREATE TEMP TABLE base AS SELECT * FROM "{table}" AS t{where}')
        db.execute(f'INSERT INTO "{table}" ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
                   f'SELECT {", ".join(expr[c] for c in cols)} FROM base, k')
        db.execute("DROP TABLE base")
        rows[table] = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        db.commit()
    db.execute("VACUUM")
    db.close()
    return rows


CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
what, path, repeat = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
from flashsight.parsers import nsys_checks, nsys_export
from flashsight.parsers.nsys_sqlite import read_nsys
best = {}
for _ in range(repeat):
    t0 = time.perf_counter()
    if what == "checks":
        header = open(path, "rb").read(100)
        conn = nsys_checks.connect_read_only(path, header)
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        e = nsys_export.Export(path, conn, {n: [r[1] for r in conn.execute(f'PRAGMA table_info("{n}")')] for n in names})
        parts = {}
        for name, fn in (("quick_check", nsys_checks.check_structure), ("values", nsys_checks.check_values),
                         ("complete", nsys_checks.check_complete)):
            t = time.perf_counter(); fn(e); parts[name] = time.perf_counter() - t
        conn.close()
    else:
        tables = read_nsys(path)
        parts = {"rows": sum(len(v) for v in tables.values())}
    parts["total"] = time.perf_counter() - t0
    best = parts if not best or parts["total"] < best["total"] else best
print(json.dumps(best))
"""


def timed(what: str, path: Path, repeat: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), what, str(path), str(repeat)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--copies", type=int, default=8000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reuse", action="store_true", help="keep an export already built in --out")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    export = args.out / f"fi_x{args.copies}.sqlite"
    if not (args.reuse and export.exists()):
        t = time.perf_counter()
        rows = build(export, args.copies)
        print(f"built {export} ({export.stat().st_size / 2**20:.0f} MiB, {sum(rows.values()):,} rows: "
              + ", ".join(f"{k.split('_')[-1].lower()} {v:,}" for k, v in rows.items()) + f") in {time.perf_counter() - t:.0f} s")
    checks = timed("checks", export, args.repeat)
    parse = timed("parse", export, args.repeat)
    result = {"export_bytes": export.stat().st_size, "checks_s": checks, "parse_s": parse,
              "checks_share_of_parse": checks["total"] / parse["total"]}
    print(f"{'':<26}{'seconds':>9}")
    for name in ("quick_check", "values", "complete"):
        print(f"  checks: {name:<16}{checks[name]:>9.3f}")
    print(f"{'checks (all)':<26}{checks['total']:>9.3f}")
    print(f"{'read_nsys (checks incl.)':<26}{parse['total']:>9.3f}   {parse['rows']:,} rows")
    print(f"checks are {100 * result['checks_share_of_parse']:.1f}% of the parse")
    (args.out / "bench_checks.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
