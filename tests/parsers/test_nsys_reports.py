"""flashsight's nsys tables and summaries against what nsys itself printed for the same captures.

h100_fi:     FlashInfer workload on an H100, nsys 2025.3 (export + `nsys stats -f csv` of that nsys).
cpu_2022:    tests/data/nsys/cpu_nvtx.py under Debian's nsys 2022.4 (2022 export schema and report names).
h100_shapes: devtools/nsys_shapes.py on an H100 (nested ranges, domains, threads, streams, graphs, memops):
             tested when the capture is present.
"""

from __future__ import annotations

import functools

import pandas as pd
import pytest

from flashsight.analysis import nsys_summaries as nsys_stats
from flashsight.parsers.nsys_sqlite import read_nsys
from tests.nsys_report_compare import DATA, assert_same_rows, read_nsys_csv

FI = DATA / "h100_fi"
CPU = DATA / "cpu_2022"


@functools.cache
def tables(path):
    return read_nsys(path)


def fi():
    return tables(FI / "fi.sqlite")


def cpu():
    return tables(CPU / "cpu.sqlite")


# --- summaries, row for row ------------------------------------------------------------------------------


def test_fi_cuda_gpu_kern_sum_equals_nsys():
    ours = nsys_stats.cuda_gpu_kern_sum(fi())
    theirs = read_nsys_csv(FI / "fi_cuda_gpu_kern_sum.csv")
    assert_same_rows(ours, theirs, ["Name"])
    assert list(ours["Name"]) == list(theirs["Name"])  # nsys's order too: total time descending


def test_fi_nvtx_sum_equals_nsys():
    ours = nsys_stats.nvtx_sum(fi())
    assert_same_rows(ours, read_nsys_csv(FI / "fi_nvtx_sum.csv"), ["Range", "Style"])


def test_fi_nvtx_gpu_proj_sum_equals_nsys():
    ours = nsys_stats.nvtx_gpu_proj_sum(fi())
    assert_same_rows(ours, read_nsys_csv(FI / "fi_nvtx_gpu_proj_sum.csv"), ["Range", "Style"])


def test_fi_nvtx_gpu_proj_trace_equals_nsys():
    ours = nsys_stats.nvtx_gpu_proj_trace(fi())
    theirs = read_nsys_csv(FI / "fi_nvtx_gpu_proj_trace.csv")
    assert_same_rows(ours, theirs, ["RangeId"])
    assert list(ours["RangeId"]) == list(theirs["RangeId"])  # ordered by projected start


def test_fi_rmsnorm_range_projects_two_kernels_with_the_gap_between_them():
    r = fi()["nvtx_ranges"].set_index("name").loc["rmsnorm"]
    k = fi()["gpu_kernels"]
    inside = k[k["nvtx_range_id"] == r["range_id"]]
    assert len(inside) == r["gpu_op_count"] == 2
    assert r["gpu_start_ns"] == inside["start_ns"].min() and r["gpu_end_ns"] == inside["end_ns"].max()
    assert r["gpu_projected_ns"] > inside["duration_ns"].sum()  # span, not busy time: 79106 > 74530


def test_cpu_2022_nvtx_sum_equals_nsys_2022_4():
    ours = nsys_stats.nvtx_sum(cpu())
    assert_same_rows(ours, read_nsys_csv(CPU / "cpu_nvtxsum.csv"), ["Range", "Style"])


def test_cpu_2022_depth_and_parent_equal_nsys_pushpop_trace():
    theirs = read_nsys_csv(CPU / "cpu_nvtxpptrace.csv").set_index("RangeId")
    r = cpu()["nvtx_ranges"].set_index("range_id").loc[theirs.index]
    assert (r["depth"].astype(int) == theirs["Lvl"]).all()
    parent = pd.to_numeric(theirs["ParentId"].replace("None", None))
    assert (r["parent"].astype("Float64").fillna(-1).to_numpy() == parent.fillna(-1).to_numpy()).all()
    assert (r["start_ns"] == theirs["Start (ns)"]).all() and (r["end_ns"] == theirs["End (ns)"]).all()
    assert (r["tid"] == theirs["TID"]).all() and (r["pid"] == theirs["PID"]).all()


# --- the canonical tables against nsys's traces ----------------------------------------------------------


def test_fi_kernels_equal_cuda_gpu_trace():
    trace = read_nsys_csv(FI / "fi_cuda_gpu_trace.csv")
    trace = trace[trace["GrdX"].notna()].set_index("CorrId").sort_index()
    k = fi()["gpu_kernels"].set_index("correlation_id").sort_index()
    assert list(k.index) == list(trace.index)
    assert (k["start_ns"] == trace["Start (ns)"]).all()
    assert (k["duration_ns"] == trace["Duration (ns)"]).all()
    for ours, theirs in (("grid_x", "GrdX"), ("grid_y", "GrdY"), ("grid_z", "GrdZ"), ("block_x", "BlkX"),
                         ("block_y", "BlkY"), ("block_z", "BlkZ"), ("registers_per_thread", "Reg/Trd"),
                         ("stream_id", "Strm"), ("context_id", "Ctx")):
        assert (k[ours] == trace[theirs].astype("int64")).all(), ours
    assert (k["name"].astype(str) == trace["Name"]).all()
    assert (k["end_ns"] - k["start_ns"] == k["duration_ns"]).all()


def test_fi_memcpys_equal_cuda_gpu_trace():
    trace = read_nsys_csv(FI / "fi_cuda_gpu_trace.csv")
    trace = trace[trace["Name"].str.startswith("[CUDA mem")].set_index("CorrId").sort_index()
    m = fi()["gpu_memops"].set_index("correlation_id").sort_index()
    assert list(m.index) == list(trace.index) and len(m) == 6
    assert (m["start_ns"] == trace["Start (ns)"]).all() and (m["duration_ns"] == trace["Duration (ns)"]).all()
    assert (("[CUDA memcpy " + m["kind"].astype(str) + "]") == trace["Name"]).all()
    assert (m["src_kind"].astype(str) == trace["SrcMemKd"]).all() and (m["dst_kind"].astype(str) == trace["DstMemKd"]).all()
    # nsys prints MB with 3 decimals; the bytes are exact here: 4, 8, 8, 4, 1548, 128.
    assert m["bytes"].tolist() == [4, 8, 8, 4, 1548, 128]
    assert (m["bytes"] / 1e6).round(3).tolist() == trace["Bytes (MB)"].tolist()


def test_fi_launching_calls_equal_cuda_kern_exec_trace():
    trace = read_nsys_csv(FI / "fi_cuda_kern_exec_trace.csv").sort_values("Kernel Start (ns)", ignore_index=True)
    k = fi()["gpu_kernels"].sort_values("start_ns", ignore_index=True)
    api = fi()["cuda_api"].set_index("correlation_id").loc[k["correlation_id"]].reset_index()
    assert (api["start_ns"] == trace["API Start (ns)"]).all()
    assert (api["duration_ns"] == trace["API Dur (ns)"]).all()
    assert (k["api_name"].astype(str) == trace["API Function"]).all()
    assert (k["tid"] == trace["TID"]).all() and (k["pid"] == trace["PID"]).all()
    assert (k["device_id"] == trace["DevId"]).all()


def test_fi_cuda_api_counts_equal_cuda_api_sum():
    theirs = read_nsys_csv(FI / "fi_cuda_api_sum.csv").set_index("Name")
    api = fi()["cuda_api"]
    g = api.groupby(api["name"].astype(str))["duration_ns"]
    ours = pd.DataFrame({"n": g.count(), "total": g.sum(), "min": g.min(), "max": g.max()}).loc[theirs.index]
    assert (ours["n"] == theirs["Num Calls"]).all() and (ours["total"] == theirs["Total Time (ns)"]).all()
    assert (ours["min"] == theirs["Min (ns)"]).all() and (ours["max"] == theirs["Max (ns)"]).all()
    assert set(api["api"].astype(str)) == {"runtime", "driver"}


def test_fi_devices_from_target_info():
    d = fi()["devices"].iloc[0]
    trace = read_nsys_csv(FI / "fi_cuda_gpu_trace.csv")
    assert f"{d['name']} ({d['device_id']})" == trace["Device"].iloc[0]  # "NVIDIA H100 80GB HBM3 (0)"
    assert d["sm_count"] == 132 and d["compute_capability"] == "9.0"  # an H100 SXM: 132 SMs, SM 9.0
    assert d["total_memory_bytes"] == 85017493504 and d["clock_rate_hz"] == 1980000000


def test_fi_nvtx_paths_of_kernels():
    k = fi()["gpu_kernels"]
    assert k.loc[k["short_name"] == "RMSNormKernel", "nvtx_path"].tolist() == ["rmsnorm"]
    by_path = k.groupby(k["nvtx_path"].astype(object), dropna=False).size()
    assert by_path.loc["prefill"] == 3 and by_path.loc["rope"] == 1 and by_path.loc["rmsnorm"] == 2
    assert k["nvtx_path"].isna().sum() == len(k) - 6  # everything else ran outside any range


def test_cpu_2022_tables_and_names():
    t = cpu()
    r = t["nvtx_ranges"]
    assert t["gpu_kernels"].empty and t["cuda_api"].empty and t["devices"].empty
    assert r.attrs["nsys_version"].startswith("2022.4")
    named = r[r["domain"].notna()]
    assert set(named["domain"]) == {"flashsight.cpu"} and set(named["name"]) == {"phase", "helper_work"}
    assert r.loc[r["name"] == "inner", "nvtx_path"].unique().tolist() == ["outer/inner"]
    cross = r[r["name"] == "se_cross"].iloc[0]
    assert cross["end_tid"] != cross["tid"] and pd.isna(cross["depth"]) and pd.isna(cross["gpu_op_count"])
    assert (r.loc[r["end_tid"].isna(), "gpu_op_count"] == 0).all()  # no CUDA at all: nothing projected


def test_times_are_int64_and_names_categorical():
    for name, df in fi().items():
        for col in df.columns:
            if col.endswith("_ns") and col.startswith(("start", "end", "duration")):
                assert str(df[col].dtype) == "int64", (name, col)
    assert isinstance(fi()["gpu_kernels"]["name"].dtype, pd.CategoricalDtype)
    assert isinstance(fi()["nvtx_ranges"]["name"].dtype, pd.CategoricalDtype)


# --- the H100 shapes capture, once the lead has dropped it in --------------------------------------------

SHAPES = DATA / "h100_shapes"
needs_shapes = pytest.mark.skipif(not (SHAPES / "shapes.sqlite").is_file(), reason="h100_shapes capture not present")


def shapes():
    return tables(SHAPES / "shapes.sqlite")


@pytest.mark.parametrize("capture", ["shapes", "shapes_graphnodes"])
@pytest.mark.parametrize("report, keys", [
    ("cuda_gpu_kern_sum", ["Name"]),
    ("nvtx_sum", ["Range", "Style"]),
    ("nvtx_gpu_proj_sum", ["Range", "Style"]),
    ("nvtx_gpu_proj_trace", ["RangeId"]),
])
def test_shapes_summaries_equal_nsys(capture, report, keys):
    if not (SHAPES / f"{capture}.sqlite").is_file():
        pytest.skip(f"{capture} capture not present")
    ours = nsys_stats.REPORTS[report](tables(SHAPES / f"{capture}.sqlite"))
    assert_same_rows(ours, read_nsys_csv(SHAPES / f"{capture}_{report}.csv"), keys)


@needs_shapes
def test_shapes_gpu_ops_equal_cuda_gpu_trace():
    trace = read_nsys_csv(SHAPES / "shapes_cuda_gpu_trace.csv")
    k = shapes()["gpu_kernels"]
    m = shapes()["gpu_memops"]
    assert len(k) + len(m) == len(trace)
    ours = pd.concat([
        pd.DataFrame({"start": k["start_ns"], "dur": k["duration_ns"], "corr": k["correlation_id"],
                      "stream": k["stream_id"], "name": k["name"].astype(str)}),
        pd.DataFrame({"start": m["start_ns"], "dur": m["duration_ns"], "corr": m["correlation_id"],
                      "stream": m["stream_id"],
                      "name": [f"[CUDA memcpy {kd}]" if op == "memcpy" else "[CUDA memset]"
                               for op, kd in zip(m["op"], m["kind"])]}),
    ]).sort_values(["start", "corr"], ignore_index=True)
    theirs = trace.sort_values(["Start (ns)", "CorrId"], ignore_index=True)
    assert (ours["start"] == theirs["Start (ns)"]).all() and (ours["dur"] == theirs["Duration (ns)"]).all()
    assert (ours["corr"] == theirs["CorrId"]).all() and (ours["stream"] == theirs["Strm"]).all()
    assert (ours["name"] == theirs["Name"]).all()


@needs_shapes
def test_shapes_pushpop_nesting_equals_nvtx_pushpop_trace():
    """nvtx_path is built on the push/pop tree of each thread (all domains): its depth is nsys's Lvl."""
    theirs = read_nsys_csv(SHAPES / "shapes_nvtx_pushpop_trace.csv").set_index("RangeId")
    r = shapes()["nvtx_ranges"].set_index("range_id").loc[theirs.index]
    assert (r["nvtx_path"].astype(str).str.count("/") == theirs["Lvl"]).all()
    assert (r["start_ns"] == theirs["Start (ns)"]).all() and (r["end_ns"] == theirs["End (ns)"]).all()
    assert (r["tid"] == theirs["TID"]).all()


@needs_shapes
def test_shapes_ranges_and_paths():
    t = shapes()
    r, k, m = t["nvtx_ranges"], t["gpu_kernels"], t["gpu_memops"]
    by = lambda name: r[r["name"] == name]  # noqa: E731
    # nesting, domains, registered strings and plain text
    assert by("matmul")["depth"].tolist() == [2, 2, 2]
    assert set(by("work")["domain"].astype(object).fillna("")) == {"", "flashsight.A"}
    assert set(k.loc[k["nvtx_path"].notna(), "nvtx_path"].astype(str)) >= {
        "step/attention/matmul", "step/attention/flashsight.A:work", "step/work", "flashsight.B:b_step/b_inner"}
    # the start/end range ended on the worker thread takes no part in the projection
    cross = by("cross_thread").iloc[0]
    assert cross["end_tid"] != cross["tid"] and pd.isna(cross["gpu_op_count"]) and pd.isna(cross["depth"])
    # two threads, several streams
    assert k["tid"].nunique() == 2 and k.loc[k["nvtx_path"].astype(str).str.startswith("flashsight.B"), "tid"].nunique() == 1
    assert k["stream_id"].nunique() >= 3
    # memcpy of every direction and memsets from the runtime and the driver API, each under its range
    assert set(m.loc[m["nvtx_path"] == "copies", "kind"]) == {"Host-to-Device", "Device-to-Device", "Device-to-Host"}
    ms = m[m["op"] == "memset"]
    assert set(ms["api_name"].astype(str)) == {"cudaMemsetAsync", "cuMemsetD32Async"}
    assert (ms["nvtx_path"] == "memsets").all() and ms["value"].tolist() == [0, 7]
    # ranges without GPU work
    for name in ("cpu_only", "sync_only"):
        assert by(name)["gpu_op_count"].tolist() == [0] and by(name)["gpu_start_ns"].isna().all()
    # Triton launches through the driver API
    tri = k[k["nvtx_path"] == "triton_add"]
    assert tri["api_name"].astype(str).str.startswith("cuLaunchKernel").all() and len(tri) == 1


@needs_shapes
def test_shapes_graph_replay_traced_as_whole_graphs_projects_nothing():
    """With nsys's default --cuda-graph-trace=graph a replay leaves no kernel rows (only whole-graph
    records, which nsys's projection ignores too): the range exists, with no GPU ops."""
    r = shapes()["nvtx_ranges"]
    replay = r[r["name"] == "graph_replay"].iloc[0]
    assert replay["gpu_op_count"] == 0
    api = shapes()["cuda_api"]
    launches = api.loc[api["nvtx_range_id"] == replay["range_id"], "name"].astype(str)
    assert launches.str.startswith("cudaGraphLaunch").sum() == 2  # nsys keeps the "_v10000" suffix


@pytest.mark.skipif(not (SHAPES / "shapes_graphnodes.sqlite").is_file(), reason="graph-node capture not present")
def test_graph_nodes_replay_counts_launches_not_kernels():
    """With --cuda-graph-trace=node each replay's kernels carry the cudaGraphLaunch's correlation id:
    two replays of a three-kernel graph are 6 kernels but 2 GPU ops of the range, as nsys counts them."""
    t = tables(SHAPES / "shapes_graphnodes.sqlite")
    replay = t["nvtx_ranges"].query("name == 'graph_replay'").iloc[0]
    k = t["gpu_kernels"]
    graph_kernels = k[k["nvtx_range_id"] == replay["range_id"]]
    assert graph_kernels["graph_node_id"].notna().all() and len(graph_kernels) == 6
    assert graph_kernels["correlation_id"].nunique() == 2 == replay["gpu_op_count"]
    assert replay["gpu_start_ns"] == graph_kernels["start_ns"].min()
    assert replay["gpu_end_ns"] == graph_kernels["end_ns"].max()
