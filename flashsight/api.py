"""The Python face: `load` a run (or captures) as a `Run`, and the lifecycles the CLI drives (run, profile, sweep).

    import flashsight
    run = flashsight.load("runs/night")          # a sweep's run directory, a profile's job directory,
    run.jobs                                     # one capture (.sqlite/.nsys-rep/.ncu-rep/ncu CSV), or a list
    run.table("gpu_kernels")                     # a canonical table, with job_id/config_id/params where known
    run.configs                                  # one row per config: config_id, workload, params

Tables load lazily from Parquet (or are parsed once from captures); every Run method returns a DataFrame.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from flashsight.errors import FlashsightError, InputError
from flashsight.schema.config import config_id
from flashsight.schema.layout import ENV_FILE, JOB_FILE, JOBS_TABLE, RESULT_FILE, STATE_FILE

# Tables a run directory may hold besides the canonical ones (jobs is read through Run.jobs).
_NOT_TABLES = {JOBS_TABLE}


@dataclass
class Run:
    """The tables of one run (sweep or job directory), of captures, or of several runs together."""

    path: Path | None
    kind: str  # sweep | job | tables | captures | runs
    _tables: dict[str, pd.DataFrame | Path] = field(default_factory=dict, repr=False)
    _jobs: pd.DataFrame | None = field(default=None, repr=False)
    failures: dict[str, str] = field(default_factory=dict)  # captures that could not be read: path -> reason
    env: dict | None = field(default=None, repr=False)  # env.json of the run, when it has one

    @property
    def table_names(self) -> list[str]:
        return sorted(self._tables)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table, loaded."""
        return {name: self.table(name) for name in self.table_names}

    def table(self, name: str) -> pd.DataFrame:
        """One canonical table (e.g. gpu_kernels, ncu_kernels, kernel_observations)."""
        if name not in self._tables:
            raise InputError(f"{self.path or 'this run'}: no table {name!r} (it has: {', '.join(self.table_names) or 'none'})")
        value = self._tables[name]
        if isinstance(value, Path):
            value = self._tables[name] = _with_config_ids(_read_parquet(value), self._jobs)
        return value

    def has(self, name: str) -> bool:
        return name in self._tables

    @property
    def jobs(self) -> pd.DataFrame:
        """One row per job: job_id, config_id, workload, tool, params, status, ... (empty for bare captures)."""
        return self._jobs if self._jobs is not None else pd.DataFrame(
            {"job_id": pd.Series(dtype="string"), "config_id": pd.Series(dtype="string")})

    @property
    def configs(self) -> pd.DataFrame:
        """One row per config: config_id, workload and every parameter (tools folded together)."""
        jobs = self.jobs
        if jobs.empty or "config_id" not in jobs:
            return pd.DataFrame({"config_id": pd.Series(dtype="string")})
        drop = [c for c in ("job_id", "tool", "status", "attempts", "started_at", "duration_s", "error", "log_tail",
                            "ncu_options", "batch_id", "job_dir") if c in jobs]
        return jobs.drop(columns=drop).drop_duplicates("config_id").reset_index(drop=True)

    def __repr__(self) -> str:
        jobs = f", {len(self.jobs)} jobs" if self._jobs is not None else ""
        return f"<flashsight.Run {self.kind} {self.path or ''}{jobs}, tables: {', '.join(self.table_names)}>"


# ------------------------------------------------------------------------------------------------ loading


def load(path: str | Path | Iterable[str | Path]) -> Run:
    """A Run from a run directory (sweep or profile), a folder of parsed tables, one capture, or a list of these."""
    if not isinstance(path, (str, Path)):
        return _combine([load(p) for p in path])
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file():
        return parse([path])
    jobs = _load_jobs(path)
    tables = {p.name.removesuffix(".parquet"): p for p in sorted(path.glob("*.parquet"))
              if not p.name.startswith(".") and p.name.removesuffix(".parquet") not in _NOT_TABLES}
    if jobs is None and not tables:
        raise InputError(f"{path}: not a flashsight run (no {STATE_FILE}, {JOB_FILE}, {JOBS_TABLE}.parquet or "
                         "tables in it)")
    kind = "sweep" if (path / f"{JOBS_TABLE}.parquet").exists() else ("job" if jobs is not None else "tables")
    return Run(path=path, kind=kind, _tables=tables, _jobs=jobs, env=_read_json(path / ENV_FILE))


def parse(paths: Iterable[str | Path]) -> Run:
    """A Run of captures read now (nsys reports are exported with nsys first). Unreadable ones are in .failures;
    when none can be read, InputError."""
    from flashsight.profilers import read_captures

    paths = [Path(p) for p in paths]
    tables, failures = read_captures(paths)
    if not tables and failures:
        raise InputError(next(iter(failures.values())))
    return Run(path=paths[0] if len(paths) == 1 else None, kind="captures", _tables=dict(tables), failures=failures)


def _load_jobs(path: Path) -> pd.DataFrame | None:
    if (path / f"{JOBS_TABLE}.parquet").exists():
        jobs = _read_parquet(path / f"{JOBS_TABLE}.parquet")
        if "config_id" not in jobs.columns:  # a run directory of flashsight 0.1
            ids = [config_id(w, json.loads(p)) for w, p in zip(jobs["workload"], jobs["params_json"])]
            jobs.insert(1, "config_id", pd.Series(ids, dtype="string", index=jobs.index))
        return jobs
    record = _read_json(path / JOB_FILE)
    if record is None:
        return None
    params = record.get("params") or {}
    row = {"job_id": path.name, "config_id": config_id(record["workload"], params), "workload": record["workload"],
           "tool": record.get("tool"), **params, "status": record.get("status"),
           "duration_s": record.get("duration_s"), "error": record.get("error"), "params_json": json.dumps(params)}
    return pd.DataFrame([row])


def _with_config_ids(df: pd.DataFrame, jobs: pd.DataFrame | None) -> pd.DataFrame:
    """Tables of 0.1 sweeps carry job_id but no config_id: take it from the jobs table."""
    if jobs is None or "config_id" in df.columns or "job_id" not in df.columns or "config_id" not in jobs:
        return df
    ids = dict(zip(jobs["job_id"], jobs["config_id"]))
    df.insert(df.columns.get_loc("job_id") + 1, "config_id", df["job_id"].map(ids).astype("string"))
    return df


def _combine(runs: list[Run]) -> Run:
    """Several runs as one: each table concatenated, with a `run` column naming where each row came from."""
    if not runs:
        raise InputError("nothing to load: the list is empty")
    tables: dict[str, list[pd.DataFrame]] = {}
    jobs = []
    for run in runs:
        label = str(run.path) if run.path else f"run{len(jobs)}"
        for name in run.table_names:
            tables.setdefault(name, []).append(run.table(name).assign(run=label))
        if run._jobs is not None:
            jobs.append(run._jobs.assign(run=label))
    merged = {name: pd.concat(dfs, ignore_index=True) for name, dfs in tables.items()}
    failures = {k: v for run in runs for k, v in run.failures.items()}
    return Run(path=None, kind="runs", _tables=merged, _jobs=pd.concat(jobs, ignore_index=True) if jobs else None,
               failures=failures)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise InputError(f"{path}: unreadable Parquet ({str(exc).splitlines()[0]})") from None


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------------------------------------ stalls


STALL_TABLES = ("ncu_kernels", "warp_stalls", "ncu_source")


def stall_tables(target: Path) -> list[tuple[str, dict[str, pd.DataFrame]]]:
    """[(label, tables)] for `flashsight stalls`: a run folder (its parsed tables, else its *.ncu-rep) or one file."""
    from flashsight.parsers.ncu_report import read_ncu

    target = Path(target)
    if not target.exists():
        raise InputError(f"{target}: no such file or folder")
    if target.is_file():
        return [(target.name, read_ncu(target))]
    if any((target / f"{name}.parquet").exists() for name in ("warp_stalls", "ncu_kernels")):
        run = load(target)
        return [(target.name, {name: run.table(name) for name in STALL_TABLES if run.has(name)})]
    reports = sorted(target.rglob("*.ncu-rep"))
    if not reports:
        raise InputError(f"{target}: no ncu tables (ncu_kernels.parquet, warp_stalls.parquet) and no .ncu-rep in it")
    return [(str(r.relative_to(target)), read_ncu(r)) for r in reports]


# ------------------------------------------------------------------------------------------------ running


def default_out(kind: str, workload: str) -> Path:
    stem = Path(workload).stem.replace(":", "_").replace(".", "_") or "job"
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{stem}"


def run_workload(workload: str, given: dict, out: Path | None = None, *, warmup: int = 10,
                 iters: int | None = None) -> tuple[dict | None, Path]:
    """Run a workload once without a profiler: (its result record, the job directory).

    Built-ins run in this process; a user's file or module:function in a process of its own."""
    from flashsight.environment import probe
    from flashsight.host.files import write_json
    from flashsight.orchestrator.targets import is_external
    from flashsight.workloads import get_workload
    from flashsight.workloads.harness import run_workload as run_builtin

    if is_external(workload):
        return _run_external(workload, given, out)
    target = get_workload(workload)
    target.resolve(given)  # bad parameters fail before any output directory exists
    out = out or default_out("run", workload)
    result = run_builtin(target, given, job_dir=out, warmup=warmup, iters=iters)
    write_json(probe(), out / ENV_FILE)
    return result, out


def _run_external(workload: str, given: dict, out: Path | None) -> tuple[dict | None, Path]:
    from flashsight.environment import write_env_json
    from flashsight.orchestrator.job import raise_for, run_job
    from flashsight.orchestrator.targets import resolve_target

    target = resolve_target(workload, given)
    out = out or default_out("run", workload)
    out.mkdir(parents=True, exist_ok=True)
    write_env_json(out)
    outcome = run_job(target, "none", out)
    raise_for(outcome, out)
    return (outcome.result if (out / RESULT_FILE).exists() else None), out


def profile(workload: str, given: dict, tool: str, out: Path | None = None, *, timeout_s: float = 1800,
            options=None, nvtx_includes: tuple[str, ...] = ()):
    """One config under one tool, parsed: (JobOutcome, job directory). A failed job raises WorkloadError."""
    from flashsight.environment import write_env_json
    from flashsight.orchestrator.job import raise_for, run_job
    from flashsight.orchestrator.targets import resolve_target

    target = resolve_target(workload, given, nvtx_includes)
    out = out or default_out(tool, workload)
    out.mkdir(parents=True, exist_ok=True)
    write_env_json(out)
    outcome = run_job(target, tool, out, timeout_s=timeout_s, options=options)
    raise_for(outcome, out)
    return outcome, out


@dataclass
class SweepSession:
    """An opened sweep: the store, the plan, what --resume found, and the runner, ready to run()."""

    out: Path
    plan: object
    sync: dict
    options: object
    store: object

    def run(self, wait, on_event=None):
        """Run every pending job (wait(workers) shows progress, on_event(kind, job, detail) hears each change);
        SIGTERM ends it like Ctrl-C. Returns the runner's Summary."""
        import signal

        from flashsight.orchestrator.runner import Sweep

        def _stop(signum, frame):  # SIGTERM (a scheduler, `timeout`) ends the sweep as cleanly as Ctrl-C
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            return Sweep(self.out, self.plan, self.options, on_event=on_event).run(wait)
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.store.close()


def open_sweep(plan_path: Path | None, out: Path | None, *, resume: bool = False, retry_failed: bool = False,
               gpus: str | None = None, mode: str | None = None, batch_size: int | None = None,
               min_free_gb: float | None = None) -> SweepSession:
    """Load the plan (or the one stored in `out` on --resume), open the run directory, build the runner."""
    from flashsight.orchestrator.plan import load_plan
    from flashsight.orchestrator.runner import SweepOptions, open_run, parse_gpus

    options = SweepOptions(gpus=parse_gpus(gpus), mode=mode, batch_size=batch_size, min_free_gb=min_free_gb)
    if resume and out is None:
        raise FlashsightError("--resume needs --out DIR (the sweep to continue)")
    loaded = load_plan(plan_path) if (plan_path is not None or not resume) else None
    out = out or default_out("sweep", loaded.name)
    store, loaded, sync = open_run(out, loaded, resume=resume, retry_failed=retry_failed)
    return SweepSession(out=out, plan=loaded, sync=sync, options=options, store=store)


def preview_sweep(plan_path: Path | None, out: Path | None, *, resume: bool, mode: str | None,
                  batch_size: int | None):
    """What --dry-run shows: (plan, status by job id, estimated seconds, mode, configs per process)."""
    from flashsight.orchestrator.estimate import preview
    from flashsight.orchestrator.plan import load_plan

    loaded = load_plan(plan_path) if (plan_path is not None or not resume) else None
    return preview(loaded, out, mode, batch_size)


def sweep_ncu_costs(jobs: list) -> pd.DataFrame:
    """--dry-run's ncu lines: replay passes x kernels x seconds per pass, and what each section costs."""
    from flashsight.orchestrator.estimate import ncu_cost_table

    return ncu_cost_table(jobs)
