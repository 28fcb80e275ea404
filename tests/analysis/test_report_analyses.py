"""The analyses behind the report, on the committed real H200 run: config labels and their order, one measured
step out of a range of repetitions, the stall matrix, the run summary, and findings that need their inputs."""

from __future__ import annotations

import pandas as pd
import pytest

import flashsight
from flashsight.analysis.families import config_labels, family_of, ordered_families, swept_params
from flashsight.analysis.findings import findings
from flashsight.analysis.run_summary import failures, outcomes, wall_time_s
from flashsight.analysis.stall_matrix import stall_matrix
from flashsight.analysis.timeline import measured_steps, step_period
from tests.outputs.real_run import REAL_RUN


@pytest.fixture(scope="module")
def run():
    return flashsight.load(REAL_RUN)


def test_families_and_labels_name_only_what_the_run_swept(run):
    assert ordered_families(["rope", "mine.py", "decode", "pkg.mod:fn"]) == ["decode", "rope", "fn", "mine.py"]
    assert family_of("/x/y/matmul.py") == "matmul.py"
    assert swept_params(run.configs, "decode") == ["batch", "num_kv_heads"]  # kv_len=[2048]: one value
    labels = config_labels(run.configs)
    decode = labels[labels["workload"] == "decode"]["label"].tolist()
    assert decode == ["batch=1 num_kv_heads=8", "batch=1 num_kv_heads=32", "batch=32 num_kv_heads=8",
                      "batch=32 num_kv_heads=32", "batch=128 num_kv_heads=8", "batch=128 num_kv_heads=32"]
    assert labels["family"].drop_duplicates().tolist() == ["prefill", "decode", "rmsnorm", "rope"]


def test_step_period():
    assert step_period(list("abab")) == 2 and step_period(list("aaaa")) == 1
    assert step_period(list("abcab")) == 5  # no repetition: the whole range is one step
    assert step_period([]) == 0


def test_one_measured_step_of_100(run):
    kernels = run.table("gpu_kernels")
    labels = config_labels(run.configs).set_index("label")
    cid = labels.loc["op=unfused_add_rmsnorm", "config_id"]
    steps = measured_steps(kernels, run.table("nvtx_ranges"), None, [cid])
    mine = kernels[kernels["config_id"] == cid].sort_values("start_ns")
    assert len(mine) == 200  # 100 steps x (torch add, RMSNorm)
    shown = steps[steps["kind"] == "kernel"]
    assert shown["name"].tolist() == ["vectorized_elementwise_kernel", "RMSNormKernel"]
    assert (shown["step"] == 51).all() and (shown["steps"] == 100).all()
    first = mine.iloc[100]  # step 51 begins with launch 101
    assert shown["start_ns"].iloc[0] == first["start_ns"] and shown["rel_start_ns"].iloc[0] == 0
    assert steps["step_ns"].iloc[0] == mine.iloc[102]["start_ns"] - first["start_ns"]
    nvtx = steps[steps["kind"] == "nvtx"]
    assert len(nvtx) == 1 and nvtx["name"].iloc[0].startswith("flashsight:rmsnorm batch=4096")
    assert nvtx["rel_start_ns"].iloc[0] == 0 and nvtx["duration_ns"].iloc[0] == steps["step_ns"].iloc[0]


def test_stall_matrix_keeps_one_source_and_the_top_reasons(run):
    labels = config_labels(run.configs)
    matrix = stall_matrix(run.table("warp_stalls"), run.table("ncu_kernels"), labels, top=3)
    assert set(matrix["source"]) == {"pc_sampling"}
    per_kernel = matrix.groupby(["workload", "short_name"])["reason"].nunique()
    assert (per_kernel <= 3).all() and "selected" not in set(matrix["reason"])
    decode = matrix[matrix["short_name"] == "BatchDecodeWithPagedKVCacheKernel"]
    assert decode["config_id"].nunique() == 6
    mean = decode.groupby("reason")["pct"].mean().sort_values(ascending=False)
    assert list(dict.fromkeys(decode["reason"])) == list(mean.index)


def test_run_summary(run):
    jobs = run.jobs
    counts = outcomes(jobs).set_index("tool")
    assert counts.loc["total", "succeeded"] == 26 == counts.loc["total", "jobs"]
    assert failures(jobs).empty
    started = pd.to_datetime(jobs["started_at"], utc=True)
    end = (started + pd.to_timedelta(jobs["duration_s"], unit="s")).max()
    assert wall_time_s(jobs) == pytest.approx((end - started.min()).total_seconds())
    assert 150 < wall_time_s(jobs) < 200  # tests/data/runs/README.md: the sweep took 3m18s


def test_findings_say_nothing_without_their_inputs(run):
    assert findings(pd.DataFrame(columns=["config_id", "family"])).empty
    obs = run.table("kernel_observations").merge(config_labels(run.configs)[["config_id", "family", "label"]],
                                                 on="config_id")
    obs["row_id"] = [f"r{i}" for i in range(len(obs))]
    rules = set(findings(obs)["rule"])
    assert {"decode_memory_bound", "prefill_tensor_peak", "rmsnorm_fusion", "ncu_clock_gap"} <= rules
    no_ncu = obs.assign(dram_bytes=float("nan"), dram_peak_pct=float("nan"), tensor_peak_pct=float("nan"),
                        bound=None, top_stall=None, ncu_duration_ns=float("nan"))
    assert findings(no_ncu).empty
