"""Measurement conditions: ncu's clock/cache control as a plan option and in the argv, NVML samples around each
job (absent on this machine: no GPU), and the job_conditions / workload_results tables of a real sweep."""

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import flashsight
from flashsight.cli import main
from flashsight.errors import ParamError
from flashsight.host import gpu_state
from flashsight.orchestrator.plan import parse_plan
from flashsight.profilers import ToolOptions, get_profiler
from tests.orchestrator.sweep_support import fault_plan


def _plan(tmp_path: Path, ncu: str):
    text = f'[[jobs]]\nworkload = "rmsnorm"\ntools = ["ncu"]\nparams = {{ batch = [128] }}\nncu = {ncu}\n'
    return parse_plan(text, tmp_path / "p.toml")


def test_clock_control_none_is_validated_passed_to_ncu_and_part_of_the_job_id(tmp_path):
    default = _plan(tmp_path, "{}").jobs[0]
    base = _plan(tmp_path, '{ clock_control = "base" }').jobs[0]
    free = _plan(tmp_path, '{ clock_control = "none", cache_control = "none" }').jobs[0]
    assert base.job_id == default.job_id and "clock_control" not in base.ncu  # ncu's default changes nothing
    assert free.ncu == {"clock_control": "none", "cache_control": "none"} and free.job_id != default.job_id
    ncu = get_profiler("ncu")
    argv = ncu.argv(["python3", "-m", "w"], tmp_path, ["flashsight@r/"], ToolOptions.from_dict(free.ncu))
    assert argv[:5] == ["ncu", "--clock-control", "none", "--cache-control", "none"]
    assert ncu.conditions(argv) == {"ncu_clock_control": "none", "ncu_cache_control": "none"}
    plain = ncu.argv(["t"], tmp_path, [], ToolOptions())
    assert "--clock-control" not in plain
    assert ncu.conditions(plain) == {"ncu_clock_control": "base", "ncu_cache_control": "all"}
    assert get_profiler("nsys").conditions(["nsys", "profile"]) == {}


@pytest.mark.parametrize("bad", ['{ clock_control = "fast" }', '{ cache_control = 1 }'])
def test_a_bad_clock_or_cache_control_is_one_clear_error(tmp_path, bad):
    with pytest.raises(ParamError, match=r"\[\[jobs\]\] #1 ncu\.(clock|cache)_control"):
        _plan(tmp_path, bad)


def test_without_a_gpu_the_sample_says_why():
    sample = gpu_state.sample()
    assert set(sample) == {"error"}
    assert sample["error"].startswith(("NVML unavailable", "nvidia-ml-py is not installed"))
    assert gpu_state.throttled(sample, sample) is None


def test_a_none_sweep_has_workload_results_and_job_conditions(tmp_path):
    """tools = ["none"]: no capture, yet the run has more than jobs.parquet — every result.json as a row and
    every job's conditions (NVML absent here, so nvml_error says why)."""
    plan = fault_plan(tmp_path, {"value": [1, 2, 3]})
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["sweep", str(plan), "--out", str(out)])
    assert result.exit_code == 0, result.output
    results = pd.read_parquet(out / "workload_results.parquet")
    assert sorted(results["value"].tolist()) == [1, 2, 3] and results["tool"].eq("none").all()
    assert results["result_json"].str.contains('"nonce"').all()
    conditions = pd.read_parquet(out / "job_conditions.parquet")
    assert len(conditions) == 3 and conditions["scope"].eq("job").all()
    assert conditions["nvml_error"].notna().all() and conditions["throttled"].isna().all()
    run = flashsight.load(out)
    assert run.table("workload_results").equals(results)
    assert not (out / "kernel_observations.parquet").exists()  # no capture: nothing to join


def test_a_run_without_the_files_builds_them_from_the_job_directories(tmp_path):
    plan = fault_plan(tmp_path, {"value": [7]})
    out = tmp_path / "run"
    assert CliRunner().invoke(main, ["sweep", str(plan), "--out", str(out)]).exit_code == 0
    written = pd.read_parquet(out / "workload_results.parquet")
    (out / "workload_results.parquet").unlink()
    (out / "job_conditions.parquet").unlink()
    run = flashsight.load(out)
    assert {"workload_results", "job_conditions"} <= set(run.table_names)
    rebuilt = run.table("workload_results")
    assert rebuilt.drop(columns=["value"]).equals(written.drop(columns=["value"]))
    assert rebuilt["value"].tolist() == written["value"].tolist() == [7]
    assert run.table("job_conditions")["job_id"].tolist() == written["job_id"].tolist()
