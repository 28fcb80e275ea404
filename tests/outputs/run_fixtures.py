"""Run directories built from real captures for the report tests: each job's tables are exactly its measured
range's rows of a real capture (analysis.measured.split_tables, as a batched sweep splits them), merged and
listed in jobs.parquet the way a sweep writes them (orchestrator.merge).

    nsys_only_run(tmp): tests/data/nsys/h100_fi/fi.sqlite -> jobs prefill, rope, rmsnorm under nsys
    ncu_only_run(tmp):  tests/data/ncu/h100/subset.ncu-rep -> jobs decode, rmsnorm, fused_add_rmsnorm, gemm under ncu
"""

from __future__ import annotations

import json
from pathlib import Path

from flashsight.analysis.measured import split_tables
from flashsight.host.files import write_tables
from flashsight.orchestrator.merge import write_jobs_table, write_merged_tables
from flashsight.parsers import read_input
from tests.ncu_data import ncu_tables

DATA = Path(__file__).resolve().parents[1] / "data"
NSYS_RANGES = {"prefill": "prefill", "rope": "rope", "rmsnorm": "rmsnorm"}  # job -> range in fi.sqlite
NCU_RANGES = {"decode": "decode", "rmsnorm": "rmsnorm", "fused": "fused_add_rmsnorm", "gemm": "gemm"}


def build_run(out: Path, tables: dict, ranges: dict[str, str], tool: str, workloads: dict[str, tuple]) -> Path:
    """workloads: job -> (workload, params)."""
    per_job = split_tables(tables, {f"{tool}-{j}": r for j, r in ranges.items()})
    jobs = []
    for job_id, job_tables in per_job.items():
        workload, params = workloads[job_id.split("-", 1)[1]]
        write_tables(job_tables, out / "jobs" / job_id)
        jobs.append({"job_id": job_id, "workload": workload, "tool": tool, "params": json.dumps(params),
                     "ncu": "{}", "status": "succeeded", "attempts": 1, "started_at": "2026-11-21T19:52:58+0000",
                     "duration_s": 2.5, "error": None, "log_tail": None, "batch_id": None,
                     "job_dir": f"jobs/{job_id}", "tables": json.dumps({k: len(v) for k, v in job_tables.items()})})
    write_merged_tables(jobs, out)
    write_jobs_table(jobs, out)
    return out


def nsys_only_run(out: Path) -> Path:
    tables = read_input(DATA / "nsys" / "h100_fi" / "fi.sqlite")
    return build_run(out, tables, NSYS_RANGES, "nsys",
                     {"prefill": ("prefill", {"seq_len": 1024}), "rope": ("rope", {"tokens": 8192}),
                      "rmsnorm": ("rmsnorm", {"batch": 2048})})


def ncu_only_run(out: Path) -> Path:
    tables = {k: v.copy() for k, v in ncu_tables("h100/subset.ncu-rep").items()}
    return build_run(out, tables, NCU_RANGES, "ncu",
                     {"decode": ("decode", {"batch": 32}), "rmsnorm": ("rmsnorm", {"op": "rmsnorm"}),
                      "fused": ("rmsnorm", {"op": "fused_add_rmsnorm"}), "gemm": ("gemm.py", {"n": 2048})})
