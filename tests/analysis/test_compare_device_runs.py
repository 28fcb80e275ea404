"""`compare` on three real H200 sweeps made in one device call (tests/data/runs/README.md): the same plan twice
flags nothing; the variant whose decode batch 32 / 8 KV heads ran on tensor cores is flagged, with its counters."""

from __future__ import annotations

import pytest

import flashsight
from tests import DATA

RUNS = DATA / "runs"


@pytest.fixture(scope="module")
def a():
    return flashsight.load(RUNS / "h200_cmp_a")


def test_the_same_plan_twice_has_no_false_positive(a):
    rows = a.compare(flashsight.load(RUNS / "h200_cmp_b"))
    assert len(rows) == 13 and set(rows["verdict"]) == {"unchanged"}
    assert rows["ratio"].between(0.98, 1.02).all()


def test_the_config_that_changed_kernel_is_flagged_with_its_counters(a):
    rows = a.compare(flashsight.load(RUNS / "h200_cmp_tc"))
    changed = rows[rows["verdict"] != "unchanged"]
    assert set(changed["workload"]) == {"decode"} and changed["config_id"].nunique() == 1
    assert "batch=32 kv_len=2048 num_qo_heads=32 num_kv_heads=8 " in changed["config"].iloc[0]
    step = changed[changed["kind"] == "step"].iloc[0]
    assert step["verdict"] == "improved" and step["changed_params"] == "use_tensor_cores False→True"
    # the step medians (one step: the CUDA-core decode + its merge kernel vs the prefill template alone)
    assert (step["base_median_ns"], step["new_median_ns"]) == (90255.0, 68655.5)
    g_a, g_tc = a.table("gpu_kernels"), flashsight.load(RUNS / "h200_cmp_tc").table("gpu_kernels")
    base = g_a[g_a["config_id"] == step["config_id"]].groupby("short_name")["duration_ns"].median().sum()
    new = g_tc[g_tc["config_id"] == step["new_config_id"]].groupby("short_name")["duration_ns"].median().sum()
    assert base == pytest.approx(step["base_median_ns"], rel=2e-3) and new == step["new_median_ns"]
    assert round(step["ratio"], 3) == 0.761 and step["ci_high"] < 1 / 1.05
    assert step["counters_moved"] == "flop +77.9%"  # more arithmetic for the same DRAM bytes
    kernels = changed[changed["kind"] == "kernel"].set_index("verdict")["short_name"]
    assert sorted(kernels.loc["base_only"]) == ["BatchDecodeWithPagedKVCacheKernel",
                                                "PersistentVariableLengthMergeStatesKernel"]
    assert kernels.loc[["new_only"]].tolist() == ["BatchPrefillWithPagedKVCacheKernel"]
