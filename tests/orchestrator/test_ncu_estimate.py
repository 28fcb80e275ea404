"""--dry-run's ncu cost model (passes x kernels x seconds per pass) against the H200 measurements it is built on,
and the plan key that skips repeated launches."""

import pytest
from click.testing import CliRunner

from flashsight.cli import main
from flashsight.orchestrator.estimate import PROCESS_S, CONFIG_S, estimate_s, ncu_cost, ncu_cost_table
from flashsight.orchestrator.plan import parse_plan
from flashsight.profilers.base import ToolOptions
from flashsight.profilers.ncu import ncu_profile_argv

PLAN = """
[sweep]
name = "decode-full"
[[jobs]]
workload = "decode"
tools = ["ncu"]
params = {{ batch = [1, 8, 32, 64], kv_len = [2048], num_kv_heads = [8, 32] }}
ncu = {{ {ncu} }}
"""


def jobs(ncu: str, tmp_path):
    return parse_plan(PLAN.format(ncu=ncu), tmp_path / "plan.toml").jobs


def test_full_and_lean_decode_sweeps_reproduce_the_h200_measurements(tmp_path):
    """8 decode configs in one batched process, JIT cache warm: 49.6 s under --set full (40.8 s of it replay:
    docs/evidence/device/scale.log), 24 s lean."""
    full, lean = jobs('set = "full"', tmp_path), jobs("", tmp_path)
    assert (ncu_cost(full[0]).passes, ncu_cost(lean[0]).passes) == (38, 27)
    assert ncu_cost(full[0]).kernels * 8 == pytest.approx(14, abs=0.5)  # the sweep profiled 14 kernels
    jit = 25.0  # estimate_s adds one cold JIT per kernel family
    full_s = estimate_s(full, "batched", 16) - jit
    lean_s = estimate_s(lean, "batched", 16) - jit
    assert abs(full_s - 49.6) / 49.6 < 0.1 and abs(lean_s - 24) / 24 < 0.1, (full_s, lean_s)
    replay = full_s - PROCESS_S["ncu"] - 8 * CONFIG_S["none"]
    assert abs(replay - 40.8) / 40.8 < 0.05, replay


def test_dry_run_says_what_each_section_costs(tmp_path):
    table = ncu_cost_table(jobs('set = "full"', tmp_path))
    rows = dict(zip(table["what"], table["passes"]))
    assert rows["decode (full)"] == "38" and rows["  section ComputeWorkloadAnalysis alone"] == "11"
    plan = tmp_path / "p.toml"
    plan.write_text(PLAN.format(ncu='set = "full"'))
    result = CliRunner().invoke(main, ["sweep", str(plan), "--dry-run", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "section SourceCounters alone" in result.output and "decode (full)" in result.output


def test_unique_launches_becomes_ncus_per_launch_config_filter_for_one_range(tmp_path):
    (job,) = [j for j in jobs('set = "full", unique_launches = true', tmp_path)][:1]
    assert job.ncu == {"set": "full", "unique_launches": True}
    opts = ToolOptions.from_dict(job.ncu)
    one = ncu_profile_argv(tmp_path / "r", ["python"], ["flashsight@step/"], "full", unique_launches=opts.unique_launches)
    assert one[one.index("--filter-mode"):one.index("--filter-mode") + 4] == [
        "--filter-mode", "per-launch-config", "--launch-count", "1"]
    several = ncu_profile_argv(tmp_path / "r", ["python"], ["flashsight@a/", "flashsight@b/"], "full",
                               unique_launches=True)
    assert "--filter-mode" not in several  # a batch of configs: equal launch shapes are not equal work


def test_unique_launches_must_be_a_boolean(tmp_path):
    import pytest

    from flashsight.errors import ParamError

    with pytest.raises(ParamError, match="unique_launches must be true or false"):
        jobs('unique_launches = "yes"', tmp_path)
