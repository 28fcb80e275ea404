"""Launching Nsight Systems and turning what it leaves (.qdstrm, .nsys-rep) into a SQLite export.

Seen in practice, and handled here:
- with CPU sampling on, nsys can hang at shutdown and writes huge .qdstrm files: the defaults turn it off;
- some nsys builds cannot find their own importer and leave only a .qdstrm: we run QdstrmImporter ourselves;
- a killed run can leave an `nsys --start-agent` process behind: we end the ones that appeared, by pid.
Every step runs through procs.run_logged (own process group, timeout, log file).
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from flashsight.errors import InputError, ToolError
from flashsight.host import procs
from flashsight.profilers import tools
from flashsight.profilers.base import Profiler
from flashsight.schema.contract import JOB_DIR_ENV
from flashsight.schema.layout import REPORT_STEM

LEAN_FLAGS = ("--sample=none", "--cpuctxsw=none", "--force-overwrite=true")
SUFFIXES = (".sqlite", ".nsys-rep", ".qdstrm")
_AGENT_MARK = "--start-agent"


def nsys_profile_argv(
    out_stem: Path, target_argv: list[str], trace: str = "cuda,nvtx", extra=(), nsys: str | None = None
) -> list[str]:
    """argv for `nsys profile` writing <out_stem>.nsys-rep (or .qdstrm), with CPU sampling off."""
    nsys = nsys or tools.require_nsys().path
    return [nsys, "profile", f"--trace={trace}", *LEAN_FLAGS, *extra, "-o", str(out_stem), *target_argv]


def stem_of(path: Path) -> Path:
    """fi.nsys-rep -> fi; fi.sqlite -> fi; fi -> fi."""
    path = Path(path)
    return path.with_suffix("") if path.suffix in SUFFIXES else path


def to_sqlite(path: Path, timeout_s: float = 900, log_path: Path | None = None, out_dir: Path | None = None) -> Path:
    """The SQLite export for a capture given as .sqlite, .nsys-rep or .qdstrm (or their common stem).

    Reuses an export at least as new as its report; otherwise imports (.qdstrm -> .nsys-rep, when only the
    .qdstrm exists) and exports. New files go to out_dir, else beside the input, else (read-only input
    folder) to <tmp>/flashsight-nsys. Only finished files get their real names. The tools' log goes to
    log_path when given (a job keeps it in its folder); otherwise to a temporary file, quoted in the error when
    a step fails and removed either way: a failed parse leaves nothing beside the input.
    """
    path = Path(path)
    if path.suffix == ".sqlite":
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        return path
    stem = stem_of(path)
    if path.suffix in SUFFIXES and not path.is_file():
        raise InputError(f"{path}: no such file")
    qdstrm, rep = stem.with_name(stem.name + ".qdstrm"), stem.with_name(stem.name + ".nsys-rep")
    if not (rep.is_file() or qdstrm.is_file()):
        raise InputError(f"{path}: no .nsys-rep or .qdstrm capture found for {stem.name}")
    dest = _writable_dir(Path(out_dir) if out_dir else stem.parent)
    source = rep if rep.is_file() else qdstrm
    for sqlite in (stem.with_name(stem.name + ".sqlite"), dest / f"{stem.name}.sqlite"):
        if sqlite.is_file() and sqlite.stat().st_mtime >= source.stat().st_mtime:
            return sqlite
    sqlite = dest / f"{stem.name}.sqlite"
    with _tool_log(log_path) as log, ending_new_agents():
        if not rep.is_file():
            rep = dest / f"{stem.name}.nsys-rep"
            _import_qdstrm(qdstrm, rep, timeout_s, log)
        _export_sqlite(rep, sqlite, timeout_s, log)
    return sqlite


@contextmanager
def _tool_log(log_path: Path | None):
    """The given log path, or a temporary one removed afterwards."""
    if log_path is not None:
        yield Path(log_path)
        return
    with tempfile.TemporaryDirectory(prefix="flashsight-nsys-log-") as tmp:
        yield Path(tmp) / _TEMP_LOG


_TEMP_LOG = "flashsight-temporary-export.log"


def _writable_dir(folder: Path) -> Path:
    if os.access(folder, os.W_OK):
        return folder
    fallback = Path(tempfile.gettempdir()) / "flashsight-nsys"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def _import_qdstrm(qdstrm: Path, rep: Path, timeout_s: float, log_path: Path) -> None:
    importer = tools.require_importer()
    tmp = rep.with_name(f".{rep.stem}.{os.getpid()}.tmp.nsys-rep")  # no half report under the real name
    try:
        done = procs.run_logged([importer, "-i", str(qdstrm), "-o", str(tmp), "-f"], log_path, timeout_s=timeout_s)
        if not done.ok or not tmp.is_file():
            raise _tool_failure(f"QdstrmImporter on {qdstrm}", done, log_path, hint="a truncated or foreign .qdstrm?")
        os.replace(tmp, rep)
    finally:
        tmp.unlink(missing_ok=True)


def _export_sqlite(rep: Path, sqlite: Path, timeout_s: float, log_path: Path) -> None:
    nsys = tools.require_nsys().path
    tmp = sqlite.with_name(f".{sqlite.name}.{os.getpid()}.tmp.sqlite")  # no half export under the real name
    argv = [nsys, "export", "--type", "sqlite", "--force-overwrite", "true", "-o", str(tmp), str(rep)]
    try:
        done = procs.run_logged(argv, log_path, timeout_s=timeout_s)
        if not done.ok or not tmp.is_file():
            raise _tool_failure(f"nsys export of {rep}", done, log_path, hint="a corrupt or foreign .nsys-rep?")
        os.replace(tmp, sqlite)
    finally:
        tmp.unlink(missing_ok=True)


def _tool_failure(what: str, done: procs.Completed, log_path: Path, hint: str) -> ToolError:
    # The tool's last words, on one line (progress bars use carriage returns).
    lines = [ln.strip() for ln in done.log_tail(8).replace("\r", "\n").splitlines() if ln.strip()]
    detail = f": {lines[-1][:300]}" if lines else ""
    kept = f"; log {log_path}" if log_path.name != _TEMP_LOG else ""  # a temporary log is gone by the time it is read
    return ToolError(f"{what} failed ({done.describe_failure()}; {hint}{kept}){detail}")


# --- left-behind agents ------------------------------------------------------------------------------------


def _environ_has(pid: str, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return marker in f.read().split(b"\0")
    except OSError:
        return False


def agent_pids(env_marker: str | None = None) -> set[int]:
    """Pids of this user's running `nsys ... --start-agent` processes (read from /proc, no pkill).

    env_marker ('NAME=value'): only agents whose environment holds it, i.e. those one job started (an agent
    inherits the environment of the nsys that launched it), so parallel jobs never end each other's agents.
    """
    pids: set[int] = set()
    uid = os.getuid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0].decode(errors="replace")).startswith("nsys") and _AGENT_MARK.encode() in argv:
            if env_marker is None or _environ_has(entry.name, env_marker.encode()):
                pids.add(int(entry.name))
    return pids


def end_pids(pids: set[int], grace_s: float = 3.0) -> None:
    """SIGTERM each pid, then SIGKILL the ones still alive after the grace period."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0.0)):
        alive = set()
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.add(pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while alive and time.monotonic() < deadline:
            alive = {p for p in alive if procs.pid_alive(p)}
            time.sleep(0.05)
        pids = alive
        if not pids:
            return


@contextmanager
def ending_new_agents(env_marker: str | None = None):
    """End every nsys agent that appears while the block runs (and only those; see agent_pids for env_marker)."""
    before = agent_pids(env_marker)
    try:
        yield
    finally:
        new = agent_pids(env_marker) - before
        if new:
            end_pids(new)


def profile(
    out_stem: Path, target_argv: list[str], log_path: Path, *, trace: str = "cuda,nvtx", extra=(), timeout_s: float = 1800
) -> procs.Completed:
    """Run `nsys profile` under a timeout and end any agent it leaves behind. Then call to_sqlite(out_stem)."""
    with ending_new_agents():
        return procs.run_logged(nsys_profile_argv(out_stem, target_argv, trace, extra), log_path, timeout_s=timeout_s)


def needs_export(path: Path) -> bool:
    """A .nsys-rep or .qdstrm: nsys must turn it into SQLite before the parsers can read it."""
    return Path(path).suffix in (".nsys-rep", ".qdstrm")


class Nsys(Profiler):
    name = "nsys"
    captures = True
    artifact_suffixes = (".nsys-rep", ".qdstrm", ".sqlite")

    def require(self) -> None:
        tools.require_nsys()

    def argv(self, target_argv, job_dir, nvtx_includes, options):
        return nsys_profile_argv(Path(job_dir) / REPORT_STEM, list(target_argv))

    def around_run(self, job_dir):
        # nsys can leave its `--start-agent` daemon behind (outside the job's process group): end this job's.
        return ending_new_agents(env_marker=f"{JOB_DIR_ENV}={job_dir}")

    def read(self, job_dir):
        from flashsight.parsers.nsys_sqlite import read_nsys

        artifact = self.artifact(job_dir)
        sqlite = to_sqlite(artifact, log_path=Path(job_dir) / f"{REPORT_STEM}.export.log")
        return read_nsys(sqlite), [sqlite]

    def warnings(self, rows: dict[str, int], job_dir: Path) -> list[str]:
        if rows.get("nvtx_ranges", 1) > 0:
            return []
        from flashsight.parsers import NO_NVTX_WARNING

        return [f"nsys recorded {NO_NVTX_WARNING}"]
