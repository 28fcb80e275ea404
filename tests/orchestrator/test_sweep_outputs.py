"""Batched captures split per config, and the merged tables, on real H100 captures.

nsys: tests/data/nsys/h100_fi/fi.sqlite (ranges prefill x3, rope, rmsnorm) against nsys's own
nvtx_gpu_proj_sum (range instances and GPU ops per range). ncu: tests/data/ncu/h100/subset.ncu-rep (one
include filter per op) against ncu's own raw CSV page.
"""

import csv
import gzip
import io
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from flashsight.analysis.measured import split_tables
from flashsight.orchestrator.merge import write_jobs_table, write_merged_tables
from flashsight.schema.tables import CONTEXT, validate
from flashsight.host.files import write_tables
from tests import DATA
from tests.ncu_data import ncu_tables

NSYS = DATA / "nsys" / "h100_fi"
NCU_RAW = DATA / "ncu" / "h100" / "subset_raw.csv.gz"
RANGES = {"job-prefill": "prefill", "job-rope": "rope", "job-rmsnorm": "rmsnorm"}


def test_nsys_capture_splits_by_measured_range_as_nsys_counts(fi_tables):
    expected = pd.read_csv(NSYS / "fi_nvtx_gpu_proj_sum.csv")
    expected["range"] = expected["Range"].str.lstrip(":")
    per_job = split_tables(fi_tables, RANGES)
    for job, name in RANGES.items():
        row = expected.set_index("range").loc[name]
        tables = per_job[job]
        assert len(tables["nvtx_ranges"]) == row["Range Instances"]
        ops = len(tables["gpu_kernels"]) + len(tables["gpu_memops"])
        assert ops == row["Total GPU Ops"], name
        assert set(tables["gpu_kernels"]["nvtx_path"]) == {name}
        assert tables["gpu_memops"].empty and list(tables["gpu_memops"].columns) == list(fi_tables["gpu_memops"].columns)
    # Everything outside the measured ranges (set-up, warm-up) belongs to no config.
    attributed = sum(len(t["gpu_kernels"]) for t in per_job.values())
    assert attributed == expected["Total GPU Ops"].sum() < len(fi_tables["gpu_kernels"])
    # Tables without NVTX context (devices) are not attributed to a config.
    assert all("devices" not in t for t in per_job.values())


def test_domain_prefixed_nsys_paths_are_matched():
    df = pd.DataFrame({"nvtx_path": ["flashsight:rmsnorm batch=1", "outer/flashsight:rmsnorm batch=2", None]})
    split = split_tables({"gpu_kernels": df}, {"a": "rmsnorm batch=1", "b": "rmsnorm batch=2"})
    assert split["a"]["gpu_kernels"]["nvtx_path"].tolist() == ["flashsight:rmsnorm batch=1"]
    assert split["b"]["gpu_kernels"]["nvtx_path"].tolist() == ["outer/flashsight:rmsnorm batch=2"]


def _ncu_raw_kernels() -> pd.DataFrame:
    """ID, push/pop range and gpu__time_duration.sum (ns) of each kernel, as ncu printed them on its raw page."""
    rows = list(csv.reader(io.TextIOWrapper(gzip.open(NCU_RAW), newline="")))
    head, units = rows[0], rows[1]
    nvtx = next(i for i, name in enumerate(head) if name.startswith("thread Domain:Push/Pop_Range"))
    col = head.index("gpu__time_duration.sum")
    scale = {"ns": 1, "nsecond": 1, "us": 1e3, "usecond": 1e3, "ms": 1e6, "msecond": 1e6}[units[col]]
    return pd.DataFrame({
        "kernel_id": [int(r[head.index("ID")]) for r in rows[2:]],
        # '<pid>  "<default domain>:decode:none:...' -> decode
        "range": [r[nvtx].split('"')[1].split(":")[1] for r in rows[2:]],
        "duration_ns": [float(r[col]) * scale for r in rows[2:]],
    })


def test_ncu_report_splits_by_range_and_kernel_keyed_tables_follow():
    tables = ncu_tables("h100/subset.ncu-rep")
    ranges = {"j-decode": "decode", "j-norm": "rmsnorm", "j-fused": "fused_add_rmsnorm", "j-gemm": "gemm"}
    per_job = split_tables(tables, ranges)
    printed = _ncu_raw_kernels()
    for job, name in ranges.items():
        kernels = per_job[job]["ncu_kernels"]
        expected = printed[printed["range"] == name]
        assert kernels["kernel_id"].tolist() == expected["kernel_id"].tolist(), name
        assert kernels["duration_ns"].tolist() == pytest.approx(expected["duration_ns"].tolist(), rel=1e-6)
        ids = set(kernels["kernel_id"])
        for table in ("ncu_metrics", "warp_stalls", "ncu_source"):
            mine = per_job[job][table]
            assert set(mine["kernel_id"]) == ids
            assert len(mine) == tables[table]["kernel_id"].isin(ids).sum() > 0
    # prefill and rope were profiled but are nobody's measured range here: not attributed.
    assert sum(len(per_job[j]["ncu_kernels"]) for j in ranges) == 5 == len(tables["ncu_kernels"]) - 2


def _job(job_id, workload, params, tables, status="succeeded"):
    return {"job_id": job_id, "workload": workload, "tool": "nsys", "params": json.dumps(params), "ncu": "{}",
            "status": status, "attempts": 1, "started_at": "2026-01-01T00:00:00+0000", "duration_s": 1.5,
            "error": None, "log_tail": None, "batch_id": None, "job_dir": f"jobs/{job_id}",
            "tables": json.dumps({k: len(v) for k, v in tables.items()})}


def test_merged_tables_carry_job_workload_and_every_param(tmp_path, fi_tables):
    per_job = split_tables(fi_tables, RANGES)
    params = {"job-prefill": {"batch": 1, "name": "p"}, "job-rope": {"tokens": 512, "name": "r"},
              "job-rmsnorm": {"batch": "x", "name": "n"}}  # batch: int in one workload, text in another
    jobs = []
    for job_id, tables in per_job.items():
        write_tables(tables, tmp_path / "jobs" / job_id)
        jobs.append(_job(job_id, job_id.split("-")[1], params[job_id], tables))
    jobs.append(_job("job-failed", "decode", {"batch": 2}, {}, status="failed"))
    written = write_merged_tables(jobs, tmp_path)
    write_jobs_table(jobs, tmp_path)
    assert written["gpu_kernels"] == 6 and written["nvtx_ranges"] == 5
    kernels = pd.read_parquet(tmp_path / "gpu_kernels.parquet")
    assert list(kernels.columns[:4]) == ["job_id", "config_id", "workload", "tool"]
    assert kernels.groupby("job_id").size().to_dict() == {"job-prefill": 3, "job-rmsnorm": 2, "job-rope": 1}
    assert kernels.loc[kernels.job_id == "job-rope", "tokens"].tolist() == [512]
    assert kernels.loc[kernels.job_id == "job-prefill", "batch"].tolist() == ["1"] * 3  # mixed types -> text
    ranges = pd.read_parquet(tmp_path / "nvtx_ranges.parquet")
    # nvtx_ranges has a `name` column of its own: the parameter becomes param_name.
    assert (ranges["name"] == ranges["job_id"].map(RANGES)).all()
    assert set(ranges["param_name"]) == {"p", "r", "n"}
    jobs_df = pd.read_parquet(tmp_path / "jobs.parquet")
    assert jobs_df.status.tolist() == ["succeeded"] * 3 + ["failed"]
    assert jobs_df.columns[:4].tolist() == ["job_id", "config_id", "workload", "tool"]
    assert {"batch", "tokens", "name", "status", "attempts", "started_at", "duration_s", "error"} <= set(jobs_df.columns)
    assert str(jobs_df.started_at.dtype).startswith("datetime64")
    # Every merged table and jobs.parquet has its declared schema (schema/tables.py): job_id etc. dictionary-encoded.
    merged = sorted(p.stem for p in tmp_path.glob("*.parquet"))
    assert merged == ["cuda_api", "gpu_kernels", "gpu_memops", "jobs", "kernel_observations", "nvtx_ranges"]
    for name in merged:
        validate(pq.read_table(tmp_path / f"{name}.parquet"), name)
    assert pq.read_schema(tmp_path / "gpu_kernels.parquet").field("job_id").type == CONTEXT["job_id"]


def test_a_job_run_alone_keeps_its_measured_range_and_the_whole_capture_aside(tmp_path, fi_tables):
    from flashsight.orchestrator.batched import keep_measured_range
    from flashsight.schema.layout import CAPTURE_DIR

    write_tables(fi_tables, tmp_path)
    kept = keep_measured_range(tmp_path, {k: len(v) for k, v in fi_tables.items()}, "j", "rmsnorm")
    expected = pd.read_csv(NSYS / "fi_nvtx_gpu_proj_sum.csv").set_index("Range").loc[":rmsnorm"]
    assert kept["gpu_kernels"] + kept["gpu_memops"] == expected["Total GPU Ops"]
    assert kept["nvtx_ranges"] == expected["Range Instances"]
    assert len(pd.read_parquet(tmp_path / "gpu_kernels.parquet")) == kept["gpu_kernels"]
    whole = pd.read_parquet(tmp_path / CAPTURE_DIR / "gpu_kernels.parquet")
    assert len(whole) == len(fi_tables["gpu_kernels"])


def test_a_param_named_like_a_declared_column_gets_the_prefix(tmp_path, fi_tables):
    """`source_file` is what parse adds to any table (declared as text): a number of that name stays a param."""
    tables = split_tables(fi_tables, {"job-rope": "rope"})["job-rope"]
    write_tables(tables, tmp_path / "jobs" / "job-rope")
    write_merged_tables([_job("job-rope", "rope", {"source_file": 3, "tokens": 512}, tables)], tmp_path)
    kernels = pd.read_parquet(tmp_path / "gpu_kernels.parquet")
    assert kernels["param_source_file"].tolist() == [3] and kernels["tokens"].tolist() == [512]
    assert "source_file" not in kernels.columns
