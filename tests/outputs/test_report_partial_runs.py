"""Runs that have only one tool's jobs (built from real H100 captures, one job per measured range): the report
shows what that tool measured, equal to the tool's own figures, and says what the other tool would have added."""

from __future__ import annotations

import pandas as pd
import pytest

import flashsight
from tests.outputs.report_checks import check_html, check_markdown
from tests.outputs.run_fixtures import DATA, ncu_only_run, nsys_only_run
from tests.orchestrator.test_sweep_outputs import _ncu_raw_kernels


@pytest.fixture(scope="module")
def nsys_report(tmp_path_factory):
    run = flashsight.load(nsys_only_run(tmp_path_factory.mktemp("nsys_only") / "run"))
    return run, run.report()


@pytest.fixture(scope="module")
def ncu_report(tmp_path_factory):
    run = flashsight.load(ncu_only_run(tmp_path_factory.mktemp("ncu_only") / "run"))
    return run, run.report()


def test_nsys_only_report_has_nsys_times_equal_to_nsys_and_says_counters_are_missing(nsys_report):
    run, paths = nsys_report
    md = paths["markdown"].read_text()
    check_markdown(paths["markdown"])
    check_html(paths["html"])
    # nsys's own cuda_gpu_kern_sum of the capture: RMSNormKernel ran once, 26,689 ns; FusedAddRMSNorm 47,841 ns in range
    kern_sum = pd.read_csv(DATA / "nsys" / "h100_fi" / "fi_cuda_gpu_kern_sum.csv")
    rms = kern_sum[kern_sum["Name"].str.contains("RMSNormKernel<") & ~kern_sum["Name"].str.contains("Fused")].iloc[0]
    assert rms["Instances"] == 1 and rms["Med (ns)"] == 26689
    assert "</a>rmsnorm | RMSNormKernel | 1 | 26.69 µs |" in md
    assert md.count("No ncu counters for these kernels (no ncu job succeeded)") == 3  # prefill, rmsnorm, rope
    assert "No ncu kernels in this run: no counters, so no rates, roofline or stalls." in md
    assert "No kernel with FLOP counters in this run" in md
    assert "### Stall matrix" not in md  # nothing to say there beyond the family's note
    assert "figures/timeline.png" in md and (paths["figures"] / "timeline.png").is_file()


def test_nsys_only_timeline_is_one_step_of_each_family(nsys_report):
    run, paths = nsys_report
    md = paths["markdown"].read_text()
    # fi.sqlite: prefill ran 3 ranges of 1 kernel each, rope 1 kernel, rmsnorm 2 kernels (plain + fused)
    assert ("The middle step of each family's heaviest config, from nsys (prefill: 1 kernel busy 496.17 µs of a "
            "496.17 µs step; rmsnorm: 2 kernels busy 74.53 µs of a 79.11 µs step; rope: 1 kernel busy 478.21 µs of a "
            "478.21 µs step).") in md
    kernels = run.table("gpu_kernels")
    norm = kernels[kernels["workload"] == "rmsnorm"].sort_values("start_ns")
    assert norm["duration_ns"].sum() == 26689 + 47841 == 74530  # nsys's kern_sum: RMSNorm and FusedAddRMSNorm
    assert norm["end_ns"].max() - norm["start_ns"].min() == 79106  # one step: RMSNorm's start to the fused one's end
    prefill = kernels[kernels["workload"] == "prefill"].sort_values("start_ns")
    # the 2nd of 3 prefill launches: the 3rd starts before it ends (programmatic dependent launch), so no gap
    assert prefill["start_ns"].iloc[2] < prefill["end_ns"].iloc[1] and prefill["duration_ns"].iloc[1] == 496168
    svg = paths["html"].read_text()
    assert "<title>RMSNormKernel\nkernel on stream 7: 26.69 µs at +0.00 µs</title>" in svg


def test_ncu_only_report_shows_ncu_figures_equal_to_ncu_and_says_times_are_ncus(ncu_report):
    run, paths = ncu_report
    md = paths["markdown"].read_text()
    check_markdown(paths["markdown"])
    scan = check_html(paths["html"])
    printed = _ncu_raw_kernels()  # gpu__time_duration.sum per kernel as ncu printed it
    decode = printed[printed["range"] == "decode"].iloc[0]
    assert f"</a>decode | BatchDecodeWithPagedKVCacheKernel | {decode['duration_ns'] / 1e3:.2f} µs |" in md
    assert md.count("No nsys timings for these kernels (no nsys job succeeded): times and rates below are ncu's "
                    "own, at its locked clocks.") == 3  # decode, rmsnorm, gemm.py
    assert "No nsys kernels in this run" in md  # timeline
    assert "figures/roofline.png" in md and scan.titles_in_svg >= len(run.table("ncu_kernels"))
    stalls = run.table("warp_stalls")
    kernels = run.table("ncu_kernels")
    fused = kernels[kernels["short_name"] == "FusedAddRMSNormKernel"].iloc[0]
    share = stalls[(stalls["job_id"] == fused["job_id"]) & (stalls["kernel_id"] == fused["kernel_id"]) &
                   (stalls["source"] == "pc_sampling") & (stalls["reason"] == "long_scoreboard")]["pct"].iloc[0]
    assert f"| Long Scoreboard | {share:.0f}% |" in md and round(share) == 42


def test_the_roofline_names_every_kernel_and_config_on_hover(ncu_report):
    run, paths = ncu_report
    html = paths["html"].read_text()
    for kernel in run.table("ncu_kernels")["short_name"]:
        assert f"<title>{kernel} — " in html
    assert "<title>FusedAddRMSNormKernel — rmsnorm op=fused_add_rmsnorm\nDRAM:" in html
