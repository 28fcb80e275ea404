"""Left-behind nsys agents are ended by pid, and only the ones of the job that started them."""

import os
import subprocess
import sys
import time

from flashsight.profilers.nsys import agent_pids, ending_new_agents


def _fake_agent(job_dir: str) -> subprocess.Popen:
    # argv[0] 'nsys' and a '--start-agent' argument: how a real agent looks in /proc.
    code = "import time; time.sleep(60)"
    return subprocess.Popen(["bash", "-c", f'exec -a nsys {sys.executable} -c "{code}" --start-agent'],
                            env={**os.environ, "FLASHSIGHT_JOB_DIR": job_dir})


def _wait_for(pid: int, present: bool, marker: str | None = None) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if (pid in agent_pids(marker)) == present:
            return True
        time.sleep(0.05)
    return False


def test_only_the_jobs_own_agents_are_ended():
    other = _fake_agent("/runs/b")
    try:
        assert _wait_for(other.pid, True)
        with ending_new_agents(env_marker="FLASHSIGHT_JOB_DIR=/runs/a"):
            mine = _fake_agent("/runs/a")
            assert _wait_for(mine.pid, True, "FLASHSIGHT_JOB_DIR=/runs/a")
            assert other.pid not in agent_pids("FLASHSIGHT_JOB_DIR=/runs/a")
        assert mine.wait(timeout=10) is not None  # ended
        assert other.poll() is None  # another job's agent is left alone
    finally:
        other.kill()
        other.wait()
