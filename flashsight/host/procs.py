"""Running a child command so that nothing outlives its job.

Each child gets its own process group (a timeout kills the whole tree: ncu and its target, nsys and its
agent), asks the kernel to kill it when the orchestrator dies (PR_SET_PDEATHSIG), and writes stdout and
stderr to one log file whose tail goes into error messages.

PR_SET_PDEATHSIG reaches only the direct child: ncu's target or nsys's agent would outlive an orchestrator
killed with SIGKILL. A guard (a tiny process holding a pipe from the orchestrator) kills the whole group when
that pipe closes without a word, which is what the kernel does for us when the orchestrator dies by any means.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_FLASHSIGHT_ROOT = str(Path(__file__).resolve().parents[2])


def flashsight_env(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """An environment for a child that runs flashsight's own modules (`python -m flashsight...`): this
    flashsight first on PYTHONPATH, so it imports even when run from a checkout rather than an install."""
    env = dict(os.environ if base is None else base, **extra)
    env["PYTHONPATH"] = _FLASHSIGHT_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
_LIBC = None


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when the process that started it dies (Linux only)."""
    global _LIBC
    try:
        _LIBC = _LIBC or ctypes.CDLL("libc.so.6", use_errno=True)
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


@dataclass
class Completed:
    argv: list[str]
    returncode: int | None  # None: killed after the timeout
    duration_s: float
    log_path: Path
    timed_out: bool
    stopped: str | None = None  # why a watch ended it early (e.g. "interrupted"); None: it ran its course

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and self.stopped is None

    def signal_name(self) -> str | None:
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.log_path, lines)

    def describe_failure(self) -> str:
        if self.stopped:
            return self.stopped
        if self.timed_out:
            return f"timed out after {self.duration_s:.0f} s"
        sig = self.signal_name()
        return f"killed by {sig}" if sig else f"exit code {self.returncode}"


def tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def group_alive(pgid: int) -> bool:
    """Whether group pgid has a member that is not a zombie (in a container, orphaned zombies may never be
    reaped: counting them would make every kill wait out its whole grace period)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for entry in os.scandir("/proc"):
        fields = _stat_fields(entry.name) if entry.name.isdigit() else None
        if fields and len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def pid_alive(pid: int) -> bool:
    """Whether pid runs (a zombie we cannot reap counts as gone: it holds nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(str(pid))
    return bool(fields) and fields[0] != "Z"


def _stat_fields(pid: str) -> list[str] | None:
    """/proc/<pid>/stat after the command name: state, ppid, pgrp, ... (None when the process is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def kill_group(pgid: int, grace_s: float = 5.0, leader: subprocess.Popen | None = None) -> None:
    """SIGTERM the group, then SIGKILL whatever is still there after the grace period.

    leader: the group's first process, reaped while waiting (a zombie leader would keep the group "alive").
    """
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if leader is not None:
                leader.poll()
            if not group_alive(pgid):
                return
            time.sleep(0.05)


_GUARD_CODE = """
import os, signal, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)  # the orchestrator decides; only its death (EOF) is our cue
if sys.stdin.buffer.read() != b"done":
    try:
        os.killpg(int(sys.argv[1]), signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
"""


class _Guard:
    """Kills process group `pgid` if this process dies before calling release()."""

    def __init__(self, pgid: int):
        self.proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _GUARD_CODE, str(pgid)],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def release(self) -> None:
        try:
            self.proc.stdin.write(b"done")
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait()


def run_logged(
    argv: list[str],
    log_path: Path,
    *,
    timeout_s: float | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    on_start=None,
    watch=None,
    guard: bool = False,
) -> Completed:
    """Run argv (never through a shell) in a new process group, appending its output to log_path.

    watch: called about every 0.2 s while the child runs; a returned string ends the whole group early ("timeout"
    counts as a timeout, anything else is recorded as `stopped`). guard: kill the group even if this process
    is SIGKILLed (see the module's note).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "ab") as log:
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        keeper = _Guard(proc.pid) if guard else None
        if on_start is not None:
            on_start(proc.pid)
        timed_out, stopped = False, None
        try:
            if watch is None:
                proc.wait(timeout=timeout_s)
            else:
                stopped = _wait_watching(proc, started, timeout_s, watch)
                timed_out, stopped = stopped == "timeout", (None if stopped == "timeout" else stopped)
        except subprocess.TimeoutExpired:
            timed_out = True
        except BaseException:  # Ctrl-C or a signal turned exception: leave no tree behind
            kill_group(proc.pid, grace_s=2.0, leader=proc)
            proc.wait()
            if keeper:
                keeper.release()
            raise
        # Also reap grandchildren still holding the group after a normal exit (a left-behind agent).
        kill_group(proc.pid, grace_s=2.0 if (timed_out or stopped) else 0.5, leader=proc)
        proc.wait()
        if keeper:
            keeper.release()
    return Completed(
        argv=argv,
        returncode=None if (timed_out or stopped) else proc.returncode,
        duration_s=time.monotonic() - started,
        log_path=log_path,
        timed_out=timed_out,
        stopped=stopped,
    )


def _wait_watching(proc: subprocess.Popen, started: float, timeout_s: float | None, watch) -> str | None:
    """Wait for proc; return "timeout" or watch's reason when it must be ended, None when it exited."""
    while True:
        try:
            proc.wait(timeout=0.2)
            return None
        except subprocess.TimeoutExpired:
            pass
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            return "timeout"
        reason = watch()
        if reason:
            return reason
