import os
import sys
import time

from flashsight.host.procs import run_logged

# A parent that starts a grandchild sleeping forever, then sleeps itself: a timeout must end both.
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("grandchild", child.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


def test_timeout_kills_the_whole_tree(tmp_path):
    log = tmp_path / "job.log"
    started = time.monotonic()
    done = run_logged([sys.executable, "-c", TREE], log, timeout_s=2)
    assert done.timed_out and done.returncode is None and not done.ok
    assert time.monotonic() - started < 15
    assert done.describe_failure() == f"timed out after {done.duration_s:.0f} s"
    grandchild = int(log.read_text().split("grandchild ")[1].split()[0])
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_signals_and_exit_codes_are_named(tmp_path):
    crashed = run_logged([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"],
                         tmp_path / "a.log")
    assert crashed.returncode == -11 and crashed.describe_failure() == "killed by SIGSEGV"
    failed = run_logged([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], tmp_path / "b.log")
    assert failed.describe_failure() == "exit code 3"
    assert failed.log_tail(1) == "boom"
    assert run_logged([sys.executable, "-c", "pass"], tmp_path / "c.log").ok


def test_argv_is_never_shell_interpreted(tmp_path):
    marker = tmp_path / "pwned"
    done = run_logged([sys.executable, "-c", "import sys; print(sys.argv[1])", f"; touch {marker}"],
                      tmp_path / "d.log")
    assert done.ok and not marker.exists()
    assert done.log_tail(1) == f"; touch {marker}"
    assert os.path.getsize(tmp_path / "d.log") > 0
