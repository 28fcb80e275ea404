"""The report of the shipped sample: the default study swept on the lent H200 (104 jobs). Its findings carry the
numbers of the raw tables (gpu_kernels from nsys, ncu_kernels from ncu, the JIT jobs' result.json), checked by hand."""

from __future__ import annotations

import re

import pytest

import flashsight
from flashsight.analysis.result_metrics import jit_latencies


@pytest.fixture(scope="module")
def run():
    return flashsight.sample()


@pytest.fixture(scope="module")
def findings_text(run, tmp_path_factory):
    md = run.report(tmp_path_factory.mktemp("study_report"))["markdown"].read_text()
    return md[md.index("## Findings"):]


def _config(run, workload, **params):
    jobs = run.jobs[(run.jobs["workload"] == workload) & (run.jobs["tool"] == "nsys")]
    for key, value in params.items():
        jobs = jobs[jobs[key] == value]
    assert jobs["config_id"].nunique() == 1, params
    return jobs["config_id"].iloc[0]


def _kernel(run, cid, short_name):
    g, k = run.table("gpu_kernels"), run.table("ncu_kernels")
    median = g[(g["config_id"] == cid) & (g["short_name"] == short_name)]["duration_ns"].median()
    return float(median), k[(k["config_id"] == cid) & (k["short_name"] == short_name)].iloc[0]


def test_decode_at_batch_128_by_hand(run, findings_text):
    """ncu's DRAM bytes over nsys' median, against the DRAM peak ncu states (bytes per cycle × its memory clock
    scaled to the device's own: the table's peak) — 94% with 32/32 heads, 68% with 32/8 heads."""
    obs = run.table("kernel_observations")
    shares = {}
    for heads in (32, 8):
        cid = _config(run, "decode", batch=128, num_kv_heads=heads)
        median, ncu = _kernel(run, cid, "BatchDecodeWithPagedKVCacheKernel")
        row = obs[(obs["config_id"] == cid) & (obs["short_name"] == "BatchDecodeWithPagedKVCacheKernel")].iloc[0]
        assert ncu["dram_bytes"] == ncu["dram_read_bytes"] + ncu["dram_write_bytes"]
        assert row["achieved_dram_bytes_per_s"] == pytest.approx(ncu["dram_bytes"] / (median / 1e9), rel=1e-12)
        shares[heads] = 100 * row["achieved_dram_bytes_per_s"] / row["peak_dram_bytes_per_s"]
    assert (round(shares[32]), round(shares[8])) == (94, 68)
    assert f"it reaches {shares[32]:.0f}% of DRAM peak with 32/32 heads and {shares[8]:.0f}% with 32/8 heads" \
        in findings_text


def test_prefill_tensor_share_is_the_op_paths_flop_over_all_flop(run, findings_text):
    k = run.table("ncu_kernels")
    prefill = k[(k["short_name"] == "BatchPrefillWithPagedKVCacheKernel")]
    assert len(prefill) == 8 and set(prefill["tensor_path"]) == {"hmma_src_fp16_dst_fp32_sparsity_off"}
    share = 100 * prefill["tensor_flop"] / prefill["flop"]
    low, high = round(share.min()), round(share.max())
    assert (low, high) == (99, 99)
    assert "; 99% of its FLOPs run on tensor cores (mma.sync fp16→fp32)." in findings_text


def test_the_jit_finding_is_the_jit_jobs_result_records(run, findings_text):
    jit = jit_latencies(run.table("workload_results")).set_index("family")
    assert set(jit.index) == {"norm", "rope", "decode", "prefill"}
    cold = jit["cold_s"]
    assert f"a cold compile takes {cold.min():.1f} s ({cold.idxmin()}) to {cold.max():.1f} s ({cold.idxmax()})" \
        in findings_text
    disk = jit["disk_hit_s"] * 1e3
    assert f"disk cache {disk.min():.1f} ms ({disk.idxmin()}) to {disk.max():.1f} ms ({disk.idxmax()})" \
        in findings_text


def test_one_fusion_finding_spans_every_shape(run, findings_text):
    k, g = run.table("ncu_kernels"), run.table("gpu_kernels")
    fewer, less = [], []
    for batch in (1, 8, 32, 128, 512, 4096):
        fused = _config(run, "rmsnorm", batch=batch, op="fused_add_rmsnorm")
        unfused = _config(run, "rmsnorm", batch=batch, op="unfused_add_rmsnorm")
        fewer.append(100 * (1 - k[k["config_id"] == fused]["dram_bytes"].sum()
                            / k[k["config_id"] == unfused]["dram_bytes"].sum()))
        time = {c: g[g["config_id"] == c].groupby("short_name")["duration_ns"].median().sum() for c in (fused, unfused)}
        less.append(100 * (1 - time[fused] / time[unfused]))
    assert re.findall(r"Fused add\+RMSNorm moves", findings_text) == ["Fused add+RMSNorm moves"]
    assert (f"moves {round(min(fewer))}–{round(max(fewer))}% fewer DRAM bytes than the unfused pair over 6 shapes"
            in findings_text)
    assert f"takes {round(min(less))}–{round(max(less))}% less time" in findings_text


def test_latency_bound_configs_are_told_per_family(run, findings_text):
    """One clause per family: the configs named when they are few, or the few that are not."""
    obs = run.table("kernel_observations")
    assert "28 of 50 configs have a latency-bound main kernel" in findings_text
    assert ("prefill: 7 of 8 (all but batch=1 seq_len=512); decode: 5 of 16 (batch=1 num_kv_heads=8, batch=1 "
            "num_kv_heads=32, batch=2 num_kv_heads=8, batch=2 num_kv_heads=32, batch=4 num_kv_heads=8); rmsnorm: 15 "
            "of 18 (all but batch=4096 op=fused_add_rmsnorm, batch=4096 op=rmsnorm, batch=4096 "
            "op=unfused_add_rmsnorm); rope: 1 of 8 (tokens=512).") in findings_text
    from flashsight.analysis.findings import main_kernels

    main = main_kernels(obs)  # per config, the kernel that takes the most time
    assert main.groupby("workload")["bound"].apply(lambda b: int((b == "latency").sum())).to_dict() == {
        "decode": 5, "prefill": 7, "rmsnorm": 15, "rope": 1}
