"""The Slurm executor's rules that need no cluster: a task never runs an attempt that has its outcome, how an
ended task's jobs are settled by its Slurm state, --time, and the one-line errors of a wrong set-up."""

from __future__ import annotations

import json
import pickle
import signal
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from flashsight.cli import main
from flashsight.errors import ParamError
from flashsight.orchestrator.executors.slurm import MAX_LOST, SlurmOptions, _Driver, _Task, slurm_minutes
from flashsight.orchestrator.executors.slurm_task import run_task
from flashsight.orchestrator.plan import parse_plan
from flashsight.orchestrator.runner import job_dir_of
from flashsight.orchestrator.state import Store
from flashsight.schema.layout import OUTCOME_FILE
from tests.orchestrator.sweep_support import FAULT, fault_plan, ledger


def make_store(tmp_path, values, retries=0, behaviour="ok"):
    (tmp_path / "state").mkdir(exist_ok=True)
    plan = parse_plan(f'[[jobs]]\nworkload = "{FAULT}"\ntools = ["none"]\nretries = {retries}\ntimeout_s = 30\n'
                      f'params = {{ value = {list(values)}, behaviour = ["{behaviour}"], '
                      f'ledger = ["{tmp_path / "ledger"}"], state = ["{tmp_path / "state"}"] }}\n', tmp_path / "p.toml")
    store = Store(tmp_path / "sweep.db")
    store.sync_plan(plan, job_dir_of)
    return store


@pytest.mark.parametrize("text, minutes", [("90", 90), ("1:30", 2), ("2:00:00", 120), ("1-0", 1440),
                                           ("1-2:30", 1590), ("0-0:0:59", 1)])
def test_time_takes_sbatch_formats(text, minutes):
    assert slurm_minutes(text) == minutes


@pytest.mark.parametrize("text", ["", "2h", "0", "1:2:3:4", "-5"])
def test_time_rejects_what_sbatch_would(text):
    with pytest.raises(ParamError, match="--time"):
        slurm_minutes(text)


def test_a_task_refuses_an_attempt_that_already_has_its_outcome(tmp_path):
    """A task Slurm runs a second time (requeued) must not run a job whose attempt already ended."""
    store = make_store(tmp_path, [1, 2])
    jobs = store.claim("slurm", batch_size=1) + store.claim("slurm", batch_size=1)
    done_dir = tmp_path / jobs[0]["job_dir"]
    done_dir.mkdir(parents=True)
    (done_dir / OUTCOME_FILE).write_text(json.dumps({"token": jobs[0]["token"], "status": "succeeded",
                                                     "duration_s": 1.0, "tables": {}}))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR2)}
    report = run_task(str(tmp_path), jobs, time_limit_min=5)
    assert report == {"interrupted": {}, "refused": [jobs[0]["job_id"]]}
    led = ledger(tmp_path)
    assert led.job.tolist() == [Path(jobs[1]["job_dir"]).name] * 2  # only the other job ran (start, done)
    outcome = json.loads((tmp_path / jobs[1]["job_dir"] / OUTCOME_FILE).read_text())
    assert (outcome["token"], outcome["status"]) == (jobs[1]["token"], "succeeded")
    assert {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR2)} == handlers  # put back as they were
    # The driver adopts both, and only the store's own attempt counts.
    from flashsight.orchestrator.runner import adopt_outcome

    assert [adopt_outcome(store, job, tmp_path) for job in jobs] == ["succeeded", "succeeded"]
    assert [j["attempts"] for j in store.jobs()] == [1, 1]


class _Handle:
    """What the driver reads of a submitit job: its id and its files."""

    def __init__(self, folder: Path, job_id: str, report=None, log="task log line\n"):
        folder.mkdir(parents=True, exist_ok=True)
        self.job_id = job_id
        self.paths = SimpleNamespace(result_pickle=folder / f"{job_id}_0_result.pkl",
                                     submitted_pickle=folder / f"{job_id}_submitted.pkl",
                                     stdout=folder / f"{job_id}_0_log.out")
        self.paths.submitted_pickle.write_bytes(b"")
        self.paths.stdout.write_text(log)
        if report is not None:
            self.paths.result_pickle.write_bytes(pickle.dumps(("success", report)))


def _driver(tmp_path, store):
    events = []
    sweep = SimpleNamespace(run_dir=tmp_path, abort=threading.Event(), on_event=lambda *e: events.append(e[:1]))
    driver = _Driver(SlurmOptions(gpus_per_task=0), sweep)
    driver.store = store
    return driver, events


@pytest.mark.parametrize("state, status, attempts, error", [
    ("TIMEOUT", "timed_out", 1, "the Slurm task 9000007_0 reached its time limit (5 min) before this job ended"),
    ("FAILED", "failed", 1, "the Slurm task 9000007_0 ended FAILED before this job's outcome"),
    ("OUT_OF_MEMORY", "failed", 1, "the Slurm task 9000007_0 ended OUT_OF_MEMORY before this job's outcome"),
    ("NODE_FAIL", "pending", 0, None),
    ("PREEMPTED", "pending", 0, None),
    ("CANCELLED", "pending", 0, None),
])
def test_an_ended_task_settles_its_jobs_by_its_slurm_state(tmp_path, state, status, attempts, error):
    store = make_store(tmp_path, [1])
    job = store.claim("slurm")[0]
    store.set_task([job], "9000007_0")
    driver, _ = _driver(tmp_path, store)
    driver._settle_task(_Task(_Handle(tmp_path / "slurm" / "9000007_0", "9000007_0"), [job], 5), state)
    row = store.jobs()[0]
    assert (row["status"], row["attempts"], row["error"]) == (status, attempts, error)
    log = (tmp_path / job["job_dir"] / "job.log").read_text()
    if status == "pending":  # lost: not the job's fault, and the story is in its log and the events
        assert store.count_events(job["job_id"], "lost") == 1 and "not counted as an attempt" in log
    else:  # charged: outcome.json written by the driver, the task's log tail in job.log and the store
        assert json.loads((tmp_path / job["job_dir"] / OUTCOME_FILE).read_text())["status"] == status
        assert "task log line" in log and "task log line" in row["log_tail"]


def test_a_job_lost_again_and_again_fails_in_the_end(tmp_path):
    store = make_store(tmp_path, [1])
    driver, _ = _driver(tmp_path, store)
    for loss in range(1, MAX_LOST + 1):
        job = store.claim("slurm")[0]
        task_id = f"900000{loss}_0"
        store.set_task([job], task_id)
        driver._settle_task(_Task(_Handle(tmp_path / "slurm" / task_id, task_id), [job], 5), "NODE_FAIL")
    row = store.jobs()[0]
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["error"] == (f"Slurm task 900000{MAX_LOST}_0 ended NODE_FAIL "
                            f"(lost {MAX_LOST} times: counted as a failure)")


def test_what_a_task_reports_and_what_it_left_come_first(tmp_path):
    """A COMPLETED task that stopped a job at its time limit reports it (pending again); a tool-none job whose
    result.json is there was done; a task this driver cancelled leaves its jobs pending."""
    store = make_store(tmp_path, [1, 2])
    a, b = store.claim("slurm") + store.claim("slurm")
    store.set_task([a, b], "9000008_0")
    (tmp_path / b["job_dir"]).mkdir(parents=True)
    (tmp_path / b["job_dir"] / "result.json").write_text("{}")
    driver, _ = _driver(tmp_path, store)
    report = {"interrupted": {a["job_id"]: ["SIGUSR2 from Slurm: its time limit was near", False]}, "refused": []}
    handle = _Handle(tmp_path / "slurm" / "9000008_0", "9000008_0", report)
    driver._settle_task(_Task(handle, [a, b], 5), "COMPLETED")
    rows = {r["job_id"]: r for r in store.jobs()}
    assert (rows[a["job_id"]]["status"], rows[b["job_id"]]["status"]) == ("pending", "succeeded")
    lost = store.db.execute("SELECT detail FROM events WHERE kind = 'lost'").fetchone()[0]
    assert lost == "Slurm task 9000008_0 ended COMPLETED: SIGUSR2 from Slurm: its time limit was near"
    job = store.claim("slurm")[0]
    store.set_task([job], "9000009_0")
    driver.cancelled.add("9000009_0")
    driver._settle_task(_Task(_Handle(tmp_path / "slurm" / "9000009_0", "9000009_0"), [job], 5), "CANCELLED")
    assert store.jobs()[0]["status"] == "pending" and store.count_events(job["job_id"], "lost") == 1  # not a loss
    assert store.db.execute("SELECT detail FROM events WHERE kind = 'interrupted'").fetchone()[0] == \
        "the sweep was stopped"


def sweep(*args, env=None):
    return CliRunner().invoke(main, ["sweep", *map(str, args)], env={"COLUMNS": "200", **(env or {})})


def test_slurm_options_without_slurm_and_gpus_on_slurm_are_one_line_errors(tmp_path):
    plan = fault_plan(tmp_path, {"behaviour": ["ok"]})
    result = sweep(plan, "--out", tmp_path / "a", "--partition", "gpu")
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        "flashsight: error: --executor local takes no --partition (those are Slurm options: add --executor slurm)"]
    result = sweep(plan, "--out", tmp_path / "b", "--sbatch", "account")
    assert result.exit_code == 2 and "--executor local takes no --sbatch" in result.output
    result = sweep(plan, "--out", tmp_path / "c", "--executor", "slurm", "--sbatch", "=x")
    assert result.exit_code == 2 and result.output.startswith("flashsight: error: --sbatch '=x': expected NAME=VALUE")
    assert not any((tmp_path / d).exists() for d in "abc")  # nothing created


def test_no_slurm_commands_is_one_line_and_nothing_is_created(tmp_path):
    plan = fault_plan(tmp_path, {"behaviour": ["ok"]})
    empty = tmp_path / "bin"
    empty.mkdir()
    result = sweep(plan, "--out", tmp_path / "run", "--executor", "slurm", env={"PATH": str(empty)})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "flashsight: error: --executor slurm: sbatch, srun, squeue, sacct, scancel not found on PATH (run the sweep "
        "where Slurm's commands work, e.g. on a login node)"]
    assert not (tmp_path / "run").exists()


def test_a_sweep_left_with_slurm_tasks_does_not_resume_here(tmp_path):
    plan = fault_plan(tmp_path, {"behaviour": ["ok"]})
    assert sweep(plan, "--out", tmp_path / "run").exit_code == 0
    store = Store(tmp_path / "run" / "sweep.db")
    store.db.execute("UPDATE jobs SET status = 'pending'")
    job = store.claim("slurm")[0]
    store.set_task([job], "41_3")
    store.close()
    result = sweep("--out", tmp_path / "run", "--resume", "--executor", "local")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"flashsight: error: job {job['job_id']} was left with Slurm task 41_3, which may still run: resume this "
        "sweep with --executor slurm (it adopts or settles its tasks)"]
