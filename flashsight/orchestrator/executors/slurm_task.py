"""What runs on a Slurm node: one task of a sweep, i.e. a few claimed jobs (one batch, or one job), run by the local
executor's JobRunner with a book of outcome files in place of the store: the node never opens sweep.db.

The driver hands `run_task` and its arguments to submitit, which pickles them into the run directory; the node
needs the same Python, flashsight and workload files at the same paths, and the run directory on a shared
filesystem. Each job's outcome.json (with its attempt's token) is the whole record the driver adopts.

Signals: Slurm sends SIGTERM when the task is cancelled, preempted or its node is taken down, and SIGUSR2 shortly
before its time limit (sbatch --signal, set by submitit). It signals every process of the task, the job's own
tree included. Either signal ends the running job at once; at the time limit that job ends timed_out (an attempt
counted, retried as the plan allows); otherwise the unfinished jobs get no outcome and the driver submits them
again, their attempts not counted.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

from flashsight.orchestrator.executors.local import JobRunner
from flashsight.orchestrator.job import JobOutcome
from flashsight.schema.layout import OUTCOME_FILE

# How run_job describes a job whose process Slurm's own signal ended before this task's handler ran.
_SIGNALLED = ("killed by SIGTERM", "killed by SIGUSR2", "killed by SIGKILL", "killed by SIGCONT")


def run_task(run_dir: str, claimed: list[dict], time_limit_min: int) -> dict:
    """Run the claimed jobs here. Returns what the outcome files cannot say (submitit pickles it for the driver):
    {"interrupted": {job_id: [reason, solo]}, "refused": [job_id]}."""
    run_dir = Path(run_dir)
    runner = TaskRunner(run_dir, _slurm_task_id(), time_limit_min)
    previous = runner.listen()
    try:
        book = TaskBook(run_dir, runner)
        todo = []
        for job in claimed:
            if book.settled_before(job):  # a requeued task: this attempt has its outcome, never run it again
                book.refused.append(job["job_id"])
                print(f"flashsight: {job['job_id']} already has this attempt's outcome: not run again", flush=True)
            else:
                todo.append(job)
        env = {"PYTHONUNBUFFERED": "1"}  # Slurm sets CUDA_VISIBLE_DEVICES to the task's GPUs
        if todo:
            book.track(todo)
            runner.run(book, todo, env)
        while book.solo:  # a batch's configs that must run alone, as the local executor would later
            job = book.solo.pop(0)
            if runner.abort.is_set():
                book.interrupted[job["job_id"]] = [runner.stop_cause, True]
                continue
            runner.run(book, [job], env)
        return {"interrupted": book.interrupted, "refused": book.refused}
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _slurm_task_id() -> str:
    array, index = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{index}" if array and index else os.environ.get("SLURM_JOB_ID", "?")


class TaskRunner(JobRunner):
    """JobRunner, stopped by Slurm's signals instead of Ctrl-C."""

    def __init__(self, run_dir: Path, task_id: str, time_limit_min: int):
        super().__init__(run_dir, threading.Event(), on_event=self._print)
        self.task_id, self.time_limit_min = task_id, time_limit_min
        self.at_limit = False
        self.stop_cause = "the task was stopped"

    def listen(self) -> dict:
        """Replace submitit's handlers (it would requeue the task itself on USR2, and run on after SIGTERM);
        returns the previous ones."""
        return {signal.SIGTERM: signal.signal(signal.SIGTERM, self._stopped),
                signal.SIGUSR2: signal.signal(signal.SIGUSR2, self._limit)}

    def _stopped(self, signum, frame) -> None:  # cancelled, preempted, node going down
        print("flashsight: SIGTERM from Slurm: stopping the running job", flush=True)
        if not self.abort.is_set():
            self.stop_cause = "SIGTERM from Slurm (cancelled, preempted, or its node going down)"
        self.abort.set()

    def _limit(self, signum, frame) -> None:
        if not self.abort.is_set():  # after a SIGTERM it is a preemption, not the time limit
            print("flashsight: SIGUSR2 from Slurm: the time limit is near, ending the running job", flush=True)
            self.at_limit = True
            self.stop_cause = "SIGUSR2 from Slurm: its time limit was near"
            self.abort.set()

    def _watch(self) -> str | None:
        if self.abort.is_set():
            return "timeout" if self.at_limit else "interrupted"
        return None

    def _run_job(self, *args, **kwargs) -> JobOutcome:
        outcome = super()._run_job(*args, **kwargs)
        # Slurm signals the job's processes too: one may die of it before our handler has run.
        if outcome.status == "failed" and (outcome.error or "").startswith(_SIGNALLED) and self.abort.wait(2.0):
            outcome.status = "timed_out" if self.at_limit else "interrupted"
        return outcome

    def _record(self, store, job: dict, outcome: JobOutcome) -> None:
        if outcome.status == "timed_out" and self.at_limit:
            outcome.error = (f"the Slurm task {self.task_id} reached its time limit ({self.time_limit_min} min): "
                             f"{outcome.error}")
        super()._record(store, job, outcome)

    def _print(self, kind: str, job: dict, detail: str | None) -> None:
        print(f"flashsight: {kind} {job['job_id']}" + (f": {detail}" if detail else ""), flush=True)


class TaskBook:
    """The Store methods JobRunner calls, for a task: settle() has already written the outcome file when finish()
    is called, so finishing records nothing more; a requeue becomes a solo rerun in this task (a batch fallback)
    or a line of the report (interrupted: the driver submits it again)."""

    def __init__(self, run_dir: Path, runner: TaskRunner):
        self.run_dir, self.runner, self.abort = run_dir, runner, runner.abort
        self.jobs: dict[str, dict] = {}
        self.ended: set[str] = set()  # settled or handed back
        self.solo: list[dict] = []
        self.interrupted: dict[str, list] = {}
        self.refused: list[str] = []
        self.fallbacks: dict[str, str] = {}

    def settled_before(self, job: dict) -> bool:
        try:
            outcome = json.loads((self.run_dir / job["job_dir"] / OUTCOME_FILE).read_text())
        except (OSError, ValueError):
            return False
        return outcome.get("token") == job["token"]

    def track(self, jobs: list[dict]) -> None:
        self.jobs.update({job["job_id"]: job for job in jobs})

    def set_batch(self, job_ids: list[str], batch_id: str) -> None:
        for job_id in job_ids:  # settle() writes it into each outcome, and the driver adopts it from there
            self.jobs[job_id]["batch_id"] = batch_id

    def finish(self, job: dict, status: str, **_) -> str:
        self.ended.add(job["job_id"])
        return status  # whether it is retried is the driver's call (store.finish)

    def requeue(self, job: dict, *, solo: bool, reason: str, kind: str | None = None) -> None:
        if solo and not self.abort.is_set() and job["job_id"] not in self.fallbacks:
            self.fallbacks[job["job_id"]] = reason
            job["batch_id"], job["solo"] = None, 1
            self.solo.append(job)
            return
        self.ended.add(job["job_id"])
        self.interrupted[job["job_id"]] = [self.runner.stop_cause if self.abort.is_set() else reason, solo]

    def is_current(self, job: dict) -> bool:
        return job["job_id"] not in self.ended and job not in self.solo
