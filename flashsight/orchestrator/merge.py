"""The sweep's outputs: jobs.parquet (one row per job of the plan) and each canonical table merged over all jobs.

Merged tables carry `job_id`, `config_id`, `workload`, `tool` and every config parameter as columns, so any table can be
grouped by config. A parameter whose name a table already uses or declares (schema/tables.py) gets a `param_`
prefix in that table. Besides the tables the jobs produced, the run gets workload_results (every result.json),
job_conditions (every conditions.json) and kernel_observations (the nsys × ncu join of analysis/observations.py).
All are rebuilt from the per-job files (never appended to), so they are right after any interruption, and written
atomically; write_table checks each against its declared schema.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import pandas as pd

from flashsight.host.files import write_table
from flashsight.schema.config import config_id
from flashsight.schema.layout import CONDITIONS_FILE, JOBS_TABLE, RESULT_FILE
from flashsight.schema.tables import declared_type

OBSERVATIONS_TABLE = "kernel_observations"
RESULTS_TABLE = "workload_results"
CONDITIONS_TABLE = "job_conditions"
MERGE_ERRORS = "merge_errors.log"  # why a derived table could not be built (the sweep's other outputs still are)


def _param_column(table: str, name: str, taken) -> str:
    return f"param_{name}" if name in taken or declared_type(table, name) is not None else name


def _config_id(job: dict) -> str:
    return job.get("config_id") or config_id(job["workload"], json.loads(job["params"]))


def _params_frame(jobs: list[dict]) -> pd.DataFrame:
    """One row per job, one column per parameter (union over workloads; types made consistent per column)."""
    frame = pd.DataFrame([json.loads(j["params"]) for j in jobs], index=range(len(jobs)))
    for column in frame.columns:
        kinds = {type(v) for v in frame[column] if v is not None and not (isinstance(v, float) and pd.isna(v))}
        if len(kinds) > 1 and not kinds <= {int, float}:
            frame[column] = frame[column].map(lambda v: None if v is None or (isinstance(v, float) and pd.isna(v))
                                              else str(v))
    return frame


def write_jobs_table(jobs: list[dict], run_dir: Path) -> Path:
    return write_table(jobs_frame(jobs), run_dir, JOBS_TABLE)


def jobs_frame(jobs: list[dict]) -> pd.DataFrame:
    """jobs.parquet's rows: one per job of the store."""
    base = pd.DataFrame({
        "job_id": [j["job_id"] for j in jobs],
        "config_id": [_config_id(j) for j in jobs],
        "workload": [j["workload"] for j in jobs],
        "tool": [j["tool"] for j in jobs],
        "status": pd.Series([j["status"] for j in jobs], dtype="string"),
        "attempts": pd.Series([j["attempts"] for j in jobs], dtype="int64"),
        "started_at": pd.to_datetime(pd.Series([j["started_at"] for j in jobs], dtype="string"),
                                     format="%Y-%m-%dT%H:%M:%S%z", utc=True),
        "duration_s": pd.Series([j["duration_s"] for j in jobs], dtype="float64"),
        "error": pd.Series([j["error"] for j in jobs], dtype="string"),
        "log_tail": pd.Series([j["log_tail"] for j in jobs], dtype="string"),
        "ncu_options": pd.Series([j["ncu"] for j in jobs], dtype="string"),
        "params_json": pd.Series([j["params"] for j in jobs], dtype="string"),
        "batch_id": pd.Series([j["batch_id"] for j in jobs], dtype="string"),
        "task_id": pd.Series([j.get("task_id") for j in jobs], dtype="string"),  # the Slurm job id, on a cluster
        "job_dir": pd.Series([j["job_dir"] for j in jobs], dtype="string"),
    })
    params = _params_frame(jobs)
    params.columns = [_param_column(JOBS_TABLE, c, base.columns) for c in params.columns]
    return pd.concat([base.iloc[:, :4], params, base.iloc[:, 4:]], axis=1)


def write_merged_tables(jobs: list[dict], run_dir: Path) -> dict[str, int]:
    """<run_dir>/<table>.parquet for every table any succeeded job produced. Returns table -> rows."""
    done = [j for j in jobs if j["status"] == "succeeded" and j["tables"]]
    pieces: dict[str, list[pd.DataFrame]] = {}
    param_columns: dict[str, set[str]] = {}
    for job in done:
        for table in json.loads(job["tables"]):
            path = run_dir / job["job_dir"] / f"{table}.parquet"
            if table == JOBS_TABLE or not path.exists():
                continue
            df = pd.read_parquet(path)
            ids = {"job_id": job["job_id"], "config_id": _config_id(job), "workload": job["workload"],
                   "tool": job["tool"]}
            cfg = {_param_column(table, k, {*df.columns, *ids}): v for k, v in json.loads(job["params"]).items()}
            param_columns.setdefault(table, set()).update(cfg)
            front = pd.DataFrame({**ids, **cfg}, index=df.index)
            pieces.setdefault(table, []).append(pd.concat([front, df.drop(columns=[c for c in ids if c in df])], axis=1))
    written = {}
    for table, dfs in pieces.items():
        dfs = [d for d in dfs if len(d)] or dfs[:1]
        merged = pd.concat(dfs, ignore_index=True) if len(dfs) > 1 else dfs[0].reset_index(drop=True)
        for column in param_columns[table] & set(merged.columns):  # one name, two types (two workloads): text
            kinds = {type(v) for v in merged[column].dropna()}
            if len(kinds) > 1 and not kinds <= {int, float}:
                merged[column] = merged[column].map(lambda v: None if pd.isna(v) else str(v))
        write_table(merged, run_dir, table)
        written[table] = len(merged)
        pieces[table] = [merged]
    merged_tables = {table: dfs[0] for table, dfs in pieces.items()}
    written.update(write_derived_tables(jobs, run_dir, merged_tables))
    return written


def _job_key(job: dict) -> dict:
    return {"job_id": job["job_id"], "config_id": _config_id(job), "workload": job["workload"], "tool": job["tool"],
            "params": json.loads(job["params"])}


def job_records(jobs: list[dict], run_dir: Path, name: str) -> list[tuple[dict, dict]]:
    """(job, its <name> JSON record) for every job whose directory holds a readable one."""
    records = []
    for job in jobs:
        try:
            record = json.loads((run_dir / job["job_dir"] / name).read_text())
        except (OSError, ValueError, TypeError):
            continue
        if isinstance(record, dict):
            records.append((_job_key(job), record))
    return records


def write_derived_tables(jobs: list[dict], run_dir: Path, merged: dict[str, pd.DataFrame]) -> dict[str, int]:
    """workload_results, job_conditions and kernel_observations of the run. Returns table -> rows."""
    from flashsight.analysis.job_conditions import job_conditions
    from flashsight.analysis.observations import kernel_observations
    from flashsight.analysis.workload_results import workload_results

    written = {}
    param_names = list(dict.fromkeys(p for j in jobs for p in json.loads(j["params"])))
    tables = dict(merged)
    builders = (
        (RESULTS_TABLE, lambda: workload_results(job_records(jobs, run_dir, RESULT_FILE), param_names)
         if any((run_dir / j["job_dir"] / RESULT_FILE).is_file() for j in jobs) else None),
        (CONDITIONS_TABLE, lambda: job_conditions(job_records(jobs, run_dir, CONDITIONS_FILE))
         if any((run_dir / j["job_dir"] / CONDITIONS_FILE).is_file() for j in jobs) else None),
        (OBSERVATIONS_TABLE, lambda: kernel_observations(tables, jobs_frame(jobs))
         if "gpu_kernels" in merged or "ncu_kernels" in merged else None),
    )
    for table, build in builders:
        try:
            frame = build()
        except Exception:  # a bug here must not cost an overnight sweep its other outputs
            with open(run_dir / MERGE_ERRORS, "a") as log:
                log.write(f"flashsight: could not build {table}:\n{traceback.format_exc()}\n")
            continue
        if frame is not None:
            tables[table] = frame
            write_table(frame, run_dir, table)
            written[table] = len(frame)
    return written
