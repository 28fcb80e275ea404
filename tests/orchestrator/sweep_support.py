"""Shared by the sweep tests: plans around tests/data/sweep/fault.py, the ledger it writes, an orphan finder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd

from tests import DATA, ROOT

FAULT = DATA / "sweep" / "fault.py"
MARK_ENV = "FLASHSIGHT_TEST_MARK"


def fault_plan(tmp: Path, params: dict, *, mode="process", timeout_s=30, retries=0, extra_sweep="",
               name="faults") -> Path:
    """A plan of fault.py jobs under tool none; params: name -> list of values (strings quoted for TOML)."""
    (tmp / "state").mkdir(exist_ok=True)
    grid = {"ledger": [str(tmp / "ledger")], "state": [str(tmp / "state")], **params}
    body = ", ".join(f"{k} = [{', '.join(_toml(v) for v in values)}]" for k, values in grid.items())
    plan = tmp / f"{name}.toml"
    plan.write_text(f'[sweep]\nname = "{name}"\nmode = "{mode}"\n{extra_sweep}\n'
                    f'[[jobs]]\nworkload = "{FAULT}"\ntools = ["none"]\ntimeout_s = {timeout_s}\n'
                    f'retries = {retries}\nparams = {{ {body} }}\n')
    return plan


def _toml(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def ledger(tmp: Path) -> pd.DataFrame:
    """kind, job (its directory name), nonce, gpu, ns: one row per line the workloads wrote."""
    path = tmp / "ledger"
    rows = [line.split() for line in path.read_text().splitlines()] if path.exists() else []
    return pd.DataFrame(rows, columns=["kind", "job", "nonce", "gpu", "ns"]).astype({"ns": "int64"})


def jobs_table(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "jobs.parquet")


def marked_processes(mark: str, exclude=()) -> list[int]:
    """Pids whose environment holds MARK_ENV=mark (the workloads and everything they started)."""
    needle = f"{MARK_ENV}={mark}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{entry.name}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def wait_no_marked(mark: str, timeout_s: float = 5.0, exclude=()) -> list[int]:
    """Poll until no marked process is left (the guard kills asynchronously); return what was left, killed."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = marked_processes(mark, exclude)
        if not left:
            return []
        if time.monotonic() > deadline:
            for pid in left:  # a failing test leaves nothing behind either
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            return left
        time.sleep(0.05)


def sweep_process(args: list[str], mark: str) -> subprocess.Popen:
    """`python -m flashsight sweep ...` as its own process, its environment marked."""
    env = dict(os.environ, **{MARK_ENV: mark}, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "flashsight", "sweep", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def done_runs(led: pd.DataFrame) -> dict[str, list[str]]:
    """job -> nonces of runs that wrote their result and then their `done` line."""
    runs = defaultdict(list)
    for row in led[led.kind == "done"].itertuples():
        runs[row.job].append(row.nonce)
    return runs
