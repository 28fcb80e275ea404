"""The derived tables (kernel_observations, workload_results, job_conditions) follow schema/tables.toml: every
declared column, in the declared order, with the pandas dtype of its declared type; the only other columns are the
configs' params. Checked on tables built now (empty, from a real H200 sweep's job directories, from odd records) and
on the files shipped in flashsight/sample and tests/data/runs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import flashsight
from flashsight.analysis import job_conditions, observations, workload_results
from flashsight.parsers import read_input
from flashsight.schema.tables import arrow_schema, pandas_dtypes
from tests.ncu_data import ncu_tables

ROOT = Path(__file__).parents[2]
DERIVED = ("kernel_observations", "workload_results", "job_conditions")
SHIPPED = sorted(p for p in [*(ROOT / "tests" / "data" / "runs").glob("*/*.parquet"),
                             *(ROOT / "flashsight" / "sample").glob("*.parquet")] if p.stem in DERIVED)


def _params(run_dir: Path) -> set[str]:
    jobs = pd.read_parquet(run_dir / "jobs.parquet")
    names = {p for text in jobs["params_json"].dropna() for p in json.loads(text)}
    return names | {f"param_{p}" for p in names}


def assert_follows_schema(frame: pd.DataFrame, table: str, params: set[str] = frozenset()) -> None:
    declared = pandas_dtypes(table)
    assert [c for c in frame.columns if c in declared] == list(declared), f"{table}: declared columns or order"
    assert {c: str(frame[c].dtype) for c in declared} == declared, f"{table}: dtypes"
    assert set(frame.columns) - set(declared) <= set(params), f"{table}: undeclared columns that are not params"


def test_the_analysis_modules_take_their_columns_from_the_schema():
    for module, lead in ((observations, observations._CONFIG_LEAD), (workload_results, workload_results.LEAD),
                         (job_conditions, job_conditions.LEAD)):
        declared = pandas_dtypes(module.TABLE)
        assert {**{c: declared[c] for c in lead}, **module.COLUMNS} == declared
        assert list(declared)[:len(lead)] == lead  # the lead columns come first in the schema too
    assert set(workload_results._FIELDS) <= set(pandas_dtypes("workload_results"))  # no field without a column
    assert set(job_conditions.condition_row({})) == set(job_conditions.COLUMNS)


def test_empty_tables_follow_the_schema():
    assert_follows_schema(observations.kernel_observations({}), "kernel_observations")
    assert_follows_schema(workload_results.workload_results([]), "workload_results")
    assert_follows_schema(job_conditions.job_conditions([]), "job_conditions")


def test_tables_built_from_a_real_sweep_follow_the_schema():
    run_dir = ROOT / "tests" / "data" / "runs" / "h200_small_a"  # job directories, no derived files
    run = flashsight.load(run_dir)
    for table in ("kernel_observations", "workload_results"):
        frame = run.table(table)
        assert len(frame)
        assert_follows_schema(frame, table, _params(run_dir))


def test_observations_of_captures_follow_the_schema():
    """Without a jobs table each measured range is a config: its workload is text too (it was object before)."""
    nsys = read_input(ROOT / "tests" / "data" / "nsys" / "h100_fi" / "fi.sqlite")
    frame = observations.kernel_observations({"gpu_kernels": nsys["gpu_kernels"], **ncu_tables("fi2.ncu-rep")})
    assert len(frame)
    assert_follows_schema(frame, "kernel_observations")


def test_odd_records_keep_the_schema():
    job = {"job_id": "j", "config_id": "c", "workload": "mine.py", "tool": "ncu", "params": {"n": 1}}
    odd_result = {"iters": "many", "timing": {"median_ms": None}, "correctness": {"ok": "yes"}, "host": 3}
    assert_follows_schema(workload_results.workload_results([(job, odd_result)]), "workload_results", {"n"})
    odd_conditions = {"scope": "job", "throttled": "no", "before": {"sm_clock_hz": "fast", "power_w": 90,
                                                                   "throttle_reasons": ["idle"]},
                      "after": {"error": "NVML gone"}}
    assert_follows_schema(job_conditions.job_conditions([(job, odd_conditions)]), "job_conditions")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_shipped_files_follow_the_schema(path):
    schema = pq.read_schema(path)
    declared = arrow_schema(path.stem)
    assert [n for n in schema.names if n in declared.names] == declared.names
    assert {n: schema.field(n).type for n in declared.names} == {f.name: f.type for f in declared}
    assert set(schema.names) - set(declared.names) <= _params(path.parent)
