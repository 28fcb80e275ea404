"""The sweep: open the run directory, settle what a dead driver left, drive the pending jobs through an executor
(executors/: local threads per GPU, or Slurm tasks), write the outputs.

Run directory:
    sweep.db            the job state (state.py)          plan.toml   the plan as last given
    jobs/<job>/         one job: job.log, result.json, captures, its tables (its measured range's rows; alone,
                        the whole capture's in capture/), outcome.json
    batches/<id>/       one batched process: batch.json, job.log, the capture, the whole batch's tables
    slurm/<task>/       submitit's files of each Slurm task (its pickles and logs), with --executor slurm
    jobs.parquet, <table>.parquet     the merged outputs (merge.py)

Crash safety: a job is `running` in the store before its process starts and settled after it ends. Whoever ran
it writes outcome.json (with the attempt's token) before the store records it, so a driver killed in between
leaves an outcome that --resume adopts instead of running the job again; a job killed with the driver
(PDEATHSIG and the process-group guard end its whole tree) is simply pending again, its attempt not counted.
A Slurm task outlives its driver: its jobs stay `running` with the task's id, and the resumed driver adopts them.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flashsight.errors import InputError, ParamError
from flashsight.orchestrator import merge
from flashsight.host.files import atomic_path, write_json
from flashsight.host.procs import tail
from flashsight.orchestrator.job import JobOutcome
from flashsight.orchestrator.plan import Plan
from flashsight.orchestrator.state import Store
from flashsight.profilers import get_profiler
from flashsight.schema.layout import ENV_FILE, JOBS_DIR, LOG_FILE, OUTCOME_FILE, PLAN_FILE, RESULT_FILE, STATE_FILE
MERGE_EVERY_S = 600  # merged tables are rebuilt at the end and at most this often while the sweep runs


@dataclass
class SweepOptions:
    gpus: list[str] | None = None  # None: one worker, CUDA_VISIBLE_DEVICES left as it is
    mode: str | None = None  # None: the plan's
    batch_size: int | None = None
    min_free_gb: float | None = None
    executor: object | None = None  # an executors.Executor; None: local, one worker per GPU of `gpus`


@dataclass
class Summary:
    counts: dict[str, int]
    elapsed_s: float
    stopped: str | None = None  # why the sweep stopped before the end (disk, Ctrl-C), if it did
    merged: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.stopped == "interrupted":
            return 130
        return 0 if self.counts["succeeded"] == sum(self.counts.values()) else 1


def job_dir_of(spec) -> str:
    slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(spec.workload.split(":")[-1]).stem)
    return f"{JOBS_DIR}/{slug[:40]}-{spec.tool}-{spec.job_id}"


# ------------------------------------------------------------------------------------------------ set-up


def open_run(out: Path, plan: Plan | None, *, resume: bool, retry_failed: bool = False,
             executor=None) -> tuple[Store, Plan, dict]:
    """Create or reopen the run directory, bring the store in line with the plan, settle interrupted jobs
    (except those the executor settles itself: a Slurm task outlives its driver)."""
    from flashsight.orchestrator.plan import load_plan, stored_plan

    out = Path(out)
    db_path = out / STATE_FILE
    if db_path.exists() and not resume:
        raise InputError(f"{out} already holds a sweep: add --resume to continue it (or choose another --out)")
    if resume and not db_path.exists():
        raise InputError(f"{out}: no sweep to resume ({STATE_FILE} not found)")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    if plan is None:
        if resume:
            store = Store(db_path)
            try:
                plan = stored_plan(store, out)
            finally:
                store.close()
        else:
            plan = load_plan(None)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.tmp"):  # an atomic write cut off by a kill (merged tables, jobs.parquet)
        stale.unlink(missing_ok=True)
    store = Store(db_path)
    sync = store.sync_plan(plan, job_dir_of)
    with atomic_path(out / PLAN_FILE) as tmp:
        tmp.write_text(plan.source)
    _write_env(out)
    sync["recovered"], sync["requeued"] = recover(store, out, keeps=executor.keeps if executor else None)
    sync["kept"] = len(store.running())  # left to the executor: their tasks may still run
    if executor is not None:
        store.set_meta("executor", json.dumps(executor.describe()))
    if retry_failed:
        sync["retried"] = store.reset_failed()
    return store, plan, sync


def _write_env(out: Path) -> None:
    """env.json as every run directory has it; a resume (maybe on another machine) adds env.resume-<time>.json."""
    from flashsight.environment import write_env_json

    resumed = (out / ENV_FILE).exists()
    write_env_json(out, f"env.resume-{time.strftime('%Y%m%d-%H%M%S')}.json" if resumed else ENV_FILE)


def recover(store: Store, run_dir: Path, keeps=None) -> tuple[int, int]:
    """Jobs a dead orchestrator left `running`: adopt a finished outcome, or make them pending again.
    keeps(job) -> True: the executor settles that job itself (it is left running here)."""
    adopted = requeued = 0
    for job in store.running():
        if keeps is not None and keeps(job):
            continue
        if adopt_finished(store, job, run_dir) is not None:
            adopted += 1
        else:
            store.requeue(job, solo=bool(job["solo"]), reason="the orchestrator stopped during this job")
            requeued += 1
    return adopted, requeued


def adopt_finished(store: Store, job: dict, run_dir: Path) -> str | None:
    """Record an attempt that ended without the store being told: its outcome.json (with this attempt's token),
    or, without a profiler, the workload's result.json. Returns the job's new status; None: nothing to adopt."""
    status = adopt_outcome(store, job, run_dir)
    if status is not None:
        return status
    if not get_profiler(job["tool"]).captures and (run_dir / job["job_dir"] / RESULT_FILE).exists():
        # The workload finished (result.json is the last thing it writes); only the bookkeeping was lost.
        return settle(store, job, run_dir, JobOutcome(tool="none", status="succeeded", duration_s=0.0))
    return None


# ------------------------------------------------------------------------------------------------ the loop


class Sweep:
    def __init__(self, run_dir: Path, plan: Plan, options: SweepOptions, on_event=None):
        self.run_dir = Path(run_dir)
        self.plan = plan
        self.mode = options.mode or plan.mode
        self.batch_size = (options.batch_size or plan.batch_size) if self.mode == "batched" else 1
        self.min_free = (options.min_free_gb if options.min_free_gb is not None else plan.min_free_gb) * 2**30
        if options.executor is None:
            from flashsight.orchestrator.executors.local import LocalExecutor

            options.executor = LocalExecutor(options.gpus)
        self.executor = options.executor
        self.abort = threading.Event()
        self.stop_reason: str | None = None
        self.on_event = on_event or (lambda kind, job, detail: None)
        self._outputs_lock = threading.Lock()
        self._last_merge = time.monotonic()

    # -- called by the CLI ------------------------------------------------------------------------------

    def run(self, wait) -> Summary:
        """Start the executor and call wait(workers) in this thread (the progress display); then write outputs."""
        started = time.monotonic()
        workers = self.executor.start(self)
        try:
            wait(workers)
        except KeyboardInterrupt:
            self.stop("interrupted")
            for worker in workers:
                worker.join()
        store = Store(self.run_dir / STATE_FILE)
        try:
            merged = self.write_outputs(store, tables=True)
            return Summary(store.counts(), time.monotonic() - started, self.stop_reason, merged)
        finally:
            store.close()

    def stop(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or reason
        self.abort.set()

    def write_outputs(self, store: Store, tables: bool) -> dict[str, int]:
        with self._outputs_lock:
            jobs = store.jobs()
            merge.write_jobs_table(jobs, self.run_dir)
            if tables:
                self._last_merge = time.monotonic()
                return merge.write_merged_tables(jobs, self.run_dir)
        return {}

    def disk_ok(self) -> bool:
        """Checked before each job (local) or each submission (Slurm): stops the sweep when the disk is low."""
        free = shutil.disk_usage(self.run_dir).free
        if free >= self.min_free:
            return True
        self.stop(f"only {free / 2**30:.1f} GiB free in {self.run_dir} (min_free_gb = {self.min_free / 2**30:g}): "
                  "stopped before the next job; free some space and --resume")
        return False

    def refresh_outputs(self, store: Store) -> None:
        """After a job: jobs.parquet now, the merged tables at most every MERGE_EVERY_S."""
        self.write_outputs(store, tables=time.monotonic() - self._last_merge > MERGE_EVERY_S)


def adopt_outcome(store: Store, job: dict, run_dir: Path) -> str | None:
    """Record the attempt's outcome.json if it is there (with this attempt's token). Returns the job's new status;
    None: no outcome of this attempt yet."""
    outcome = _read_json(run_dir / job["job_dir"] / OUTCOME_FILE)
    if not outcome or outcome.get("token") != job["token"]:
        return None
    if outcome.get("batch_id"):  # a Slurm task's batch (the local executor tells the store itself)
        store.set_batch([job["job_id"]], outcome["batch_id"])
    return store.finish(job, outcome["status"], duration_s=outcome["duration_s"], error=outcome.get("error"),
                        log_tail=outcome.get("log_tail"), tables=outcome.get("tables"))


def settle(store, job: dict, run_dir: Path, outcome: JobOutcome) -> str:
    """outcome.json first (with the attempt's token), then the store: a kill in between is adopted on resume.
    On a Slurm node `store` is the task's book (slurm_task.TaskBook): the outcome file is all it writes."""
    job_dir = run_dir / job["job_dir"]
    log_tail = tail(job_dir / LOG_FILE, 20) if outcome.status != "succeeded" else None
    record = {"token": job["token"], "status": outcome.status, "duration_s": outcome.duration_s,
              "error": outcome.error, "log_tail": log_tail, "tables": outcome.tables, "batch_id": job.get("batch_id")}
    if outcome.status != "succeeded" and (job_dir / RESULT_FILE).exists():
        # A result.json in a job directory always belongs to its latest attempt (recover relies on it).
        os.replace(job_dir / RESULT_FILE, job_dir / f"result.attempt{job['attempts'] + 1}.json")
    write_json(record, job_dir / OUTCOME_FILE)
    return store.finish(job, outcome.status, duration_s=outcome.duration_s, error=outcome.error,
                        log_tail=log_tail, tables=outcome.tables)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def parse_gpus(text: str | None) -> list[str] | None:
    if not text:
        return None
    gpus = [g.strip() for g in text.split(",")]
    if any(not g.isdigit() for g in gpus) or len(set(gpus)) != len(gpus):
        raise ParamError(f"--gpus {text!r}: expected distinct GPU indices like 0,1,2")
    return gpus
