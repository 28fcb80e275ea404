"""The report of the committed real H200 run (tests/data/runs/h200_small_a): its numbers are the tables' — checked
here against the tables nsys and ncu produced (gpu_kernels, ncu_kernels, warp_stalls), not only against the joint
observation the report reads."""

from __future__ import annotations

import gzip
import json
import re

import pandas as pd
import pytest
from click.testing import CliRunner

import flashsight
from flashsight.cli import main
from tests.outputs.real_run import REAL_RUN
from tests.outputs.report_checks import check_html, check_markdown


@pytest.fixture(scope="module")
def run():
    return flashsight.load(REAL_RUN)


@pytest.fixture(scope="module")
def written(run, tmp_path_factory):
    return run.report(tmp_path_factory.mktemp("real_report"))


@pytest.fixture(scope="module")
def md(written):
    return written["markdown"].read_text()


def _config(run, workload, **params):
    jobs = run.jobs
    hit = jobs[(jobs["workload"] == workload) & (jobs["tool"] == "nsys")]
    for key, value in params.items():
        hit = hit[hit[key] == value]
    assert hit["config_id"].nunique() == 1, params
    return hit["config_id"].iloc[0]


def _nsys_median(run, cid, short_name):
    k = run.table("gpu_kernels")
    return float(k[(k["config_id"] == cid) & (k["short_name"] == short_name)]["duration_ns"].median())


def _ncu(run, cid, short_name):
    k = run.table("ncu_kernels")
    return k[(k["config_id"] == cid) & (k["short_name"] == short_name)].iloc[0]


def test_both_files_are_well_formed_and_every_finding_links_to_a_row(written, md):
    found = check_markdown(written["markdown"])
    check_html(written["html"])
    findings = md[md.index("## Findings"):]
    refs = re.findall(r"\]\(#(k-[0-9a-f]+-\d+)\)", findings)
    assert refs and set(refs) <= found["anchors"]
    assert md.count("<a id=\"finding-") >= 8


def test_decode_rows_are_nsys_and_ncu_times_of_the_same_kernel(run, md):
    cid = _config(run, "decode", batch=128, num_kv_heads=32)
    median = _nsys_median(run, cid, "BatchDecodeWithPagedKVCacheKernel")
    ncu = _ncu(run, cid, "BatchDecodeWithPagedKVCacheKernel")
    assert median == 965833.5 and ncu["duration_ns"] == 975008  # what nsys and ncu recorded
    achieved = ncu["dram_bytes"] / (median / 1e9)
    row = (f"</a>batch=128 num_kv_heads=32 | BatchDecodeWithPagedKVCacheKernel | 100 | {median / 1e3:.2f} µs | "
           f"{ncu['duration_ns'] / 1e3:.2f} µs | ")
    assert row in md and f"| {achieved / 1e9:,.0f} GB/s |" in md.split(row, 1)[1].splitlines()[0]


def test_the_decode_finding_carries_the_dram_share_of_its_rows(run, md):
    obs = run.table("kernel_observations")
    shares = {}
    for heads in (8, 32):
        cid = _config(run, "decode", batch=128, num_kv_heads=heads)
        row = obs[(obs["config_id"] == cid) & (obs["short_name"] == "BatchDecodeWithPagedKVCacheKernel")].iloc[0]
        ncu = _ncu(run, cid, "BatchDecodeWithPagedKVCacheKernel")
        rate = ncu["dram_bytes"] / (_nsys_median(run, cid, "BatchDecodeWithPagedKVCacheKernel") / 1e9)
        assert rate / row["peak_dram_bytes_per_s"] * 100 == pytest.approx(row["dram_peak_pct"], rel=1e-9)
        shares[heads] = row["dram_peak_pct"]
    bound = obs[obs["short_name"] == "BatchDecodeWithPagedKVCacheKernel"].set_index("config_id")["bound"]
    assert bound[_config(run, "decode", batch=1, num_kv_heads=32)] != "memory"  # so: from batch 32 on
    assert (f"Decode is memory-bound from batch 32 on (ncu's bound class); at batch 128 it reaches "
            f"{shares[32]:.0f}% of DRAM peak with 32/32 heads and {shares[8]:.0f}% with 32/8 heads") in md
    assert (round(shares[32]), round(shares[8])) == (92, 68)


def test_the_rmsnorm_fusion_finding_adds_up_the_kernels(run, md):
    fused = _config(run, "rmsnorm", op="fused_add_rmsnorm")
    unfused = _config(run, "rmsnorm", op="unfused_add_rmsnorm")
    k = run.table("ncu_kernels")
    fb = k.loc[k["config_id"] == fused, "dram_bytes"].sum()
    ub = k.loc[k["config_id"] == unfused, "dram_bytes"].sum()
    assert set(k.loc[k["config_id"] == unfused, "short_name"]) == {"vectorized_elementwise_kernel", "RMSNormKernel"}
    g = run.table("gpu_kernels")
    ft = g[g["config_id"] == fused].groupby("short_name")["duration_ns"].median().sum()
    ut = g[g["config_id"] == unfused].groupby("short_name")["duration_ns"].median().sum()
    assert (f"Fused add+RMSNorm moves {100 * (1 - fb / ub):.0f}% fewer DRAM bytes than the unfused pair "
            f"({fb / 1e6:.1f} MB vs {ub / 1e6:.1f} MB, batch 4096, hidden 4096, ncu) and takes {ft / 1e3:.1f} µs "
            f"against {ut / 1e3:.1f} µs for the pair's 2 kernels ({100 * (1 - ft / ut):.0f}% less") in md


def test_the_stall_matrix_reads_warp_stalls_across_the_grid(run, md):
    stalls, k = run.table("warp_stalls"), run.table("ncu_kernels")
    header = ("| reason | batch=1 num_kv_heads=8 | batch=1 num_kv_heads=32 | batch=32 num_kv_heads=8 | "
              "batch=32 num_kv_heads=32 | batch=128 num_kv_heads=8 | batch=128 num_kv_heads=32 |")
    assert header in md  # configs in the grid's order: batch, then heads
    block = md.split(header, 1)[1].split("\n\n", 1)[0]
    line = next(l for l in block.splitlines() if l.startswith("| Long Scoreboard |"))
    expected = []
    for batch, heads in ((1, 8), (1, 32), (32, 8), (32, 32), (128, 8), (128, 32)):
        kern = _ncu(run, _config(run, "decode", batch=batch, num_kv_heads=heads), "BatchDecodeWithPagedKVCacheKernel")
        s = stalls[(stalls["job_id"] == kern["job_id"]) & (stalls["kernel_id"] == kern["kernel_id"]) &
                   (stalls["source"] == "pc_sampling") & (stalls["reason"] == "long_scoreboard")]
        expected.append(f"{s['pct'].iloc[0]:.0f}%")
    assert line == "| Long Scoreboard | " + " | ".join(expected) + " |"


def test_every_profiled_kernel_is_on_the_roofline_with_its_config_on_hover(run, written):
    html = written["html"].read_text()
    roofline = html[html.index('<figure id="fig-roofline"'):]
    roofline = roofline[:roofline.index("</figure>")]
    obs = run.table("kernel_observations")
    on_plot = obs[(obs["flop"] > 0) & obs["achieved_flop_per_s"].notna()]
    assert len(on_plot) == len(run.table("ncu_kernels")) == 18
    assert roofline.count("<title>") == len(on_plot)
    assert "<title>BatchDecodeWithPagedKVCacheKernel — decode batch=128 num_kv_heads=32\nDRAM: " in roofline


def test_the_overview_has_the_machine_the_plan_and_the_conditions(run, md):
    env = json.loads((REAL_RUN / "env.json").read_text())
    assert f"| driver | {env['gpu']['driver_version']} (CUDA {env['gpu']['cuda_driver_version']}) |" in md
    assert f"| FlashInfer | {env['flashinfer']['version']} |" in md
    assert "| nsys | 13 | 13 |" in md and "| total | 26 | 26 |" in md
    assert (REAL_RUN / "plan.toml").read_text().strip() in md
    hz = run.table("ncu_kernels")["sm_frequency_hz"]
    assert f"median {hz.median() / 1e9:.3f} GHz ({hz.min() / 1e9:.3f} GHz–{hz.max() / 1e9:.3f} GHz)" in md


def test_perfetto_trace_of_the_real_run_carries_ncu_metrics_on_kernels(run, tmp_path):
    out = tmp_path / "trace.json.gz"
    result = CliRunner().invoke(main, ["export", str(REAL_RUN), "--perfetto", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with gzip.open(out, "rt") as f:
        trace = json.load(f)
    kernels = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "kernel"]
    assert len(kernels) == len(run.table("gpu_kernels"))
    cid = _config(run, "decode", batch=128, num_kv_heads=32)
    ncu = _ncu(run, cid, "BatchDecodeWithPagedKVCacheKernel")
    name = {e["pid"]: e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"}
    mine = [e for e in kernels if name[e["pid"]] == "decode batch=128 num_kv_heads=32"
            and e["name"] == "BatchDecodeWithPagedKVCacheKernel"]
    assert len(mine) == 100 and all(e["args"]["ncu_duration_ns"] == ncu["duration_ns"] for e in mine)
    assert all(e["args"]["ncu_bound"] == ncu["bound"] for e in mine)


def test_stalls_cli_on_the_real_run_is_a_grid_per_workload(run):
    result = CliRunner().invoke(main, ["stalls", str(REAL_RUN), "--kernel", "BatchDecode", "--top", "3"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    rules = [line.strip("─ ") for line in lines if line.startswith("─")]
    assert rules == ["decode"]  # prefill, rmsnorm, rope: no matching kernel, nothing printed
    assert all(len(line) <= 80 for line in lines)  # an 80-column terminal: the grid comes in blocks of configs
    heads = [line.split() for i, line in enumerate(lines) if i + 1 < len(lines) and lines[i + 1].startswith("stall reason")]
    seconds = [line.split()[2:] for line in lines if line.startswith("stall reason")]
    labels = [f"{a} {b}" for top, bottom in zip(heads, seconds) for a, b in zip(top, bottom)]
    grid = [(1, 8), (1, 32), (32, 8), (32, 32), (128, 8), (128, 32)]
    assert labels == [f"batch={b} num_kv_heads={h}" for b, h in grid]
    values = [v for line in lines if line.startswith("Long Scoreboard") for v in line.split()[2:]]
    stalls = run.table("warp_stalls")
    expected = []
    for batch, heads in grid:
        kern = _ncu(run, _config(run, "decode", batch=batch, num_kv_heads=heads), "BatchDecodeWithPagedKVCacheKernel")
        s = stalls[(stalls["job_id"] == kern["job_id"]) & (stalls["kernel_id"] == kern["kernel_id"]) &
                   (stalls["source"] == "pc_sampling") & (stalls["reason"] == "long_scoreboard")]
        expected.append(f"{s['pct'].iloc[0]:.0f}%")
    assert values == expected


def test_a_baseline_adds_what_changed_with_the_compare_rows(tmp_path):
    from flashsight.outputs import compare_view

    variant = REAL_RUN.parent / "h200_small_variant"
    result = CliRunner().invoke(main, ["report", str(variant), "--baseline", str(REAL_RUN), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "report.md").read_text()
    check_markdown(tmp_path / "report.md")
    frame = flashsight.load(REAL_RUN).compare(flashsight.load(variant), allow_mismatch=True)
    assert f"{compare_view.summary_line(frame)}." in md
    section = md[md.index("## What changed"):]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith(("| change", "| ---"))]
    assert len(rows) == len(frame) > 20
    page = frame[frame["changed_params"].fillna("").str.contains("page_size")]
    assert len(page) and "(page_size 16→1)" in section  # the one config the variant plan changed
    for row in frame.head(5).to_dict("records"):
        assert compare_view.ratio_text(row) in section


def test_a_missing_baseline_is_one_error_line(tmp_path):
    result = CliRunner().invoke(main, ["report", str(REAL_RUN), "--baseline", str(tmp_path / "nope"),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and not (tmp_path / "out" / "report.html").exists()
    assert result.output.strip().splitlines() == [f"flashsight: error: {tmp_path / 'nope'}: no such file or folder"]
