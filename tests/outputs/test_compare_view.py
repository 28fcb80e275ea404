"""`flashsight compare` end to end on the committed real H200 run and copies of it: exit codes, the terminal
summary, real JSON, the asv-style Markdown, and the one-line refusals."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import flashsight
from flashsight.cli import main
from flashsight.outputs.compare_view import compare_markdown
from tests.compare_support import H100_ENV, RUN_A, copy_run, scale_family, set_env


def cli(*args):
    return CliRunner().invoke(main, ["compare", *map(str, args)])


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    run = copy_run(RUN_A, tmp_path_factory.mktemp("runs") / "slow")
    scale_family(run, "rmsnorm", 1.25)
    return run


def test_a_run_against_itself_exits_zero_with_a_summary():
    result = cli(RUN_A, RUN_A)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "31 rows: 31 unchanged (threshold 5%, floor 2.0% from default)"


def test_a_regression_exits_one_and_json_is_real_json(slow):
    result = cli(RUN_A, slow, "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["counts"] == {"unchanged": 24, "regressed": 7}
    assert report["threshold_pct"] == 5.0 and report["floor_pct"] == 2.0 and report["mismatches"] == []
    rows = report["rows"]
    assert len(rows) == 31
    norm = [r for r in rows if r["workload"] == "rmsnorm"]
    assert {r["verdict"] for r in norm} == {"regressed"} and len(norm) == 7
    kernel = next(r for r in norm if r["short_name"] == "FusedAddRMSNormKernel")
    jobs = flashsight.load(RUN_A).jobs
    params = json.loads(jobs.loc[jobs["config_id"] == kernel["config_id"], "params_json"].iloc[0])
    assert kernel["params"] == params and kernel["params"]["op"] == "fused_add_rmsnorm"
    assert kernel["grid"] == [4096, 1, 1] and kernel["block"] == [32, 16, 1] and kernel["occurrence"] == 0
    assert isinstance(kernel["ratio"], float) and 1.249 < kernel["ratio"] < 1.251
    low, high = kernel["interval"]
    assert low < kernel["ratio"] < high
    assert kernel["base_launches"] == kernel["new_launches"] == 100
    assert isinstance(kernel["counters"]["base"]["dram_bytes"], float)
    step = next(r for r in norm if r["kind"] == "step")
    assert step["grid"] is None and step["counters"]["base"]["registers_per_thread"] is None  # NaN -> null


def test_markdown_is_an_asv_style_table_for_a_pr_comment(slow):
    result = cli(RUN_A, slow, "--markdown")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "| Change | Before | After | Ratio [95% interval] | Verdict | Config · kernel | Counters moved |"
    changed = [line for line in lines[2:] if line.startswith("| + |")]
    assert len(changed) == 7 and all("| rmsnorm op=" in line for line in changed)
    assert "<details><summary>24 unchanged rows</summary>" in lines
    assert lines[-1].startswith("31 rows: 7 regressed, 24 unchanged (threshold 5%")


def test_the_report_section_renders_under_its_heading(slow):
    frame = flashsight.load(RUN_A).compare(flashsight.load(slow))
    text = compare_markdown(frame, heading="What changed")
    assert text.startswith("## What changed\n\n| Change |")


def test_a_mismatched_gpu_is_one_line_and_exit_two_unless_allowed(tmp_path):
    h100 = copy_run(RUN_A, tmp_path / "h100")
    set_env(h100, H100_ENV)
    refused = cli(RUN_A, h100)
    assert refused.exit_code == 2
    assert refused.output.count("\n") == 1
    assert refused.output.startswith(f"flashsight: error: {RUN_A} and {h100} are not comparable: GPU NVIDIA H200 "
                                     "(base) vs NVIDIA H100 80GB HBM3 (new); ")
    allowed = cli(RUN_A, h100, "--allow-mismatch", "--markdown")
    assert allowed.exit_code == 0
    assert allowed.output.splitlines()[:2] == [
        "> **not comparable, compared anyway:** GPU NVIDIA H200 (base) vs NVIDIA H100 80GB HBM3 (new)",
        "> **not comparable, compared anyway:** memory clock max (MHz) 3201 (base) vs 2619 (new)"]
    as_json = json.loads(cli(RUN_A, h100, "--allow-mismatch", "--json").output)
    assert as_json["mismatches"][0] == "GPU NVIDIA H200 (base) vs NVIDIA H100 80GB HBM3 (new)"


def test_bad_input_is_one_line_and_exit_two(tmp_path):
    missing = cli(RUN_A, tmp_path / "nope")
    assert missing.exit_code == 2 and missing.output == f"flashsight: error: {tmp_path / 'nope'}: no such file or folder\n"
    (tmp_path / "empty").mkdir()
    empty = cli(tmp_path / "empty", RUN_A)
    assert empty.exit_code == 2 and empty.output.startswith(f"flashsight: error: {tmp_path / 'empty'}: not a flashsight run")
    both = cli(RUN_A, RUN_A, "--json", "--markdown")
    assert both.exit_code == 2 and "give --json or --markdown, not both" in both.output
