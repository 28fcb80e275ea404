"""warp_stalls (one vocabulary over both ncu families) and the `flashsight stalls` terminal report."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from click.testing import CliRunner
from rich.console import Console

from flashsight.cli import main
from flashsight.outputs.stalls_report import render_stalls
from flashsight.analysis.stalls import top_source_lines
from flashsight.parsers.warp_stalls import stall_metric
from flashsight.schema.stalls import REASONS, canonical_reason
from tests.ncu_data import ncu_file, ncu_tables


@pytest.mark.parametrize("spelling, canonical", [
    ("no_instructions", "no_instruction"), ("no_instruction", "no_instruction"), ("stall_no_inst", "no_instruction"),
    ("warpgroup_arrive", "gmma"), ("gmma", "gmma"), ("stall_long_sb", "long_scoreboard"),
    ("stall_short_sb (Not Issued)", "short_scoreboard"), ("stall_math", "math_pipe_throttle"),
    ("stall_lg", "lg_throttle"), ("stall_mio", "mio_throttle"), ("stall_tex", "tex_throttle"),
    ("stall_imc", "imc_miss"), ("stall_dispatch", "dispatch_stall"), ("stall_sleep", "sleeping"),
])
def test_every_spelling_maps_to_one_reason(spelling, canonical):
    assert canonical_reason(spelling) == canonical


def test_both_families_use_the_same_reasons_on_real_reports():
    stalls = ncu_tables("h100/full.ncu-rep")["warp_stalls"]
    by_source = stalls.groupby("source")["reason"].apply(set)
    assert by_source["warp_state"] == by_source["pc_sampling"]
    assert by_source["pc_sampling"] <= set(REASONS)
    assert {"no_instruction", "gmma", "long_scoreboard"} <= by_source["pc_sampling"]
    # the raw metric names really were spelled differently
    metrics = set(stalls["metric"])
    assert "smsp__pcsamp_warps_issue_stalled_no_instructions" in metrics
    assert "smsp__average_warps_issue_stalled_no_instruction_per_issue_active.ratio" in metrics
    assert "smsp__pcsamp_warps_issue_stalled_warpgroup_arrive" in metrics
    assert stall_metric("smsp__pcsamp_warps_issue_stalled_barrier_not_issued") is None


@pytest.mark.parametrize("name", ["dec.ncu-rep", "dec_raw.csv", "h100/subset.ncu-rep", "h100/full_raw_base.csv"])
def test_pct_is_a_share_of_stalls_without_selected(name):
    stalls = ncu_tables(name)["warp_stalls"]
    assert stalls["pct"].where(stalls["reason"] == "selected").isna().all()
    totals = stalls.groupby(["kernel_id", "source"])["pct"].sum()
    assert ((totals - 100).abs() < 1e-9).all()
    sel = stalls[stalls["reason"] != "selected"]
    share = 100 * sel["value"] / sel.groupby(["kernel_id", "source"])["value"].transform("sum")
    assert ((share - sel["pct"]).abs() < 1e-9).all()


def test_warp_stall_values_equal_the_metrics():
    t = ncu_tables("dec.ncu-rep")
    m = t["ncu_metrics"].set_index(["kernel_id", "metric"])["value"]
    for row in t["warp_stalls"].itertuples():
        assert row.value == m[(row.kernel_id, row.metric)]
    assert len(t["warp_stalls"]) == 2 * 2 * 19  # 2 kernels x 2 sources x 19 reasons on SM 9.0


def test_top_source_lines():
    hot = top_source_lines(ncu_tables("h100/full.ncu-rep")["ncu_source"], n=2)
    assert hot.groupby("kernel_id").size().tolist() == [2] * 7
    fused = hot[hot["kernel_id"] == 4].iloc[0]  # fused_add_rmsnorm: the fp16->fp32 convert of the loaded data
    assert fused["sass"].startswith("HADD2.F32") and fused["top_reason"] == "long_scoreboard"
    gemm = hot[hot["kernel_id"] == 6].iloc[0]
    assert gemm["sass"].startswith("HGMMA") and gemm["top_reason"] == "gmma"


def _render(tables, **kw) -> str:
    console = Console(width=140, record=True, color_system=None)
    render_stalls(tables, console, **kw)
    return console.export_text()


def test_report_on_the_decode_capture():
    text = _render(ncu_tables("dec.ncu-rep"), top=3)
    assert "#0 BatchDecodeWithPagedKVCacheKernel" in text and "#1 PersistentVariableLengthMergeStatesKernel" in text
    assert "duration 109.4 µs  SM 74%  DRAM 74%  tensor 0%  bound memory" in text
    assert "Not Selected        29.4%" in text and "Barrier             19.8%" in text
    assert "LDS.128 R16, [R41]" in text  # the hottest line, stalled at a barrier
    assert "bound latency" in text  # merge-states kernel


def test_report_names_long_scoreboard_for_the_norm_kernels():
    text = _render(ncu_tables("h100/full.ncu-rep"), kernel_regex="RMSNorm", top=1)
    assert text.count("Long Scoreboard") >= 2 and "waiting on global/local memory" in text
    assert "Decode" not in text and "nvjet" not in text


def test_report_from_a_source_page_alone():
    text = _render(ncu_tables("ncsv_source_rms.csv"), top=2)
    assert "FusedAddRMSNormKernel" in text and "HADD2.F32 R5, -RZ, R8.H0_H0" in text


def test_cli_stalls_on_a_file_and_a_parsed_run(tmp_path):
    report = tmp_path / "dec.ncu-rep"
    shutil.copy(ncu_file("dec.ncu-rep"), report)
    runner = CliRunner()
    result = runner.invoke(main, ["stalls", str(report), "--kernel", "Merge", "--top", "2"])
    assert result.exit_code == 0, result.output
    assert "PersistentVariableLengthMergeStatesKernel" in result.output and "BatchDecode" not in result.output
    out = tmp_path / "run"
    assert runner.invoke(main, ["parse", str(report), "--out", str(out)]).exit_code == 0
    assert (out / "warp_stalls.parquet").exists()
    parsed = runner.invoke(main, ["stalls", str(out), "--top", "2"])
    assert parsed.exit_code == 0 and "BatchDecodeWithPagedKVCacheKernel" in parsed.output
    # a folder holding only the report works too
    only_rep = runner.invoke(main, ["stalls", str(tmp_path), "--kernel", "Decode"])
    assert only_rep.exit_code == 0 and "BatchDecodeWithPagedKVCacheKernel" in only_rep.output


@pytest.mark.parametrize("args, message", [
    (["stalls", "/nonexistent/run"], "no such file or folder"),
    (["stalls", "{empty}"], "no ncu tables"),
    (["stalls", "{text}"], "not an ncu CSV export"),
    (["stalls", "{report}", "--kernel", "("], "not a regular expression"),
])
def test_cli_stalls_errors_are_one_line(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello\n")
    shutil.copy(ncu_file("dec.ncu-rep"), tmp_path / "dec.ncu-rep")
    paths = {"{empty}": str(tmp_path / "empty"), "{text}": str(tmp_path / "notes.txt"),
             "{report}": str(tmp_path / "dec.ncu-rep")}
    result = CliRunner().invoke(main, [paths.get(a, a) for a in args])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output


def test_stall_report_handles_tables_of_several_reports():
    tables = {}
    for i, name in enumerate(["dec.ncu-rep", "h100/subset.ncu-rep"]):
        for table, df in ncu_tables(name).items():
            tables.setdefault(table, []).append(df.assign(source_file=name))
    merged = {k: pd.concat(v, ignore_index=True) for k, v in tables.items()}
    text = _render(merged, kernel_regex="Decode", top=1)
    assert text.count("BatchDecodeWithPagedKVCacheKernel") == 2
    assert "duration 109.4 µs" in text and "duration 110.8 µs" in text
