"""Running a child command so that nothing outlives its job.

Each child gets its own process group (a timeout kills the whole tree: ncu and its target, nsys and its
agent), asks the kernel to kill it when the orchestrator dies (PR_SET_PDEATHSIG), and writes stdout and
stderr to one log file whose tail goes into error messages.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1
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

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

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


def kill_group(pgid: int, grace_s: float = 5.0) -> None:
    """SIGTERM the group, then SIGKILL whatever is still there after the grace period."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def run_logged(
    argv: list[str],
    log_path: Path,
    *,
    timeout_s: float | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    on_start=None,
) -> Completed:
    """Run argv (never through a shell) in a new process group, appending its output to log_path."""
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
        if on_start is not None:
            on_start(proc.pid)
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        except BaseException:  # Ctrl-C or a signal turned exception: leave no tree behind
            kill_group(proc.pid, grace_s=2.0)
            proc.wait()
            raise
        # Also reap grandchildren still holding the group after a normal exit (a left-behind agent).
        kill_group(proc.pid, grace_s=2.0 if timed_out else 0.5)
        proc.wait()
    return Completed(
        argv=argv,
        returncode=None if timed_out else proc.returncode,
        duration_s=time.monotonic() - started,
        log_path=log_path,
        timed_out=timed_out,
    )
