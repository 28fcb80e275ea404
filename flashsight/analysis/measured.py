"""The measured-range split: which rows of a capture belong to which config's measured NVTX range.

ncu rows carry `nvtx_range` (the innermost domain's ranges, outer/inner), nsys rows `nvtx_path` (kernels, memory
operations) or are ranges themselves (`nvtx_ranges.name`); tables keyed by `kernel_id` follow their kernel. Rows
in no measured range (set-up, JIT, warm-up) belong to no config.
"""

from __future__ import annotations

import pandas as pd


def split_tables(tables: dict[str, pd.DataFrame], ranges: dict[str, str]) -> dict[str, dict[str, pd.DataFrame]]:
    """{job_id: {table: rows of that job's measured range}}; rows in no measured range belong to no job."""
    kernel_owner: dict | None = None  # kernel_id -> job, from the first table that carries both
    by_range = {name: job for job, name in ranges.items()}
    per_job: dict[str, dict[str, pd.DataFrame]] = {job: {} for job in ranges}

    def owners(df: pd.DataFrame, name: str) -> pd.Series | None:
        if name == "nvtx_ranges" and "name" in df.columns:
            return df["name"].map(by_range)
        if "nvtx_range" in df.columns:  # ncu: the innermost domain's ranges, outer/inner
            return df["nvtx_range"].map(lambda p: _owner_in_path(p, by_range))
        if "nvtx_path" in df.columns:
            return df["nvtx_path"].map(lambda p: _owner_in_path(p, by_range))
        if "kernel_id" in df.columns and kernel_owner is not None:
            return df["kernel_id"].map(kernel_owner)
        return None

    # Tables that carry the range themselves first, so kernel-keyed tables can follow their kernels.
    ordered = sorted(tables, key=lambda n: 0 if {"nvtx_range", "nvtx_path"} & set(tables[n].columns) else 1)
    for name in ordered:
        df = tables[name]
        owner = owners(df, name)
        if owner is None:
            continue
        if "kernel_id" in df.columns and kernel_owner is None and "nvtx_range" in df.columns:
            kernel_owner = dict(zip(df["kernel_id"], owner))
        for job, rows in df.groupby(owner, sort=False):
            per_job[job][name] = rows.reset_index(drop=True)
    for job in per_job:  # a table present in the capture but empty for this job is still a table of the job
        for name in ordered:
            if name in per_job[job] or owners(tables[name], name) is None:
                continue
            per_job[job][name] = tables[name].iloc[0:0]
    return per_job


def _owner_in_path(path, by_range: dict[str, str]):
    if not isinstance(path, str):
        return None
    for segment in reversed(path.split("/")):
        for name in (segment, segment.partition(":")[2]):  # nsys prefixes 'domain:' outside the default domain
            if name in by_range:
                return by_range[name]
    return None
