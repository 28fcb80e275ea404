"""compare on the committed real H200 runs (tests/data/runs): a run against itself, a copy with one family slowed
by 1.25, two back-to-back sweeps of the same configs, the variant whose decode batch 32 ran at page_size 1, and
the run-to-run floor from repeats."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import flashsight
from flashsight.analysis.compare import kernel_launches, pair_changed_configs
from flashsight.api import _iters
from flashsight.errors import NotComparableError
from tests.compare_support import (H100_ENV, RUN_A, RUN_VARIANT, copy_run, scale_family, scale_ncu_counter, set_env,
                                   set_ncu_options)


@pytest.fixture(scope="module")
def run_a():
    return flashsight.load(RUN_A)


@pytest.fixture(scope="module")
def run_variant():
    return flashsight.load(RUN_VARIANT)


@pytest.fixture(scope="module")
def a_vs_variant(run_a, run_variant):
    return run_a.compare(run_variant)


def _measured(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["kind"].isin(["kernel", "step"])]


def test_a_run_against_itself_is_all_unchanged(run_a):
    frame = run_a.compare(run_a)
    # 13 configs: one step row each, and 18 kernels (decode batch 1 and GQA batch 32, and prefill 512, also
    # launch the merge kernel; unfused RMSNorm launches an add and the norm)
    assert (frame["kind"].value_counts().to_dict()) == {"kernel": 18, "step": 13}
    assert set(frame["verdict"]) == {"unchanged"}
    assert (frame["ratio"] == 1.0).all()
    assert ((frame["ci_low"] <= 1.0) & (frame["ci_high"] >= 1.0)).all()
    assert (frame["base_launches"] == 100).all() and (frame["new_launches"] == 100).all()  # 100 steps each
    assert (frame["counters_moved"] == "").all()
    assert frame.attrs["floor_source"] == "default" and frame.attrs["mismatches"] == []


def test_medians_equal_the_nsys_rows_by_hand(run_a, a_vs_variant):
    kernels = run_a.table("gpu_kernels")
    row = a_vs_variant[(a_vs_variant["config"].str.startswith("decode batch=128 ")) &
                       (a_vs_variant["config"].str.contains("num_kv_heads=32")) & (a_vs_variant["kind"] == "kernel")]
    assert len(row) == 1
    mine = kernels[(kernels["config_id"] == row["config_id"].iloc[0]) &
                   (kernels["short_name"] == "BatchDecodeWithPagedKVCacheKernel")]
    assert len(mine) == 100
    assert row["base_median_ns"].iloc[0] == float(np.median(mine["duration_ns"])) == 965_833.5
    # the step row of a two-kernel config sums both kernels of each step before the median
    step = a_vs_variant[(a_vs_variant["config"].str.startswith("decode batch=1 ")) &
                        (a_vs_variant["config"].str.contains("num_kv_heads=8")) & (a_vs_variant["kind"] == "step")]
    both = kernels[kernels["config_id"] == step["config_id"].iloc[0]].sort_values("start_ns")
    per_step = both["duration_ns"].to_numpy().reshape(100, 2).sum(axis=1)
    assert step["base_median_ns"].iloc[0] == float(np.median(per_step))


def test_one_family_slowed_by_a_quarter_is_flagged_and_nothing_else(tmp_path, run_a):
    slow = copy_run(RUN_A, tmp_path / "slow")
    assert scale_family(slow, "rmsnorm", 1.25) == 400  # 3 configs x 100 steps, the unfused one 2 kernels a step
    frame = run_a.compare(flashsight.load(slow))
    norm = frame["workload"] == "rmsnorm"
    assert norm.sum() == 7  # 3 step rows and 4 kernels
    assert set(frame.loc[norm, "verdict"]) == {"regressed"}
    assert set(frame.loc[~norm, "verdict"]) == {"unchanged"}
    assert frame.loc[norm, "ratio"].between(1.249, 1.251).all()
    assert (frame.loc[norm, "ci_low"] > 1.2).all()
    assert (frame.loc[norm, "counters_moved"] == "").all()  # ncu's counters were not touched: time moved alone
    lenient = run_a.compare(flashsight.load(slow), threshold_pct=30)  # a 25% change is inside a 30% threshold
    assert set(lenient.loc[lenient["workload"] == "rmsnorm", "verdict"]) == {"unchanged"}


def test_two_back_to_back_sweeps_flag_nothing_on_the_configs_they_share(a_vs_variant):
    """h200_small_variant ran right after h200_small_a with 11 of its 13 configs unchanged (same config_id):
    the false-positive count over those rows."""
    same = a_vs_variant[a_vs_variant["changed_params"].isna()]
    assert len(same) == 26 and set(same["kind"]) == {"kernel", "step"}
    assert same["verdict"].value_counts().to_dict() == {"unchanged": 26}  # 0 false positives of 26
    assert 0.998 < same["ratio"].min() and same["ratio"].max() < 1.024
    # the worst: an 8.4 µs decode kernel (batch 1, 32 KV heads) 2.3% slower with an interval that excludes 1:
    # real run-to-run drift, which only the floor and the threshold keep from being called a regression
    worst = same.loc[same["ratio"].idxmax()]
    assert worst["short_name"] == "BatchDecodeWithPagedKVCacheKernel" and 1.015 < worst["ci_low"] < worst["ratio"]


def test_the_changed_config_is_paired_and_shows_its_counters(run_a, run_variant, a_vs_variant):
    pairs = pair_changed_configs(run_a.configs, run_variant.configs)
    assert sorted(change for _, change in pairs.values()) == ["page_size 16→1", "page_size 16→1"]
    changed = a_vs_variant[a_vs_variant["changed_params"].notna()]
    assert len(changed) == 5 and (changed["new_config_id"] != changed["config_id"]).all()
    assert set(changed["config"].str.extract(r"(batch=\d+)")[0]) == {"batch=32"}
    ncu = {side: run.table("ncu_kernels") for side, run in (("base", run_a), ("new", run_variant))}
    for row in changed[changed["kind"] == "kernel"].to_dict("records"):
        for side, config in (("base", row["config_id"]), ("new", row["new_config_id"])):
            mine = ncu[side][(ncu[side]["config_id"] == config) & (ncu[side]["mangled_name"] == row["mangled_name"])]
            assert row[f"{side}_dram_bytes"] == mine["dram_bytes"].iloc[0]
            assert row[f"{side}_registers_per_thread"] == mine["registers_per_thread"].iloc[0]
    # On the H200 one-token pages cost the decode kernel under 1%: measurably slower (the interval excludes 1)
    # but far inside the 5% threshold, with its DRAM bytes up by 0.1%
    mha = changed[(changed["kind"] == "kernel") & changed["config"].str.contains("num_kv_heads=32")].iloc[0]
    assert mha["verdict"] == "unchanged"
    assert 1.005 < mha["ratio"] < 1.012 and mha["ci_low"] > 1.0
    assert mha["new_dram_bytes"] / mha["base_dram_bytes"] == pytest.approx(1.00126, abs=1e-5)


def test_the_floor_comes_from_repeats_when_the_runs_have_them(run_a, run_variant):
    both = flashsight.load([RUN_A, RUN_VARIANT])  # each shared config measured twice: repeats
    frame = both.compare(both)
    assert frame.attrs["floor_source"] == "repeats (15 base rows, 15 new rows)"
    kernels = both.table("gpu_kernels")
    medians = kernels.groupby(["config_id", "mangled_name", "grid_x", "grid_y", "block_x", "block_y", "block_z",
                               "run"])["duration_ns"].median().unstack("run").dropna()
    spreads = 100 * (medians.max(axis=1) / medians.min(axis=1) - 1)
    assert len(spreads) == 15
    assert frame.attrs["floor_pct"] == pytest.approx(np.percentile(np.concatenate([spreads, spreads]), 95))
    assert frame.attrs["floor_pct"] == pytest.approx(1.907, abs=1e-3)
    given = both.compare(both, floor_pct=3.0)
    assert given.attrs["floor_source"] == "given" and (given["floor_pct"].dropna() >= 3.0).all()


def test_steps_and_kernel_positions_come_from_the_workloads_iters(run_a):
    iters = _iters(run_a)
    nsys_jobs = set(run_a.table("gpu_kernels")["job_id"])
    assert {iters[j] for j in nsys_jobs} == {100}
    launches = kernel_launches(run_a.table("gpu_kernels"), iters)
    assert launches.groupby("config_id")["step"].max().eq(99).all()
    unfused = launches[launches["config_id"].isin(
        run_a.configs.loc[run_a.configs["op"] == "unfused_add_rmsnorm", "config_id"])]
    assert unfused.groupby("short_name")["occurrence"].unique().map(list).to_dict() == {
        "RMSNormKernel": [0], "vectorized_elementwise_kernel": [0]}


def test_a_mismatched_gpu_refuses_unless_allowed(tmp_path, run_a):
    h100 = copy_run(RUN_A, tmp_path / "h100")
    set_env(h100, H100_ENV)
    with pytest.raises(NotComparableError) as refused:
        run_a.compare(flashsight.load(h100))
    assert str(refused.value) == (
        f"{RUN_A} and {h100} are not comparable: GPU NVIDIA H200 (base) vs NVIDIA H100 80GB HBM3 (new); "
        "memory clock max (MHz) 3201 (base) vs 2619 (new) (--allow-mismatch compares them anyway)")
    allowed = run_a.compare(flashsight.load(h100), allow_mismatch=True)
    assert allowed.attrs["mismatches"] == ["GPU NVIDIA H200 (base) vs NVIDIA H100 80GB HBM3 (new)",
                                           "memory clock max (MHz) 3201 (base) vs 2619 (new)"]
    assert set(allowed["verdict"]) == {"unchanged"}


def test_other_ncu_options_refuse(tmp_path, run_a):
    full = copy_run(RUN_A, tmp_path / "full")
    set_ncu_options(full, {"set": "full"})
    with pytest.raises(NotComparableError, match=r"ncu options flashsight's default sections \(base\) vs set=full "
                                                 r"\(new\) for 13 config\(s\)"):
        run_a.compare(flashsight.load(full))


def test_configs_on_one_side_only_are_listed(tmp_path, run_a):
    fewer = copy_run(RUN_A, tmp_path / "fewer")
    kernels = pd.read_parquet(fewer / "gpu_kernels.parquet")
    gone = kernels["workload"] == "rope"
    kernels[~gone].to_parquet(fewer / "gpu_kernels.parquet", index=False)
    frame = run_a.compare(flashsight.load(fewer))
    rope = frame[frame["workload"] == "rope"]
    assert len(rope) == 4 and set(rope["verdict"]) == {"base_only"}
    assert (rope["new_launches"] == 0).all() and rope["new_median_ns"].isna().all()
    jit_like = frame[frame["kind"] == "config"]
    assert jit_like.empty  # every config of the plan has nsys kernels on at least one side
    json.dumps(frame.attrs)  # attrs stay plain data


def test_counters_from_kernel_observations_equal_those_from_the_ncu_tables(run_a):
    """The counters side reads kernel_observations when the run has it, else ncu_kernels + warp_stalls: the two
    agree on every profiled kernel of the real run."""
    from flashsight.analysis.compare import COUNTERS, KERNEL_KEY, kernel_counters

    tables = {name: run_a.table(name) for name in ("ncu_kernels", "warp_stalls", "kernel_observations")}
    observed = kernel_counters(tables)
    from_ncu = kernel_counters({k: v for k, v in tables.items() if k != "kernel_observations"})
    both = observed.merge(from_ncu, on=["config_id", *KERNEL_KEY], suffixes=("_obs", "_ncu"), validate="1:1")
    assert len(observed) == len(from_ncu) == len(both) == 18
    for column in COUNTERS:
        assert both[f"{column}_obs"].astype(str).tolist() == both[f"{column}_ncu"].astype(str).tolist(), column


def test_a_throttled_nsys_job_keeps_its_rows_from_a_verdict(tmp_path, run_a):
    """The family slowed by 1.25 again, its new nsys jobs as NVML would mark them throttled (job_conditions)."""
    from flashsight.analysis.compare import compare_tables

    slow = copy_run(RUN_A, tmp_path / "slow")
    scale_family(slow, "rmsnorm", 1.25)
    new = flashsight.load(slow)
    tables = {side: {n: run.table(n) for n in ("gpu_kernels", "kernel_observations")}
              for side, run in (("base", run_a), ("new", new))}
    norm = set(new.configs.loc[new.configs["workload"] == "rmsnorm", "config_id"])
    frame = compare_tables(tables["base"], tables["new"], base_configs=run_a.configs, new_configs=new.configs,
                           throttled={"new": norm})
    rows = frame[frame["workload"] == "rmsnorm"]
    assert set(rows["verdict"]) == {"inconclusive"} and len(rows) == 7
    assert rows["note"].str.endswith("but the GPU throttled during the new nsys job").all()
    assert set(frame.loc[frame["workload"] != "rmsnorm", "verdict"]) == {"unchanged"}


def test_the_counters_that_moved_explain_the_row(tmp_path, run_a):
    """RoPE slowed by 1.25 with its counted DRAM bytes up by half and 8 more registers a thread: each row says so."""
    moved = copy_run(RUN_A, tmp_path / "moved")
    scale_family(moved, "rope", 1.25)
    dram = ("dram__bytes_read.sum", "dram__bytes_write.sum")
    assert scale_ncu_counter(moved, "rope", "dram_bytes", dram, 1.5) == 2
    scale_ncu_counter(moved, "rope", "registers_per_thread", ("launch__registers_per_thread",), 1.2)  # 40->48, 44->52
    frame = run_a.compare(flashsight.load(moved))
    rope = frame[frame["workload"] == "rope"]
    assert set(rope["verdict"]) == {"regressed"}
    kernels = rope[rope["kind"] == "kernel"].set_index("short_name")["counters_moved"].to_dict()
    assert kernels == {"BatchQKApplyRotaryPosIdsHeadParallelismKernel": "dram_bytes +50.0%, registers_per_thread 40→48",
                       "BatchQKApplyRotaryPosIdsKernel": "dram_bytes +50.0%, registers_per_thread 44→52"}
    assert set(rope.loc[rope["kind"] == "step", "counters_moved"]) == {"dram_bytes +50.0%"}  # summed over the step
    assert (frame.loc[frame["workload"] != "rope", "counters_moved"] == "").all()
