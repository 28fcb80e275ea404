"""The captures `flashsight profile rmsnorm` made on the H100 (devtools/device_foundation.sh), parsed end to end.

nsys: the SQLite export (TARGET_INFO_SYSTEM_ENV emptied) with the reports Debian's nsys 2022.4 printed for it
(`nsys stats -f csv -r gpukernsum|nvtxgpuproj`). ncu: the report of the same config under flashsight's default
sections and its NVTX filter `flashsight@<measured range>/`.
"""

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from flashsight.cli import main
from flashsight.analysis import nsys_summaries as nsys_stats
from flashsight.parsers import read_input
from flashsight.workloads import get_workload
from flashsight.schema.contract import range_name
from tests import DATA as TEST_DATA

DATA = TEST_DATA / "foundation"
MEASURED = range_name("rmsnorm", get_workload("rmsnorm").resolve({"batch": 128, "hidden": 4096}))


def _gunzip(name: str, tmp: Path) -> Path:
    target = tmp / name.removesuffix(".gz")
    with gzip.open(DATA / name, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("foundation")
    return _gunzip("rmsnorm_nsys.sqlite.gz", tmp), _gunzip("rmsnorm_ncu.ncu-rep.gz", tmp)


def test_parse_writes_the_contract_tables(captures, tmp_path):
    result = CliRunner().invoke(main, ["parse", *map(str, captures), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    kernels = pd.read_parquet(tmp_path / "gpu_kernels.parquet")
    required = {"start_ns", "end_ns", "duration_ns", "device_id", "stream_id", "correlation_id", "name",
                "short_name", "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z", "nvtx_path"}
    assert required <= set(kernels.columns)
    ncu = pd.read_parquet(tmp_path / "ncu_kernels.parquet")
    assert {"kernel_id", "name", "short_name", "nvtx_domain", "nvtx_range", "grid_size", "block_size",
            "duration_ns", "sm_throughput_pct", "dram_throughput_pct", "dram_bytes", "tensor_pipe_pct",
            "achieved_occupancy_pct", "registers_per_thread"} <= set(ncu.columns)
    metrics = pd.read_parquet(tmp_path / "ncu_metrics.parquet")
    assert {"kernel_id", "metric", "value", "unit", "text"} <= set(metrics.columns)


def test_nsys_measured_range_holds_exactly_the_measured_kernels(captures):
    tables = read_input(captures[0])
    (measured,) = tables["nvtx_ranges"].itertuples()
    assert (measured.domain, measured.name, measured.style) == ("flashsight", MEASURED, "PushPop")
    kernels = tables["gpu_kernels"]
    inside = kernels[kernels["nvtx_path"] == f"flashsight:{MEASURED}"]
    # 100 measured steps, one RMSNorm launch each; the JIT call, the check and 10 warm-up steps stay outside.
    assert len(inside) == 100 and set(inside["short_name"]) == {"RMSNormKernel"}
    assert (kernels["short_name"] == "RMSNormKernel").sum() == 112
    result = json.loads((DATA / "rmsnorm_nsys_result.json").read_text())
    assert result["nvtx_range"] == MEASURED and result["iters"] == 100 and result["warmup"] == 10


def test_nsys_numbers_equal_nsys_own_reports(captures):
    tables = read_input(captures[0])
    ref = pd.read_csv(DATA / "rmsnorm_nsys2022_gpukernsum.csv")
    mine = nsys_stats.cuda_gpu_kern_sum(tables)
    ref_row = ref[ref["Name"].str.contains("RMSNormKernel")].iloc[0]
    my_row = mine[mine["Name"].str.contains("RMSNormKernel")].iloc[0]
    for col in ("Total Time (ns)", "Instances", "Min (ns)", "Max (ns)", "Med (ns)", "Avg (ns)", "StdDev (ns)"):
        assert my_row[col] == ref_row[col], col
    assert (int(ref_row["Total Time (ns)"]), int(ref_row["Instances"])) == (230085, 112)

    proj_ref = pd.read_csv(DATA / "rmsnorm_nsys2022_nvtxgpuproj.csv").iloc[0]
    proj = nsys_stats.nvtx_gpu_proj_trace(tables).iloc[0]
    for col in ("Name", "Projected Start (ns)", "Projected Duration (ns)", "Orig Start (ns)", "Orig Duration (ns)",
                "NumGPUOps", "RangeId"):
        assert proj[col] == proj_ref[col], col
    assert (proj_ref["Projected Duration (ns)"], proj_ref["NumGPUOps"]) == (4309701, 100)


def test_ncu_profiles_only_the_measured_kernel(captures):
    tables = read_input(captures[1])
    (kernel,) = tables["ncu_kernels"].itertuples()
    assert kernel.short_name == "RMSNormKernel"
    assert (kernel.nvtx_domain, kernel.nvtx_range) == ("flashsight", MEASURED)
    assert kernel.duration_ns == 4672  # gpu__time_duration.sum at ncu's locked base clock
    assert kernel.grid_size == 128 and kernel.block_size == 512
    metrics = tables["ncu_metrics"].set_index("metric")
    assert metrics.loc["gpu__time_duration.sum", "value"] == 4672.0
    assert metrics.loc["gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed", "value"] == pytest.approx(
        kernel.dram_throughput_pct, rel=0, abs=0)
    assert set(tables["warp_stalls"]["source"]) == {"warp_state", "pc_sampling"}


def test_stall_report_on_a_memory_bound_decode_names_long_scoreboard(tmp_path):
    """`flashsight profile decode -p batch=32 -p num_kv_heads=32 --tool ncu` on the H100 (MHA: no K/V reuse)."""
    report = _gunzip("decode_mha_ncu.ncu-rep.gz", tmp_path)
    tables = read_input(report)
    (kernel,) = tables["ncu_kernels"].itertuples()
    assert kernel.short_name == "BatchDecodeWithPagedKVCacheKernel" and kernel.bound == "memory"
    assert kernel.dram_throughput_pct > 85
    stalls = tables["warp_stalls"]
    for source in ("warp_state", "pc_sampling"):
        ranked = stalls[stalls["source"] == source].sort_values("pct", ascending=False)
        assert ranked["reason"].iloc[0] == "long_scoreboard", source
    result = CliRunner().invoke(main, ["stalls", str(report), "--top", "3"], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "Scoreboard" in line or "Barrier" in line]
    assert "Long Scoreboard" in lines[0] and "waiting on global" in lines[0]
