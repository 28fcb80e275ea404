"""One job: a workload config launched under one tool (nsys, ncu or none), its artifacts kept and parsed.

Layout of a job directory:
    job.log            the workload's and the tools' output
    result.json        the workload's own timing, rates and correctness (written by the workload)
    profile.nsys-rep / profile.sqlite      (nsys)   profile.ncu-rep   (ncu)
    <table>.parquet    the parsed canonical tables
    job.json           what ran, how it ended, and which tables it produced
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flashsight.errors import FlashsightError, WorkloadError
from flashsight.host import gpu_state, procs
from flashsight.host.files import write_json, write_tables
from flashsight.orchestrator.targets import Target
from flashsight.profilers import ToolOptions, get_profiler
from flashsight.schema.contract import JOB_DIR_ENV, PARAMS_ENV, PROFILER_ENV
from flashsight.schema.layout import CONDITIONS_FILE, JOB_FILE, LOG_FILE, RESULT_FILE


@dataclass
class JobOutcome:
    tool: str
    status: str  # succeeded | failed | timed_out | interrupted (stopped by the orchestrator: not the job's fault)
    duration_s: float
    error: str | None = None
    artifacts: list[str] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows
    result: dict | None = None


def _child_env(target: Target, job_dir: Path, profiler) -> dict[str, str]:
    return procs.flashsight_env(**{PARAMS_ENV: json.dumps(target.params), JOB_DIR_ENV: str(job_dir),
                                   PROFILER_ENV: profiler.name if profiler.captures else ""})


def run_job(target: Target, tool: str, job_dir: Path, *, timeout_s: float | None = None,
            options: ToolOptions | None = None, extra_env: dict[str, str] | None = None, watch=None) -> JobOutcome:
    """Launch, wait (killing the whole tree on timeout), parse. Never raises for a failing workload.

    watch: see procs.run_logged (the sweep uses it to stop a job on Ctrl-C and to time out batch configs).
    """
    profiler = get_profiler(tool)
    profiler.require()
    job_dir = Path(job_dir).resolve()
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / RESULT_FILE).unlink(missing_ok=True)  # a result left by an earlier attempt is not this one's
    env = _child_env(target, job_dir, profiler) | (extra_env or {})
    started = time.monotonic()
    argv = profiler.argv(target.argv, job_dir, target.nvtx_includes, options or ToolOptions())
    before = gpu_state.sample(env.get("CUDA_VISIBLE_DEVICES"))
    with profiler.around_run(job_dir):
        done = procs.run_logged(argv, job_dir / LOG_FILE, timeout_s=timeout_s, env=env, cwd=job_dir, watch=watch,
                                guard=True)
    after = gpu_state.sample(env.get("CUDA_VISIBLE_DEVICES"))
    write_conditions(job_dir, tool, profiler.conditions(argv), before, after)
    outcome = JobOutcome(tool=tool, status="succeeded", duration_s=0.0)
    if not done.ok:
        outcome.status = "timed_out" if done.timed_out else ("interrupted" if done.stopped else "failed")
        outcome.error = f"{done.describe_failure()}: {_last_error_line(done.log_tail(40))}"
    else:
        try:
            tables, artifacts = profiler.read(job_dir)
            write_tables(tables, job_dir)
            outcome.tables = {name: len(df) for name, df in tables.items()}
            outcome.artifacts = [str(p) for p in artifacts]
            problem = profiler.check(outcome.tables, job_dir)
            if problem:
                outcome.status, outcome.error = "failed", problem
        except FlashsightError as exc:
            outcome.status, outcome.error = "failed", str(exc)
    result_path = job_dir / RESULT_FILE
    if result_path.exists():
        try:
            outcome.result = json.loads(result_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # a user's workload wrote something else
            outcome.status, outcome.error = "failed", f"{result_path} is not valid JSON ({exc})"
    elif outcome.status == "succeeded" and target.measured_range is not None:
        outcome.status, outcome.error = "failed", "the workload exited 0 but wrote no result.json"
    outcome.duration_s = time.monotonic() - started
    write_json({"workload": target.workload, "params": target.params, **asdict(outcome)}, job_dir / JOB_FILE)
    return outcome


def write_conditions(job_dir: Path, tool: str, imposed: dict, before: dict, after: dict, **more) -> Path:
    """conditions.json: what the tool imposed (ncu's clock/cache control) and the GPU's state around the job."""
    record = {"scope": "job", "tool": tool, **imposed, "throttled": gpu_state.throttled(before, after),
              "before": before, "after": after, **more}
    return write_json(record, Path(job_dir) / CONDITIONS_FILE)


def _last_error_line(log_tail: str) -> str:
    """The most telling line of a failed job's log: flashsight's own error, a Python exception, or the last."""
    lines = [line.strip() for line in log_tail.splitlines() if line.strip()]
    for marker in ("flashsight: error:", "Error:", "error:", "ERROR"):
        hits = [line for line in lines if marker in line]
        if hits:
            return hits[-1]
    return lines[-1] if lines else "no output"


def raise_for(outcome: JobOutcome, job_dir: Path) -> None:
    """For single-job commands: turn a failed outcome into the one-line error the CLI prints."""
    if outcome.status != "succeeded":
        what = f"{outcome.tool} job" if get_profiler(outcome.tool).captures else "workload"
        raise WorkloadError(f"{what} {outcome.status}: {outcome.error} (log: {job_dir / LOG_FILE})")
