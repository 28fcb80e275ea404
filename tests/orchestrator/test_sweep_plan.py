"""Plans: grids, stable job ids, the default plan, and plan errors as one line before anything runs."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from flashsight.cli import main
from flashsight.errors import InputError, ParamError
from flashsight.orchestrator.plan import DEFAULT_PLAN, load_plan, parse_plan
from flashsight.workloads import BUILTIN
from tests import ROOT
from tests.orchestrator.sweep_support import FAULT

PLAN = """
[sweep]
name = "study"
[[jobs]]
workload = "decode"
tools = ["nsys", "ncu"]
params = { batch = [1, 8, 32, 64, 128], kv_len = [2048], num_kv_heads = [8, 32] }
ncu = { set = "default" }
timeout_s = 600
retries = 1
"""


def plan_of(text: str, tmp_path: Path | None = None):
    return parse_plan(text, (tmp_path or Path("/nonexistent")) / "plan.toml")


def test_the_issue_example_is_a_cartesian_product_one_job_per_tool():
    plan = plan_of(PLAN)
    assert len(plan.jobs) == 5 * 1 * 2 * 2
    assert [j.seq for j in plan.jobs] == list(range(20))
    first = plan.jobs[0]
    assert (first.workload, first.tool, first.timeout_s, first.retries) == ("decode", "nsys", 600, 1)
    # Params are the resolved config: every decode parameter, defaults filled in.
    assert set(first.params) == set(BUILTIN["decode"].spec.names())
    assert {(j.params["batch"], j.params["num_kv_heads"]) for j in plan.jobs} == {
        (b, h) for b in (1, 8, 32, 64, 128) for h in (8, 32)}
    assert len({j.job_id for j in plan.jobs}) == 20


def test_job_ids_hash_what_decides_the_result_not_how_it_runs():
    ids = {j.job_id for j in plan_of(PLAN).jobs}
    # Another name, timeout, retry count and key order: the same jobs.
    same = PLAN.replace('"study"', '"other"').replace("600", "60").replace("retries = 1", "retries = 3")
    same = same.replace("batch = [1, 8, 32, 64, 128], kv_len = [2048]", "kv_len = [2048], batch = [128, 64, 32, 8, 1]")
    assert {j.job_id for j in plan_of(same).jobs} == ids
    # A default written out explicitly is the same config.
    explicit = plan_of(PLAN.replace("kv_len = [2048]", "kv_len = [2048], page_size = [16]"))
    if BUILTIN["decode"].resolve({})["page_size"] == 16:
        assert {j.job_id for j in explicit.jobs} == ids
    # Another param value or other ncu options: other jobs (nsys jobs keep theirs when only ncu options change).
    other = plan_of(PLAN.replace("kv_len = [2048]", "kv_len = [4096]"))
    assert not ids & {j.job_id for j in other.jobs}
    full = plan_of(PLAN.replace('ncu = { set = "default" }', "ncu = { full = true }"))
    assert {j.job_id for j in full.jobs if j.tool == "nsys"} <= ids
    assert not {j.job_id for j in full.jobs if j.tool == "ncu"} & ids
    assert all(j.ncu == {"set": "full"} for j in full.jobs if j.tool == "ncu")


def test_default_plan_is_the_study_grid_of_every_builtin_workload():
    plan = load_plan(None)
    assert plan.name == "study" and plan.mode == "batched"
    for name, workload in BUILTIN.items():
        jobs = [j for j in plan.jobs if j.workload == name]
        configs = {json.dumps(j.params, sort_keys=True) for j in jobs}
        grid = 1
        for values in workload.study_grid.values():
            grid *= len(values)
        assert len(configs) == grid, f"{name}: the default plan lacks its study grid"
        tools = {j.tool for j in jobs}
        assert tools == ({"none"} if workload.kind == "jit" else {"nsys", "ncu"}), name
        for j in jobs:  # every grid value appears as given
            for param, values in workload.study_grid.items():
                assert j.params[param] in values


def test_device_plan_is_a_part_of_the_default_plan():
    device = load_plan(ROOT / "devtools" / "sweep_device_plan.toml")
    assert {j.job_id for j in device.jobs} < {j.job_id for j in load_plan(None).jobs}


def test_python_file_workloads_are_found_relative_to_the_plan(tmp_path):
    (tmp_path / "w.py").write_text(FAULT.read_text())
    plan = parse_plan('[[jobs]]\nworkload = "w.py"\ntools = ["none"]\nparams = { x = [1, 2] }\n', tmp_path / "p.toml")
    assert [j.workload for j in plan.jobs] == [str((tmp_path / "w.py").resolve())] * 2
    assert [j.params for j in plan.jobs] == [{"x": 1}, {"x": 2}]


@pytest.mark.parametrize("text, error, message", [
    ("[[jobs]\nworkload = 1", InputError, "plan.toml: not valid TOML: "),
    ('[[jobs]]\nworkload = "nope"\n', ParamError, "[[jobs]] #1: unknown workload 'nope'"),
    ('[[jobs]]\nworkload = "decode"\nretry = 2\n', ParamError, "[[jobs]] #1: unknown key 'retry'"),
    ('[[jobs]]\nworkload = "decode"\nretries = -1\n', ParamError, "retries: expected an integer >= 0, got -1"),
    ('[[jobs]]\nworkload = "decode"\ntimeout_s = "1h"\n', ParamError, "timeout_s: expected a number >= 1"),
    ('[[jobs]]\nworkload = "decode"\ntools = ["gdb"]\n', ParamError, "tools: 'gdb' is not one of none, nsys, ncu"),
    ('[[jobs]]\nworkload = "decode"\nparams = { batch = ["x"] }\n', ParamError, "parameter batch='x': expected int"),
    ('[[jobs]]\nworkload = "decode"\nparams = { batch = [] }\n', ParamError, "params.batch is an empty list"),
    ('[[jobs]]\nworkload = "decode"\nparams = { bacth = [1] }\n', ParamError, "unknown parameter 'bacth'"),
    ('[[jobs]]\nworkload = "decode"\nncu = { set = "--launch-skip" }\n', ParamError, "it would become a tool argument"),
    ('[[jobs]]\nworkload = "decode"\nncu = { metrics = ["a,b"] }\n', ParamError, "it would become a tool argument"),
    ('[[jobs]]\nworkload = "decode"\nnvtx_include = ["-x"]\n', ParamError, "nvtx_include must be a list"),
    ('[[jobs]]\nworkload = "decode"\nncu = { sections = ["X"], extra = 1 }\n', ParamError, "unknown key 'extra'"),
    ('[sweep]\nname = "../../etc"\n[[jobs]]\nworkload = "decode"\n', ParamError, "[sweep] name '../../etc'"),
    ('[sweep]\nmode = "fast"\n[[jobs]]\nworkload = "decode"\n', ParamError, "[sweep] mode: 'fast' is not one of"),
    ('[[jobs]]\nworkload = "missing.py"\n', ParamError, "workload file 'missing.py' not found"),
    ('[sweep]\nname = "x"\n', ParamError, "the plan has no [[jobs]]"),
])
def test_plan_errors_name_the_file_and_the_job(tmp_path, text, error, message):
    with pytest.raises(error) as info:
        plan_of(text, tmp_path)
    assert message in str(info.value), str(info.value)
    assert str(tmp_path / "plan.toml") in str(info.value)
    assert "\n" not in str(info.value)


def test_cli_plan_error_is_one_line_and_nothing_is_created(tmp_path):
    plan = tmp_path / "bad.toml"
    plan.write_text('[[jobs]]\nworkload = "decode"\nparams = { batch = [0] }\n')
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["sweep", str(plan), "--out", str(out)])
    assert result.exit_code == 2
    assert result.output == f"flashsight: error: {plan}: [[jobs]] #1: parameter batch=0: must be >= 1\n"
    assert not out.exists()


def test_dry_run_lists_every_job_and_an_estimate_without_running(tmp_path):
    result = CliRunner().invoke(main, ["sweep", "--dry-run", "--out", str(tmp_path / "run")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    plan = load_plan(DEFAULT_PLAN)
    for job in plan.jobs:
        assert job.job_id in result.output
    assert f"{len(plan.jobs)} jobs, {len(plan.jobs)} to run (batched, up to 16 configs per process); " \
           "estimated duration ~" in result.output
    assert not (tmp_path / "run").exists()
