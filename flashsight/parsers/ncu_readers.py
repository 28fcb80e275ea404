"""Reading .ncu-rep files in persistent child processes: one reader per worker, several reports (or several
slices of one large report) at a time, and a crash of the ncu_report module never taking the caller down.

Why child processes at all (both seen on real reports): ncu_report segfaulted on H100 reports (2025.3.1), and
it keeps the unit of some derived__/sass__ metrics from the first report a process loaded (a section-subset
report read after a --set full one gets 'sector' where ncu's CSV says 'byte'). A reader therefore serves
reports of one kind only: the first report it loads fixes its signature (the first kernel's section names and
the GPU), and a report of another signature makes it retire so a fresh process reads that one.

Protocol: `python -m flashsight.parsers.ncu_report --serve`, one JSON request per line on stdin
({"op": "read"|"count", "path", "out", "kernels": [lo, hi], "spans": report_spans' entries of those kernels,
"total": the report's kernel count}), one JSON reply per line on stdout ({"status": "ok"|"retire", "exiting":
true when it exits after this reply, grown past FLASHSIGHT_NCU_READER_MIB}); the outcome (tables, a kernel
count, or the FlashsightError raised) is pickled to `out`. A reader exits at the end of its stdin, so readers
die with the process that started them. A request that takes longer than FLASHSIGHT_NCU_READ_TIMEOUT_S
(default 3600 s: a damaged report can make the module spin) kills its reader and is a one-line InputError.
"""

from __future__ import annotations

import atexit
import json
import os
import pickle
import queue
import select
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from flashsight.errors import FlashsightError, InputError
from flashsight.parsers.ncu_rep_layout import report_spans

READERS_ENV = "FLASHSIGHT_NCU_READERS"  # how many reader processes (default: CPU count, at most 8)
MIN_SLICE = 16  # kernels: a report smaller than two slices is read by one reader
# kernels per request at most: ncu_report keeps every kernel it has read for the life of its process (~15 MB
# each for FlashInfer kernels under --set full), so a large report is read in pieces, each loading it anew
# (a 1.5 GB report loads in 0.7 s), and a reader grown past its limit exits after its reply (ncu_report._serve)
MAX_SLICE = 64
SLICE_BYTES = 32 << 20  # a report file smaller than this is read by one reader without counting its kernels
_RETIRED = object()


class _NoReply(Exception):
    """A reader gave no reply within the read timeout (and was killed)."""


def default_readers() -> int:
    value = os.environ.get(READERS_ENV, "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    return max(1, min(os.cpu_count() or 1, 8))


class _Reader:
    """One persistent reader process."""

    def __init__(self, executable: str, env: dict):
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([executable, "-m", "flashsight.parsers.ncu_report", "--serve"], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                     text=True, bufsize=1)

    def ask(self, request: dict, timeout_s: float) -> dict | None:
        """The reply, or None when the process died (its exit status says how); _NoReply (the process
        killed) when no reply came within timeout_s."""
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)  # one reply line per request
            if not ready:
                self.proc.kill()
                self.proc.wait()
                raise _NoReply
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            self.proc.wait()
            return None
        return json.loads(line)

    def failure(self) -> str:
        code = self.proc.returncode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        self.err.seek(0)
        lines = self.err.read().decode(errors="replace").strip().splitlines()
        return f"{how}: {lines[-1] if lines else 'no output'}"

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


class ReaderPool:
    """Up to `size` persistent readers, handed out to one request at a time each."""

    def __init__(self, size: int, executable: str | None = None):
        from flashsight.host.procs import flashsight_env
        from flashsight.parsers.ncu_report import IN_PROCESS_ENV

        self.size = size
        self.executable = executable or sys.executable
        self.env = flashsight_env(**{IN_PROCESS_ENV: "1"})
        self.idle: queue.LifoQueue[_Reader] = queue.LifoQueue()
        self.started = 0
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(size)

    # --- one request ---------------------------------------------------------------------------------------

    def _request(self, path: Path, op: str, kernels: tuple[int, int] | None = None,
                 spans: list | None = None, total: int = 0):
        from flashsight.parsers.ncu_report import READ_TIMEOUT_ENV

        timeout_s = float(os.environ.get(READ_TIMEOUT_ENV) or 3600)
        for _ in range(3):  # a retiring reader hands the report to a fresh one
            with self.slots:
                reader = self._take()
                with tempfile.TemporaryDirectory(prefix="flashsight-ncu-") as tmp:
                    out = Path(tmp) / "outcome.pickle"
                    try:
                        reply = reader.ask({"op": op, "path": str(path), "out": str(out),
                                            "kernels": list(kernels) if kernels else None,
                                            "spans": spans, "total": total}, timeout_s)
                    except _NoReply:
                        self._drop(reader)
                        raise InputError(f"{path}: the ncu_report module did not finish reading it in "
                                         f"{timeout_s:g} s (a damaged report? {READ_TIMEOUT_ENV} sets the "
                                         f"limit)") from None
                    if reply is None:
                        reason = reader.failure()
                        self._drop(reader)
                        raise InputError(f"{path}: the ncu_report module failed reading it ({reason}); "
                                         f"`flashsight env` shows the ncu-report version in use")
                    if reply.get("status") == "retire":
                        self._drop(reader)
                        continue
                    with open(out, "rb") as f:
                        outcome = pickle.load(f)
                if reply.get("exiting"):  # grown past its memory limit (ncu_report keeps what it read)
                    self._drop(reader)
                else:
                    self.idle.put(reader)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        raise InputError(f"{path}: no ncu_report reader would take it")

    def _take(self) -> _Reader:
        try:
            return self.idle.get_nowait()
        except queue.Empty:
            with self.lock:
                self.started += 1
            return _Reader(self.executable, self.env)

    def _drop(self, reader: _Reader) -> None:
        reader.close()

    # --- reports -------------------------------------------------------------------------------------------

    def read(self, path: Path, spans: list | None = ...) -> dict[str, pd.DataFrame]:
        """Every table of one report; a large one is read in slices of kernels by several readers at once.
        spans: report_spans(path) (None: a layout not judged; left out: worked out here); each reader counts and
        checks the metrics of the kernels it reads, so that work is shared out too (it is most of what checking
        a report costs)."""
        path = Path(path)
        if spans is ...:
            spans = report_spans(path)
        total = len(spans) if spans is not None else 0
        whole = lambda: self._request(path, "read", None, spans, total)  # noqa: E731  (no spans: the reader's own)
        if path.stat().st_size < SLICE_BYTES:
            return whole()
        kernels = total if spans is not None else self._request(path, "count")
        slices = max(min(self.size, kernels // MIN_SLICE), -(-kernels // MAX_SLICE))
        if slices < 2:
            return whole()
        bounds = [round(i * kernels / slices) for i in range(slices + 1)]

        def one(i: int):
            lo, hi = bounds[i], bounds[i + 1]
            hi_open = hi if i < slices - 1 else 1 << 62  # the last slice takes any kernel past the count (refused)
            return self._request(path, "read", (lo, hi_open), spans[lo:hi] if spans is not None else None, total)

        with ThreadPoolExecutor(max_workers=min(slices, self.size), thread_name_prefix="flashsight-ncu") as pool:
            parts = list(pool.map(one, range(slices)))
        return concat_tables(parts)

    def read_many(self, paths: list[Path], layouts: dict[str, list | None]) -> dict[str, dict | FlashsightError]:
        """Several reports at once (each one's tables, or the FlashsightError it raised), by path; layouts:
        report_spans of each path (by str(path))."""

        def one(path):
            try:
                return self.read(Path(path), layouts[str(path)])
            except FlashsightError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=max(1, min(self.size, len(paths))),
                                thread_name_prefix="flashsight-ncu") as pool:
            return dict(zip(map(str, paths), pool.map(one, paths)))

    def close(self) -> None:
        while True:
            try:
                self.idle.get_nowait().close()
            except queue.Empty:
                return


def concat_tables(parts: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Tables of consecutive kernel slices of one report, as if it had been read whole (categoricals united)."""
    names = list(dict.fromkeys(name for part in parts for name in part))
    out = {}
    for name in names:
        frames = [part[name] for part in parts if name in part]
        if len(frames) == 1:
            out[name] = frames[0]
            continue
        merged = pd.concat(frames, ignore_index=True)
        for col in frames[0].columns:
            if all(isinstance(f[col].dtype, pd.CategoricalDtype) for f in frames if col in f):
                merged[col] = pd.api.types.union_categoricals([f[col] for f in frames], ignore_order=True)
        out[name] = merged
    return out


_POOLS: dict[tuple[str, int], ReaderPool] = {}
_POOLS_LOCK = threading.Lock()


def pool(size: int | None = None) -> ReaderPool:
    """The process-wide pool for this interpreter (sys.executable) and size."""
    key = (sys.executable, size or default_readers())
    with _POOLS_LOCK:
        if key not in _POOLS:
            _POOLS[key] = ReaderPool(key[1], key[0])
        return _POOLS[key]


@atexit.register
def _close_pools() -> None:
    for p in list(_POOLS.values()):
        p.close()
