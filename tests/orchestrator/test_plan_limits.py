"""Hostile plans (issue 13): values stay as TOML typed them, limits with a clear message instead of a hang or a
late failure, and file names or encodings that used to be refused or crash."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from flashsight.cli import main
from flashsight.errors import InputError, ParamError
from flashsight.orchestrator.plan import MAX_JOBS, load_plan, parse_plan

ECHO = Path(__file__).resolve().parents[1] / "data" / "workloads" / "echo_params.py"


def _plan(tmp_path, body: str, name: str = "plan.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'[[jobs]]\nworkload = "{ECHO}"\ntools = ["none"]\n{body}\n')
    return path


def test_values_stay_as_toml_typed_them(tmp_path):
    """Plan strings were re-parsed as JSON ("1e3" arrived as 1000.0, "true" as True, " 7 " as 7), and
    x = [1, "1", true, 1.0] was one job."""
    plan = load_plan(_plan(tmp_path, 'params = { x = [1, "1", true, 1.0, "1e3", " 7 ", "true"] }'))
    values = [job.params["x"] for job in plan.jobs]
    assert [(type(v), v) for v in values] == [(int, 1), (str, "1"), (bool, True), (float, 1.0), (str, "1e3"),
                                              (str, " 7 "), (str, "true")]
    assert len({job.job_id for job in plan.jobs}) == 7


def test_typed_values_reach_the_workload_typed(tmp_path):
    plan = _plan(tmp_path, 'params = { x = [1, "1", true, "1e3"] }')
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["sweep", str(plan), "--out", str(out)])
    assert result.exit_code == 0, result.output
    got = sorted((json.loads(p.read_text())["params"]["x"] for p in out.glob("jobs/*/result.json")), key=repr)
    assert [(type(v), v) for v in got] == [(str, "1"), (str, "1e3"), (int, 1), (bool, True)]


def test_a_grid_over_the_limit_asks_for_max_jobs_before_expanding(tmp_path):
    """A 10^7-config grid hung both the dry run and the real run."""
    axis = ", ".join(map(str, range(10_000)))
    plan = _plan(tmp_path, f"params = {{ a = [{axis}], b = [{', '.join(map(str, range(1000)))}] }}")
    started = time.monotonic()
    result = CliRunner().invoke(main, ["sweep", str(plan), "--dry-run"])
    assert time.monotonic() - started < 10
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output == (f"flashsight: error: {plan}: [[jobs]] #1: the plan grows to 10,000,000 jobs here, "
                             f"more than the limit of {MAX_JOBS:,}: shrink the grid, or pass --max-jobs 10000000 "
                             "if you mean it\n")


def test_max_jobs_raises_the_limit(tmp_path, monkeypatch):
    import flashsight.orchestrator.plan as plan_module

    small = _plan(tmp_path, f"params = {{ a = [{', '.join(map(str, range(30)))}] }}")
    with pytest.raises(ParamError, match="grows to 30 jobs here, more than the limit of 20"):
        load_plan(small, max_jobs=20)
    assert len(load_plan(small, max_jobs=30).jobs) == 30
    monkeypatch.setattr(plan_module, "MAX_JOBS", 20)
    refused = CliRunner().invoke(main, ["sweep", str(small), "--dry-run"])
    assert refused.exit_code == 2 and "pass --max-jobs 30 if you mean it" in refused.output
    ok = CliRunner().invoke(main, ["sweep", str(small), "--dry-run", "--max-jobs", "30"])
    assert ok.exit_code == 0 and "30 jobs, 30 to run" in ok.output


@pytest.mark.parametrize("body, message", [
    ("timeout_s = nan", "timeout_s: expected a finite number >= 1, got nan"),
    ("timeout_s = inf", "timeout_s: expected a finite number >= 1, got inf"),
    ("timeout_s = 1e300", "timeout_s: 1e+300 is more than the limit of 2.592e+06"),
    ("retries = 1000000", "retries: 1,000,000 is more than the limit of 100"),
    ("params = { x = [nan] }", "params.x = nan: not a finite number"),
    (f'params = {{ x = ["{"y" * 200_000}"] }}', "params.x: a value of 200,000 characters, more than 4,096"),
])
def test_limits_say_what_is_wrong(tmp_path, body, message):
    """timeout_s = nan passed the dry run and failed in SQLite; retries = 1000000 retried forever; a 200,000-
    character value failed with 'Argument list too long' and stalled the progress view."""
    path = _plan(tmp_path, body)
    with pytest.raises(ParamError) as err:
        load_plan(path)
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_min_free_gb_must_be_finite(tmp_path):
    """min_free_gb = nan stopped every run ('only 70 GiB free ... min_free_gb = nan')."""
    path = tmp_path / "plan.toml"
    path.write_text(f'[sweep]\nmin_free_gb = nan\n[[jobs]]\nworkload = "{ECHO}"\ntools = ["none"]\n')
    with pytest.raises(ParamError, match=r"\[sweep\] min_free_gb: expected a finite number >= 0, got nan"):
        load_plan(path)


def test_a_plan_that_is_not_utf8(tmp_path):
    """Was a UnicodeDecodeError traceback."""
    path = tmp_path / "plan.toml"
    path.write_bytes(b'[[jobs]]\nworkload = "rmsnorm"\n# caf\xe9\n')
    with pytest.raises(InputError) as err:
        load_plan(path)
    assert str(err.value) == f"{path}: not UTF-8 text (byte 0xe9 on line 3); TOML plans are UTF-8"


def test_a_plan_file_name_with_any_characters_and_no_sweep_name(tmp_path):
    """`plan ü.toml` without [sweep] name was refused: the name came from the file name."""
    plan = load_plan(_plan(tmp_path, "", name="plan ü.toml"))
    assert plan.name == "plan-u"
    assert load_plan(_plan(tmp_path, "", name="ünïcode.toml")).name == "unicode"
    assert load_plan(_plan(tmp_path, "", name="日本.toml")).name == "sweep"
    with pytest.raises(ParamError, match=r"\[sweep\] name 'plan ü'"):  # a name given explicitly stays strict
        parse_plan('[sweep]\nname = "plan ü"\n[[jobs]]\nworkload = "rmsnorm"\n', tmp_path / "p.toml")


def test_a_fifo_as_plan_does_not_hang(tmp_path):
    import os

    fifo = tmp_path / "plan.toml"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is a FIFO .named pipe., not a plan file"):
        load_plan(fifo)

