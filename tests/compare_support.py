"""Shared by the compare tests: the committed real H200 runs, and copies of them changed in one known way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

RUNS = Path(__file__).parent / "data" / "runs"
RUN_A = RUNS / "h200_small_a"  # devtools/plans/small.toml on the lent H200
RUN_VARIANT = RUNS / "h200_small_variant"  # swept right after a: decode batch 32 at page_size 1 instead of 16
# a real H100's env.json (main moves devtools/results/ to docs/evidence/device_runs/)
H100_ENV = next(p for p in (Path(__file__).parents[1] / "docs" / "evidence" / "device_runs" / "workloads" / "env.json",
                            Path(__file__).parents[1] / "devtools" / "results" / "workloads" / "env.json")
                if p.exists())


def copy_run(src: Path, dst: Path) -> Path:
    """The run directory's top level (merged tables, jobs, env, plan) and its job folders' result.json files."""
    dst.mkdir(parents=True)
    for path in src.iterdir():
        if path.is_file():
            shutil.copy2(path, dst / path.name)
    for result in src.glob("jobs/*/result.json"):
        (dst / result.parent.relative_to(src)).mkdir(parents=True, exist_ok=True)
        shutil.copy2(result, dst / result.relative_to(src))
    return dst


def scale_family(run_dir: Path, workload: str, factor: float) -> int:
    """Every nsys kernel of one workload family takes `factor` times as long (end moves, start stays).
    Returns how many kernel rows were scaled."""
    path = run_dir / "gpu_kernels.parquet"
    kernels = pd.read_parquet(path)
    rows = kernels["workload"] == workload
    kernels.loc[rows, "duration_ns"] = (kernels.loc[rows, "duration_ns"] * factor).round().astype("int64")
    kernels.loc[rows, "end_ns"] = kernels.loc[rows, "start_ns"] + kernels.loc[rows, "duration_ns"]
    kernels.to_parquet(path, index=False)
    return int(rows.sum())


def set_env(run_dir: Path, env_file: Path) -> None:
    shutil.copy2(env_file, run_dir / "env.json")


def set_ncu_options(run_dir: Path, options: dict) -> None:
    """The ncu jobs (those whose rows fill ncu_kernels) as if swept with other ncu options."""
    jobs = pd.read_parquet(run_dir / "jobs.parquet")
    ncu_jobs = set(pd.read_parquet(run_dir / "ncu_kernels.parquet", columns=["job_id"])["job_id"])
    jobs.loc[jobs["job_id"].isin(ncu_jobs), "ncu_options"] = json.dumps(options)
    jobs.to_parquet(run_dir / "jobs.parquet", index=False)


def scale_ncu_counter(run_dir: Path, workload: str, column: str, metrics: tuple[str, ...], factor: float) -> int:
    """One ncu counter of every profiled kernel of a workload family multiplied by `factor`, in ncu_kernels and in
    the ncu_metrics it comes from (kernel_observations rebuilds the counters of older runs from their metrics).
    Integer counters stay integers (rounded down). Returns the ncu_kernels rows changed."""
    def scaled(values: pd.Series, integer: bool) -> pd.Series:
        values = values * factor
        return values.astype("int64").astype("float64") if integer else values

    kernels = pd.read_parquet(run_dir / "ncu_kernels.parquet")
    rows = kernels["workload"] == workload
    integer = column == "registers_per_thread"
    kernels.loc[rows, column] = scaled(kernels.loc[rows, column].astype("float64"), integer).astype(kernels[column].dtype)
    kernels.to_parquet(run_dir / "ncu_kernels.parquet", index=False)
    table = pd.read_parquet(run_dir / "ncu_metrics.parquet")
    hit = (table["workload"] == workload) & table["metric"].isin(metrics)
    table.loc[hit, "value"] = scaled(table.loc[hit, "value"], integer)
    table.to_parquet(run_dir / "ncu_metrics.parquet", index=False)
    return int(rows.sum())
