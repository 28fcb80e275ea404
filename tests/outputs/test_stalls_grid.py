"""`flashsight stalls` on a sweep: by workload, each kernel's top reasons across its configs; kernels that do not
match --kernel print nothing, and a --kernel that matches nothing is one error line with a non-zero exit."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from flashsight.cli import main
from tests.outputs.run_fixtures import ncu_only_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return ncu_only_run(tmp_path_factory.mktemp("stalls") / "run")


def _stalls(*args):
    return CliRunner().invoke(main, ["stalls", *map(str, args)], terminal_width=160)


def test_a_sweep_is_shown_by_workload_with_configs_as_columns(run_dir):
    import flashsight

    result = _stalls(run_dir, "--top", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    rules = [line.strip("─ ") for line in lines if line.startswith("─")]
    assert rules == ["decode", "rmsnorm", "gemm.py"]  # the study's order, then users' workloads
    # the sampled shares of the fused kernel, as warp_stalls has them (H100 subset report, kernel 4)
    run = flashsight.load(run_dir)
    ws, k = run.table("warp_stalls"), run.table("ncu_kernels")
    fused = k[k["short_name"] == "FusedAddRMSNormKernel"].iloc[0]
    mine = ws[(ws["job_id"] == fused["job_id"]) & (ws["kernel_id"] == fused["kernel_id"]) &
              (ws["source"] == "pc_sampling") & (ws["reason"] != "selected")].sort_values("pct", ascending=False)
    first, second = mine.iloc[0], mine.iloc[1]
    i = lines.index("FusedAddRMSNormKernel (pc sampling, % of stalls)")
    assert lines[i + 1].split() == ["stall", "reason", "op=fused_add_rmsnorm"]
    assert lines[i + 2].split() == ["Long", "Scoreboard", f"{first['pct']:.0f}%"] and first["reason"] == "long_scoreboard"
    assert lines[i + 3].split()[-1] == f"{second['pct']:.0f}%"
    assert "no kernel matches" not in result.output


def test_kernels_that_do_not_match_print_nothing(run_dir):
    result = _stalls(run_dir, "--kernel", "RMSNorm")
    assert result.exit_code == 0, result.output
    assert "decode" not in result.output and "gemm" not in result.output and "nvjet" not in result.output
    assert "FusedAddRMSNormKernel" in result.output and "RMSNormKernel (pc sampling" in result.output


def test_a_kernel_filter_that_matches_nothing_fails_with_one_line(run_dir):
    result = _stalls(run_dir, "--kernel", "NoSuchKernel")
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        f"flashsight: error: --kernel 'NoSuchKernel': no profiled kernel in {run_dir} matches"]
