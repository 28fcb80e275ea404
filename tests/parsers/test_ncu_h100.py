"""flashsight's ncu tables on this project's own H100 captures (devtools/capture_ncu.sh, ncu 2025.3.1).

tests/data/ncu/h100: devtools/ncu_kernels.py (FlashInfer prefill, batch decode, rmsnorm, fused_add_rmsnorm, rope,
and a torch bf16 2048³ matmul → cuBLAS nvjet) under `--set full` (full.*) and under SpeedOfLight + WarpStateStats +
SourceCounters + MemoryWorkloadAnalysis with the catalog's extra metrics, built by flashsight.profilers.ncu
(subset.*), each exported by ncu as raw (scaled and base units), details and source (decode kernel) pages.
"""

from __future__ import annotations

import json
import shlex

import numpy as np
import pandas as pd
import pytest

from flashsight.schema.metric_catalog import EXTRA_METRICS_SM90, ROOFLINE_METRICS_SM90
from tests.ncu_data import DATA, assert_report_equals_raw_csv, ncu_tables, printed_decimals

H100 = DATA / "h100"
SHAPES = json.loads((H100 / "shapes.json").read_text())
RANGES = ["prefill", "decode", "decode", "rmsnorm", "fused_add_rmsnorm", "rope", "gemm"]
CAPTURES = ["full", "subset"]


@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize("units", ["raw", "raw_base"])
def test_every_metric_equals_ncus_raw_csv(capture, units):
    numeric = assert_report_equals_raw_csv(f"h100/{capture}.ncu-rep", f"h100/{capture}_{units}.csv")
    assert numeric["kernel_id"].nunique() == 7


@pytest.mark.parametrize("capture", CAPTURES)
def test_details_page_equals_the_report(capture):
    details = ncu_tables(f"h100/{capture}_details.csv")["ncu_details"].dropna(subset=["metric", "value"])
    rep = ncu_tables(f"h100/{capture}.ncu-rep")["ncu_metrics"]
    merged = details.merge(rep, on=["kernel_id", "metric"], suffixes=("_d", "_r"))
    # the page also prints a few values the report does not hold (L2 compression rates of a subset capture)
    assert len(merged) > 0.9 * len(details) and len(merged) > 7 * 20
    # 2 decimals in the page's own unit: the factor is value/number as flashsight scaled it
    number = pd.to_numeric(merged["text_d"].str.replace(",", ""), errors="coerce")
    factor = (merged["value_d"] / number).where(number != 0, 1.0)
    tol = 0.5 * 10.0 ** (-printed_decimals(merged["text_d"])) * factor.abs() * (1 + 1e-9)
    ok = (merged["value_d"] - merged["value_r"]).abs() <= tol + 1e-9 * merged["value_r"].abs()
    assert ok.all(), merged.loc[~ok, ["kernel_id", "section", "label", "text_d", "value_r"]].head().to_string()


@pytest.mark.parametrize("capture", CAPTURES)
def test_kernels_and_nvtx_ranges(capture):
    k = ncu_tables(f"h100/{capture}.ncu-rep")["ncu_kernels"]
    assert k["nvtx_range"].tolist() == RANGES
    assert k["short_name"].tolist()[:6] == [
        "BatchPrefillWithPagedKVCacheKernel", "BatchDecodeWithPagedKVCacheKernel",
        "PersistentVariableLengthMergeStatesKernel", "RMSNormKernel", "FusedAddRMSNormKernel",
        "BatchQKApplyRotaryPosIdsHeadParallelismKernel"]
    assert k["short_name"].iloc[6].startswith("nvjet_sm90")  # cuBLAS 13's GEMM
    csv_k = ncu_tables(f"h100/{capture}_raw.csv")["ncu_kernels"]
    for col in ("short_name", "nvtx_range", "grid_size", "block_size", "duration_ns", "dram_bytes"):
        assert k[col].tolist() == csv_k[col].tolist(), col


def test_gemm_tensor_flops_are_2mnk_and_compute_bound():
    g = SHAPES["gemm"]
    for capture in CAPTURES:
        gemm = ncu_tables(f"h100/{capture}.ncu-rep")["ncu_kernels"].iloc[6]
        assert gemm["tensor_flop"] == 2 * g["m"] * g["n"] * g["k"]
        assert gemm["tensor_type"] == "bf16_dst_fp32"
        assert gemm["fp32_flop"] == 0 and gemm["bound"] == "compute"
        assert gemm["arithmetic_intensity"] > gemm["ridge_intensity"]
        assert 0 < gemm["tensor_peak_pct"] < 100


def test_flop_counts_agree_between_full_set_rates_and_explicit_sums():
    """The full set records FLOP counters only as per-cycle rates (× cycles here); the lean capture asks for the
    sums. Instruction counts are deterministic, so both must give the same FLOPs."""
    full = ncu_tables("h100/full.ncu-rep")["ncu_kernels"]
    lean = ncu_tables("h100/subset.ncu-rep")["ncu_kernels"]
    for col in ("fp32_flop", "fp16_flop", "fp64_flop", "tensor_flop"):
        np.testing.assert_allclose(full[col], lean[col], rtol=1e-6, err_msg=col)
    assert (full["fp32_flop"] > 0).sum() == 6  # every kernel but the GEMM


def test_decode_is_memory_bound_on_the_roofline():
    for capture in CAPTURES:
        decode = ncu_tables(f"h100/{capture}.ncu-rep")["ncu_kernels"].iloc[1]
        assert decode["bound"] == "memory"
        assert decode["arithmetic_intensity"] < decode["ridge_intensity"]
        assert decode["bound_reason"].startswith("roofline")
        assert decode["dram_throughput_pct"] > 70
        np.testing.assert_allclose(decode["dram_peak_pct"], decode["dram_throughput_pct"], rtol=1e-3)


def test_stall_reasons_of_the_memory_bound_kernels():
    """What ncu measured, kept as measured: RMSNorm-family and RoPE kernels wait on global memory (long scoreboard
    first); FlashInfer's decode is near the DRAM roofline with eligible warps to spare (not_selected first),
    then barrier, with long scoreboard around 10 %."""
    stalls = ncu_tables("h100/full.ncu-rep")["warp_stalls"]
    top = (stalls.dropna(subset=["pct"]).sort_values("pct", ascending=False)
           .groupby(["kernel_id", "source"])["reason"].apply(list))
    for kernel_id in (4, 3):  # fused_add_rmsnorm, rmsnorm
        assert top[(kernel_id, "pc_sampling")][0] == top[(kernel_id, "warp_state")][0] == "long_scoreboard"
    assert top[(5, "pc_sampling")][0] == "long_scoreboard"
    assert top[(1, "pc_sampling")][:2] == top[(1, "warp_state")][:2] == ["not_selected", "barrier"]
    decode = stalls[(stalls["kernel_id"] == 1) & (stalls["reason"] == "long_scoreboard")].set_index("source")
    assert 5 < decode.loc["pc_sampling", "pct"] < 15
    assert top[(6, "pc_sampling")][:2] == ["barrier", "gmma"]  # the nvjet GEMM waits on wgmma


def test_source_page_equals_the_reports_per_pc_samples():
    for capture in CAPTURES:
        page = ncu_tables(f"h100/{capture}_source_decode.csv")["ncu_source"]
        rep = ncu_tables(f"h100/{capture}.ncu-rep")["ncu_source"]
        rep = rep[rep["kernel_id"] == 1].set_index("address")
        page = page.set_index("address")
        assert page["block"].nunique() == 1 and rep.index.isin(page.index).all()
        # the page lists every instruction; the report has per-PC data only where something was counted
        unlisted = page.loc[~page.index.isin(rep.index)]
        assert len(unlisted) < 0.05 * len(page) and (unlisted[["samples", "inst_executed"]] == 0).all().all()
        page = page.loc[rep.index]
        # same instructions; the CLI prints LDGSTS (cp.async) operands in another order, and the final
        # self-branch without ncu_report's "`(.L_x_0)" label
        same = page["sass"] == rep["sass"]
        assert same.mean() > 0.95 and page.loc[~same, "sass"].str.contains("LDGSTS|BRA").all()
        opcode = r"^(?:@!?U?P\w+\s+)?([\w.]+)"
        assert (page["sass"].str.extract(opcode)[0] == rep["sass"].str.extract(opcode)[0]).all()
        for col in [c for c in page.columns if c.startswith("stall_")] + ["samples", "inst_executed"]:
            assert (page[col] == rep[col]).all(), (capture, col)
        assert rep["samples"].sum() > 1000


def test_lean_capture_asked_for_and_got_the_catalogs_extra_metrics():
    logged = next(line[2:] for line in (H100 / "capture.log").read_text().splitlines() if line.startswith("$ ncu"))
    argv = shlex.split(logged)
    asked = argv[argv.index("--metrics") + 1].split(",")
    assert asked + list(ROOFLINE_METRICS_SM90) == list(EXTRA_METRICS_SM90)  # the capture predates the roofline ones
    present = set(ncu_tables("h100/subset.ncu-rep")["ncu_metrics"]["metric"].astype(str))
    assert set(asked) <= present
    assert not (H100 / "subset_FALLBACK").exists()
    # the metrics added since: every name in exactly this form in the full-set report of the same H100 and ncu
    full = set(ncu_tables("h100/full.ncu-rep")["ncu_metrics"]["metric"].astype(str))
    assert set(ROOFLINE_METRICS_SM90) <= full
