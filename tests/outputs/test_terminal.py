"""Terminal renderings of real result records (from the H100 runs recorded in docs/evidence and tests/data)."""

import json
from pathlib import Path

from rich.console import Console

from flashsight.orchestrator.job import JobOutcome
from flashsight.outputs.terminal import print_job
from tests import DATA as TEST_DATA

DATA = TEST_DATA / "results"


def _render(outcome) -> str:
    console = Console(record=True, width=200)
    print_job(outcome, Path("/tmp/job"), console)
    return console.export_text()


def test_a_users_result_without_timing_is_shown_as_json():
    result = {"n": 4096, "ms": 0.29683199524879456}  # what the README's own-workload example wrote on the H100
    text = _render(JobOutcome(tool="ncu", status="succeeded", duration_s=9.4, result=result, tables={"ncu_kernels": 2}))
    assert '"n": 4096' in text and "ncu_kernels" in text


def test_timings_taken_under_ncu_are_not_shown_as_rates():
    result = json.loads((DATA / "rmsnorm_ncu_result.json").read_text())
    assert result["profiler"] == "ncu" and result["timing"]["median_ms"] > 1000  # replay: seconds, not microseconds
    result["timing_valid"] = False  # what the harness now writes under ncu
    text = _render(JobOutcome(tool="ncu", status="succeeded", duration_s=20.0, result=result))
    assert "2463" not in text and "n/a" in text and "kernel durations are in ncu_kernels.parquet" in text
