"""The Slurm executor: the sweep's jobs run as Slurm tasks, submitted through submitit and watched by this driver.

The driver claims the pending jobs in the store (one task per batch, or per job with --mode process), submits
them as one job array (`sbatch --array=0-N%P`), keeps each attempt's Slurm id in the store, and adopts each job's
outcome.json as soon as its task writes it (slurm_task.py runs on the node; it never opens sweep.db). A task
that ended without an outcome for some job settles it by its Slurm state:

    CANCELLED PREEMPTED NODE_FAIL BOOT_FAIL DEADLINE   lost: pending again, its attempt not counted (after
                                                       MAX_LOST losses it fails instead: nothing loops forever)
    TIMEOUT                                            timed_out: an attempt, retried as the plan allows
    FAILED OUT_OF_MEMORY COMPLETED                     failed: an attempt, with the task's log tail

Tasks are submitted with --no-requeue: Slurm never reruns one by itself, flashsight does (a new attempt, a new
token), so two tasks never hold the same attempt. A task requeued anyway (an administrator's doing) is waited
for, and on its second run refuses every job whose attempt already has its outcome.

Killed (SIGKILL, a lost login node), the driver leaves its tasks running: --resume re-attaches to every task the
store names (its id is written before sbatch as the submission's job name, and after it as the id) and adopts
what the finished ones left. Stopped (Ctrl-C, SIGTERM, low disk), it cancels its tasks; their unfinished jobs
are pending again.
"""

from __future__ import annotations

import getpass
import math
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
import traceback
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flashsight.errors import ParamError, ToolError
from flashsight.host.procs import flashsight_env, tail
from flashsight.orchestrator.executors.base import Executor
from flashsight.orchestrator.job import JobOutcome
from flashsight.orchestrator.runner import _read_json, adopt_finished, adopt_outcome, settle
from flashsight.orchestrator.state import Store
from flashsight.schema.layout import LOG_FILE, OUTCOME_FILE, SLURM_DIR, STATE_FILE

FINAL = {"COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "CANCELLED", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL",
         "DEADLINE", "REVOKED"}
LOST = {"CANCELLED", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "REVOKED", "VANISHED"}
MAX_LOST = 3
MAX_ARRAY = 1000  # tasks per sbatch: Slurm's default MaxArraySize is 1001
SUBMITTING = "submitting:"  # a task id written before sbatch: submitting:<job name>:<index>:<tasks>
OUTCOME_POLL_S = 1.0  # outcome files are looked for this often
UNKNOWN_GRACE_S = 120  # a task neither sacct nor squeue knows after this long is lost
STOP_WAIT_S = 60  # after Ctrl-C, how long the cancelled tasks may take to end
DRAIN_WAIT_S = 30  # at the end, how long finished tasks may take to leave the queue before they are cancelled
SBATCH_TRIES = 5  # sbatch failing this many times in a row stops the sweep (once is enough when nothing runs)
SBATCH_BACKOFF_S = 30  # ... and between tries, this long times the failures so far


def sacct_every_s() -> float:
    """How often sacct is asked (FLASHSIGHT_SLURM_POLL_S; default 15 s, tests use 1)."""
    return float(os.environ.get("FLASHSIGHT_SLURM_POLL_S", "15"))


@dataclass
class SlurmOptions:
    partition: str | None = None
    gpus_per_task: int = 1
    cpus_per_task: int | None = None
    time: str | None = None  # sbatch --time; None: the task's jobs' timeouts added up, plus 5 minutes
    array_parallelism: int | None = None  # at most this many tasks at once (None: submitit's 256)
    sbatch: dict = field(default_factory=dict)  # other sbatch options: {"account": "kern", "exclusive": True}

    def __post_init__(self):
        if self.gpus_per_task is None or self.gpus_per_task < 0:
            raise ParamError(f"--gpus-per-task {self.gpus_per_task}: expected 0 or more")
        if self.cpus_per_task is not None and self.cpus_per_task < 1:
            raise ParamError(f"--cpus-per-task {self.cpus_per_task}: expected 1 or more")
        if self.array_parallelism is not None and self.array_parallelism < 1:
            raise ParamError(f"--array-parallelism {self.array_parallelism}: expected 1 or more")
        if self.time is not None:
            self.time = str(self.time)
            slurm_minutes(self.time)
        self.sbatch = {str(k): (v if v is True else str(v)) for k, v in (self.sbatch or {}).items()}  # True: a flag


def slurm_minutes(text: str) -> int:
    """sbatch --time (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) in whole minutes, rounded up."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not match:
        raise ParamError(f"--time {text!r}: expected minutes or Slurm's [D-]H:M:S form (e.g. 90, 2:00:00, 1-0)")
    days, a, b, c = match.groups()
    if days is not None:  # D-H, D-H:M, D-H:M:S
        seconds = int(days) * 86400 + int(a) * 3600 + int(b or 0) * 60 + int(c or 0)
    elif c is not None:  # H:M:S
        seconds = int(a) * 3600 + int(b) * 60 + int(c)
    elif b is not None:  # M:S
        seconds = int(a) * 60 + int(b)
    else:  # M
        seconds = int(a) * 60
    if seconds <= 0:
        raise ParamError(f"--time {text!r}: must be more than zero")
    return math.ceil(seconds / 60)


class SlurmExecutor(Executor):
    name = "slurm"

    def __init__(self, options: SlurmOptions | None = None):
        self.options = options or SlurmOptions()
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise ToolError("--executor slurm needs submitit: pip install 'flashsight[cluster]'") from None
        missing = [tool for tool in ("sbatch", "srun", "squeue", "sacct", "scancel") if shutil.which(tool) is None]
        if missing:
            raise ToolError(f"--executor slurm: {', '.join(missing)} not found on PATH (run the sweep where Slurm's "
                            "commands work, e.g. on a login node)")

    def describe(self) -> dict:
        return {"name": self.name, **asdict(self.options)}

    def keeps(self, job: dict) -> bool:
        return bool(job.get("task_id"))  # its task may still run: the driver re-attaches to it

    def start(self, sweep) -> list[threading.Thread]:
        thread = threading.Thread(target=_Driver(self.options, sweep).run, name="slurm", daemon=True)
        thread.start()
        return [thread]


@dataclass
class _Task:
    handle: object  # submitit.SlurmJob
    jobs: list[dict]  # the task's jobs whose outcome is not adopted yet
    minutes: int | None  # its time limit (None: re-attached after a restart)
    seen: float = field(default_factory=time.monotonic)
    final_since: float | None = None

    @property
    def id(self) -> str:
        return self.handle.job_id


class _Driver:
    """One sweep's Slurm tasks, from submission to the last adopted outcome, in the executor's thread."""

    def __init__(self, options: SlurmOptions, sweep):
        self.options, self.sweep = options, sweep
        self.run_dir = Path(sweep.run_dir).resolve()  # the nodes see the same absolute path
        self.folder = self.run_dir / SLURM_DIR / "%j"
        self.tasks: dict[str, _Task] = {}
        self.cancelled: set[str] = set()
        self.last_sacct = float("-inf")
        self.sacct_every = sacct_every_s()
        self.sbatch_failures, self.next_submit = 0, 0.0

    def run(self) -> None:
        self.store = Store(self.run_dir / STATE_FILE)
        try:
            self.prefix = self._name_prefix()
            self._reattach()
            while not self.sweep.abort.is_set():
                submitted = self._submit_pending() if self.sweep.disk_ok() else 0
                changed = self._poll()
                if changed or submitted:
                    self.sweep.refresh_outputs(self.store)
                if not self.tasks and not submitted and not self.sbatch_failures:
                    break
                self.sweep.abort.wait(OUTCOME_POLL_S)
            if self.sweep.abort.is_set():
                self._stop_all()
            if not self.tasks:
                self._drain()
        except Exception as exc:  # a bug here must not leave the sweep looking finished: stop it, and say why
            log = self.run_dir / SLURM_DIR / "driver.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "a") as f:
                f.write(traceback.format_exc())
            self.sweep.stop(f"the Slurm driver stopped: {type(exc).__name__}: {exc} (see {log}); --resume continues")
        finally:
            self.store.close()

    # -- submission ------------------------------------------------------------------------------------

    def _name_prefix(self) -> str:
        """Every task of this sweep is named fs-<sweep>-<submission>: found again after a restart, and at the end."""
        sweep_id = self.store.meta("slurm_sweep_id")
        if sweep_id is None:
            sweep_id = uuid.uuid4().hex[:8]
            self.store.set_meta("slurm_sweep_id", sweep_id)
        return f"fs-{sweep_id}-"

    def _submit_pending(self) -> int:
        if time.monotonic() < self.next_submit:  # sbatch failed a moment ago
            return 0
        groups = []
        while len(groups) < MAX_ARRAY and (claimed := self.store.claim("slurm", self.sweep.batch_size)):
            groups.append(claimed)
        if groups:
            self._submit(groups)
        return len(groups)

    def _submit(self, groups: list[list[dict]]) -> None:
        import submitit

        from flashsight.orchestrator.executors.slurm_task import run_task

        name = self.prefix + uuid.uuid4().hex[:8]
        for index, group in enumerate(groups):  # first the intent: a kill during sbatch must not lose the task
            self.store.set_task(group, f"{SUBMITTING}{name}:{index}:{len(groups)}", event=False)
        minutes = slurm_minutes(self.options.time) if self.options.time else math.ceil(
            max(sum(job["timeout_s"] for job in group) for group in groups) / 60) + 5
        executor = submitit.SlurmExecutor(folder=self.folder)
        executor.update_parameters(**self._parameters(name, minutes))
        try:
            with executor.batch():
                handles = [executor.submit(run_task, str(self.run_dir), group, minutes) for group in groups]
        except Exception as exc:  # sbatch refused: a wrong partition or account, a full queue, a busy controller
            reason = f"sbatch failed: {_telling_line(str(exc))}"
            for group in groups:
                for job in group:
                    self.store.requeue(job, solo=bool(job["solo"]), reason=reason)
            self.sbatch_failures += 1
            if not self.tasks or self.sbatch_failures >= SBATCH_TRIES:  # nothing runs: say so now
                self.sweep.stop(reason)
            self.next_submit = time.monotonic() + SBATCH_BACKOFF_S * self.sbatch_failures
            return
        self.sbatch_failures = 0
        for group, handle in zip(groups, handles):
            self.store.set_task(group, handle.job_id)
            self.tasks[handle.job_id] = _Task(handle, list(group), minutes)

    def _parameters(self, name: str, minutes: int) -> dict:
        extra = {"no-requeue": True} | self.options.sbatch
        if "requeue" in extra:  # the user asked for Slurm's requeues: then tasks may run twice, and refuse to
            extra.pop("no-requeue")
        params = {"job_name": name, "time": minutes, "signal_delay_s": min(90, max(10, minutes * 15)),
                  "stderr_to_stdout": True, "additional_parameters": extra,
                  "setup": [f"export PYTHONPATH={shlex.quote(flashsight_env()['PYTHONPATH'])}"]}
        for key in ("partition", "gpus_per_task", "cpus_per_task", "array_parallelism"):
            if getattr(self.options, key):
                params[key] = getattr(self.options, key)
        return params

    # -- after a restart -------------------------------------------------------------------------------

    def _reattach(self) -> None:
        """The tasks a dead driver left: watch them again (recover left their jobs running for us)."""
        import submitit

        by_task = defaultdict(list)
        for job in self.store.running():
            if job.get("task_id"):
                by_task[job["task_id"]].append(job)
        for task_id, jobs in by_task.items():
            if task_id.startswith(SUBMITTING):
                task_id = self._submitted_as(task_id)
                if task_id is None:
                    for job in jobs:
                        self.store.requeue(job, solo=bool(job["solo"]),
                                           reason="the driver stopped before its Slurm task was submitted")
                    continue
                self.store.set_task(jobs, task_id)
            self.tasks[task_id] = _Task(submitit.SlurmJob(folder=self.folder, job_id=task_id), jobs, None)

    def _submitted_as(self, intent: str) -> str | None:
        """The Slurm id of a submission the driver did not live to record (None: sbatch never took it)."""
        name, index, count = intent.removeprefix(SUBMITTING).rsplit(":", 2)
        for argv in (["squeue", "-h", "-r", "--name", name, "-o", "%i"],
                     ["sacct", "-X", "-n", "-P", "--name", name, "-S", "now-30days", "-o", "JobID"]):
            ids = _slurm(argv).split()
            if ids:
                base = ids[0].split("_")[0]
                return f"{base}_{index}" if int(count) > 1 else base
        return None

    # -- watching --------------------------------------------------------------------------------------

    def _poll(self, sacct_every: float | None = None) -> bool:
        """Adopt the outcomes tasks wrote; settle the tasks that ended. Returns whether anything changed."""
        import submitit

        now = time.monotonic()
        if self.tasks and now - self.last_sacct >= (sacct_every or self.sacct_every):
            submitit.SlurmJob.watcher.update()  # one sacct for every task of this sweep
            self.last_sacct = now
        changed = False
        for task in list(self.tasks.values()):
            state = _state(task.handle)
            for job in list(task.jobs) if state != "PENDING" else ():  # a queued array's files are not looked at
                status = adopt_outcome(self.store, job, self.run_dir)
                if status is not None:
                    task.jobs.remove(job)
                    self._tell(job, status)
                    changed = True
            if not task.jobs:
                del self.tasks[task.id]
                continue
            if state not in FINAL and not self._vanished(task, state):
                continue
            # A final state can come before the outcome files are visible here (NFS caches directories).
            task.final_since = task.final_since or now
            if now - task.final_since < 2 * (sacct_every or self.sacct_every):
                for job in task.jobs:
                    _refresh_dir(self.run_dir / job["job_dir"])
                continue
            self._settle_task(task, state if state in FINAL else "VANISHED")
            del self.tasks[task.id]
            changed = True
        return changed

    def _vanished(self, task: _Task, state: str) -> bool:
        if state != "UNKNOWN" or time.monotonic() - task.seen < UNKNOWN_GRACE_S:
            return False
        return not _slurm(["squeue", "-h", "-r", "-j", task.id, "-o", "%i"]).strip()

    def _settle_task(self, task: _Task, state: str) -> None:
        """A task ended and some of its jobs have no outcome: adopt what they left, else settle them by the state."""
        if state in LOST:  # should it come back anyway (requeued against --no-requeue), it must not run
            _slurm(["scancel", task.id])
        report = _read_report(task.handle)
        interrupted = (report or {}).get("interrupted", {})
        never_started = state == "FAILED" and not task.handle.paths.submitted_pickle.exists()
        for job in task.jobs:
            status = adopt_finished(self.store, job, self.run_dir)
            if status is not None:
                self._tell(job, status)
            elif task.id in self.cancelled:
                self.store.requeue(job, solo=bool(job["solo"]), reason="the sweep was stopped")
                self.sweep.on_event("interrupted", job, None)
            elif job["job_id"] in interrupted:
                reason, solo = interrupted[job["job_id"]]
                self._lost(job, task, f"Slurm task {task.id} ended {state}: {reason}", solo=solo)
            elif state in LOST or never_started:
                self._lost(job, task, f"Slurm task {task.id} ended {state}"
                           + (" before it got its jobs" if never_started else ""), solo=bool(job["solo"]))
            elif state == "TIMEOUT":
                limit = f" ({task.minutes} min)" if task.minutes else ""
                self._charge(job, task, "timed_out", f"the Slurm task {task.id} reached its time limit{limit} "
                                                     "before this job ended")
            else:
                self._charge(job, task, "failed", f"the Slurm task {task.id} ended {state} before this job's outcome")

    def _lost(self, job: dict, task: _Task, reason: str, solo: bool) -> None:
        """Not the job's fault: pending again, its attempt not counted; the MAX_LOST-th loss is a failure."""
        losses = self.store.count_events(job["job_id"], "lost") + 1
        if losses >= MAX_LOST:
            self._charge(job, task, "failed", f"{reason} (lost {losses} times: counted as a failure)")
            return
        _note(self.run_dir / job["job_dir"], f"flashsight: {reason}: pending again (not counted as an attempt)")
        self.store.requeue(job, solo=solo, reason=reason, kind="lost")
        self.sweep.on_event("interrupted", job, reason)

    def _charge(self, job: dict, task: _Task, status: str, error: str) -> None:
        """An attempt that ended without its outcome: written here (the task's log tail into job.log first)."""
        log = Path(task.handle.paths.stdout)
        _note(self.run_dir / job["job_dir"], f"flashsight: {error}\n--- {log}, last lines:\n{tail(log, 15)}")
        settled = settle(self.store, job, self.run_dir, JobOutcome(tool=job["tool"], status=status,
                                                                   duration_s=0.0, error=error))
        self.sweep.on_event(settled if settled != "pending" else "retry", job, error)

    def _tell(self, job: dict, status: str) -> None:
        error = (_read_json(self.run_dir / job["job_dir"] / OUTCOME_FILE) or {}).get("error")
        self.sweep.on_event(status if status != "pending" else "retry", job, error)

    # -- the end ---------------------------------------------------------------------------------------

    def _stop_all(self) -> None:
        """Ctrl-C, SIGTERM or low disk: cancel every task; their unfinished jobs are pending again."""
        if not self.tasks:
            return
        self.cancelled.update(self.tasks)
        _slurm(["scancel", *self.tasks])
        deadline = time.monotonic() + STOP_WAIT_S
        while self.tasks and time.monotonic() < deadline:
            self._poll(sacct_every=1.0)
            time.sleep(0.5)
        # Tasks still there stay `running` in the store: a --resume adopts them.

    def _drain(self) -> None:
        """Every job is settled: wait for this sweep's tasks to leave the queue; cancel what lingers."""
        deadline = time.monotonic() + DRAIN_WAIT_S
        while (left := self._queued()) and time.monotonic() < deadline:
            time.sleep(1.0)
        if left:
            _slurm(["scancel", *left])

    def _queued(self) -> list[str]:
        out = _slurm(["squeue", "-h", "-r", "-u", getpass.getuser(), "-o", "%i|%j"])
        return [line.split("|")[0] for line in out.splitlines() if line.split("|")[-1].startswith(self.prefix)]


def _state(handle) -> str:
    """The task's Slurm state from submitit's last sacct (UNKNOWN: not in it yet). Array tasks that never started
    have no record of their own: sacct shows them as the array's remainder, under the bare array id."""
    state = handle.watcher.get_state(handle.job_id, mode="cache")
    if state == "UNKNOWN" and "_" in handle.job_id:
        state = handle.watcher.get_state(handle.job_id.split("_")[0], mode="cache")
    return state.split()[0]  # "CANCELLED by 0" -> CANCELLED


def _slurm(argv: list[str]) -> str:
    """A Slurm client command's stdout ('' when it fails: the caller decides what no answer means)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _read_report(handle) -> dict | None:
    """What run_task returned (submitit's result pickle), if the task lived to write it."""
    from submitit.core.utils import pickle_load

    path = Path(handle.paths.result_pickle)
    try:
        kind, value = pickle_load(path)
    except Exception:  # absent or cut off: the task was killed
        return None
    return value if kind == "success" and isinstance(value, dict) else None


def _note(job_dir: Path, text: str) -> None:
    job_dir.mkdir(parents=True, exist_ok=True)
    with open(job_dir / LOG_FILE, "a") as log:
        log.write(text.rstrip("\n") + "\n")


def _refresh_dir(path: Path) -> None:
    """Make an NFS client look again (submitit does the same for its result files)."""
    try:
        os.chmod(path, os.stat(path).st_mode)
    except OSError:
        pass


def _telling_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower():
            return line
    return lines[0] if lines else "no message"
