"""The local executor (the default): one worker thread per GPU, each claiming the next job (or batch) from the store
and running it here. JobRunner, which runs claimed jobs on this machine and settles them, is also what a Slurm
task runs on its node (slurm_task.py), with a book of outcome files in place of the store.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from pathlib import Path

from flashsight.errors import FlashsightError, InputError
from flashsight.orchestrator import batched
from flashsight.orchestrator.executors.base import Executor
from flashsight.orchestrator.job import JobOutcome, run_job
from flashsight.orchestrator.runner import settle
from flashsight.orchestrator.state import Store
from flashsight.orchestrator.targets import resolve_target
from flashsight.profilers import ToolOptions, get_profiler
from flashsight.schema.layout import BATCHES_DIR, LOG_FILE, OUTCOME_FILE, STATE_FILE


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, gpus: list[str] | None = None):
        self.gpus = gpus  # None: one worker, CUDA_VISIBLE_DEVICES left as it is

    def keeps(self, job: dict) -> bool:
        if job.get("task_id"):
            raise InputError(f"job {job['job_id']} was left with Slurm task {job['task_id']}, which may still run: "
                             "resume this sweep with --executor slurm (it adopts or settles its tasks)")
        return False

    def start(self, sweep) -> list[threading.Thread]:
        workers = [threading.Thread(target=self._worker, args=(sweep, gpu), name=f"gpu{gpu}", daemon=True)
                   for gpu in (self.gpus or [None])]
        for worker in workers:
            worker.start()
        return workers

    def _worker(self, sweep, gpu: str | None) -> None:
        store = Store(sweep.run_dir / STATE_FILE)
        runner = JobRunner(sweep.run_dir, sweep.abort, sweep.on_event)
        name = f"gpu{gpu}" if gpu is not None else "w0"
        env = {"PYTHONUNBUFFERED": "1"} | ({"CUDA_VISIBLE_DEVICES": gpu} if gpu is not None else {})
        try:
            while not sweep.abort.is_set():
                if not sweep.disk_ok():
                    return
                claimed = store.claim(name, sweep.batch_size)
                if not claimed:
                    if not store.running():
                        return
                    time.sleep(0.5)  # another worker's job may still fail and come back for a retry
                    continue
                runner.run(store, claimed, env)
                sweep.refresh_outputs(store)
        finally:
            store.close()


class JobRunner:
    """Runs claimed jobs on this machine, alone or batched, and settles each through `store`: the sweep's Store
    (local executor), or a Slurm task's book of outcome files (slurm_task.TaskBook), which has the same methods."""

    def __init__(self, run_dir: Path, abort: threading.Event, on_event=None):
        self.run_dir = Path(run_dir)
        self.abort = abort
        self.on_event = on_event or (lambda kind, job, detail: None)

    def run(self, store, claimed: list[dict], env: dict) -> None:
        try:
            self._run_claimed(store, claimed, env)
        except Exception as exc:  # a bug or a parser failure must not end an overnight sweep
            for job in claimed:
                if store.is_current(job):  # not yet settled
                    self._internal_error(store, job, exc, batched=len(claimed) > 1)

    def _run_job(self, *args, **kwargs) -> JobOutcome:
        return run_job(*args, **kwargs)

    def _watch(self) -> str | None:
        """Polled while a job runs: a reason ends it early (see procs.run_logged)."""
        return "interrupted" if self.abort.is_set() else None

    def _run_claimed(self, store, claimed: list[dict], env: dict) -> None:
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
            outcome = self._run_job(target, tool, self.run_dir / job["job_dir"], timeout_s=job["timeout_s"],
                                    options=options, extra_env=env, watch=self._watch)
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

    def _record(self, store, job: dict, outcome: JobOutcome) -> None:
        status = settle(store, job, self.run_dir, outcome)
        self.on_event(status if status != "pending" else "retry", job, outcome.error)

    def _internal_error(self, store, job: dict, exc: Exception, batched: bool) -> None:
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
