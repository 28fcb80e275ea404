"""SIGKILL the orchestrator at random moments, --resume each time, then to the end: no job completed twice,
none lost, no process left behind. Both modes take turns (a resume may switch modes)."""

import random
import signal
import sqlite3
import time
import uuid

import pytest

from tests.orchestrator.sweep_support import done_runs, fault_plan, jobs_table, ledger, sweep_process, wait_no_marked

KILLS = 20
JOBS = 30


def _lines(path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("seed", [6])
def test_sigkill_at_random_moments_then_resume(tmp_path, seed):
    rng = random.Random(seed)
    mark = uuid.uuid4().hex
    plan = fault_plan(tmp_path, {"behaviour": ["ok"], "value": list(range(JOBS)), "work_s": [0.15]},
                      mode="batched", extra_sweep="batch_size = 4")
    out = tmp_path / "run"
    kills = mid_job = 0
    for trial in range(KILLS):
        args = ["--out", str(out), "--mode", ("batched", "process")[trial % 2]]
        args = [*args, "--resume"] if (out / "sweep.db").exists() else [str(plan), *args]
        lines = _lines(tmp_path / "ledger")
        proc = sweep_process(args, mark)
        while not (out / "sweep.db").exists() and proc.poll() is None:  # the first run: kill once it has state
            time.sleep(0.01)
        if trial % 3 == 0:  # any moment: start-up, recovery, between jobs, ...
            time.sleep(rng.uniform(0.0, 1.2))
        else:  # ... and surely while a job runs or is being recorded, however slow the machine starts
            deadline = time.monotonic() + 20
            while _lines(tmp_path / "ledger") == lines and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate()
        # The guard and PDEATHSIG end the workload and its child at once, not at the end of the sweep.
        assert wait_no_marked(mark, timeout_s=5) == [], f"orphans after kill {trial}"
    db = sqlite3.connect(out / "sweep.db")
    mid_job = db.execute("SELECT COUNT(*) FROM events WHERE kind = 'interrupted'").fetchone()[0]
    db.close()

    proc = sweep_process(["--out", str(out), "--resume"], mark)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    assert wait_no_marked(mark) == []

    assert kills >= KILLS - 2, "the sweep finished before most kills: make it longer"
    assert mid_job > 0, "no kill landed while a job ran"
    jobs = jobs_table(out)
    assert len(jobs) == JOBS and set(jobs.status) == {"succeeded"}, jobs.status.value_counts()  # none lost
    led = ledger(tmp_path)
    done = done_runs(led)
    twice = {job: nonces for job, nonces in done.items() if len(nonces) > 1}
    assert twice == {}, f"jobs completed twice: {twice}"
    db = sqlite3.connect(out / "sweep.db")
    recorded = dict(db.execute("SELECT job_id, COUNT(*) FROM events WHERE kind = 'succeeded' GROUP BY job_id"))
    assert sorted(recorded.values()) == [1] * JOBS
    # Each job's result is that of a run that really started, and no other run of it ever completed.
    import json

    for job_dir in jobs.job_dir:
        result = json.loads((out / job_dir / "result.json").read_text())
        name = job_dir.split("/")[-1]
        assert result["nonce"] in set(led[(led.kind == "start") & (led.job == name)].nonce)
        assert set(done.get(name, [])) <= {result["nonce"]}
