"""Shared by the Slurm tests: the cluster (CI starts one with .ci/slurm.sh; elsewhere they skip, under CI=true
they fail), this sweep's tasks in the queue, and a sweep process on Slurm."""

from __future__ import annotations

import functools
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

from tests import missing

SLURM_FLAGS = ["--executor", "slurm", "--gpus-per-task", "0"]  # the CI node has CPUs only


def require_slurm() -> None:
    """Skip (fail under CI=true) unless a Slurm cluster answers, with accounting, and submitit is installed."""
    problem = _slurm_problem()
    if problem is None:
        return
    missing(problem, ".ci/run starts a one-node cluster as root with: bash .ci/slurm.sh up")


@functools.lru_cache(maxsize=None)  # asked once per test session
def _slurm_problem() -> str | None:
    try:
        import submitit  # noqa: F401
    except ImportError:
        return "submitit is not installed (pip install -e '.[cluster]')"
    missing = [t for t in ("sbatch", "srun", "squeue", "sacct", "scancel", "sinfo") if shutil.which(t) is None]
    if missing:
        return f"Slurm's commands are not installed ({', '.join(missing)})"
    states = _run(["sinfo", "-h", "-o", "%T"])
    if states is None or not {"idle", "mixed", "allocated"} & set(states.split()):
        return "no Slurm cluster answers with a usable node (sinfo)"
    if _run(["sacct", "-n", "-X", "-S", "now-1minutes"]) is None:
        return "Slurm has no accounting (sacct fails): the executor needs slurmdbd"
    return None


def _run(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def sweep_prefix(out: Path) -> str:
    db = sqlite3.connect(out / "sweep.db")
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'slurm_sweep_id'").fetchone()
    finally:
        db.close()
    return f"fs-{row[0]}-" if row else "fs-none-"


def queued(out: Path, states: str | None = None) -> list[str]:
    """This sweep's tasks Slurm still has (pending, running, completing...; states: e.g. "R"): ids like 12_3."""
    prefix = sweep_prefix(out)
    text = _run(["squeue", "-h", "-r", *(["-t", states] if states else []), "-o", "%i|%j"]) or ""
    return [line.split("|")[0] for line in text.splitlines() if line.split("|")[-1].startswith(prefix)]


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def events(out: Path, kind: str) -> list[tuple[str, str]]:
    db = sqlite3.connect(out / "sweep.db")
    try:
        return db.execute("SELECT job_id, detail FROM events WHERE kind = ? ORDER BY id", (kind,)).fetchall()
    finally:
        db.close()


def cancel_all(out: Path) -> None:
    """A failing test leaves nothing in the queue."""
    left = queued(out)
    if left:
        subprocess.run(["scancel", *left], capture_output=True)
