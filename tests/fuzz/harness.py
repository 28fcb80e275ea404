"""Run one hostile input through the real CLI and judge what came back.

Every case runs `flashsight ...` in-process (click's CliRunner) under a wall-clock deadline (SIGALRM: an
endless read or a blocking open is a hang, not a stuck test run). What it may do:
  refused   non-zero exit, every line `flashsight: error: ...` naming the input, and no --out folder
  same      exit 0, every table with the undamaged capture's row count
  warned    exit 0 with a `flashsight: warning:` naming what is missing (a capture without NVTX ranges)
  shorter   exit 0 with exactly the rows of a well-formed shorter capture, which no format can tell from a
            cut one (a report cut exactly between two kernels, a raw page cut at a row end or without one
            metric column): the rows present are the undamaged ones, and the kernel count is said
Anything else is a violation: a traceback, a hang, a multi-line or anonymous error, a partial --out, or exit 0
with rows missing or invented.
"""

from __future__ import annotations

import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from flashsight.cli import main

DEADLINE_S = 60.0
RESULTS: list["Outcome"] = []  # every case of the session, for the summary by class (conftest)


class Hang(BaseException):
    """Raised by the deadline: BaseException, so no `except Exception` in flashsight swallows it."""


@contextmanager
def deadline(seconds: float = DEADLINE_S):
    def _alarm(signum, frame):
        raise Hang(f"no answer within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    klass: str
    case: str
    verdict: str  # refused | same | warned | shorter | violation: ...
    seconds: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.verdict.startswith("violation")


@dataclass
class Ran:
    exit_code: int | None
    output: str
    exception: BaseException | None
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)


def invoke(args: list[str], out: Path | None = None, seconds: float = DEADLINE_S) -> Ran:
    started = time.monotonic()
    try:
        with deadline(seconds):
            result = CliRunner().invoke(main, [str(a) for a in args])
    except Hang as exc:
        return Ran(None, "", exc, time.monotonic() - started)
    exc = result.exception if not isinstance(result.exception, SystemExit) else None
    ran = Ran(result.exit_code, result.output, exc, time.monotonic() - started)
    if out is not None and Path(out).is_dir():
        ran.rows = table_rows(Path(out))
    return ran


def table_rows(folder: Path) -> dict[str, int]:
    return {p.name.removesuffix(".parquet"): pq.ParquetFile(p).metadata.num_rows
            for p in sorted(folder.glob("*.parquet"))}


def judge(ran: Ran, *, named: str, baseline: dict[str, int] | None, out: Path | None,
          shorter: dict[str, int] | None = None, warned: tuple[str, ...] = ()) -> tuple[str, str]:
    """(verdict, detail). named: what every error line must mention (the input). shorter: the rows of the
    well-formed shorter capture this case also is, when no format can tell it from a damaged one; warned:
    tables a warning may excuse (e.g. nvtx_ranges of a capture whose NVTX table is gone)."""
    if isinstance(ran.exception, Hang):
        return "violation: hang", str(ran.exception)
    if ran.exception is not None or "Traceback" in ran.output:
        return "violation: traceback", f"{type(ran.exception).__name__}: {ran.exception}"
    lines = [ln for ln in ran.output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("flashsight: error: ")]
    if ran.exit_code != 0:
        if not errors or any(named not in ln for ln in errors[:1]):
            return "violation: message", ran.output[-300:]
        stray = [ln for ln in lines if not ln.startswith("flashsight: ")]
        if stray:
            return "violation: message", f"non-error lines with a failure: {stray[:2]}"
        if out is not None and Path(out).exists():
            return "violation: partial", f"{out} exists after a failure"
        return "refused", errors[0][:200]
    if baseline is None:
        return "same", ""
    if ran.rows == baseline:
        return "same", ""
    if shorter is not None and ran.rows == shorter and any(" ncu kernel" in ln or " GPU kernels" in ln
                                                           for ln in lines):
        return "shorter", f"{ran.rows}"
    warnings = [ln for ln in lines if ln.startswith("flashsight: warning: ") and named in ln]
    differing = {t for t in set(ran.rows) | set(baseline) if ran.rows.get(t) != baseline.get(t)}
    if warnings and differing and differing <= set(warned):
        return "warned", warnings[0][:200]
    return "violation: rows", f"got {ran.rows}, undamaged {baseline}"


def record(klass: str, case: str, ran: Ran, verdict: str, detail: str) -> Outcome:
    outcome = Outcome(klass, case, verdict, ran.seconds, detail)
    RESULTS.append(outcome)
    return outcome


def check(klass: str, case: str, ran: Ran, **judging) -> None:
    """Judge, record for the summary, and fail the test on a violation."""
    import pytest

    verdict, detail = judge(ran, **judging)
    outcome = record(klass, case, ran, verdict, detail)
    if not outcome.ok:
        pytest.fail(f"{klass} {case}: {verdict}: {detail}")


def parse_bytes(tmp_path: Path, name: str, data: bytes, extra_args: tuple = ()) -> tuple[Path, Path, Ran]:
    """Write `data` as tmp_path/name and run `flashsight parse` on it: (input, out folder, what happened)."""
    path = tmp_path / name
    path.write_bytes(data)
    out = tmp_path / "out"
    return path, out, invoke(["parse", path, "--out", out, *extra_args], out)


def rows_by_kernel(folder: Path) -> dict[str, list[int]]:
    """Per table, the kernel_id of each row (to know the rows of a report holding only its first kernels)."""
    import pandas as pd

    out = {}
    for p in sorted(folder.glob("*.parquet")):
        df = pd.read_parquet(p, columns=None)
        if "kernel_id" in df.columns:
            out[p.name.removesuffix(".parquet")] = df["kernel_id"].tolist()
    return out


def rows_of_kernels(by_kernel: dict[str, list[int]], kept) -> dict[str, int]:
    kept = set(kept)
    return {t: sum(1 for k in ids if k in kept) for t, ids in by_kernel.items()}
