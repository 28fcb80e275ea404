"""kernel_observations on real captures: nsys time × ncu counters per config and kernel.

- tests/data/foundation: `flashsight profile rmsnorm` under nsys (100 measured steps) and under ncu (one step) of
  the same config on the H100.
- tests/data/nsys/h100_fi/fi.sqlite and tests/data/ncu/fi2.ncu-rep: the same workload (fi_workload.py of the
  H100 fixtures) under nsys and under ncu: ranges prefill (×3, one kernel each), rope, rmsnorm (RMSNorm + fused
  add RMSNorm). Split per range into the jobs of a sweep run directory, as the sweep does, they give a run whose
  configs each have an nsys and an ncu job.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import flashsight
from flashsight.analysis.measured import split_tables
from flashsight.analysis.observations import COLUMNS, kernel_observations
from flashsight.host.files import write_tables
from flashsight.orchestrator.merge import write_jobs_table, write_merged_tables
from flashsight.parsers import read_input
from flashsight.schema.config import config_id
from tests.ncu_data import ncu_file, ncu_tables

DATA = Path(__file__).parents[1] / "data"
FI_NSYS = DATA / "nsys" / "h100_fi" / "fi.sqlite"
RANGES = ("prefill", "rope", "rmsnorm")


@pytest.fixture(scope="module")
def foundation(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("foundation")
    paths = []
    for name in ("rmsnorm_nsys.sqlite.gz", "rmsnorm_ncu.ncu-rep.gz"):
        target = tmp / name.removesuffix(".gz")
        with gzip.open(DATA / "foundation" / name, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        paths.append(target)
    return flashsight.parse(paths)


def test_foundation_rmsnorm_pairs_the_100_measured_launches_with_the_profiled_one(foundation):
    obs = foundation.table("kernel_observations")
    result = json.loads((DATA / "foundation" / "rmsnorm_nsys_result.json").read_text())
    assert len(obs) == 1
    row = obs.iloc[0]
    assert row["measured_range"] == result["nvtx_range"] and row["workload"] == "rmsnorm"
    # by hand: the nsys launches inside the measured range, and the one ncu profiled
    kernels = foundation.table("gpu_kernels")
    inside = kernels[kernels["nvtx_path"] == f"flashsight:{result['nvtx_range']}"]
    ncu = foundation.table("ncu_kernels").iloc[0]
    assert row["mangled_name"] == ncu["mangled_name"] == inside["mangled_name"].iloc[0]
    assert (row["nsys_launches"], row["nsys_steps"]) == (100, 100) and pd.isna(row["missing"])
    assert row["nsys_median_ns"] == inside["duration_ns"].median() == 2048
    assert row["nsys_min_ns"] == inside["duration_ns"].min() and row["nsys_max_ns"] == inside["duration_ns"].max()
    assert row["nsys_p90_ns"] == np.percentile(inside["duration_ns"], 90)
    assert row["ncu_duration_ns"] == ncu["duration_ns"] == 4672  # ncu's base clocks: 2.3× the nsys time
    assert row["dram_bytes"] == ncu["dram_bytes"]
    assert row["achieved_dram_bytes_per_s"] == pytest.approx(ncu["dram_bytes"] / 2048e-9, rel=1e-12)
    assert row["achieved_flop_per_s"] == pytest.approx(ncu["flop"] / 2048e-9, rel=1e-12)
    # % of peak at the clocks nsys saw: the device's own memory clock (2.619 GHz) and max SM clock (1.98 GHz)
    assert row["nsys_sm_frequency_hz"] == 1.98e9 and row["nsys_memory_frequency_hz"] == 2.619e9
    peak = ncu["peak_dram_bytes_per_s"] / ncu["dram_frequency_hz"] * 2.619e9
    assert row["peak_dram_bytes_per_s"] == pytest.approx(peak, rel=1e-12)
    assert row["dram_peak_pct"] == pytest.approx(100 * ncu["dram_bytes"] / 2048e-9 / peak, rel=1e-9)
    assert row["ncu_clock_control"] == "base" and row["top_stall"] == "long_scoreboard"
    assert row["ncu_dram_peak_pct"] == ncu["dram_peak_pct"]


@pytest.fixture(scope="module")
def fi_pair():
    return read_input(FI_NSYS), ncu_tables("fi2.ncu-rep")


def test_a_capture_pair_is_joined_per_range_in_launch_order(fi_pair):
    nsys, ncu = fi_pair
    obs = kernel_observations({"gpu_kernels": nsys["gpu_kernels"], **ncu})
    assert obs.groupby("config_id").size().to_dict() == {"prefill": 3, "rmsnorm": 2, "rope": 1}
    assert obs["missing"].isna().all() and obs["reason"].isna().all()
    # prefill ran three times in one range each: occurrences 0, 1, 2 pair with ncu's kernels 0, 1, 2 in order
    prefill = obs[obs["config_id"] == "prefill"]
    assert prefill["occurrence"].tolist() == [0, 1, 2] and prefill["ncu_kernel_id"].tolist() == [0, 1, 2]
    by_hand = nsys["gpu_kernels"]
    launches = by_hand[by_hand["nvtx_path"] == "prefill"].sort_values("start_ns")["duration_ns"].tolist()
    assert prefill["nsys_median_ns"].tolist() == launches
    rms = obs[obs["config_id"] == "rmsnorm"]
    assert rms["short_name"].tolist() == ["RMSNormKernel", "FusedAddRMSNormKernel"]  # launch order in the step
    assert rms["bound"].tolist() == ["balanced", "memory"]


def _job(job_id, workload, tool, params, tables, status="succeeded", error=None):
    return {"job_id": job_id, "config_id": config_id(workload, params), "workload": workload, "tool": tool,
            "params": json.dumps(params), "ncu": "{}", "status": status, "attempts": 1,
            "started_at": "2026-01-01T00:00:00+0000", "duration_s": 1.5, "error": error, "log_tail": None,
            "batch_id": None, "job_dir": f"jobs/{job_id}",
            "tables": json.dumps({k: len(v) for k, v in tables.items()})}


def _sweep_dir(tmp_path: Path, fi_pair, drop=None, tools=("nsys", "ncu")) -> Path:
    """A sweep run directory from the fi pair: one config per range, an nsys and an ncu job each."""
    nsys, ncu = fi_pair
    per_tool = {"nsys": split_tables(nsys, {f"nsys-{r}": r for r in RANGES}),
                "ncu": split_tables(ncu, {f"ncu-{r}": r for r in RANGES})}
    jobs = []
    for tool, per_job in per_tool.items():
        if tool not in tools:
            continue
        for job_id, tables in per_job.items():
            workload = job_id.split("-")[1]
            status, error = ("failed", "ncu profiled no kernel") if job_id == drop else ("succeeded", None)
            if status == "succeeded":
                write_tables(tables, tmp_path / "jobs" / job_id)
            jobs.append(_job(job_id, workload, tool, {"op": workload, "name": job_id[-2:]}, tables, status, error))
    write_jobs_table(jobs, tmp_path)
    write_merged_tables(jobs, tmp_path)
    return tmp_path


def test_the_sweep_writes_it_and_the_join_matches_a_join_by_hand(tmp_path, fi_pair):
    run_dir = _sweep_dir(tmp_path, fi_pair)
    written = pd.read_parquet(run_dir / "kernel_observations.parquet")
    run = flashsight.load(run_dir)
    assert run.table("kernel_observations").equals(written)
    assert list(written.columns[:4]) == ["config_id", "workload", "op", "param_name"]  # `name` is a column here
    kernels, ncu = run.table("gpu_kernels"), run.table("ncu_kernels")
    for row in written.itertuples():
        mine = kernels[(kernels["config_id"] == row.config_id) & (kernels["mangled_name"] == row.mangled_name)]
        mine = mine.sort_values("start_ns").iloc[row.occurrence::mine.shape[0] // row.nsys_steps]
        theirs = ncu[(ncu["config_id"] == row.config_id) & (ncu["mangled_name"] == row.mangled_name)]
        theirs = theirs.sort_values("kernel_id").iloc[row.occurrence]
        assert row.nsys_median_ns == mine["duration_ns"].median() and row.nsys_launches == len(mine)
        assert row.ncu_kernel_id == theirs["kernel_id"] and row.ncu_duration_ns == theirs["duration_ns"]
        assert row.achieved_dram_bytes_per_s == pytest.approx(theirs["dram_bytes"] / (row.nsys_median_ns / 1e9))
        assert row.nsys_job_id == f"nsys-{row.workload}" and row.ncu_job_id == f"ncu-{row.workload}"
    assert len(written) == len(ncu) == 6


def test_stable_dtypes_even_when_empty():
    empty = kernel_observations({})
    assert len(empty) == 0
    for column, dtype in COLUMNS.items():
        assert str(empty[column].dtype) == dtype, column


def test_a_config_whose_ncu_job_failed_keeps_its_nsys_rows_with_the_reason(tmp_path, fi_pair):
    obs = pd.read_parquet(_sweep_dir(tmp_path, fi_pair, drop="ncu-rmsnorm") / "kernel_observations.parquet")
    rms = obs[obs["workload"] == "rmsnorm"]
    assert len(rms) == 2 and (rms["missing"] == "ncu").all() and rms["ncu_duration_ns"].isna().all()
    assert rms["nsys_median_ns"].notna().all()
    assert (rms["reason"] == "ncu did not observe this config (its ncu job failed: ncu profiled no kernel)").all()
    assert obs.loc[obs["workload"] != "rmsnorm", "missing"].isna().all()


def test_a_kernel_only_one_tool_saw_is_a_row_with_the_other_side_empty(fi_pair):
    """ncu's step without the fused kernel (as a --kernel-name filter would leave it), and nsys's range without
    its RMSNorm launch: each is a row of its own, with a reason, never dropped."""
    nsys, ncu = fi_pair
    gk = nsys["gpu_kernels"]
    gk = gk[~((gk["nvtx_path"] == "rmsnorm") & (gk["short_name"] == "RMSNormKernel"))]
    nk = ncu["ncu_kernels"][ncu["ncu_kernels"]["short_name"] != "FusedAddRMSNormKernel"]
    obs = kernel_observations({"gpu_kernels": gk, "ncu_kernels": nk, "warp_stalls": ncu["warp_stalls"]})
    rms = obs[obs["config_id"] == "rmsnorm"].set_index("short_name")
    assert rms.loc["RMSNormKernel", "missing"] == "nsys" and pd.isna(rms.loc["RMSNormKernel", "nsys_median_ns"])
    assert rms.loc["RMSNormKernel", "reason"] == ("ncu profiled it (kernel 4); nsys saw no such launch in the "
                                                  "measured range")
    assert rms.loc["FusedAddRMSNormKernel", "missing"] == "ncu"
    assert rms.loc["FusedAddRMSNormKernel", "reason"].startswith("nsys launched it 1× in the measured range; ncu "
                                                                 "profiled no such launch")
    assert pd.isna(rms.loc["FusedAddRMSNormKernel", "ncu_duration_ns"])
    assert len(obs) == 6


def test_more_launches_than_steps_are_flagged(fi_pair):
    """A result.json that says 2 steps were measured, over a range where nsys saw one launch of each kernel."""
    nsys, ncu = fi_pair
    results = pd.DataFrame({"job_id": ["nsys"], "nvtx_range": [None], "iters": pd.array([2], dtype="Int64")})
    obs = kernel_observations({"gpu_kernels": nsys["gpu_kernels"], **ncu, "workload_results": results})
    rope = obs[obs["config_id"] == "rope"].iloc[0]
    assert rope["nsys_steps"] == 2 and rope["reason"] == ("nsys saw 1 launches of it in the measured range; "
                                                          "2 steps were measured")


def test_csv_born_ncu_rows_join_on_the_name_key(fi_pair):
    """ncu's CSV pages carry no mangled name: both sides are keyed by the normal form of the demangled name."""
    nsys, ncu = fi_pair
    kernels = ncu["ncu_kernels"].assign(mangled_name=None)
    obs = kernel_observations({"gpu_kernels": nsys["gpu_kernels"], "ncu_kernels": kernels})
    assert len(obs) == 6 and obs["missing"].isna().all()


def test_a_run_of_flashsight_0_1_gets_todays_derived_columns(tmp_path, fi_pair):
    """0.1 stored ncu_kernels without the op-path peaks and roofline levels, and no kernel_observations file: the
    observation is computed on load and re-derives them from the run's ncu_metrics (as a fresh parse would)."""
    run_dir = _sweep_dir(tmp_path, fi_pair)
    original = pd.read_parquet(run_dir / "kernel_observations.parquet")
    (run_dir / "kernel_observations.parquet").unlink()
    kernels = pd.read_parquet(run_dir / "ncu_kernels.parquet")
    kernels.drop(columns=["tensor_path", "sol_bottleneck", "bound", "bound_reason", "dram_peak_pct"]).to_parquet(
        run_dir / "ncu_kernels.parquet")
    run = flashsight.load(run_dir)
    assert "kernel_observations" in run.table_names
    pd.testing.assert_frame_equal(run.table("kernel_observations"), original)


def test_a_config_with_two_ncu_jobs_joins_the_first_and_says_so(fi_pair):
    """Two ncu jobs of one config (e.g. one at base clocks, one with clock_control none): the first in the plan's
    order is joined, and every row of the config names the other."""
    nsys, ncu = fi_pair
    first = ncu["ncu_kernels"].assign(job_id="ncu-a", config_id=lambda d: d["nvtx_range"])
    second = first.assign(job_id="ncu-b")
    kernels = nsys["gpu_kernels"].assign(job_id="nsys-a", config_id=lambda d: d["nvtx_path"])
    jobs = pd.DataFrame({"job_id": ["nsys-a", "ncu-a", "ncu-b"], "config_id": [None] * 3})
    obs = kernel_observations({"gpu_kernels": kernels, "ncu_kernels": pd.concat([second, first])}, jobs)
    assert len(obs) == 6 and obs["missing"].isna().all() and (obs["ncu_job_id"] == "ncu-a").all()
    assert (obs["reason"] == "this config has 2 ncu jobs; not joined: ncu-b").all()


def test_a_sweep_without_ncu_jobs_says_so(tmp_path, fi_pair):
    """Without ncu's step (and without a result.json naming the steps), a kernel's launches per step are the gcd of
    the launch counts: prefill's three launches are three steps of one kernel."""
    obs = pd.read_parquet(_sweep_dir(tmp_path, fi_pair, tools=("nsys",)) / "kernel_observations.parquet")
    assert len(obs) == 4 and (obs["missing"] == "ncu").all()
    prefill = obs[obs["workload"] == "prefill"].iloc[0]
    assert (prefill["nsys_launches"], prefill["nsys_steps"]) == (3, 3)
    assert (obs["reason"] == "ncu did not observe this config (no ncu job)").all()
