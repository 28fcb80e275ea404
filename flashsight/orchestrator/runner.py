"""The sweep loop: claim -> run (alone or batched) -> parse -> record, one worker per GPU, until nothing is left.

Run directory:
    sweep.db            the job state (state.py)          plan.toml   the plan as last given
    jobs/<job>/         one job: job.log, result.json, captures, its tables (its measured range's rows; alone,
                        the whole capture's in capture/), outcome.json
    batches/<id>/       one batched process: batch.json, job.log, the capture, the whole batch's tables
    jobs.parquet, <table>.parquet     the merged outputs (merge.py)

Crash safety: a job is `running` in the store before its process starts and settled after it ends. A worker
writes outcome.json (with the attempt's token) before recording it, so an orchestrator killed in between
leaves an outcome that --resume adopts instead of running the job again; a job killed with the orchestrator
(PDEATHSIG and the process-group guard end its whole tree) is simply pending again, its attempt not counted.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from flashsight.errors import FlashsightError, InputError, ParamError
from flashsight.orchestrator import batched, merge
from flashsight.host.files import atomic_path, write_json
from flashsight.host.procs import tail
from flashsight.orchestrator.job import JobOutcome, run_job
from flashsight.orchestrator.plan import Plan
from flashsight.orchestrator.state import Store
from flashsight.orchestrator.targets import resolve_target
from flashsight.profilers import ToolOptions, get_profiler
from flashsight.schema.layout import (BATCHES_DIR, ENV_FILE, JOBS_DIR, LOG_FILE, OUTCOME_FILE, PLAN_FILE,
                                      RESULT_FILE, STATE_FILE)
MERGE_EVERY_S = 600  # merged tables are rebuilt at the end and at most this often while the sweep runs


@dataclass
class SweepOptions:
    gpus: list[str] | None = None  # None: one worker, CUDA_VISIBLE_DEVICES left as it is
    mode: str | None = None  # None: the plan's
    batch_size: int | None = None
    min_free_gb: float | None = None


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


def open_run(out: Path, plan: Plan | None, *, resume: bool, retry_failed: bool = False) -> tuple[Store, Plan, dict]:
    """Create or reopen the run directory, bring the store in line with the plan, settle interrupted jobs."""
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
    sync["recovered"], sync["requeued"] = recover(store, out)
    if retry_failed:
        sync["retried"] = store.reset_failed()
    return store, plan, sync


def _write_env(out: Path) -> None:
    """env.json as every run directory has it; a resume (maybe on another machine) adds env.resume-<time>.json."""
    from flashsight.environment import write_env_json

    resumed = (out / ENV_FILE).exists()
    write_env_json(out, f"env.resume-{time.strftime('%Y%m%d-%H%M%S')}.json" if resumed else ENV_FILE)


def recover(store: Store, run_dir: Path) -> tuple[int, int]:
    """Jobs a dead orchestrator left `running`: adopt a finished outcome, or make them pending again."""
    adopted = requeued = 0
    for job in store.running():
        job_dir = run_dir / job["job_dir"]
        outcome = _read_json(job_dir / OUTCOME_FILE)
        if outcome and outcome.get("token") == job["token"]:
            store.finish(job, outcome["status"], duration_s=outcome["duration_s"], error=outcome.get("error"),
                         log_tail=outcome.get("log_tail"), tables=outcome.get("tables"))
            adopted += 1
        elif not get_profiler(job["tool"]).captures and (job_dir / RESULT_FILE).exists():
            # The workload finished (result.json is the last thing it writes); only the bookkeeping was lost.
            _settle(store, job, run_dir, JobOutcome(tool="none", status="succeeded", duration_s=0.0))
            adopted += 1
        else:
            store.requeue(job, solo=bool(job["solo"]), reason="the orchestrator stopped during this job")
            requeued += 1
    return adopted, requeued


# ------------------------------------------------------------------------------------------------ the loop


class Sweep:
    def __init__(self, run_dir: Path, plan: Plan, options: SweepOptions, on_event=None):
        self.run_dir = Path(run_dir)
        self.plan = plan
        self.mode = options.mode or plan.mode
        self.batch_size = (options.batch_size or plan.batch_size) if self.mode == "batched" else 1
        self.min_free = (options.min_free_gb if options.min_free_gb is not None else plan.min_free_gb) * 2**30
        self.gpus = options.gpus
        self.abort = threading.Event()
        self.stop_reason: str | None = None
        self.on_event = on_event or (lambda kind, job, detail: None)
        self._outputs_lock = threading.Lock()
        self._last_merge = time.monotonic()

    # -- called by the CLI ------------------------------------------------------------------------------

    def run(self, wait) -> Summary:
        """Start the workers and call wait(workers) in this thread (the progress display); then write outputs."""
        started = time.monotonic()
        workers = [threading.Thread(target=self._worker, args=(gpu,), name=f"gpu{gpu}", daemon=True)
                   for gpu in (self.gpus or [None])]
        for worker in workers:
            worker.start()
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

    # -- one worker per GPU -----------------------------------------------------------------------------

    def _worker(self, gpu: str | None) -> None:
        store = Store(self.run_dir / STATE_FILE)
        name = f"gpu{gpu}" if gpu is not None else "w0"
        env = {"PYTHONUNBUFFERED": "1"} | ({"CUDA_VISIBLE_DEVICES": gpu} if gpu is not None else {})
        try:
            while not self.abort.is_set():
                if not self._disk_ok():
                    return
                claimed = store.claim(name, self.batch_size)
                if not claimed:
                    if not store.running():
                        return
                    time.sleep(0.5)  # another worker's job may still fail and come back for a retry
                    continue
                try:
                    self._run_claimed(store, claimed, env)
                except Exception as exc:  # a bug or a parser failure must not end an overnight sweep
                    for job in claimed:
                        if store.is_current(job):  # not yet settled
                            self._internal_error(store, job, exc, batched=len(claimed) > 1)
                self.write_outputs(store, tables=time.monotonic() - self._last_merge > MERGE_EVERY_S)
        finally:
            store.close()

    def _disk_ok(self) -> bool:
        free = shutil.disk_usage(self.run_dir).free
        if free >= self.min_free:
            return True
        self.stop(f"only {free / 2**30:.1f} GiB free in {self.run_dir} (min_free_gb = {self.min_free / 2**30:g}): "
                  "stopped before the next job; free some space and --resume")
        return False

    def _run_claimed(self, store: Store, claimed: list[dict], env: dict) -> None:
        targets = [resolve_target(job["workload"], json.loads(job["params"]),
                                  json.loads(job["ncu"]).get("nvtx_include", ())) for job in claimed]
        for job in claimed:
            job_dir = self.run_dir / job["job_dir"]
            job_dir.mkdir(parents=True, exist_ok=True)
            (job_dir / OUTCOME_FILE).unlink(missing_ok=True)
            self.on_event("started", job, None)
        tool = claimed[0]["tool"]
        profiler = get_profiler(tool)
        options = ToolOptions.from_dict(json.loads(claimed[0]["ncu"]))
        if len(claimed) > 1 and batched.can_batch(targets, profiler):
            batch_id = uuid.uuid4().hex[:12]
            store.set_batch([j["job_id"] for j in claimed], batch_id)
            outcomes = batched.run_batch(claimed, targets, profiler, self.run_dir / BATCHES_DIR / batch_id,
                                         self.run_dir, options=options, extra_env=env, abort=self.abort)
            for done in outcomes:
                if done.status == "succeeded":
                    outcome = JobOutcome(tool=tool, status="succeeded", duration_s=done.duration_s,
                                         tables=done.tables)
                    self._record(store, done.job, outcome)
                else:
                    interrupted = done.status == "interrupted"
                    store.requeue(done.job, solo=not interrupted, reason=done.error or done.status)
                    self.on_event("interrupted" if interrupted else "fallback", done.job, done.error)
            return
        for job, target in zip(claimed, targets):  # alone (a batch that could not be one runs its jobs alone)
            if self.abort.is_set():
                store.requeue(job, solo=bool(job["solo"]), reason="the sweep was stopped")
                continue
            outcome = run_job(target, tool, self.run_dir / job["job_dir"], timeout_s=job["timeout_s"], options=options,
                              extra_env=env, watch=lambda: "interrupted" if self.abort.is_set() else None)
            if outcome.status == "interrupted":
                store.requeue(job, solo=bool(job["solo"]), reason="the sweep was stopped")
                self.on_event("interrupted", job, None)
                continue
            if outcome.status == "succeeded" and profiler.captures and target.measured_range is not None:
                outcome.tables = batched.keep_measured_range(self.run_dir / job["job_dir"], outcome.tables,
                                                             job["job_id"], target.measured_range)
                problem = profiler.check(outcome.tables, self.run_dir / job["job_dir"])
                if problem:
                    outcome.status, outcome.error = "failed", problem
            self._record(store, job, outcome)

    def _record(self, store: Store, job: dict, outcome: JobOutcome) -> None:
        status = _settle(store, job, self.run_dir, outcome)
        self.on_event(status if status != "pending" else "retry", job, outcome.error)

    def _internal_error(self, store: Store, job: dict, exc: Exception, batched: bool) -> None:
        job_dir = self.run_dir / job["job_dir"]
        job_dir.mkdir(parents=True, exist_ok=True)
        with open(job_dir / LOG_FILE, "a") as log:
            log.write("flashsight: internal error while running this job:\n" + traceback.format_exc())
        message = str(exc) if isinstance(exc, FlashsightError) else f"internal error: {type(exc).__name__}: {exc}"
        if batched:  # whatever broke around the batch, the job still gets its own run
            store.requeue(job, solo=True, reason=message)
            self.on_event("fallback", job, message)
        else:
            self._record(store, job, JobOutcome(tool=job["tool"], status="failed", duration_s=0.0, error=message))


def _settle(store: Store, job: dict, run_dir: Path, outcome: JobOutcome) -> str:
    """outcome.json first (with the attempt's token), then the store: a kill in between is adopted on resume."""
    job_dir = run_dir / job["job_dir"]
    log_tail = tail(job_dir / LOG_FILE, 20) if outcome.status != "succeeded" else None
    record = {"token": job["token"], "status": outcome.status, "duration_s": outcome.duration_s,
              "error": outcome.error, "log_tail": log_tail, "tables": outcome.tables}
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
