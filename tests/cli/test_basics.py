import importlib.util
import json

import pytest
from click.testing import CliRunner

from flashsight.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_env_without_gpu_says_so_and_exits_zero():
    result = run("env", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert set(info) >= {"gpu", "torch", "flashinfer", "tools"}
    assert info["gpu"]["available"] is False and info["gpu"]["reason"]
    assert run("env").exit_code == 0


def test_workloads_json_lists_params_with_defaults_and_grid():
    described = json.loads(run("workloads", "--json").output)
    rms = next(w for w in described if w["name"] == "rmsnorm")
    batch = next(p for p in rms["params"] if p["name"] == "batch")
    assert batch == {"name": "batch", "type": "int", "default": 128, "help": "rows (tokens)", "min": 1}
    assert rms["study_grid"]["hidden"] == [4096]


def test_bad_input_is_one_line_and_non_zero(tmp_path):
    for args, message in [
        (("run", "rmsnorm", "-p", "batch=x"), "flashsight: error: parameter batch='x': expected int\n"),
        (("run", "nope"), "flashsight: error: unknown workload 'nope' (built-in: "),
        (("parse", str(tmp_path / "missing.sqlite"), "--out", str(tmp_path / "o")),
         f"flashsight: error: {tmp_path / 'missing.sqlite'}: no such file\n"),
    ]:
        result = run(*args)
        assert result.exit_code != 0
        assert result.output.startswith(message) and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "o").exists()


def test_a_foreign_file_is_rejected_by_name(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    result = run("parse", str(junk), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert f"{junk}: not a recognised capture" in result.output


def test_a_users_malformed_result_json_is_a_one_line_failure(tmp_path):
    workload = tmp_path / "bad_result.py"
    workload.write_text('import os, pathlib\n'
                        'pathlib.Path(os.environ["FLASHSIGHT_JOB_DIR"], "result.json").write_text("{not json")\n')
    out = tmp_path / "out"
    result = run("run", str(workload), "--out", str(out))
    assert result.exit_code == 1
    assert result.output.startswith(f"flashsight: error: workload failed: {out / 'result.json'} is not valid JSON")
    assert result.output.count("\n") == 1
    assert (out / "job.json").exists() and (out / "env.json").exists()  # what was written is kept


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed (the GPU machine)")
def test_a_built_in_workload_without_torch_is_one_line(tmp_path):
    result = run("run", "rmsnorm", "-p", "batch=128", "-p", "hidden=4096", "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert result.output == "flashsight: error: rmsnorm: torch is not installed (pip install 'flashsight[gpu]')\n"
