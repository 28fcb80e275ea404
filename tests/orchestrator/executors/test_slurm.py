"""Sweeps through a real Slurm cluster (CI starts a one-node one with .ci/slurm.sh): CPU workloads only.

Every job succeeds and equals the same plan run here; a driver SIGKILLed mid-run while a task is cancelled, then
resumed: no job done twice, none lost, no task or process left; a kill between sbatch and recording the task's
id; preemption and a node taken down; a task at its time limit; failures end the same way on both executors;
sbatch refusing; SIGTERM cancelling the tasks (pending array tasks included) before a resume.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from flashsight.cli import main
from tests import DATA
from tests.orchestrator.executors.slurm_support import (SLURM_FLAGS, cancel_all, events, queued, require_slurm,
                                                        wait_for)
from tests.orchestrator.sweep_support import (FAULT, MARK_ENV, _toml, done_runs, fault_plan, jobs_table, ledger, sweep_process,
                                 wait_no_marked)

CPU_NVTX = DATA / "nsys" / "cpu_nvtx.py"
# Columns of the merged tables that two runs of one plan share (times and ids of a capture differ run to run).
STABLE = ["job_id", "config_id", "workload", "tool", "domain", "name", "style", "depth", "nvtx_path"]


@pytest.fixture
def mark(monkeypatch):
    require_slurm()
    value = uuid.uuid4().hex
    monkeypatch.setenv(MARK_ENV, value)  # sbatch exports it: the tasks and their workloads carry it too
    monkeypatch.setenv("FLASHSIGHT_SLURM_POLL_S", "1")
    monkeypatch.setenv("COLUMNS", "200")  # the resume line unwrapped
    yield value
    assert wait_no_marked(value, timeout_s=15, exclude={os.getpid()}) == [], "a process outlived the sweep"


def sweep(*args):
    return CliRunner().invoke(main, ["sweep", *map(str, args)], env={"COLUMNS": "200"})


def _lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


def _two_block_plan(tmp: Path, name: str, first: dict, second_workload: str, second: dict, *, tool2="none",
                    mode="process", extra="") -> Path:
    (tmp / "state").mkdir(exist_ok=True)

    def params(grid):
        return ", ".join(f"{k} = [{', '.join(_toml(v) for v in values)}]" for k, values in grid.items())

    common = {"ledger": [str(tmp / "ledger")], "state": [str(tmp / "state")]}
    plan = tmp / f"{name}.toml"
    plan.write_text(f'[sweep]\nname = "{name}"\nmode = "{mode}"\n{extra}\n'
                    f'[[jobs]]\nworkload = "{FAULT}"\ntools = ["none"]\ntimeout_s = 60\n'
                    f'params = {{ {params(common | first)} }}\n'
                    f'[[jobs]]\nworkload = "{second_workload}"\ntools = ["{tool2}"]\ntimeout_s = 180\n'
                    + (f'params = {{ {params(common | second)} }}\n' if second else ""))
    return plan


def test_every_job_succeeds_through_slurm_and_equals_the_same_plan_run_here(tmp_path, mark, nsys):
    """Batched fault.py jobs and an nsys capture of a CPU NVTX script: the same statuses and merged tables."""
    plan = _two_block_plan(tmp_path, "parity", {"behaviour": ["ok"], "value": [1, 2, 3, 4], "work_s": [0.5]},
                           str(CPU_NVTX), {}, tool2="nsys", mode="batched", extra="batch_size = 2")
    started = time.monotonic()
    result = sweep(plan, "--out", tmp_path / "slurm", *SLURM_FLAGS)
    slurm_s = time.monotonic() - started
    assert result.exit_code == 0, result.output
    slurm_lines = _lines(tmp_path / "ledger")
    started = time.monotonic()
    result = sweep(plan, "--out", tmp_path / "local")
    local_s = time.monotonic() - started
    assert result.exit_code == 0, result.output
    print(f"\nparity plan: slurm {slurm_s:.1f} s, local {local_s:.1f} s")

    on_slurm, here = jobs_table(tmp_path / "slurm"), jobs_table(tmp_path / "local")
    assert len(on_slurm) == 5 and set(on_slurm.status) == {"succeeded"}
    key = ["job_id", "config_id", "workload", "tool", "status", "attempts"]
    assert on_slurm[key].sort_values("job_id").reset_index(drop=True).equals(
        here[key].sort_values("job_id").reset_index(drop=True))
    # Each job ran in the Slurm task the store names (the `submitted` event of its one attempt), batched in twos.
    submitted = dict(events(tmp_path / "slurm", "submitted"))
    assert dict(zip(on_slurm.job_id, on_slurm.task_id)) == submitted and here.task_id.isna().all()
    fault_jobs = on_slurm[on_slurm.tool == "none"]
    assert fault_jobs.groupby("task_id").size().tolist() == [2, 2] and fault_jobs.batch_id.nunique() == 2
    led = ledger(tmp_path)
    assert led.iloc[:slurm_lines].query("kind == 'done'").job.value_counts().tolist() == [1] * 4
    # The merged tables: the same tables, columns and types, and the same rows but for a capture's own times.
    tables = sorted(p.name for p in (tmp_path / "slurm").glob("*.parquet") if p.name != "jobs.parquet")
    assert tables == sorted(p.name for p in (tmp_path / "local").glob("*.parquet") if p.name != "jobs.parquet")
    assert "nvtx_ranges.parquet" in tables
    for name in tables:
        a, b = pd.read_parquet(tmp_path / "slurm" / name), pd.read_parquet(tmp_path / "local" / name)
        assert a.dtypes.to_dict() == b.dtypes.to_dict(), name
        cols = [c for c in STABLE if c in a.columns]
        rows = [df[cols].astype(str).sort_values(cols).reset_index(drop=True) for df in (a, b)]
        assert len(a) == len(b) and rows[0].equals(rows[1]), name
    ranges = pd.read_parquet(tmp_path / "slurm" / "nvtx_ranges.parquet")
    assert len(ranges) == 12  # cpu_nvtx.py's ranges, as tests/test_nsys_live.py counts them
    assert queued(tmp_path / "slurm") == []


def test_driver_sigkilled_and_a_task_cancelled_then_resumed(tmp_path, mark):
    """0 jobs done twice, 0 lost, 0 tasks or processes left; live tasks are re-attached, not submitted again."""
    plan = _two_block_plan(tmp_path, "killed", {"behaviour": ["ok"], "value": [0], "work_s": [8]},
                           str(FAULT), {"behaviour": ["ok"], "value": list(range(1, 8)), "work_s": [2]})
    out = tmp_path / "run"
    proc = sweep_process([str(plan), "--out", str(out), *SLURM_FLAGS], mark)
    try:
        wait_for(lambda: (tmp_path / "ledger").exists() and "done" in (tmp_path / "ledger").read_text(), 120,
                 "a first job to finish")
        proc.kill()  # SIGKILL: the driver leaves its tasks running and pending
        proc.communicate()
        at_kill = set(queued(out))
        assert at_kill, "nothing was left in the queue at the kill: make the jobs longer"
        long_job = next(j for j in _store_jobs(out) if json.loads(j["params"])["value"] == 0)
        victim = long_job["task_id"]
        assert victim in at_kill  # 8 s of work: still running
        subprocess.run(["scancel", victim], check=True)
        resumed = sweep_process(["--out", str(out), "--resume"], mark)  # the stored executor: slurm
        output, _ = resumed.communicate(timeout=240)
        assert resumed.returncode == 0, output
        assert "still with Slurm tasks" in output
    finally:
        proc.kill()
        cancel_all(out)
    done = jobs_table(out)
    assert len(done) == 8 and set(done.status) == {"succeeded"}, done.status.value_counts()  # 0 lost
    assert done.attempts.tolist() == [1] * 8  # the cancelled attempt was not counted
    twice = {job: runs for job, runs in done_runs(ledger(tmp_path)).items() if len(runs) > 1}
    assert twice == {}, f"jobs done twice: {twice}"
    succeeded = [job for job, _ in events(out, "succeeded")]
    assert sorted(succeeded) == sorted(done.job_id)
    submitted: dict[str, list[str]] = {}
    for job, task in events(out, "submitted"):
        submitted.setdefault(job, []).append(task)
    for job, tasks in submitted.items():
        if job == long_job["job_id"]:
            assert tasks[0] == victim and len(tasks) == 2  # cancelled, then submitted again
        elif tasks[0] in at_kill:
            assert len(tasks) == 1, f"{job}: its task {tasks[0]} was alive after the kill, yet submitted again"
    lost = events(out, "lost")
    assert [job for job, _ in lost] == [long_job["job_id"]] and "CANCELLED" in lost[0][1]
    assert queued(out) == []  # 0 orphans in Slurm (and the mark fixture: 0 processes)


def _store_jobs(out: Path) -> list[dict]:
    import sqlite3

    db = sqlite3.connect(out / "sweep.db")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT job_id, task_id, params, status FROM jobs ORDER BY seq")]
    finally:
        db.close()


def test_a_driver_killed_between_sbatch_and_recording_the_task_finds_it_again(tmp_path, mark, monkeypatch):
    from flashsight.orchestrator.state import Store

    real = Store.set_task

    def dies_after_sbatch(self, jobs, task_id, event=True):
        if not task_id.startswith("submitting:"):
            raise RuntimeError("killed right after sbatch")
        return real(self, jobs, task_id, event)

    plan = fault_plan(tmp_path, {"behaviour": ["ok"], "value": [1, 2], "work_s": [1]})
    out = tmp_path / "run"
    monkeypatch.setattr(Store, "set_task", dies_after_sbatch)
    result = sweep(plan, "--out", out, *SLURM_FLAGS)
    monkeypatch.setattr(Store, "set_task", real)
    try:
        assert result.exit_code == 1 and "the Slurm driver stopped" in result.output, result.output
        intents = [j["task_id"] for j in _store_jobs(out)]
        assert all(t.startswith("submitting:") for t in intents)
        result = sweep("--out", out, "--resume")
        assert result.exit_code == 0, result.output
    finally:
        cancel_all(out)
    done = jobs_table(out)
    assert set(done.status) == {"succeeded"}
    assert done_runs(ledger(tmp_path)) and all(len(r) == 1 for r in done_runs(ledger(tmp_path)).values())
    # The ids found again are those sbatch gave (one array: <id>_0 and <id>_1), each recorded once.
    submitted = events(out, "submitted")
    bases = {task.split("_")[0] for _, task in submitted}
    assert len(submitted) == 2 and len(bases) == 1 and sorted(t.split("_")[1] for _, t in submitted) == ["0", "1"]


def _node() -> str:
    return subprocess.run(["sinfo", "-h", "-N", "-o", "%N"], capture_output=True, text=True).stdout.split()[0]


def _cpus() -> int:
    return int(subprocess.run(["sinfo", "-h", "-N", "-o", "%c"], capture_output=True, text=True).stdout.split()[0])


def test_preempted_and_node_lost_tasks_are_retried_never_lost_never_run_twice(tmp_path, mark):
    if "urgent" not in subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True).stdout:
        message = "no `urgent` partition of a higher PriorityTier to preempt with (.ci/slurm.sh makes one)"
        pytest.fail(message) if os.environ.get("CI", "").lower() == "true" else pytest.skip(message)
    plan = fault_plan(tmp_path, {"behaviour": ["ok"], "value": [1, 2, 3], "work_s": [4]})
    out = tmp_path / "run"
    proc = sweep_process([str(plan), "--out", str(out), *SLURM_FLAGS], mark)
    node = _node()
    try:
        wait_for(lambda: ledger(tmp_path).kind.eq("start").sum() >= 2, 120, "two jobs running")
        subprocess.run(["sbatch", "-p", "urgent", "-n", str(_cpus()), "-J", "urgent-test", "-o", "/dev/null",
                        "--wrap", "sleep 1"], check=True, capture_output=True)
        wait_for(lambda: any("PREEMPTED" in d for _, d in events(out, "lost")), 60, "a preempted task")
        starts = ledger(tmp_path).kind.eq("start").sum()
        wait_for(lambda: ledger(tmp_path).kind.eq("start").sum() > starts, 60, "a job running again")
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=down", "reason=flashsight-test"],
                       check=True, capture_output=True)
        wait_for(lambda: any("NODE_FAIL" in d for _, d in events(out, "lost")), 60, "a task lost with its node")
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"], capture_output=True)
        output, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, output
    finally:
        proc.kill()
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"], capture_output=True)
        cancel_all(out)
    done = jobs_table(out)
    assert set(done.status) == {"succeeded"} and done.attempts.tolist() == [1, 1, 1]  # lost: not counted
    runs = done_runs(ledger(tmp_path))
    assert sorted(len(r) for r in runs.values()) == [1, 1, 1]  # each finished once
    lost = events(out, "lost")
    assert {re.search(r" ended (\w+)", d).group(1) for _, d in lost} == {"PREEMPTED", "NODE_FAIL"}, lost
    log = (out / done.job_dir[done.job_id == lost[0][0]].iloc[0] / "job.log").read_text()
    assert "pending again (not counted as an attempt)" in log
    assert queued(out) == []


def test_a_task_at_its_time_limit_ends_timed_out_with_its_log_tail(tmp_path, mark):
    plan = fault_plan(tmp_path, {"behaviour": ["hang"], "value": [1]}, timeout_s=600)
    out = tmp_path / "run"
    result = sweep(plan, "--out", out, *SLURM_FLAGS, "--time", "1")
    assert result.exit_code == 1, result.output
    job = jobs_table(out).iloc[0]
    assert (job.status, job.attempts) == ("timed_out", 1)
    assert job.error.startswith(f"the Slurm task {job.task_id} reached its time limit (1 min)"), job.error
    assert "fault workload: hang 1" in job.log_tail
    assert queued(out) == []


def test_failures_end_the_same_on_slurm_as_here(tmp_path, mark):
    plan = fault_plan(tmp_path, {"behaviour": ["ok", "segv", "hang", "flaky", "exit"]}, timeout_s=3, retries=1)
    assert sweep(plan, "--out", tmp_path / "slurm", *SLURM_FLAGS).exit_code == 1
    for marker in (tmp_path / "state").glob("*.tried"):  # flaky fails once per sweep
        marker.unlink()
    assert sweep(plan, "--out", tmp_path / "local").exit_code == 1
    key = ["job_id", "behaviour", "status", "attempts"]
    on_slurm, here = jobs_table(tmp_path / "slurm"), jobs_table(tmp_path / "local")
    assert on_slurm[key].equals(here[key])
    assert dict(zip(on_slurm.behaviour, on_slurm.status)) == {
        "ok": "succeeded", "segv": "failed", "hang": "timed_out", "flaky": "succeeded", "exit": "failed"}
    for behaviour in ("segv", "exit"):
        row_s, row_l = (t.set_index("behaviour").loc[behaviour] for t in (on_slurm, here))
        assert row_s.error == row_l.error and row_l.log_tail.splitlines()[-1] in row_s.log_tail
    assert queued(tmp_path / "slurm") == []


def test_a_submission_slurm_refuses_stops_the_sweep_with_sbatch_s_reason(tmp_path, mark):
    plan = fault_plan(tmp_path, {"behaviour": ["ok"], "value": [1, 2]})
    out = tmp_path / "run"
    result = sweep(plan, "--out", out, *SLURM_FLAGS, "--partition", "no-such-partition")
    assert result.exit_code == 1
    summary = next(line for line in result.output.splitlines() if line.startswith("sweep faults:"))
    assert summary.endswith("stopped: sbatch failed: sbatch: error: invalid partition specified: no-such-partition")
    assert jobs_table(out).status.tolist() == ["pending", "pending"]  # nothing lost: a --resume runs them
    assert queued(out) == []


def test_sigterm_cancels_the_tasks_and_a_resume_finishes(tmp_path, mark):
    plan = fault_plan(tmp_path, {"behaviour": ["ok"], "value": [1, 2, 3, 4], "work_s": [3]})
    out = tmp_path / "run"
    proc = sweep_process([str(plan), "--out", str(out), *SLURM_FLAGS], mark)
    try:
        wait_for(lambda: ledger(tmp_path).kind.eq("start").sum() >= 1 if (tmp_path / "ledger").exists() else 0,
                 120, "a job running")
        proc.terminate()
        output, _ = proc.communicate(timeout=90)
        summary = next(line for line in output.splitlines() if line.startswith("sweep faults:"))
        assert proc.returncode == 130 and summary.endswith("stopped: interrupted"), output
        assert queued(out) == []  # cancelled, not left running
        stopped = jobs_table(out)
        assert set(stopped.status) == {"pending"} and stopped.attempts.tolist() == [0] * 4
        result = sweep("--out", out, "--resume")
        assert result.exit_code == 0, result.output
    finally:
        proc.kill()
        cancel_all(out)
    assert set(jobs_table(out).status) == {"succeeded"}
    assert all(len(runs) == 1 for runs in done_runs(ledger(tmp_path)).values())
    assert queued(out) == []
