"""The Python face: `load` a run (or captures) as a `Run`, and the lifecycles the CLI drives (run, profile, sweep).

    import flashsight
    run = flashsight.load("runs/night")          # a sweep's run directory, a profile's job directory,
    run.jobs                                     # one capture (.sqlite/.nsys-rep/.ncu-rep/ncu CSV), or a list
    run.table("gpu_kernels")                     # a canonical table, with job_id/config_id/params where known
    run.configs                                  # one row per config: config_id, workload, params
    run.table("kernel_observations")             # nsys time × ncu counters per config and kernel

Tables load lazily from Parquet (or are parsed once from captures); every Run method returns a DataFrame.
A run directory without kernel_observations / workload_results / job_conditions files (one of flashsight 0.1,
or a profile's job directory) gets them computed from its tables and its jobs' result.json / conditions.json.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from flashsight.errors import FlashsightError, InputError, NotComparableError, ToolError
from flashsight.schema.config import config_id
from flashsight.schema.layout import (CONDITIONS_FILE, ENV_FILE, JOB_FILE, JOBS_TABLE, PLAN_FILE, RESULT_FILE,
                                      SAMPLE_DIR, STATE_FILE)

OBSERVATIONS = "kernel_observations"
RESULTS = "workload_results"
CONDITIONS = "job_conditions"

# Tables a run directory may hold besides the canonical ones (jobs is read through Run.jobs).
_NOT_TABLES = {JOBS_TABLE}


@dataclass
class Run:
    """The tables of one run (sweep or job directory), of captures, or of several runs together."""

    path: Path | None
    kind: str  # sweep | job | tables | captures | runs
    _tables: dict[str, pd.DataFrame | Path | Callable[[], pd.DataFrame]] = field(default_factory=dict, repr=False)
    _jobs: pd.DataFrame | None = field(default=None, repr=False)
    failures: dict[str, str] = field(default_factory=dict)  # captures that could not be read: path -> reason
    env: dict | None = field(default=None, repr=False)  # env.json of the run, when it has one
    plan_text: str | None = field(default=None, repr=False)  # plan.toml of a sweep, as last given

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
        elif callable(value):  # computed from the other tables on first use
            value = self._tables[name] = value()
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
                            "ncu_options", "batch_id", "task_id", "job_dir") if c in jobs]
        return jobs.drop(columns=drop).drop_duplicates("config_id").reset_index(drop=True)

    def report(self, out: str | Path | None = None, baseline: "Run | str | Path | None" = None) -> dict[str, Path]:
        """Write report.md (figures as PNG beside it) and report.html (one self-contained page) into `out`
        (default <run>/report/); returns {'markdown', 'html', 'figures'} paths. `baseline` (a Run or a run
        directory) adds what changed against it."""
        from flashsight.outputs.report import write_report

        if out is None and (self.path is None or not Path(self.path).is_dir()):
            raise InputError("this run has no folder of its own: give the report an output folder (--out)")
        if baseline is not None and not isinstance(baseline, Run):
            baseline = load(baseline)
        try:
            return write_report(self, Path(out) if out is not None else None, baseline=baseline)
        except OSError as exc:
            raise InputError(f"{exc.filename or out}: cannot write the report ({exc.strerror or exc})") from None

    def compare(self, other: "Run", *, threshold_pct: float = 5.0, floor_pct: float | None = None,
                allow_mismatch: bool = False) -> pd.DataFrame:
        """What changed from this run (the base) to `other`: one row per config and kernel with both nsys medians,
        their ratio and interval, a verdict and the counters that moved (see compare_runs)."""
        return compare_runs(self, other, threshold_pct=threshold_pct, floor_pct=floor_pct,
                            allow_mismatch=allow_mismatch)

    def __repr__(self) -> str:
        jobs = f", {len(self.jobs)} jobs" if self._jobs is not None else ""
        return f"<flashsight.Run {self.kind} {self.path or ''}{jobs}, tables: {', '.join(self.table_names)}>"


# ------------------------------------------------------------------------------------------------ loading


def load(path: str | Path | Iterable[str | Path]) -> Run:
    """A Run from a run directory (sweep or profile), a folder of parsed tables, one capture, or a list of these."""
    if not isinstance(path, (str, Path)):
        return _combine([load(p) for p in path])
    path = Path(path)
    _require_exists(path)
    if not path.is_dir():  # a capture; parse says what else it may be (a FIFO, a device)
        return parse([path])
    jobs = _load_jobs(path)
    tables = {p.name.removesuffix(".parquet"): p for p in sorted(path.glob("*.parquet"))
              if not p.name.startswith(".") and p.name.removesuffix(".parquet") not in _NOT_TABLES}
    if jobs is None and not tables:
        raise InputError(f"{path}: not a flashsight run (no {STATE_FILE}, {JOB_FILE}, {JOBS_TABLE}.parquet or "
                         "tables in it)")
    kind = "sweep" if (path / f"{JOBS_TABLE}.parquet").exists() else ("job" if jobs is not None else "tables")
    plan = path / PLAN_FILE
    run = Run(path=path, kind=kind, _tables=tables, _jobs=jobs, env=_read_json(path / ENV_FILE),
              plan_text=plan.read_text() if plan.is_file() else None)
    _add_computed_tables(run)
    return run


def parse(paths: Iterable[str | Path]) -> Run:
    """A Run of captures read now (nsys reports are exported with nsys first). Unreadable ones are in .failures;
    when none can be read, InputError."""
    from flashsight.profilers import read_captures

    paths = [Path(p) for p in paths]
    tables, failures = read_captures(paths)
    if not tables and failures:
        raise InputError(next(iter(failures.values())))
    run = Run(path=paths[0] if len(paths) == 1 else None, kind="captures", _tables=dict(tables), failures=failures)
    if "gpu_kernels" in tables and "ncu_kernels" in tables:  # an nsys capture and an ncu report of the same ranges
        _add_computed_tables(run)
    return run


def _add_computed_tables(run: Run) -> None:
    """The tables a run may lack as files, computed on first use: job records from the job directories, and the
    joint observation from the tables."""
    job_dirs = _job_dirs(run)
    for name, file, build in ((RESULTS, RESULT_FILE, "workload_results"),
                              (CONDITIONS, CONDITIONS_FILE, "job_conditions")):
        if name not in run._tables and any((d / file).is_file() for d in job_dirs.values()):
            run._tables[name] = lambda file=file, build=build: _records_table(run, job_dirs, file, build)
    if OBSERVATIONS not in run._tables and ({"gpu_kernels", "ncu_kernels"} & set(run._tables)):
        run._tables[OBSERVATIONS] = lambda: _observations(run)


def _job_dirs(run: Run) -> dict[str, Path]:
    if run.path is None or run._jobs is None or run._jobs.empty:
        return {}
    if run.kind == "job":  # a profile's job directory is the job
        return {str(run._jobs["job_id"].iloc[0]): run.path}
    if "job_dir" not in run._jobs:
        return {}
    return {str(j): run.path / d for j, d in zip(run._jobs["job_id"], run._jobs["job_dir"]) if isinstance(d, str)}


def _records_table(run: Run, job_dirs: dict[str, Path], file: str, build: str) -> pd.DataFrame:
    from flashsight.analysis import job_conditions, workload_results

    jobs = run._jobs.set_index("job_id")
    records = []
    for job_id, job_dir in job_dirs.items():
        record = _read_json(job_dir / file)
        if isinstance(record, dict):
            params = json.loads(jobs.at[job_id, "params_json"]) if "params_json" in jobs else {}
            records.append(({"job_id": job_id, "config_id": jobs.at[job_id, "config_id"],
                             "workload": jobs.at[job_id, "workload"], "tool": jobs.at[job_id, "tool"],
                             "params": params}, record))
    if build == "workload_results":
        return workload_results.workload_results(records)
    return job_conditions.job_conditions(records)


def _observations(run: Run) -> pd.DataFrame:
    from flashsight.analysis.observations import kernel_observations

    inputs = ("gpu_kernels", "ncu_kernels", "ncu_metrics", "warp_stalls", RESULTS, CONDITIONS)
    tables = {name: run.table(name) for name in inputs if run.has(name)}
    return kernel_observations(tables, run._jobs)


@dataclass
class ParseOutcome:
    """What `parse_into` did: the tables read, the inputs that failed, notes per input, the files written."""

    tables: dict[str, pd.DataFrame]
    failures: dict[str, str]
    notes: list
    written: list[Path]


def parse_into(paths: Iterable[str | Path], out: str | Path, formats=("parquet",)) -> ParseOutcome:
    """Read captures and replace the table set in folder `out` as a whole (`flashsight parse`).

    The tables are written into a new folder beside `out`, which then takes its place: no table of an earlier
    parse survives, and when any input fails nothing is written and the earlier set stays as it was.
    `out` must be a new or empty folder, or one holding only table files (a run directory is refused).
    """
    from flashsight.host.files import replace_table_dir, staging_dir, write_tables
    from flashsight.profilers import read_captures

    out = _table_folder(Path(out))
    _probe_writable(out, staging_dir)  # before a long read: a folder we cannot write fails now
    notes: list = []
    tables, failures = read_captures([Path(p) for p in paths], notes=notes)
    if failures or not tables:
        return ParseOutcome(tables, failures, notes, [])
    staged = _writable_staging(out, staging_dir)
    try:
        try:
            written = write_tables(tables, staged, formats)
            replace_table_dir(staged, out)
        except OSError as exc:
            raise InputError(f"{out}: could not write the tables ({exc.strerror or exc})") from None
        return ParseOutcome(tables, failures, notes, [out / p.name for p in written])
    finally:
        if staged.exists():
            import shutil

            shutil.rmtree(staged, ignore_errors=True)


def _table_folder(out: Path) -> Path:
    """`out` as parse may replace it (a symlink is followed); InputError when it cannot be one."""
    import os
    import stat

    from flashsight.host.files import foreign_entries

    try:
        st = os.stat(out)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise InputError(f"{out}: unusable as --out ({exc.strerror})") from None
    if st is None:
        return Path(os.path.abspath(out))
    if not stat.S_ISDIR(st.st_mode):
        kind = "a file" if stat.S_ISREG(st.st_mode) else "not a folder (a device, FIFO or socket)"
        raise InputError(f"{out}: --out is {kind}; give a folder for the tables")
    out = out.resolve()
    try:
        foreign = foreign_entries(out)
    except OSError as exc:
        raise InputError(f"{out}: cannot read the --out folder ({exc.strerror})") from None
    if foreign:
        raise InputError(f"{out}: --out holds more than tables ({', '.join(foreign[:3])}"
                         f"{', ...' if len(foreign) > 3 else ''}); parse replaces the whole folder: give a new one")
    return out


def _probe_writable(out: Path, staging_dir) -> None:
    """Can a folder be made where `out` goes? Tried in its nearest existing ancestor, leaving nothing behind."""
    import os

    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{out}: cannot write there ({ancestor} is not a folder)")
    try:
        os.rmdir(staging_dir(ancestor / out.name))
    except OSError as exc:
        raise InputError(f"{out}: cannot write there ({exc.strerror or exc}: {ancestor})") from None


def _writable_staging(out: Path, staging_dir) -> Path:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return staging_dir(out)
    except OSError as exc:
        where = exc.filename or out.parent
        raise InputError(f"{out}: cannot write there ({exc.strerror or exc}: {where})") from None


def _require_exists(path: Path) -> None:
    """InputError for a path that is not there, saying why (a dangling link, a loop or a name too long is not
    'no such file')."""
    import errno
    import os

    from flashsight.parsers.input_file import check_input_file

    try:
        os.stat(path)
        return
    except FileNotFoundError:
        if not os.path.lexists(path):
            raise InputError(f"{path}: no such file or folder") from None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise InputError(f"{path}: a component of the path is not a folder") from None
    check_input_file(path)  # raises, naming what the path is


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


# ------------------------------------------------------------------------------------------------ sample




def sample() -> Run:
    """The real run shipped inside the package (tables only): `flashsight report --sample` works on any laptop."""
    if not (SAMPLE_DIR / f"{JOBS_TABLE}.parquet").exists():
        raise InputError(f"{SAMPLE_DIR}: this flashsight ships no sample run")
    return load(SAMPLE_DIR)

# ------------------------------------------------------------------------------------------------ compare


COMPARE_TABLES = ("gpu_kernels", "ncu_kernels", "warp_stalls", "kernel_observations", "job_conditions")


def compare_runs(base: Run, new: Run, *, threshold_pct: float = 5.0, floor_pct: float | None = None,
                 allow_mismatch: bool = False) -> pd.DataFrame:
    """Per config and kernel of two runs: base/new nsys median, ratio with a block-bootstrap interval, verdict
    (regressed / improved / unchanged / inconclusive; base_only / new_only / not_compared for what one side
    lacks) and the ncu counters that moved (analysis/compare.py says how each is decided).

    Runs that differ in GPU, driver, clocks, tool or library versions, ncu options or dtype raise
    NotComparableError, unless allow_mismatch: then the differences are in the frame's attrs["mismatches"].
    attrs also hold threshold_pct, floor_pct and floor_source.
    """
    from flashsight.analysis.comparability import conditions, mismatches, throttled_configs
    from flashsight.analysis.compare import compare_tables

    if threshold_pct < 0 or (floor_pct is not None and floor_pct < 0):
        raise FlashsightError("--threshold and --noise-floor are percentages >= 0")
    sides = {side: _compare_inputs(run) for side, run in (("base", base), ("new", new))}
    shared = set(base.configs["config_id"]) & set(new.configs["config_id"])
    differences = mismatches(conditions(base.env, base.jobs, sides["base"]),
                             conditions(new.env, new.jobs, sides["new"]), shared)
    if differences and not allow_mismatch:
        raise NotComparableError(f"{_label(base)} and {_label(new)} are not comparable: {'; '.join(differences)} "
                                 "(--allow-mismatch compares them anyway)")
    frame = compare_tables(sides["base"], sides["new"], base_configs=base.configs, new_configs=new.configs,
                           base_iters=_iters(base), new_iters=_iters(new), threshold_pct=threshold_pct,
                           floor_pct=floor_pct, throttled={"base": throttled_configs(sides["base"]),
                                                           "new": throttled_configs(sides["new"])})
    frame.attrs.update(mismatches=differences, base=_label(base), new=_label(new))
    return frame


def regressed(comparison: pd.DataFrame) -> bool:
    """Whether any row of a compare_runs frame regressed (the CLI's exit code 1)."""
    from flashsight.analysis.compare import regressed as any_regressed

    return any_regressed(comparison)


def _label(run: Run) -> str:
    return str(run.path) if run.path else "run"


def _compare_inputs(run: Run) -> dict[str, pd.DataFrame]:
    """The tables compare reads, each row with its config_id and limited to the measured ranges.

    A sweep's merged tables are that already. A profile's job directory holds its whole capture without
    config_id: its one config is set on every row and gpu_kernels is cut to the measured range.
    """
    from flashsight.analysis.measured import split_tables
    from flashsight.schema.contract import range_name

    tables = {name: run.table(name) for name in COMPARE_TABLES if run.has(name)}
    if run.kind == "job" and not run.jobs.empty:
        job = run.jobs.iloc[0]
        tables = {name: df.assign(job_id=job["job_id"], config_id=job["config_id"]) if "config_id" not in df
                  else df for name, df in tables.items()}
        if "gpu_kernels" in tables:
            measured = range_name(job["workload"], json.loads(job["params_json"]))
            cut = split_tables({"gpu_kernels": tables["gpu_kernels"]}, {job["job_id"]: measured})[job["job_id"]]
            tables["gpu_kernels"] = cut.get("gpu_kernels", tables["gpu_kernels"].iloc[0:0])
    if run.jobs.empty and not any("config_id" in df.columns for df in tables.values()):
        raise InputError(f"{_label(run)}: no config_id in its tables (compare needs a sweep's run directory or "
                         "a profiled job's directory)")
    return tables


def _iters(run: Run) -> pd.Series | None:
    """Steps per measured range by job_id (workload_results' iters). Runs loaded together share job ids: a job
    whose runs disagree is left out (its steps are then inferred from its launch counts)."""
    if not run.has(RESULTS):
        return None
    results = run.table(RESULTS)
    if not {"job_id", "iters"} <= set(results.columns):
        return None
    known = results.dropna(subset=["iters"]).groupby("job_id")["iters"]
    agreed = known.first()[known.nunique() == 1]
    return agreed.astype("int64") if len(agreed) else None


# ------------------------------------------------------------------------------------------------ stalls


STALL_TABLES = ("ncu_kernels", "warp_stalls", "ncu_source")


@dataclass
class StallInput:
    """What `flashsight stalls` shows for one input: its tables, and for a sweep the config labels that make the
    grid's columns (None: one report, shown kernel by kernel)."""

    label: str
    tables: dict[str, pd.DataFrame]
    labels: pd.DataFrame | None = None


def stall_tables(target: Path) -> list[StallInput]:
    """The inputs of `flashsight stalls`: a sweep (its merged tables, by config), a folder of parsed tables, a
    folder of *.ncu-rep, or one file."""
    from flashsight.analysis.families import config_labels
    from flashsight.parsers.ncu_report import read_ncu

    target = Path(target)
    _require_exists(target)
    if not target.is_dir():
        return [StallInput(target.name, read_ncu(target))]
    if any((target / f"{name}.parquet").exists() for name in ("warp_stalls", "ncu_kernels")):
        run = load(target)
        tables = {name: run.table(name) for name in STALL_TABLES if run.has(name)}
        sweep = run.kind == "sweep" and "config_id" in tables.get("ncu_kernels", pd.DataFrame())
        return [StallInput(target.name, tables, config_labels(run.configs) if sweep else None)]
    reports = sorted(target.rglob("*.ncu-rep"))
    if not reports:
        raise InputError(f"{target}: no ncu tables (ncu_kernels.parquet, warp_stalls.parquet) and no .ncu-rep in it")
    return [StallInput(str(r.relative_to(target)), read_ncu(r)) for r in reports]


# ------------------------------------------------------------------------------------------------ export


def export_perfetto(run_dir: str | Path, out: str | Path | None = None) -> tuple[Path, int]:
    """The measured ranges of a run as a Chrome trace (default <run>/trace.json.gz): (path, events written)."""
    from flashsight.outputs.perfetto import chrome_trace, write_trace

    run = load(run_dir)
    if not run.has("gpu_kernels") or run.table("gpu_kernels").empty:
        raise InputError(f"{run_dir}: no GPU kernels in its nsys tables (gpu_kernels): nothing to export")
    if out is None:
        if not Path(run_dir).is_dir():
            raise InputError(f"{run_dir}: give --out FILE for a single capture")
        out = Path(run_dir) / "trace.json.gz"
    trace = chrome_trace(run)
    try:
        return write_trace(trace, Path(out)), len(trace["traceEvents"])
    except OSError as exc:
        raise InputError(f"{out}: cannot write the trace ({exc.strerror or exc})") from None


# ------------------------------------------------------------------------------------------------ running


def default_out(kind: str, workload: str) -> Path:
    stem = Path(workload).stem.replace(":", "_").replace(".", "_") or "job"
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{stem}"


def environment() -> dict:
    """What `flashsight env` shows: GPU, driver, CUDA, torch, FlashInfer and its JIT cache, nsys/ncu."""
    from flashsight.environment import probe

    return probe()


def describe_workloads() -> list[dict]:
    """Every built-in workload with its parameters (defaults, allowed values) and the study's grid."""
    from flashsight.workloads import BUILTIN

    return [w.describe() for w in BUILTIN.values()]


def params_from_assignments(workload: str, assignments: Iterable[str]) -> dict:
    """`-p NAME=VALUE` options as the workload gets them (see cli_params)."""
    from flashsight.workloads.params import parse_assignments

    return cli_params(workload, parse_assignments(tuple(assignments)))


def ncu_options(set: str | None = None, sections: Iterable[str] = (), metrics: Iterable[str] = ()):
    """The ncu choices of one `profile` call, as the profilers take them."""
    from flashsight.profilers import ToolOptions

    return ToolOptions(set=set, sections=tuple(sections), metrics=tuple(metrics))


def cli_params(workload: str, given: dict[str, str]) -> dict:
    """`-p NAME=VALUE` strings as a workload gets them: a user's workload gets the ones that are exactly JSON
    typed (128, true); a built-in coerces strings to its declared types itself."""
    from flashsight.orchestrator.targets import is_external
    from flashsight.workloads.external import decode_params

    return decode_params(given) if is_external(workload) else dict(given)


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
    try:
        result = run_builtin(target, given, job_dir=out, warmup=warmup, iters=iters)
    except ModuleNotFoundError as exc:  # flashinfer (or a dependency of it) missing: found only on import
        raise ToolError(f"{workload}: needs the Python package {exc.name!r}, which is not installed here "
                        "(pip install 'flashsight[gpu]' on a GPU machine)") from None
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

    report: dict | None = None  # the report's paths once run() wrote it
    report_error: str | None = None  # why it could not (one line): the sweep's outcome never depends on it

    def run(self, wait, on_event=None):
        """Run every pending job (wait(workers) shows progress, on_event(kind, job, detail) hears each change);
        SIGTERM ends it like Ctrl-C. Then writes the report (<out>/report/). Returns the runner's Summary."""
        import signal

        from flashsight.orchestrator.runner import Sweep

        def _stop(signum, frame):  # SIGTERM (a scheduler, `timeout`) ends the sweep as cleanly as Ctrl-C
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            summary = Sweep(self.out, self.plan, self.options, on_event=on_event).run(wait)
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.store.close()
        self.report, self.report_error = write_sweep_report(self.out)
        return summary


def write_sweep_report(out: Path) -> tuple[dict | None, str | None]:
    """The report of a finished (or stopped) sweep: (paths, None), or (None, why not) — never an exception, so
    a report problem can never fail the night's sweep."""
    try:
        return load(out).report(), None
    except Exception as exc:  # noqa: BLE001 - any failure of the report is one warning line, not a failed sweep
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"{type(exc).__name__}: {text}" if not isinstance(exc, FlashsightError) else text


def open_sweep(plan_path: Path | None, out: Path | None, *, resume: bool = False, retry_failed: bool = False,
               gpus: str | None = None, mode: str | None = None, batch_size: int | None = None,
               min_free_gb: float | None = None, executor: str | None = None, partition: str | None = None,
               gpus_per_task: int | None = None, cpus_per_task: int | None = None, time_limit: str | None = None,
               array_parallelism: int | None = None, sbatch: dict | None = None,
               max_jobs: int | None = None) -> SweepSession:
    """Load the plan (or the one stored in `out` on --resume), open the run directory, build the runner.

    executor: "local" (threads per GPU of `gpus`, the default) or "slurm" (partition, gpus_per_task, cpus_per_task,
    time_limit: sbatch --time, array_parallelism, sbatch: more sbatch options as {name: value, flag: True}).
    A resume without one continues on the executor the sweep last ran on, with its options (those given here
    replace them). max_jobs raises the plan's job limit (orchestrator.plan.MAX_JOBS)."""
    from flashsight.orchestrator.plan import MAX_JOBS, load_plan
    from flashsight.orchestrator.runner import SweepOptions, open_run, parse_gpus

    if resume and out is None:
        raise FlashsightError("--resume needs --out DIR (the sweep to continue)")
    given = {"partition": partition, "gpus_per_task": gpus_per_task, "cpus_per_task": cpus_per_task,
             "time": time_limit, "array_parallelism": array_parallelism, "sbatch": sbatch}
    slurm = {k: v for k, v in given.items() if v is not None}
    loaded = load_plan(plan_path, max_jobs or MAX_JOBS) if (plan_path is not None or not resume) else None
    out = out or default_out("sweep", loaded.name)
    chosen = _sweep_executor(out, resume, executor, parse_gpus(gpus), slurm)
    options = SweepOptions(gpus=parse_gpus(gpus), mode=mode, batch_size=batch_size, min_free_gb=min_free_gb,
                           executor=chosen)
    store, loaded, sync = open_run(out, loaded, resume=resume, retry_failed=retry_failed, executor=chosen)
    return SweepSession(out=out, plan=loaded, sync=sync, options=options, store=store)


def _sweep_executor(out: Path, resume: bool, name: str | None, gpus: list[str] | None, slurm: dict):
    """The executor asked for; on a resume without one, the one the sweep ran on (kept in its store)."""
    from flashsight.orchestrator.executors import get_executor
    from flashsight.orchestrator.state import Store

    stored = {}
    if resume and (Path(out) / STATE_FILE).is_file():
        store = Store(Path(out) / STATE_FILE)
        try:
            stored = json.loads(store.meta("executor") or "{}")
        finally:
            store.close()
    name = name or stored.get("name") or "local"
    params = {k: v for k, v in stored.items() if k != "name"} if stored.get("name") == name else {}
    params.update(slurm)
    if gpus:
        params["gpus"] = gpus
    return get_executor(name, **params)


def preview_sweep(plan_path: Path | None, out: Path | None, *, resume: bool, mode: str | None,
                  batch_size: int | None, max_jobs: int | None = None):
    """What --dry-run shows: (plan, status by job id, estimated seconds, mode, configs per process)."""
    from flashsight.orchestrator.estimate import preview
    from flashsight.orchestrator.plan import MAX_JOBS, load_plan

    loaded = load_plan(plan_path, max_jobs or MAX_JOBS) if (plan_path is not None or not resume) else None
    return preview(loaded, out, mode, batch_size)


def use_system_allocator() -> None:
    """Arrow on the system allocator for this process (host.memory: why; the CLI calls it first)."""
    from flashsight.host.memory import use_system_allocator as use

    use()


def sweep_ncu_costs(jobs: list, statuses: dict | None = None) -> pd.DataFrame:
    """--dry-run's ncu lines for the jobs still to run (`statuses`: job_id -> status, as preview_sweep gives):
    replay passes x kernels x seconds per pass, and what each section costs."""
    from flashsight.orchestrator.estimate import ncu_cost_table
    from flashsight.orchestrator.state import FINAL

    statuses = statuses or {}
    return ncu_cost_table([j for j in jobs if statuses.get(j.job_id) not in FINAL])
