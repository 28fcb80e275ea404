"""Users' own workloads: a Python file and a package.module:function, run for real by `flashsight run`."""

import json
import sys

import pytest
from click.testing import CliRunner

from flashsight.cli import main
from flashsight.orchestrator.targets import resolve_target
from tests import DATA as TEST_DATA

DATA = TEST_DATA / "workloads"


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_a_python_file_gets_its_params_and_job_dir_and_its_result_is_printed(tmp_path):
    out = tmp_path / "job"
    result = run("run", str(DATA / "echo_params.py"), "-p", "x=1", "-p", "name=abc", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed == {"params": {"x": 1, "name": "abc"}, "doubled": 2, "profiler": ""}
    assert json.loads((out / "result.json").read_text()) == printed
    job = json.loads((out / "job.json").read_text())
    assert job["status"] == "succeeded" and job["tool"] == "none" and job["params"] == {"x": 1, "name": "abc"}
    assert (out / "env.json").exists() and (out / "job.log").exists()


def test_a_module_function_is_imported_from_the_callers_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(DATA)
    out = tmp_path / "job"
    result = run("run", "fs_echo_mod:add", "-p", "a=2", "-p", "b=3.5", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"got": {"a": 2, "b": 3.5}, "sum": 5.5}
    assert json.loads((out / "result.json").read_text())["sum"] == 5.5


def test_a_workload_that_writes_nothing_still_succeeds(tmp_path, monkeypatch):
    monkeypatch.chdir(DATA)
    result = run("run", "fs_echo_mod:quiet", "--out", str(tmp_path / "job"))
    assert result.exit_code == 0, result.output
    assert "wrote no result.json" in result.output
    assert "ran without params" in (tmp_path / "job" / "job.log").read_text()


@pytest.mark.parametrize("workload, cwd, message", [
    ("fs_echo_mod:crash", DATA, "flashsight: error: workload failed: exit code 3"),
    ("no_such_module_xyz:fn", DATA, "flashsight: error: workload failed: exit code 2: flashsight: error: "
                                    "no_such_module_xyz:fn: no module named 'no_such_module_xyz'"),
    ("fs_echo_mod:missing", DATA, "flashsight: error: workload failed: exit code 2: flashsight: error: "
                                  "fs_echo_mod:missing: fs_echo_mod has no attribute 'missing'"),
    ("missing_workload.py", None, "flashsight: error: missing_workload.py: no such file\n"),
])
def test_failures_are_one_line_and_non_zero(tmp_path, monkeypatch, workload, cwd, message):
    monkeypatch.chdir(cwd or tmp_path)
    result = run("run", workload, "--out", str(tmp_path / "job"))
    assert result.exit_code != 0
    assert result.output.startswith(message) and result.output.count("\n") == 1, result.output


def test_external_targets_pass_params_through_and_take_the_users_nvtx_filter(monkeypatch):
    monkeypatch.chdir(DATA)
    target = resolve_target("echo_params.py", {"batch": "128", "flag": "true", "name": "x y", "f": 1.5},
                            ["mydomain@step/"])
    assert target.argv == [sys.executable, str(DATA / "echo_params.py")]
    assert target.params == {"batch": 128, "flag": True, "name": "x y", "f": 1.5}
    assert target.nvtx_includes == ["mydomain@step/"] and target.measured_range is None
    module = resolve_target("fs_echo_mod:add", {})
    assert module.argv == [sys.executable, "-m", "flashsight.workloads.external", "fs_echo_mod:add",
                           "--sys-path", str(DATA)]
    assert module.nvtx_includes == []


def test_a_builtin_keeps_its_own_filter_unless_the_user_gives_one():
    default = resolve_target("rmsnorm", {"batch": "8"})
    assert default.nvtx_includes == [f"flashsight@{default.measured_range}/"]
    assert resolve_target("rmsnorm", {}, ["regex:.*"]).nvtx_includes == ["regex:.*"]
