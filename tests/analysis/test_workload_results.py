"""workload_results from real result.json records: the H100 runs of rope and decode (tests/data/workloads/
results_h100) and the ncu job of `flashsight profile rmsnorm` (tests/data/results/rmsnorm_ncu_result.json)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from flashsight.analysis.workload_results import COLUMNS, workload_results

DATA = Path(__file__).parents[1] / "data"
FILES = sorted((DATA / "workloads" / "results_h100").glob("*.json")) + [DATA / "results" / "rmsnorm_ncu_result.json"]


@pytest.fixture(scope="module")
def records():
    out = []
    for i, path in enumerate(FILES):
        result = json.loads(path.read_text())
        job = {"job_id": path.stem, "config_id": f"c{i}", "workload": result["workload"],
               "tool": "ncu" if result.get("profiler") == "ncu" else "none", "params": result["params"]}
        out.append((job, result))
    return out


def test_one_row_per_result_in_the_tables_units(records):
    table = workload_results(records).set_index("job_id")
    assert len(table) == len(FILES) == 6
    for job, result in records:
        row = table.loc[job["job_id"]]
        assert row["median_ns"] == round(result["timing"]["median_ms"] * 1e6)
        assert row["min_ns"] == round(result["timing"]["min_ms"] * 1e6)
        assert row["iters"] == result["iters"] and row["nvtx_range"] == result["nvtx_range"]
        assert row["achieved_bytes_per_s"] == pytest.approx(result["rates"]["achieved_gbps"] * 1e9)
        assert row["achieved_flop_per_s"] == pytest.approx(result["rates"]["achieved_tflops"] * 1e12)
        assert row["analytic_bytes"] == result["rates"]["bytes"]
        assert row["correct"] == result["correctness"]["ok"] and row["numel"] == result["correctness"]["numel"]
        assert row["items_per_s"] == pytest.approx(result["rates"][f"{result['rates']['item_name']}_per_s"])
        assert json.loads(row["result_json"]) == result
        for name, value in job["params"].items():
            assert row[name] == value or (pd.isna(row[name]) and value is None), name


def test_timing_under_ncu_is_not_valid(records):
    """The ncu job's record predates the `timing_valid` field: under ncu the events time ncu's replays."""
    table = workload_results(records).set_index("job_id")
    ncu = table.loc["rmsnorm_ncu_result"]
    assert ncu["profiler"] == "ncu" and ncu["timing_valid"] == False  # noqa: E712 (pandas boolean)
    assert ncu["median_ns"] == 2463966309 and "replays" in ncu["timing_clock"]
    others = table.drop(index="rmsnorm_ncu_result")
    assert others["timing_valid"].all() and others["timing_clock"].str.contains("GPU's own").all()


def test_stable_dtypes_for_any_json():
    odd = [({"job_id": "j", "config_id": "c", "workload": "mine.py", "tool": "none", "params": {"n": 1}},
            {"iters": "many", "timing": {"median_ms": None}, "correctness": {"ok": "yes"}})]
    for table in (workload_results([]), workload_results(odd)):
        for column, dtype in COLUMNS.items():
            assert str(table[column].dtype) == dtype, column
    row = workload_results(odd).iloc[0]
    assert pd.isna(row["iters"]) and pd.isna(row["correct"]) and pd.isna(row["timing_valid"])
