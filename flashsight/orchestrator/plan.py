"""Sweep plans: a TOML file turned into validated jobs, each with a stable id.

    [sweep]                       name, mode (batched | process), batch_size, min_free_gb, and job defaults
    [[jobs]]                      workload, tools, params (a grid, or "study"), ncu, timeout_s, retries

One job per (config of the grid, tool). A job's id hashes what decides its result (workload, resolved params,
tool and that tool's options), not how it is run (timeout, retries), so a changed plan reuses finished jobs.
Everything is checked before anything runs; the first problem is one line naming the file and the job block.

Values stay as TOML typed them: "1e3" is a string and 1e3 a float, and [1, "1", true, 1.0] are four values
(four jobs for a workload of your own; a built-in coerces them to its parameter's type, and equal results are
one job). Limits keep a typo from becoming a night of work or a hang: at most `max_jobs` jobs (--max-jobs
raises it), string values of at most MAX_VALUE_CHARS characters (they travel in an environment variable),
retries and timeouts finite and bounded.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flashsight.errors import FlashsightError, InputError, ParamError
from flashsight.profilers import TOOLS, get_profiler

DEFAULT_PLAN = Path(__file__).with_name("default_plan.toml")
MODES = ("batched", "process")
SWEEP_KEYS = {"name", "mode", "batch_size", "min_free_gb", "tools", "timeout_s", "retries", "ncu"}
JOB_KEYS = {"workload", "tools", "params", "ncu", "nvtx_include", "timeout_s", "retries"}
NCU_KEYS = {"set", "sections", "metrics", "full", "clock_control", "cache_control", "unique_launches"}
# Values that end up as one argv element of ncu: a name, never an option or anything a shell would see.
_TOOL_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
_METRIC = re.compile(r"[A-Za-z][A-Za-z0-9_.:]*")
_NVTX_EXPR = re.compile(r"[^\s\-][^\x00-\x1f]*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
MAX_JOBS = 10_000  # a larger sweep needs --max-jobs: a 10^7 grid is a typo more often than a plan
MAX_VALUE_CHARS = 4_096  # a string parameter value; params reach the workload as one environment variable
MAX_RETRIES = 100
MAX_PLAN_BYTES = 16 << 20
MAX_TIMEOUT_S = 30 * 24 * 3600.0


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    seq: int  # position in the plan: jobs run in this order
    workload: str
    tool: str
    params: dict
    ncu: dict  # tool options for ncu jobs ({} otherwise): set, sections, metrics
    timeout_s: float
    retries: int

    def group_key(self) -> str:
        """Jobs with equal keys may share one process in batched mode."""
        return json.dumps([self.workload, self.tool, self.ncu], sort_keys=True)


@dataclass
class Plan:
    name: str
    mode: str
    batch_size: int
    min_free_gb: float
    jobs: list[JobSpec] = field(default_factory=list)
    source: str = ""  # the plan's TOML text, kept in the run directory so --resume needs no plan file
    base_dir: str = ""  # the plan file's folder: relative workload files resolve against it, on --resume too


def job_id(workload: str, params: dict, tool: str, tool_options: dict) -> str:
    key = json.dumps({"workload": workload, "params": params, "tool": tool, "options": tool_options},
                     sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def load_plan(path: Path | None, max_jobs: int | None = MAX_JOBS) -> Plan:
    """Read and validate a plan file (None: the built-in default plan, the study's grids for every workload)."""
    from flashsight.parsers.input_file import check_input_file

    path = Path(path) if path is not None else DEFAULT_PLAN
    size = check_input_file(path, "a plan file").st_size  # a FIFO would block the read forever
    if size > MAX_PLAN_BYTES:
        raise InputError(f"{path}: {size:,} bytes is too big for a plan (at most {MAX_PLAN_BYTES:,}): is it one?")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the plan ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); TOML plans are "
                         "UTF-8") from None
    return parse_plan(text, path, max_jobs=max_jobs)


def default_name(path: Path) -> str:
    """A sweep name from the plan's file name when [sweep] gives none: 'plan ü.toml' -> 'plan-u'."""
    ascii_stem = unicodedata.normalize("NFKD", path.stem).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", ascii_stem).strip("-.")
    return name.replace("..", ".") or "sweep"


def parse_plan(text: str, path: Path, base_dir: Path | None = None, max_jobs: int | None = MAX_JOBS) -> Plan:
    """path names the plan in messages; base_dir (default: path's folder) anchors relative workload files;
    max_jobs: the most jobs the plan may hold (None: no limit, e.g. a stored plan on --resume)."""
    base_dir = Path(base_dir) if base_dir else path.parent
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise InputError(f"{path}: arrays or tables nested too deeply to be a plan") from None
    where = str(path)
    _no_unknown(doc, {"sweep", "jobs"}, where)
    sweep = _table(doc.get("sweep", {}), f"{where}: [sweep]")
    _no_unknown(sweep, SWEEP_KEYS, f"{where}: [sweep]")
    name = _str(sweep["name"], f"{where}: [sweep] name") if "name" in sweep else default_name(path)
    if not _NAME.fullmatch(name) or ".." in name:
        raise ParamError(f"{where}: [sweep] name {name!r}: use letters, digits, '_', '-' and '.' only")
    mode = _choice(sweep.get("mode", "batched"), MODES, f"{where}: [sweep] mode")
    batch_size = _int(sweep.get("batch_size", 16), f"{where}: [sweep] batch_size", lo=1)
    min_free_gb = _number(sweep.get("min_free_gb", 2.0), f"{where}: [sweep] min_free_gb", lo=0, hi=1e9)
    defaults = {k: sweep[k] for k in ("tools", "timeout_s", "retries", "ncu") if k in sweep}

    blocks = doc.get("jobs", [])
    if not isinstance(blocks, list) or not blocks:
        raise ParamError(f"{where}: the plan has no [[jobs]]")
    plan = Plan(name=name, mode=mode, batch_size=batch_size, min_free_gb=min_free_gb, source=text,
                base_dir=str(base_dir.resolve()))
    seen: set[str] = set()
    planned = 0
    for index, block in enumerate(blocks, 1):
        ctx = f"{where}: [[jobs]] #{index}"
        block = _table(block, ctx)
        _no_unknown(block, JOB_KEYS, ctx)
        planned += _job_count(defaults | block, ctx)
        if max_jobs is not None and planned > max_jobs:
            raise ParamError(f"{ctx}: the plan grows to {planned:,} jobs here, more than the limit of "
                             f"{max_jobs:,}: shrink the grid, or pass --max-jobs {planned} if you mean it")
        for spec in _expand(defaults | block, ctx, base_dir):
            if spec.job_id not in seen:  # the same job named twice runs once
                seen.add(spec.job_id)
                plan.jobs.append(JobSpec(**{**spec.__dict__, "seq": len(plan.jobs)}))
    return plan


def _expand(block: dict, ctx: str, plan_dir: Path) -> list[JobSpec]:
    from flashsight.orchestrator.targets import resolve_target

    if "workload" not in block:
        raise ParamError(f"{ctx}: missing workload")
    workload = _workload_name(_str(block["workload"], f"{ctx} workload"), plan_dir, ctx)
    tools = block.get("tools", ["nsys", "ncu"])
    if isinstance(tools, str):
        tools = [tools]
    if not isinstance(tools, list) or not tools:
        raise ParamError(f"{ctx}: tools must be a list of {' | '.join(TOOLS)}")
    tools = [_choice(t, TOOLS, f"{ctx} tools") for t in tools]
    timeout_s = _number(block.get("timeout_s", 600), f"{ctx} timeout_s", lo=1, hi=MAX_TIMEOUT_S)
    retries = _int(block.get("retries", 1), f"{ctx} retries", lo=0, hi=MAX_RETRIES)
    ncu = _ncu_options(block.get("ncu", {}), f"{ctx} ncu")
    includes = block.get("nvtx_include", [])  # ncu filters for a workload of your own (built-ins know theirs)
    if not isinstance(includes, list) or not all(isinstance(i, str) and _NVTX_EXPR.fullmatch(i) for i in includes):
        raise ParamError(f"{ctx}: nvtx_include must be a list of ncu NVTX expressions like 'domain@range/'")
    specs = []
    for given in _grid(block.get("params", {}), workload, ctx):
        try:
            target = resolve_target(workload, given, includes)
        except FlashsightError as exc:
            raise ParamError(f"{ctx}: {exc}") from None
        for tool in dict.fromkeys(tools):
            options = get_profiler(tool).plan_options(ncu, includes)
            specs.append(JobSpec(job_id(workload, target.params, tool, options), 0, workload, tool,
                                 dict(target.params), options, timeout_s, retries))
    return specs


def _job_count(block: dict, ctx: str) -> int:
    """How many jobs a block expands to (configs x tools), counted before anything is expanded."""
    params = block.get("params", {})
    if not isinstance(params, dict):
        return 1  # "study" (a built-in's small grid) or an error _grid reports
    tools = block.get("tools", ["nsys", "ncu"])
    n_tools = len(set(map(str, tools))) if isinstance(tools, list) else 1
    return math.prod(len(_distinct(v)) if isinstance(v, list) else 1 for v in params.values()) * max(n_tools, 1)


def _distinct(values: list) -> list:
    """Values as TOML typed them, each once: 1, 1.0, "1" and true are four (Python's == would make them one)."""
    seen, out = set(), []
    for value in values:
        key = (type(value).__name__, json.dumps(value, sort_keys=True, default=str))
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def _workload_name(workload: str, plan_dir: Path, ctx: str) -> str:
    """A Python file is named relative to the plan's folder; built-in names and module:function stay as they are."""
    if workload.endswith(".py"):
        path = Path(workload)
        path = path if path.is_absolute() else (plan_dir / path)
        if not path.is_file():
            raise ParamError(f"{ctx}: workload file {workload!r} not found (looked in {path})")
        return str(path.resolve())
    return workload


def _grid(params: Any, workload: str, ctx: str) -> list[dict]:
    """{a: [1, 2], b: 3} -> the cartesian product in the plan's key order; "study" -> the workload's study grid."""
    if params == "study":
        from flashsight.workloads import BUILTIN

        if workload not in BUILTIN:
            raise ParamError(f"{ctx}: params = \"study\" needs a built-in workload, not {workload!r}")
        params = BUILTIN[workload].study_grid
    params = _table(params, f"{ctx} params")
    axes = []
    for name, values in params.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ParamError(f"{ctx}: params.{name} is an empty list")
        for value in values:
            if not isinstance(value, (bool, int, float, str)):
                raise ParamError(f"{ctx}: params.{name} = {value!r}: values must be numbers, strings or booleans")
            if isinstance(value, float) and not math.isfinite(value):
                raise ParamError(f"{ctx}: params.{name} = {value}: not a finite number")
            if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
                raise ParamError(f"{ctx}: params.{name}: a value of {len(value):,} characters, more than "
                                 f"{MAX_VALUE_CHARS:,} (pass large data through a file)")
        axes.append([(name, v) for v in _distinct(values)])
    return [dict(combo) for combo in itertools.product(*axes)]


def _ncu_options(raw: Any, ctx: str) -> dict:
    raw = _table(raw, ctx)
    _no_unknown(raw, NCU_KEYS, ctx)
    out: dict = {}
    full = raw.get("full", False)
    if not isinstance(full, bool):
        raise ParamError(f"{ctx}.full must be true or false")
    chosen = _str(raw["set"], f"{ctx}.set") if "set" in raw else None
    if full and chosen not in (None, "full"):
        raise ParamError(f"{ctx}: give either full = true or set = {chosen!r}, not both")
    chosen = "full" if full else chosen
    if chosen not in (None, "default"):  # "default": flashsight's lean sections (what the stall report needs)
        out["set"] = _tool_word(chosen, f"{ctx}.set", _TOOL_WORD)
    from flashsight.profilers.ncu import (CACHE_CONTROLS, CLOCK_CONTROLS, DEFAULT_CACHE_CONTROL,
                                          DEFAULT_CLOCK_CONTROL)

    for key, choices, default in (("clock_control", CLOCK_CONTROLS, DEFAULT_CLOCK_CONTROL),
                                  ("cache_control", CACHE_CONTROLS, DEFAULT_CACHE_CONTROL)):
        if key in raw:  # ncu's default is left out, so `clock_control = "base"` keeps the job ids of no option
            value = _choice(raw[key], choices, f"{ctx}.{key}")
            if value != default:
                out[key] = value
    if raw.get("unique_launches", False) is not False:  # profile each launch configuration once per range
        if raw["unique_launches"] is not True:
            raise ParamError(f"{ctx}.unique_launches must be true or false")
        out["unique_launches"] = True
    for key, pattern in (("sections", _TOOL_WORD), ("metrics", _METRIC)):
        values = raw.get(key, [])
        if not isinstance(values, list):
            raise ParamError(f"{ctx}.{key} must be a list of names")
        if values:
            out[key] = [_tool_word(v, f"{ctx}.{key}", pattern) for v in values]
    return out


# ---------------------------------------------------------------------------------------------- checks


def _tool_word(value: Any, ctx: str, pattern: re.Pattern) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ParamError(f"{ctx} = {value!r}: not a plain ncu name (it would become a tool argument)")
    return value


def _no_unknown(table: dict, known: set[str], ctx: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ParamError(f"{ctx}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")


def _table(value: Any, ctx: str) -> dict:
    if not isinstance(value, dict):
        raise ParamError(f"{ctx}: expected a table, got {value!r}")
    return value


def _str(value: Any, ctx: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ParamError(f"{ctx}: expected a non-empty string, got {value!r}")
    return value.strip()


def _choice(value: Any, choices: tuple, ctx: str) -> str:
    if value not in choices:
        raise ParamError(f"{ctx}: {value!r} is not one of {', '.join(choices)}")
    return value


def _int(value: Any, ctx: str, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ParamError(f"{ctx}: expected an integer >= {lo}, got {value!r}")
    if hi is not None and value > hi:
        raise ParamError(f"{ctx}: {value:,} is more than the limit of {hi:,}")
    return value


def _number(value: Any, ctx: str, lo: float, hi: float | None = None) -> float:
    """A finite number in [lo, hi]: nan passes every comparison, so it is refused by name."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < lo:
        raise ParamError(f"{ctx}: expected a finite number >= {lo:g}, got {value!r}")
    if hi is not None and value > hi:
        raise ParamError(f"{ctx}: {value:g} is more than the limit of {hi:g}")
    return float(value)


def stored_plan(store, out: Path) -> Plan:
    """The plan a run directory was last started with (for --resume without a plan file)."""
    return parse_plan(store.meta("plan") or "", out / "plan.toml", store.meta("plan_dir") or None, max_jobs=None)
