"""Every derived ncu_kernels column that ncu states itself equals ncu's figure, on every committed report.

Reports (ncu 2025.3): tests/data/ncu/h100/{full,subset} (H100, --set full / lean subset: prefill, decode,
merge, rmsnorm, fused rmsnorm, rope, cuBLAS bf16 GEMM), fi2 (seven sections + 3 metrics: prefill ×3, rope,
rmsnorm, fused rmsnorm, 4096²), mm (--set full, torch's fill kernel), dec (--set full, decode + merge), and the
foundation captures of `flashsight profile` (lean default: rmsnorm, MHA decode).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from flashsight.parsers.ncu_derive import TENSOR_PATH, derive_one
from flashsight.schema.metric_catalog import COLUMNS, EXTRA_METRICS_SM90
from tests.ncu_data import DATA, ncu_tables

REPORTS = ["h100/full.ncu-rep", "h100/subset.ncu-rep", "h200/full.ncu-rep", "h200/lean.ncu-rep", "fi2.ncu-rep", "mm.ncu-rep", "dec.ncu-rep",
           "foundation/rmsnorm_ncu.ncu-rep", "foundation/decode_mha_ncu.ncu-rep"]


def _wide(report: str) -> pd.DataFrame:
    metrics = ncu_tables(report)["ncu_metrics"]
    return metrics.pivot_table(index="kernel_id", columns="metric", values="value", aggfunc="first", observed=True)


def _m(wide: pd.DataFrame, *names: str) -> pd.Series:
    """The first of `names` the report holds, per kernel (NaN: none of them)."""
    for name in names:
        if name in wide.columns:
            return wide[name]
    return pd.Series(math.nan, index=wide.index)


def _sum(wide, *names) -> pd.Series:
    parts = [_m(wide, n) for n in names]
    return sum(parts[1:], parts[0])


def _tensor_path_figure(suffix: str):
    def figure(wide, kernels):
        values = [wide.at[k, f"sm__ops_path_tensor_op_{p}.sum{suffix}"] if isinstance(p, str) and
                  f"sm__ops_path_tensor_op_{p}.sum{suffix}" in wide.columns else math.nan
                  for k, p in zip(kernels.index, kernels["tensor_path"])]
        return pd.Series(values, index=kernels.index)
    return figure


def _fp_tensor_flop(wide, kernels):
    paths = [c for c in wide.columns if TENSOR_PATH.match(c)]
    return wide[paths].sum(axis=1) if paths else pd.Series(math.nan, index=wide.index)


def _achieved(kind: str):
    stems = {"fp32": ("fadd", "fmul", "ffma"), "fp64": ("dadd", "dmul", "dfma"), "fp16": ("hadd", "hmul", "hfma")}[kind]
    base = "smsp__sass_thread_inst_executed_op_{}_pred_on"
    derived = {"fp32": ("", "", "_x2"), "fp64": ("", "", "_x2"), "fp16": ("_x2", "_x2", "_x4")}[kind]

    def figure(wide, kernels):  # ncu's roofline "achieved work" per cycle, times the cycles
        parts = [_m(wide, f"derived__{base.format(s)}{d}") if d else _m(wide, f"{base.format(s)}.sum.per_cycle_elapsed")
                 for s, d in zip(stems, derived)]
        return (parts[0] + parts[1] + parts[2]) * _m(wide, "smsp__cycles_elapsed.avg")
    return figure


def _peak(kind: str):
    derived = {"fp32": "ffma_pred_on_x2", "fp64": "dfma_pred_on_x2", "fp16": "hfma_pred_on_x4"}[kind]
    return lambda wide, kernels: (_m(wide, f"derived__sm__sass_thread_inst_executed_op_{derived}")
                                  * _m(wide, "sm__cycles_elapsed.avg.per_second"))


def _tensor_ridge(wide, kernels):
    peak = _tensor_path_figure(".peak_sustained_elapsed.per_second")(wide, kernels)
    dram = _m(wide, "dram__bytes.sum.peak_sustained") * _m(wide, "dram__cycles_elapsed.avg.per_second")
    return (peak / dram).where(kernels["compute_precision"] == "tensor")


# column -> how ncu states the same figure (NaN where a report does not hold it)
COUNTERPARTS = {
    "sm_frequency_hz": lambda w, k: _m(w, "sm__cycles_elapsed.avg.per_second", "smsp__cycles_elapsed.avg.per_second",
                                       "gpc__cycles_elapsed.avg.per_second"),
    "l2_frequency_hz": lambda w, k: _m(w, "lts__cycles_elapsed.avg.per_second"),
    "l1_frequency_hz": lambda w, k: _m(w, "l1tex__cycles_elapsed.avg.per_second"),
    "issue_active_pct": lambda w, k: _m(w, "smsp__issue_active.avg.pct_of_peak_sustained_active").fillna(
        100 * _m(w, "smsp__issue_active.avg.per_cycle_active")),
    "sm_issue_active_elapsed_pct": lambda w, k: _m(w, "sm__issue_active.avg.pct_of_peak_sustained_elapsed"),
    "dram_bytes": lambda w, k: _sum(w, "dram__bytes_read.sum", "dram__bytes_write.sum"),
    "dram_bytes_per_s": lambda w, k: _m(w, "dram__bytes.sum.per_second"),
    "dram_peak_pct": lambda w, k: _sum(w, "dram__bytes_read.sum.pct_of_peak_sustained_elapsed",
                                       "dram__bytes_write.sum.pct_of_peak_sustained_elapsed"),
    "l2_bytes_per_s": lambda w, k: _m(w, "derived__lts__lts2xbar_bytes.sum.per_second"),
    "l2_peak_pct": lambda w, k: _m(w, "lts__lts2xbar_cycles_active.sum.pct_of_peak_sustained_elapsed"),
    "l1_bytes_per_s": lambda w, k: _m(w, "derived__l1tex__lsu_writeback_bytes_mem_lgds.sum.per_second"),
    "l1_peak_pct": lambda w, k: _m(w, "l1tex__lsu_writeback_active_mem_lgds.sum.pct_of_peak_sustained_elapsed"),
    "fp32_flop": _achieved("fp32"),
    "fp64_flop": _achieved("fp64"),
    "fp16_flop": _achieved("fp16"),
    "peak_fp32_flop_per_s": _peak("fp32"),
    "peak_fp64_flop_per_s": _peak("fp64"),
    "peak_fp16_flop_per_s": _peak("fp16"),
    "tensor_flop": _fp_tensor_flop,
    "tensor_peak_pct": _tensor_path_figure(".pct_of_peak_sustained_elapsed"),
    "peak_tensor_flop_per_s": _tensor_path_figure(".peak_sustained_elapsed.per_second"),
    "ridge_intensity": _tensor_ridge,
}


@pytest.mark.parametrize("report", REPORTS)
def test_every_derived_column_with_an_ncu_counterpart_equals_it(report):
    kernels = ncu_tables(report)["ncu_kernels"].set_index("kernel_id")
    wide = _wide(report).reindex(kernels.index)
    compared = []
    for column, figure in COUNTERPARTS.items():
        ncu = figure(wide, kernels).astype("float64")
        ours = kernels[column].astype("float64")
        stated = ncu.notna()
        assert ours[stated].notna().all(), (column, "NaN where ncu states a figure")
        np.testing.assert_allclose(ours[stated], ncu[stated], rtol=1e-9, atol=1e-9, err_msg=column)
        if stated.any():
            compared.append(column)
    # what each report lets us check (a lean capture states fewer figures than --set full)
    assert {"sm_frequency_hz", "issue_active_pct", "dram_bytes_per_s"} <= set(compared) or report == "fi2.ncu-rep"
    if report in ("h100/full.ncu-rep", "dec.ncu-rep", "mm.ncu-rep"):
        assert set(COUNTERPARTS) - {"tensor_peak_pct", "peak_tensor_flop_per_s", "ridge_intensity"} <= set(compared)


def test_every_counterpart_is_checked_on_some_report():
    checked = set()
    for report in REPORTS:
        kernels = ncu_tables(report)["ncu_kernels"].set_index("kernel_id")
        wide = _wide(report).reindex(kernels.index)
        checked |= {c for c, figure in COUNTERPARTS.items() if figure(wide, kernels).notna().any()}
    assert checked == set(COUNTERPARTS)


_FP_ROOFLINE = re.compile(r"achieved (close to )?(\d+)% of this device's FP32 peak performance and\s+(close to )?"
                          r"(\d+)% of its FP64 peak")


@pytest.mark.parametrize("report", REPORTS)
def test_fp32_and_fp64_peak_pct_equal_ncus_roofline_rule(report):
    """SOLFPRoofline: 'The workload achieved 7% of this device's FP32 peak performance and 0% of its FP64 ...'."""
    rules = ncu_tables(report)["ncu_rules"]
    rules = rules[rules["rule"] == "SOLFPRoofline"]
    kernels = ncu_tables(report)["ncu_kernels"].set_index("kernel_id")
    for kernel_id, text in zip(rules["kernel_id"], rules["description"]):
        close32, pct32, close64, pct64 = _FP_ROOFLINE.search(text).groups()
        for ours, close, pct in ((kernels.at[kernel_id, "fp32_peak_pct"], close32, pct32),
                                 (kernels.at[kernel_id, "fp64_peak_pct"], close64, pct64)):
            assert (ours < 0.5) if close else abs(ours - int(pct)) <= 0.5, (kernel_id, ours, text)


@pytest.mark.parametrize("report", REPORTS)
def test_sol_bottleneck_equals_ncus_rule_title(report):
    rules = ncu_tables(report)["ncu_rules"]
    titles = rules[rules["rule"] == "SOLBottleneck"].set_index("kernel_id")["title"]
    kernels = ncu_tables(report)["ncu_kernels"].set_index("kernel_id")
    assert len(titles) == len(kernels)
    assert kernels.loc[titles.index, "sol_bottleneck"].tolist() == titles.tolist()


def test_tensor_pct_is_against_the_dense_peak_of_the_path_used():
    """cuBLAS bf16 GEMM (wgmma) and FlashInfer prefill (mma.sync fp16→fp32) of the H100 full-set report: ncu's own
    `…_sparsity_off.sum.pct_of_peak_sustained_elapsed`, not the aggregate's 2× (wgmma) / 3× (mma.sync) lower %."""
    kernels = ncu_tables("h100/full.ncu-rep")["ncu_kernels"].set_index("kernel_id")
    wide = _wide("h100/full.ncu-rep")
    gemm, prefill = kernels.loc[6], kernels.loc[0]
    assert gemm["tensor_path"] == "hgmma_src_bf16_dst_fp32_sparsity_off"
    assert prefill["tensor_path"] == "hmma_src_fp16_dst_fp32_sparsity_off"
    assert gemm["tensor_peak_pct"] == pytest.approx(
        wide.at[6, "sm__ops_path_tensor_op_hgmma_src_bf16_dst_fp32_sparsity_off.sum.pct_of_peak_sustained_elapsed"],
        rel=1e-12)
    assert round(gemm["tensor_peak_pct"], 1) == 73.2
    assert round(prefill["tensor_peak_pct"], 1) == 25.1
    aggregate = wide.at[6, "sm__ops_path_tensor_src_bf16_dst_fp32.sum.pct_of_peak_sustained_elapsed"]
    assert round(aggregate, 1) == 36.6 and gemm["tensor_peak_pct"] == pytest.approx(2 * aggregate, rel=1e-9)
    prefill_aggregate = wide.at[0, "sm__ops_path_tensor_src_fp16.sum.pct_of_peak_sustained_elapsed"]
    assert prefill["tensor_peak_pct"] == pytest.approx(3 * prefill_aggregate, rel=1e-9)


def test_ridge_point_uses_the_dense_peak():
    """The GEMM's ridge is its dense wgmma peak over the DRAM peak: ~222 FLOP/B at ncu's 1.37 GHz, half of what
    the (sparse) aggregate peak gave (443)."""
    gemm = ncu_tables("h100/full.ncu-rep")["ncu_kernels"].set_index("kernel_id").loc[6]
    assert gemm["ridge_intensity"] == pytest.approx(221.7, abs=0.1)
    assert gemm["peak_tensor_flop_per_s"] == pytest.approx(540672 * gemm["sm_frequency_hz"], rel=1e-12)
    assert gemm["bound"] == "compute" and gemm["arithmetic_intensity"] > gemm["ridge_intensity"]


def _metrics_of(report: str, kernel_id: int) -> dict:
    metrics = ncu_tables(report)["ncu_metrics"]
    rows = metrics[(metrics["kernel_id"] == kernel_id) & metrics["value"].notna()]
    return dict(zip(rows["metric"].astype(str), rows["value"]))


@pytest.mark.parametrize("kernel_id", [0, 6])
def test_without_op_path_metrics_the_catalog_share_gives_ncus_figure(kernel_id):
    """A lean capture made before the op-path metrics were requested (the subset capture, the first H200 sweeps)
    knows the family from the instruction counters and the aggregate peak: aggregate ÷ 2 (wgmma) or ÷ 3
    (mma.sync) is the dense peak exactly. Checked by hiding the op paths of the full-set report."""
    report = "h100/full.ncu-rep"
    kernels = ncu_tables(report)["ncu_kernels"].set_index("kernel_id")
    catalog_columns = [c.name for c in COLUMNS] + ["dram_bytes", "compute_capability"]
    row = {c: kernels.at[kernel_id, c] for c in catalog_columns if c in kernels.columns}
    row["duration_ns"] = float(row["duration_ns"])
    m = {k: v for k, v in _metrics_of(report, kernel_id).items() if not k.startswith("sm__ops_path_tensor_op_")}
    derived = derive_one(row, m)
    assert derived["tensor_peak_basis"].startswith("aggregate peak ÷ ")
    assert derived["tensor_peak_pct"] == pytest.approx(kernels.at[kernel_id, "tensor_peak_pct"], rel=1e-9)
    subset = ncu_tables("h100/subset.ncu-rep")["ncu_kernels"].set_index("kernel_id")
    assert subset.at[kernel_id, "tensor_peak_basis"] == derived["tensor_peak_basis"]


def test_a_4096_rmsnorm_at_60_percent_sm_is_balanced_with_its_runner_up():
    """fi2's RMSNorm 4096×4096: SM 60.01 % vs memory 55.7 %, no FLOP counters. ncu calls it 'Balanced Throughput'
    (within its 10-point margin); a bare max() called it compute."""
    k = ncu_tables("fi2.ncu-rep")["ncu_kernels"].set_index("kernel_id").loc[4]
    assert k["short_name"] == "RMSNormKernel" and 60 < k["sm_throughput_pct"] < 60.1
    assert k["bound"] == "balanced" and k["sol_bottleneck"] == "Balanced Throughput"
    assert "4.3 points apart" in k["bound_reason"] and "runner-up memory" in k["bound_reason"]


def test_fi2_clock_and_issue_rate_come_from_the_metrics_it_holds():
    """fi2 has neither sm__ nor smsp__cycles_elapsed.avg.per_second, but the GPC clock; and issue activity only as
    per_cycle_active (one issue per cycle is an SMSP's peak)."""
    kernels = ncu_tables("fi2.ncu-rep")["ncu_kernels"]
    catalog = ncu_tables("fi2.ncu-rep")["ncu_catalog"].set_index(["kernel_id", "column"])["metric"]
    assert catalog[(4, "sm_frequency_hz")] == "gpc__cycles_elapsed.avg.per_second"
    assert catalog[(4, "issue_active_pct")] == "smsp__issue_active.avg.per_cycle_active"
    assert kernels["sm_frequency_hz"].between(1.4e9, 1.7e9).all()
    assert kernels["issue_active_pct"].notna().all() and kernels["sm_issue_active_elapsed_pct"].notna().all()


def test_h200_tensor_pct_equals_ncus_op_path_pct_for_wgmma_and_mma_sync():
    """The issue's two kernels on the lent H200 (--set full): a cuBLAS bf16 8192³ GEMM on warpgroup MMA (ncu's
    `…hgmma_src_bf16_dst_fp32_sparsity_off…pct_of_peak_sustained_elapsed` says 93.3%) and FlashInfer's tensor-core
    decode on mma.sync (`…hmma_src_fp16_dst_fp32_sparsity_off…` 13.2%), besides the fa2 prefill (25.6%)."""
    kernels = ncu_tables("h200/full.ncu-rep")["ncu_kernels"].set_index("kernel_id")
    wide = _wide("h200/full.ncu-rep")
    expected = {6: ("nvjet_sm90", "hgmma_src_bf16_dst_fp32_sparsity_off", 93.3),
                7: ("BatchPrefillWithPagedKVCacheKernel", "hmma_src_fp16_dst_fp32_sparsity_off", 13.2),
                0: ("BatchPrefillWithPagedKVCacheKernel", "hmma_src_fp16_dst_fp32_sparsity_off", 25.6)}
    for kernel_id, (name, path, pct) in expected.items():
        row = kernels.loc[kernel_id]
        assert row["short_name"].startswith(name) and row["tensor_path"] == path
        stated = wide.at[kernel_id, f"sm__ops_path_tensor_op_{path}.sum.pct_of_peak_sustained_elapsed"]
        assert row["tensor_peak_pct"] == pytest.approx(stated, rel=1e-12)
        assert round(row["tensor_peak_pct"], 1) == pct
    gemm = kernels.loc[6]
    # the op path counts what the tensor cores ran: 2·M·N·K over whole 320×128 tiles, so M rounds up to 26 × 320
    assert gemm["tensor_flop"] == 2 * (26 * 320) * 8192 * 8192
    # the ridge from the dense wgmma peak (1,024 bf16 FLOP per SM cycle × 132 SMs) over the DRAM peak
    assert gemm["peak_tensor_flop_per_s"] == pytest.approx(540672 * gemm["sm_frequency_hz"], rel=1e-12)
    assert round(gemm["ridge_intensity"], 1) == 149.5 and gemm["bound"] == "compute"


def test_h200_lean_capture_holds_every_metric_it_asks_for():
    """flashsight's lean argv, run on the H200: ncu took every requested metric (a name it rejects fails the whole
    capture), and the tensor % it derives from them is within a point of the full set's on the same kernels."""
    lean = ncu_tables("h200/lean.ncu-rep")
    present = set(lean["ncu_metrics"]["metric"].astype(str))
    asked = (DATA / "h200" / "lean.log").read_text().split("--metrics ", 1)[1].split(" ", 1)[0].split(",")
    # a metric added to the lean capture since is unproven on the GPU: re-run devtools/device_derived.sh
    assert set(asked) == set(EXTRA_METRICS_SM90), "the lean metrics changed since this capture"
    assert set(asked) <= present
    ours = lean["ncu_kernels"].set_index("kernel_id")["tensor_peak_pct"]
    full = ncu_tables("h200/full.ncu-rep")["ncu_kernels"].set_index("kernel_id")["tensor_peak_pct"]
    assert ours.notna().sum() == 3 and (ours - full).abs().max() < 1.0
