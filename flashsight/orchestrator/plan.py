"""Sweep plans: a TOML file turned into validated jobs, each with a stable id.

    [sweep]                       name, mode (batched | process), batch_size, min_free_gb, and job defaults
    [[jobs]]                      workload, tools, params (a grid, or "study"), ncu, timeout_s, retries

One job per (config of the grid, tool). A job's id hashes what decides its result (workload, resolved params,
tool and that tool's options), not how it is run (timeout, retries), so a changed plan reuses finished jobs.
Everything is checked before anything runs; the first problem is one line naming the file and the job block.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flashsight.errors import FlashsightError, InputError, ParamError
from flashsight.profilers import TOOLS, get_profiler

DEFAULT_PLAN = Path(__file__).with_name("default_plan.toml")
MODES = ("batched", "process")
SWEEP_KEYS = {"name", "mode", "batch_size", "min_free_gb", "tools", "timeout_s", "retries", "ncu"}
JOB_KEYS = {"workload", "tools", "params", "ncu", "nvtx_include", "timeout_s", "retries"}
NCU_KEYS = {"set", "sections", "metrics", "full", "unique_launches"}
# Values that end up as one argv element of ncu: a name, never an option or anything a shell would see.
_TOOL_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
_METRIC = re.compile(r"[A-Za-z][A-Za-z0-9_.:]*")
_NVTX_EXPR = re.compile(r"[^\s\-][^\x00-\x1f]*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


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


def load_plan(path: Path | None) -> Plan:
    """Read and validate a plan file (None: the built-in default plan, the study's grids for every workload)."""
    path = Path(path) if path is not None else DEFAULT_PLAN
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the plan ({exc.strerror or exc})") from None
    return parse_plan(text, path)


def parse_plan(text: str, path: Path, base_dir: Path | None = None) -> Plan:
    """path names the plan in messages; base_dir (default: path's folder) anchors relative workload files."""
    base_dir = Path(base_dir) if base_dir else path.parent
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    where = str(path)
    _no_unknown(doc, {"sweep", "jobs"}, where)
    sweep = _table(doc.get("sweep", {}), f"{where}: [sweep]")
    _no_unknown(sweep, SWEEP_KEYS, f"{where}: [sweep]")
    name = _str(sweep.get("name", path.stem), f"{where}: [sweep] name")
    if not _NAME.fullmatch(name) or ".." in name:
        raise ParamError(f"{where}: [sweep] name {name!r}: use letters, digits, '_', '-' and '.' only")
    mode = _choice(sweep.get("mode", "batched"), MODES, f"{where}: [sweep] mode")
    batch_size = _int(sweep.get("batch_size", 16), f"{where}: [sweep] batch_size", lo=1)
    min_free_gb = _number(sweep.get("min_free_gb", 2.0), f"{where}: [sweep] min_free_gb", lo=0)
    defaults = {k: sweep[k] for k in ("tools", "timeout_s", "retries", "ncu") if k in sweep}

    blocks = doc.get("jobs", [])
    if not isinstance(blocks, list) or not blocks:
        raise ParamError(f"{where}: the plan has no [[jobs]]")
    plan = Plan(name=name, mode=mode, batch_size=batch_size, min_free_gb=min_free_gb, source=text,
                base_dir=str(base_dir.resolve()))
    seen: set[str] = set()
    for index, block in enumerate(blocks, 1):
        ctx = f"{where}: [[jobs]] #{index}"
        block = _table(block, ctx)
        _no_unknown(block, JOB_KEYS, ctx)
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
    timeout_s = _number(block.get("timeout_s", 600), f"{ctx} timeout_s", lo=1)
    retries = _int(block.get("retries", 1), f"{ctx} retries", lo=0)
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
        axes.append([(name, v) for v in dict.fromkeys(values)])
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


def _int(value: Any, ctx: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ParamError(f"{ctx}: expected an integer >= {lo}, got {value!r}")
    return value


def _number(value: Any, ctx: str, lo: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < lo:
        raise ParamError(f"{ctx}: expected a number >= {lo:g}, got {value!r}")
    return float(value)


def stored_plan(store, out: Path) -> Plan:
    """The plan a run directory was last started with (for --resume without a plan file)."""
    return parse_plan(store.meta("plan") or "", out / "plan.toml", store.meta("plan_dir") or None)
