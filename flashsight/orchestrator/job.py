"""One job: a workload config launched under one tool (nsys, ncu or none), its artifacts kept and parsed.

Layout of a job directory:
    job.log            the workload's and the tools' output
    result.json        the workload's own timing, rates and correctness (written by the workload)
    profile.nsys-rep / profile.sqlite      (nsys)   profile.ncu-rep   (ncu)
    <table>.parquet    the parsed canonical tables
    job.json           what ran, how it ended, and which tables it produced
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flashsight.errors import FlashsightError, ToolError, WorkloadError
from flashsight.orchestrator import procs, tools
from flashsight.orchestrator.targets import Target
from flashsight.outputs.writers import write_json, write_tables
from flashsight.workloads.harness import JOB_DIR_ENV, PARAMS_ENV, PROFILER_ENV, RESULT_FILE

TOOLS = ("none", "nsys", "ncu")
LOG_FILE, JOB_FILE, REPORT_STEM = "job.log", "job.json", "profile"


@dataclass
class NcuOptions:
    set: str | None = None  # ncu --set (e.g. "full"); None: flashsight's lean section list
    sections: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()


@dataclass
class JobOutcome:
    tool: str
    status: str  # succeeded | failed | timed_out | interrupted (stopped by the orchestrator: not the job's fault)
    duration_s: float
    error: str | None = None
    artifacts: list[str] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows
    result: dict | None = None


def _child_env(target: Target, job_dir: Path, tool: str) -> dict[str, str]:
    return procs.flashsight_env(**{PARAMS_ENV: json.dumps(target.params), JOB_DIR_ENV: str(job_dir),
                                   PROFILER_ENV: "" if tool == "none" else tool})


def _profiled_argv(target: Target, job_dir: Path, tool: str, ncu: NcuOptions) -> list[str]:
    stem = job_dir / REPORT_STEM
    if tool == "nsys":
        from flashsight.orchestrator.nsys import nsys_profile_argv

        return nsys_profile_argv(stem, target.argv)
    if tool == "ncu":
        from flashsight.orchestrator.ncu import ncu_profile_argv

        return ncu_profile_argv(stem, target.argv, nvtx_includes=target.nvtx_includes, ncu_set=ncu.set,
                                sections=ncu.sections, metrics=ncu.metrics) + list(ncu.extra_args)
    return list(target.argv)


def _ending_left_behind_agents(tool: str, job_dir: Path):
    """nsys can leave its `--start-agent` daemon behind (outside the job's process group): end this job's, by pid."""
    if tool != "nsys":
        return contextlib.nullcontext()
    from flashsight.orchestrator.nsys import ending_new_agents

    return ending_new_agents(env_marker=f"{JOB_DIR_ENV}={job_dir}")


def _parse_artifacts(job_dir: Path, tool: str) -> tuple[dict, list[Path]]:
    if tool == "nsys":
        from flashsight.orchestrator.nsys import to_sqlite
        from flashsight.parsers.nsys_sqlite import read_nsys

        sqlite = to_sqlite(_find_one(job_dir, (".nsys-rep", ".qdstrm", ".sqlite")))
        return read_nsys(sqlite), [sqlite]
    if tool == "ncu":
        from flashsight.parsers import read_input

        report = _find_one(job_dir, (".ncu-rep",))
        return read_input(report), [report]
    return {}, []


def _find_one(job_dir: Path, suffixes: tuple[str, ...]) -> Path:
    for suffix in suffixes:  # in order of preference: a finished report over a raw stream
        path = job_dir / f"{REPORT_STEM}{suffix}"
        if path.exists():
            return path
    raise ToolError(f"{job_dir}: the profiler wrote no {' / '.join(suffixes)} file (see {job_dir / LOG_FILE})")


def _require_tool(tool: str) -> None:
    if tool == "nsys":
        tools.require_nsys()
    elif tool == "ncu":
        tools.require_ncu()
    elif tool != "none":
        raise FlashsightError(f"unknown tool {tool!r} (choose from {', '.join(TOOLS)})")


def run_job(target: Target, tool: str, job_dir: Path, *, timeout_s: float | None = None,
            ncu: NcuOptions | None = None, extra_env: dict[str, str] | None = None, watch=None) -> JobOutcome:
    """Launch, wait (killing the whole tree on timeout), parse. Never raises for a failing workload.

    watch: see procs.run_logged (the sweep uses it to stop a job on Ctrl-C and to time out batch configs).
    """
    _require_tool(tool)
    job_dir = Path(job_dir).resolve()
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / RESULT_FILE).unlink(missing_ok=True)  # a result left by an earlier attempt is not this one's
    env = _child_env(target, job_dir, tool) | (extra_env or {})
    started = time.monotonic()
    with _ending_left_behind_agents(tool, job_dir):
        done = procs.run_logged(_profiled_argv(target, job_dir, tool, ncu or NcuOptions()), job_dir / LOG_FILE,
                                timeout_s=timeout_s, env=env, cwd=job_dir, watch=watch, guard=True)
    outcome = JobOutcome(tool=tool, status="succeeded", duration_s=0.0)
    if not done.ok:
        outcome.status = "timed_out" if done.timed_out else ("interrupted" if done.stopped else "failed")
        outcome.error = f"{done.describe_failure()}: {_last_error_line(done.log_tail(40))}"
    else:
        try:
            tables, artifacts = _parse_artifacts(job_dir, tool)
            write_tables(tables, job_dir)
            outcome.tables = {name: len(df) for name, df in tables.items()}
            outcome.artifacts = [str(p) for p in artifacts]
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
        what = "workload" if outcome.tool == "none" else f"{outcome.tool} job"
        raise WorkloadError(f"{what} {outcome.status}: {outcome.error} (log: {job_dir / LOG_FILE})")
