"""Batched mode: several configs of one workload (same tool, same tool options) in one process.

The batch runs `batch_child` under the tool, in <run>/batches/<id>/; each config writes its result.json and a
batch_config.json into its own job directory. Afterwards:
- tool none: each config that ended with exit code 0 has succeeded;
- nsys / ncu: the batch's one capture is parsed once and its rows are split by each config's measured NVTX range
  (ncu: `nvtx_range`; nsys: `nvtx_ranges.name` and the `nvtx_path` of kernels and memory operations; tables keyed
  by `kernel_id` follow their kernel). Rows outside every measured range (set-up, JIT, warm-up) stay in the
  batch directory's own tables: they belong to no single config. A profiled job run alone is cut the same way
  (keep_measured_range), so a sweep's tables mean the same in both modes: each config's measured range.
Whatever did not succeed (a config that failed, everything of a profiled batch that crashed or timed out) is
handed back to be rerun one process per config, where failures count against the job's retries.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from flashsight.analysis.measured import split_tables
from flashsight.host.files import write_json, write_tables
from flashsight.orchestrator.job import run_job
from flashsight.orchestrator.targets import Target
from flashsight.profilers import Profiler, ToolOptions
from flashsight.schema.contract import BATCH_ENV, BATCH_MARK as MARK
from flashsight.schema.layout import (BATCH_FILE, BATCH_STATUS_FILE as STATUS_FILE, CAPTURE_DIR, CONDITIONS_FILE,
                                      LOG_FILE, RESULT_FILE)


@dataclass
class ConfigOutcome:
    job: dict
    target: Target
    status: str  # succeeded | rerun
    error: str | None = None
    tables: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0


def batch_argv(target: Target) -> list[str] | None:
    """The batch child's argv for a Python target (`python -m mod` or `python file.py`); None: not batchable."""
    argv = target.argv
    if len(argv) < 2 or not os.path.basename(argv[0]).startswith("python"):
        return None
    if argv[1] == "-m" and len(argv) >= 3 or argv[1].endswith(".py"):
        return [argv[0], "-m", "flashsight.orchestrator.batch_child", *argv[1:]]
    return None


def can_batch(targets: list[Target], profiler: Profiler) -> bool:
    """Profiled batches need every config's measured range, distinct, to split the capture."""
    if any(batch_argv(t) is None or t.argv[1:] != targets[0].argv[1:] for t in targets):
        return False
    if not profiler.captures:
        return True
    ranges = [t.measured_range for t in targets]
    return None not in ranges and len(set(ranges)) == len(ranges) and all(t.nvtx_includes for t in targets)


def run_batch(jobs: list[dict], targets: list[Target], profiler: Profiler, batch_dir: Path, run_dir: Path, *,
              options: ToolOptions | None = None, extra_env: dict[str, str], abort) -> list[ConfigOutcome]:
    """Run the configs in one process; return one outcome per job (succeeded, or rerun alone)."""
    batch_dir.mkdir(parents=True, exist_ok=True)
    for job in jobs:
        job_dir = run_dir / job["job_dir"]
        job_dir.mkdir(parents=True, exist_ok=True)
        for stale in (STATUS_FILE, RESULT_FILE):
            (job_dir / stale).unlink(missing_ok=True)
    configs = [{"job_id": j["job_id"], "params": t.params, "job_dir": str((run_dir / j["job_dir"]).resolve())}
               for j, t in zip(jobs, targets)]
    write_json(configs, batch_dir / BATCH_FILE)
    includes = [inc for t in targets for inc in t.nvtx_includes]
    batch_target = Target(workload=targets[0].workload, argv=batch_argv(targets[0]), params={},
                          nvtx_includes=list(dict.fromkeys(includes)), measured_range=None)
    watch = _ConfigDeadlines(jobs, run_dir, abort)
    env = extra_env | {BATCH_ENV: str((batch_dir / BATCH_FILE).resolve())}
    started = time.monotonic()
    outcome = run_job(batch_target, profiler.name, batch_dir, timeout_s=None, options=options, extra_env=env,
                      watch=watch)
    if outcome.status == "interrupted":
        return [ConfigOutcome(j, t, "interrupted", "interrupted") for j, t in zip(jobs, targets)]
    _split_logs(batch_dir / LOG_FILE, jobs, run_dir)
    _share_conditions(batch_dir, jobs, run_dir)
    statuses = [_config_status(run_dir / j["job_dir"]) for j in jobs]
    results = []
    if outcome.status == "succeeded" and profiler.captures:
        per_job = split_tables(_read_tables(batch_dir, outcome.tables),
                               {j["job_id"]: t.measured_range for j, t in zip(jobs, targets)})
    for job, target, status in zip(jobs, targets, statuses):
        done = status is not None and status["rc"] == 0
        if profiler.captures:
            done = done and outcome.status == "succeeded"
        if target.measured_range is not None:
            done = done and (run_dir / job["job_dir"] / RESULT_FILE).exists()
        if not done:
            why = (status or {}).get("error") or (f"exit code {status['rc']}" if status else
                                                  f"batch {outcome.status}: {outcome.error}")
            results.append(ConfigOutcome(job, target, "rerun", why))
            continue
        tables = {}
        if profiler.captures:
            tables = per_job.get(job["job_id"], {})
            problem = profiler.check({name: len(df) for name, df in tables.items()}, batch_dir)
            if problem:
                results.append(ConfigOutcome(job, target, "rerun", f"{problem} (in this config's range)"))
                continue
            write_tables(tables, run_dir / job["job_dir"])
            tables = {name: len(df) for name, df in tables.items()}
        results.append(ConfigOutcome(job, target, "succeeded", tables=tables,
                                     duration_s=status.get("duration_s", time.monotonic() - started)))
    return results


class _ConfigDeadlines:
    """A batch's watch: each config gets its own job's timeout, counted from the end of the previous one."""

    def __init__(self, jobs: list[dict], run_dir: Path, abort):
        self.dirs = [run_dir / j["job_dir"] for j in jobs]
        self.timeouts = [j["timeout_s"] for j in jobs]
        self.abort, self.done, self.since = abort, 0, time.monotonic()

    def __call__(self) -> str | None:
        if self.abort.is_set():
            return "interrupted"
        while self.done < len(self.dirs) and (self.dirs[self.done] / STATUS_FILE).exists():
            self.done, self.since = self.done + 1, time.monotonic()
        if self.done < len(self.dirs) and time.monotonic() - self.since > self.timeouts[self.done]:
            return "timeout"
        return None


def _config_status(job_dir: Path) -> dict | None:
    try:
        return json.loads((job_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None


def _split_logs(batch_log: Path, jobs: list[dict], run_dir: Path) -> None:
    """Give each job directory its own part of the batch log (what a solo run's job.log would hold)."""
    try:
        text = batch_log.read_text(errors="replace")
    except OSError:
        return
    parts = re.split(rf"^{re.escape(MARK)} (begin|end) (\S+).*$\n?", text, flags=re.M)
    current, chunks = None, {}
    for i in range(1, len(parts), 3):
        kind, job_id, body = parts[i], parts[i + 1], parts[i + 2]
        if kind == "begin":
            chunks[job_id] = body
    begun = [j for j in jobs if j["job_id"] in chunks]
    if begun and not re.search(rf"^{re.escape(MARK)} end {begun[-1]['job_id']}", text, flags=re.M):
        current = begun[-1]["job_id"]  # the config that was running when the batch died: its log is the rest
    for job in jobs:
        if job["job_id"] in chunks:
            note = f"(batch log: {batch_log})\n" + ("(the batch ended during this config)\n" if
                                                   job["job_id"] == current else "")
            (run_dir / job["job_dir"] / LOG_FILE).write_text(note + chunks[job["job_id"]])


def _share_conditions(batch_dir: Path, jobs: list[dict], run_dir: Path) -> None:
    """Each config of a batch ran under the batch's conditions (sampled around the whole process)."""
    try:
        record = json.loads((batch_dir / CONDITIONS_FILE).read_text())
    except (OSError, ValueError):
        return
    record.update(scope="batch", batch_dir=str(batch_dir.relative_to(run_dir)) if batch_dir.is_relative_to(run_dir)
                  else str(batch_dir))
    for job in jobs:
        write_json(record, run_dir / job["job_dir"] / CONDITIONS_FILE)


def _read_tables(batch_dir: Path, tables: dict[str, int]) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(batch_dir / f"{name}.parquet") for name in tables
            if (batch_dir / f"{name}.parquet").exists()}


def keep_measured_range(job_dir: Path, tables: dict[str, int], job_id: str, measured_range: str) -> dict[str, int]:
    """A job run alone: its tables keep the measured range's rows, as a batched job's do; the whole capture's
    tables move to <job_dir>/capture/. Returns table -> rows kept."""
    whole = _read_tables(job_dir, tables)
    capture = job_dir / CAPTURE_DIR
    capture.mkdir(exist_ok=True)
    for name in whole:
        os.replace(job_dir / f"{name}.parquet", capture / f"{name}.parquet")
    mine = split_tables(whole, {job_id: measured_range})[job_id]
    write_tables(mine, job_dir)
    return {name: len(df) for name, df in mine.items()}
