"""The job store: claims are exclusive, retries and requeues count right, a dead orchestrator's jobs are settled."""

import json
import threading

from flashsight.orchestrator.plan import parse_plan
from flashsight.orchestrator.runner import job_dir_of, recover
from flashsight.schema.layout import OUTCOME_FILE
from flashsight.orchestrator.state import Store
from tests.orchestrator.sweep_support import FAULT


def make_store(tmp_path, values=range(4), retries=1, tool="none"):
    plan = parse_plan(f'[[jobs]]\nworkload = "{FAULT}"\ntools = ["{tool}"]\nretries = {retries}\n'
                      f'params = {{ value = {list(values)} }}\n', tmp_path / "p.toml")
    store = Store(tmp_path / "sweep.db")
    store.sync_plan(plan, job_dir_of)
    return store, plan


def test_concurrent_workers_never_claim_the_same_job(tmp_path):
    store, plan = make_store(tmp_path, values=range(60))
    store.close()
    claimed, lock = [], threading.Lock()

    def worker(name):
        mine = Store(tmp_path / "sweep.db")
        while batch := mine.claim(name, batch_size=3):
            with lock:
                claimed.extend(job["job_id"] for job in batch)
        mine.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(j.job_id for j in plan.jobs)  # each once, none lost


def test_failures_retry_until_the_plan_says_stop_and_requeues_do_not_count(tmp_path):
    store, _ = make_store(tmp_path, values=[1], retries=1)
    job = store.claim("w")[0]
    store.requeue(job, solo=False, reason="interrupted")  # not the job's fault: no attempt counted
    job = store.claim("w")[0]
    assert store.finish(job, "failed", duration_s=1.0, error="exit code 1") == "pending"  # one retry left
    job = store.claim("w")[0]
    assert store.finish(job, "timed_out", duration_s=2.0, error="timed out") == "timed_out"
    row = store.jobs()[0]
    assert (row["status"], row["attempts"], row["error"]) == ("timed_out", 2, "timed out")
    # A stale attempt's late report (its token is gone) changes nothing.
    assert store.finish(job, "succeeded", duration_s=0.1) == "timed_out"
    assert store.counts() == {"pending": 0, "running": 0, "succeeded": 0, "failed": 0, "timed_out": 1}


def test_recover_adopts_finished_work_and_requeues_the_rest(tmp_path):
    store, _ = make_store(tmp_path, values=range(4))
    jobs = store.claim("w", batch_size=4)
    dirs = [tmp_path / j["job_dir"] for j in jobs]
    for d in dirs:
        d.mkdir(parents=True)
    # 0: outcome written, store not yet told   1: the workload's result is there, nothing else
    # 2: an outcome of an older attempt (other token)   3: nothing (killed mid-run)
    (dirs[0] / OUTCOME_FILE).write_text(json.dumps({"token": jobs[0]["token"], "status": "succeeded",
                                                     "duration_s": 1.25, "tables": {}}))
    (dirs[1] / "result.json").write_text("{}")
    (dirs[2] / OUTCOME_FILE).write_text(json.dumps({"token": "old", "status": "succeeded", "duration_s": 1.0}))
    assert recover(store, tmp_path) == (2, 2)
    status = {j["job_id"]: (j["status"], j["attempts"]) for j in store.jobs()}
    assert [status[j["job_id"]] for j in jobs] == [("succeeded", 1), ("succeeded", 1), ("pending", 0), ("pending", 0)]
    assert store.jobs()[0]["duration_s"] == 1.25
    assert recover(store, tmp_path) == (0, 0)  # nothing left running


def test_a_profiled_job_with_only_a_result_is_run_again(tmp_path):
    # Under nsys/ncu the capture may be incomplete when the orchestrator died: result.json alone is not enough.
    store, _ = make_store(tmp_path, values=[1], tool="nsys")
    job = store.claim("w")[0]
    (tmp_path / job["job_dir"]).mkdir(parents=True)
    (tmp_path / job["job_dir"] / "result.json").write_text("{}")
    assert recover(store, tmp_path) == (0, 1)
    assert store.jobs()[0]["status"] == "pending"
