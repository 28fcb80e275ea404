"""--resume without a plan file re-reads the stored plan: relative workload files still resolve."""

from click.testing import CliRunner

from flashsight.cli import main

WORKLOAD = """import json, os, pathlib
pathlib.Path(os.environ["FLASHSIGHT_JOB_DIR"], "result.json").write_text(json.dumps({"a": 1}))
"""
PLAN = """[sweep]
name = "relative"
[[jobs]]
workload = "w.py"
tools = ["none"]
params = { a = [1, 2] }
"""


def test_resume_finds_a_workload_file_named_relative_to_the_plan(tmp_path):
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "w.py").write_text(WORKLOAD)
    (plans / "plan.toml").write_text(PLAN)
    out = tmp_path / "run"
    first = CliRunner().invoke(main, ["sweep", str(plans / "plan.toml"), "--out", str(out)])
    assert first.exit_code == 0, first.output
    for args in (["--resume", "--dry-run"], ["--resume"]):
        again = CliRunner().invoke(main, ["sweep", "--out", str(out), *args])
        assert again.exit_code == 0, again.output
        assert "not found" not in again.output
    assert "2 jobs, 2 succeeded" in again.output
