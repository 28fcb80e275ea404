"""The fast NVTX projection against a plain-SQL statement of nsys's definition, on the real captures.

The oracle is nsys's nvtx_gpu_proj_trace query without its R-tree: every GPU op joined to its launching call
(correlation id, same process), every same-thread range containing that call, grouped per range; the parent
is the shortest other range of the thread containing the range. Quadratic, fine for test captures.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from flashsight.parsers import nvtx_projection as proj
from flashsight.parsers.nsys_sqlite import read_nsys
from tests.nsys_report_compare import DATA

CAPTURES = [DATA / "h100_fi" / "fi.sqlite", DATA / "h100_shapes" / "shapes.sqlite",
            DATA / "h100_shapes" / "shapes_graphnodes.sqlite", DATA / "cpu_2022" / "cpu.sqlite"]

RANGES = """
    SELECT rowid AS id, start AS s, ifnull("end", :maxts) AS e, globalTid AS tid
    FROM NVTX_EVENTS WHERE eventType IN (59, 60, 70, 71) AND endGlobalTid IS NULL"""


def _oracle(path, max_ts):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    ops = [f"SELECT start, \"end\", correlationId, globalPid FROM {t}" for t in
           ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET") if t in tables]
    proj_rows = []
    if ops and "CUPTI_ACTIVITY_KIND_RUNTIME" in tables:
        proj_rows = db.execute(f"""
            WITH ops AS ({' UNION ALL '.join(ops)}), rng AS ({RANGES})
            SELECT rng.id, min(op.start), max(op."end"), count(DISTINCT r.correlationId)
            FROM ops AS op
            JOIN CUPTI_ACTIVITY_KIND_RUNTIME AS r
              ON op.correlationId = r.correlationId AND op.globalPid = (r.globalTid & -16777216)
            JOIN rng ON rng.s <= r.start AND rng.e >= r."end" AND rng.tid = r.globalTid
            GROUP BY rng.id""", {"maxts": max_ts}).fetchall()
    parents = db.execute(f"""
        WITH rng AS ({RANGES})
        SELECT c.id, (SELECT p.id FROM rng AS p WHERE p.id != c.id AND p.s <= c.s AND p.e >= c.e
                      AND p.tid = c.tid ORDER BY p.e - p.s, p.s LIMIT 1)
        FROM rng AS c""", {"maxts": max_ts}).fetchall()
    db.close()
    return (pd.DataFrame(proj_rows, columns=["range_id", "gpu_start_ns", "gpu_end_ns", "gpu_op_count"]),
            dict(parents))


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.stem)
def test_projection_and_tree_equal_the_sql_definition(path):
    if not path.is_file():
        pytest.skip(f"{path.name} not present")
    r = read_nsys(path)["nvtx_ranges"]
    max_ts = int(r.loc[r["unclosed"], "end_ns"].iloc[0]) if r["unclosed"].any() else 0
    expected, parents = _oracle(path, max_ts)
    ours = r[r["gpu_op_count"].fillna(0) > 0].set_index("range_id").sort_index()
    expected = expected.set_index("range_id").sort_index()
    assert list(ours.index) == list(expected.index)
    for col in ("gpu_start_ns", "gpu_end_ns", "gpu_op_count"):
        assert (ours[col].astype("int64") == expected[col]).all(), col
    same_thread = r[r["depth"].notna()].set_index("range_id")
    assert set(same_thread.index) == set(parents)
    ours_parent = same_thread["parent"].astype("Float64").fillna(-1).astype(int).to_dict()
    assert ours_parent == {k: (v if v is not None else -1) for k, v in parents.items()}


def test_range_tree_handles_ranges_that_overlap_without_nesting():
    """The shapes capture's se_plain/se_registered overlap on one thread (a start/end range of domain A
    begins inside se_plain and outlives it): both stay roots, and the thread's later ranges still nest."""
    path = DATA / "h100_shapes" / "shapes.sqlite"
    if not path.is_file():
        pytest.skip("shapes capture not present")
    r = read_nsys(path)["nvtx_ranges"].set_index("name", drop=False)
    plain, reg = r.loc["se_plain"], r.loc["se_registered"]
    assert plain["start_ns"] < reg["start_ns"] < plain["end_ns"] < reg["end_ns"]
    assert pd.isna(plain["parent"]) and pd.isna(reg["parent"])
    t = r[(r["tid"] == plain["tid"]) & r["depth"].notna()]
    tid, s, e = (np.zeros(len(t), np.int64), t["start_ns"].to_numpy(np.int64), t["end_ns"].to_numpy(np.int64))
    parent, depth = proj.range_tree(tid, s, e)
    assert (depth == t["depth"].to_numpy()).all()
