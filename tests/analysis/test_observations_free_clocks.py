"""`ncu = { clock_control = "none" }` on the lent H200 (tests/data/runs/h200_free): ncu replays at the GPU's own
clocks, so its durations meet nsys' — against the default study (the shipped sample), where ncu locked the base
clock. Both runs' rows say which clock each time belongs to."""

from __future__ import annotations

import pytest

import flashsight
from tests import DATA


def _decode_b128_mha(run):
    obs = run.table("kernel_observations")
    hit = obs[(obs["workload"] == "decode") & (obs["batch"] == 128) & (obs["num_kv_heads"] == 32)
              & (obs["short_name"] == "BatchDecodeWithPagedKVCacheKernel")]
    assert len(hit) == 1
    return hit.iloc[0]


def test_ncu_at_the_gpus_own_clocks_meets_the_nsys_time():
    free = flashsight.load(DATA / "runs" / "h200_free")
    obs = free.table("kernel_observations")
    assert set(obs["ncu_clock_control"]) == {"none"}
    assert obs["ncu_sm_frequency_hz"].between(1.7e9, 1.98e9).all()  # the H200 boosts to 1.98 GHz
    row = _decode_b128_mha(free)
    assert (row["nsys_median_ns"], row["ncu_duration_ns"]) == (941565.0, 943936)
    g, k = free.table("gpu_kernels"), free.table("ncu_kernels")  # the same figures from the raw tables
    assert g[(g["config_id"] == row["config_id"]) & (g["short_name"] == row["short_name"])]["duration_ns"].median() \
        == row["nsys_median_ns"]
    assert k[(k["config_id"] == row["config_id"]) & (k["short_name"] == row["short_name"])]["duration_ns"].tolist() \
        == [row["ncu_duration_ns"]]
    assert row["ncu_duration_ns"] / row["nsys_median_ns"] == pytest.approx(1.0025, abs=5e-4)
    conditions = free.table("job_conditions")
    assert set(conditions.loc[conditions["tool"] == "ncu", "ncu_clock_control"]) == {"none"}

    base = _decode_b128_mha(flashsight.sample())
    assert base["ncu_clock_control"] == "base" and base["ncu_sm_frequency_hz"] < 1.5e9
    assert base["ncu_duration_ns"] / base["nsys_median_ns"] > row["ncu_duration_ns"] / row["nsys_median_ns"]
