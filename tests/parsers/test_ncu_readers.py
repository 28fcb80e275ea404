"""ncu readers against ncu itself: the same H100 report read as .ncu-rep and as ncu's own CSV pages.

Data (tests/data/ncu, gzip'ed copies of the shared H100 fixtures, ncu 2025.3.1):
  dec.ncu-rep + dec_raw.csv    --set full, FlashInfer batch decode: decode + merge-states kernels
  mm.ncu-rep + mm_raw.csv      --set full -c 1: torch's random-fill kernel, no NVTX
  ncsv_raw.csv / ncsv_raw_base.csv / ncsv_details.csv / ncsv_source_rms.csv   one --set full report of
                               prefill x3, rope, rmsnorm, fused_add_rmsnorm exported as each page
"""

from __future__ import annotations

import csv
import re
import numpy as np
import pytest

from flashsight.parsers.ncu_csv import sniff_page, to_base_unit
from tests.ncu_data import assert_report_equals_raw_csv, ncu_file, ncu_tables, printed_decimals, raw_units


@pytest.fixture(scope="module")
def tables():
    return ncu_tables


@pytest.mark.parametrize("stem", ["dec", "mm"])
def test_every_metric_of_the_report_equals_ncus_raw_csv(stem):
    numeric = assert_report_equals_raw_csv(f"{stem}.ncu-rep", f"{stem}_raw.csv")
    assert len(numeric) > 2000 * numeric["kernel_id"].nunique()


def test_scaled_and_base_unit_csvs_give_the_same_values(tables):
    scaled = tables("ncsv_raw.csv")["ncu_metrics"]
    base = tables("ncsv_raw_base.csv")["ncu_metrics"]
    merged = scaled.merge(base, on=["kernel_id", "metric"], suffixes=("_s", "_b"))
    assert len(merged) == len(scaled) == len(base) == 6 * 2227
    assert (merged["value_s"].isna() == merged["value_b"].isna()).all()
    assert (merged["unit_s"].astype(str) == merged["unit_b"].astype(str)).all()
    both = merged.dropna(subset=["value_s"])
    units = raw_units(ncu_file("ncsv_raw.csv"))
    # each page is exact to its own printed digits: 6 decimals in the scaled unit, 2 in the base unit
    tol_s = 0.5 * 10.0 ** (-printed_decimals(both["text_s"])) * both["metric"].astype(str).map(
        lambda m: to_base_unit(units[m])[1])
    tol_b = 0.5 * 10.0 ** (-printed_decimals(both["text_b"]))
    assert ((both["value_s"] - both["value_b"]).abs() <= (tol_s + tol_b) * (1 + 1e-9)).all()
    # the auto-scaled units really were scaled
    assert {"us", "Mbyte", "Tbyte/s", "Ghz", "sector/ns", "%/Kbyte"} <= set(units.values())


@pytest.mark.parametrize("printed, base, factor", [
    ("us", "ns", 1e3), ("Mbyte", "byte", 1e6), ("Gbyte/s", "byte/s", 1e9), ("Tbyte/s", "byte/s", 1e12),
    ("Ghz", "hz", 1e9), ("Mhz", "hz", 1e6), ("sector/ns", "sector/s", 1e9), ("sector/us", "sector/s", 1e6),
    ("sector/ms", "sector/s", 1e3), ("Kbyte/block", "byte/block", 1e3), ("%/Kbyte", "%/byte", 1e3),
    ("inst/cycle", "inst/cycle", 1.0), ("%", "%", 1.0), ("", "", 1.0),
    ("usecond", "ns", 1e3), ("Gbyte/second", "byte/s", 1e9),  # older ncu spellings
])
def test_unit_scaling(printed, base, factor):
    assert to_base_unit(printed) == (base, factor)


def test_scaled_values_from_the_csv_equal_the_reports_base_values(tables):
    """Spot checks against numbers read off ncu's pages by eye (dec_raw.csv, row 1)."""
    m = tables("dec_raw.csv")["ncu_metrics"].set_index(["kernel_id", "metric"])["value"]
    assert m[(0, "gpu__time_duration.sum")] == 109408.0  # printed '109.408000' us
    assert m[(0, "dram__bytes_read.sum")] == 268768512.0  # printed '268.768512' Mbyte
    assert m[(0, "derived__memory_l1_wavefronts_shared_excessive")] == 98304  # printed '98,304'
    assert m[(0, "launch__shared_mem_per_block")] == 10240  # printed '10.240000' Kbyte/block


def test_kernels_table_is_the_same_from_both_paths(tables):
    rep = tables("dec.ncu-rep")["ncu_kernels"]
    csv_ = tables("dec_raw.csv")["ncu_kernels"]
    assert rep["kernel_id"].tolist() == csv_["kernel_id"].tolist() == [0, 1]
    assert rep["short_name"].tolist() == csv_["short_name"].tolist() == [
        "BatchDecodeWithPagedKVCacheKernel", "PersistentVariableLengthMergeStatesKernel"]
    for col in ("nvtx_domain", "nvtx_range", "grid_size", "block_size", "duration_ns", "dram_bytes",
                "registers_per_thread", "bound"):
        assert rep[col].tolist() == csv_[col].tolist(), col
    assert rep["nvtx_range"].tolist() == ["decode", "decode"]
    assert rep["nvtx_domain"].tolist() == [None] * 2  # ncu's "<default domain>"
    # Grid Size '(128, 8, 1)', Block Size '(16, 4, 2)' on ncu's page
    assert (rep.loc[0, ["grid_x", "grid_y", "grid_z"]].tolist(), rep.loc[0, "grid_size"]) == ([128, 8, 1], 1024)
    assert rep.loc[0, "block_size"] == 128
    assert rep.loc[0, "duration_ns"] == 109408
    assert rep.loc[0, "dram_bytes"] == 268768512 + 3056640
    for col in ("sm_throughput_pct", "dram_throughput_pct", "tensor_pipe_pct", "achieved_occupancy_pct",
                "flop", "arithmetic_intensity", "dram_peak_pct"):
        np.testing.assert_allclose(rep[col], csv_[col], rtol=1e-5, err_msg=col)
    assert rep["mangled_name"].str.startswith("_Z").all() and csv_["mangled_name"].isna().all()


def test_catalog_records_the_sm90_dram_metric(tables):
    cat = tables("dec.ncu-rep")["ncu_catalog"].set_index(["kernel_id", "column"])["metric"]
    assert cat[(0, "dram_throughput_pct")] == "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed"
    assert cat[(0, "tensor_pipe_pct")] == "sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active"
    assert cat[(0, "dram_bytes")] == "dram__bytes_read.sum + dram__bytes_write.sum"


def test_mm_report_without_nvtx(tables):
    k = tables("mm.ncu-rep")["ncu_kernels"]
    assert k["short_name"].tolist() == ["distribution_elementwise_grid_stride_kernel"]
    assert k["nvtx_range"].isna().all()
    assert tables("mm_raw.csv")["ncu_kernels"]["short_name"].tolist() == k["short_name"].tolist()


def test_nvtx_column_of_ncu_csv(tables):
    k = tables("ncsv_raw.csv")["ncu_kernels"]
    assert k["nvtx_range"].tolist() == ["prefill"] * 3 + ["rope", "rmsnorm", "rmsnorm"]
    assert k["short_name"].tolist() == ["BatchPrefillWithPagedKVCacheKernel"] * 3 + [
        "BatchQKApplyRotaryPosIdsKernel", "RMSNormKernel", "FusedAddRMSNormKernel"]
    assert k["process_id"].tolist() == [1116] * 6


def test_details_page_metrics_equal_the_raw_page_of_the_same_report(tables):
    details = tables("ncsv_details.csv")["ncu_details"]
    raw = tables("ncsv_raw.csv")["ncu_metrics"]
    mapped = details.dropna(subset=["metric", "value"])
    assert mapped["label"].nunique() > 75 and details["metric"].notna().mean() > 0.95
    merged = mapped.merge(raw, on=["kernel_id", "metric"], suffixes=("_d", "_r"))
    assert len(merged) == len(mapped)
    # the details page prints 2 decimals in its own (scaled) unit
    with open(ncu_file("ncsv_details.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    unit_of = {(int(r["ID"]), r["Section Name"], r["Metric Name"]): r["Metric Unit"] for r in rows if r["Metric Name"]}
    factor = [to_base_unit(unit_of[(k, s, lab)])[1] for k, s, lab in
              zip(merged["kernel_id"], merged["section"], merged["label"])]
    tol = 0.5 * 10.0 ** (-printed_decimals(merged["text_d"])) * np.array(factor) * (1 + 1e-9)
    ok = (merged["value_d"] - merged["value_r"]).abs() <= tol + 1e-9 * merged["value_r"].abs()
    assert ok.all(), merged.loc[~ok, ["section", "label", "text_d", "value_r"]].head().to_string()
    k = tables("ncsv_details.csv")["ncu_kernels"]
    assert k["duration_ns"].tolist() == [620670, 608100, 618300, 477310, 27170, 45730]  # '620.67' us, …


def test_details_rules(tables):
    rules = tables("ncsv_details.csv")["ncu_rules"]
    assert set(rules["kernel_id"]) == set(range(6))
    bottleneck = rules[(rules["kernel_id"] == 0) & (rules["rule"] == "SOLBottleneck")]
    assert bottleneck["type"].tolist() == ["OPT"]
    assert "below 60.0% of peak typically indicate latency issues" in bottleneck["description"].iloc[0]
    assert rules["speedup_pct"].notna().any()


def test_source_page(tables):
    src = tables("ncsv_source_rms.csv")["ncu_source"]
    # 4 blocks on the page, two of them identical repeats
    assert src.groupby("block")["name"].first().str.extract(r"::(\w+)<")[0].tolist() == [
        "RMSNormKernel", "FusedAddRMSNormKernel"]
    assert src.groupby("block").size().tolist() == [552, 592]
    first = src.iloc[0]
    assert (first["address"], first["sass"], first["samples"]) == (0x7F3A6AFC3100, "LDC R1, c[0x0][0x28]", 43)
    stall_cols = [c for c in src.columns if c.startswith("stall_")]
    assert "stall_long_scoreboard" in stall_cols and "stall_no_instruction" in stall_cols
    # every sample of a line is in exactly one reason
    assert (src[stall_cols].sum(axis=1) == src["samples"]).all()


def test_report_source_counters_add_up_to_the_kernel_totals(tables):
    t = tables("dec.ncu-rep")
    src, m = t["ncu_source"], t["ncu_metrics"]
    totals = m[m["metric"].astype(str).str.fullmatch(r"smsp__pcsamp_warps_issue_stalled_\w+(?<!_not_issued)")]
    for (kernel_id, metric), value in totals.set_index(["kernel_id", "metric"])["value"].items():
        reason = re.sub(r"^smsp__pcsamp_warps_issue_stalled_", "", str(metric))
        reason = {"no_instructions": "no_instruction", "warpgroup_arrive": "gmma"}.get(reason, reason)
        assert src.loc[src["kernel_id"] == kernel_id, f"stall_{reason}"].sum() == value, (kernel_id, metric)
    assert src["sass"].str.len().gt(0).all()


@pytest.mark.parametrize("name, page", [("dec_raw.csv", "raw"), ("ncsv_raw_base.csv", "raw"),
                                        ("ncsv_details.csv", "details"), ("ncsv_source_rms.csv", "source")])
def test_sniffing_the_page(name, page):
    assert sniff_page(ncu_file(name)) == page
