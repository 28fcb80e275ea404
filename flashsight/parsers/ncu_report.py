"""Nsight Compute reports (.ncu-rep) through NVIDIA's `ncu_report` module (no ncu install needed), and the
public entry point `read_ncu` for every ncu input.

Values come out of the report in base units (ns, byte, byte/s, hz), at full precision. kernel_id is the running
index over ranges and actions, which is the ID column of ncu's own CSV pages. `text` is only set for string
metrics (ncu printed nothing for a .ncu-rep; the CSV readers keep the printed text).
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from flashsight.errors import InputError, ToolError
from flashsight.parsers.input_file import check_input_file
from flashsight.parsers.ncu_csv import nvtx_columns, read_ncu_csv
from flashsight.parsers.ncu_rep_layout import (check_kernel, check_kernel_count, judges_counts, report_layout,
                                               report_spans, slice_layout)
from flashsight.parsers.ncu_tables import assemble
from flashsight.parsers.warp_stalls import stall_metric

NCU_REP_MAGIC = b"NVR\x00"
# Not metrics: ncu's section groupings, never printed on the raw page.
_PSEUDO_PREFIXES = ("group:", "breakdown:")


def read_ncu(path: Path) -> dict[str, pd.DataFrame]:
    """Every ncu table of one input: a .ncu-rep, or a CSV page (raw, details or source), sniffed by content."""
    path = Path(path)
    check_input_file(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head == NCU_REP_MAGIC:
        return read_ncu_report_isolated(path, report_spans(path))
    if path.suffix.lower() == ".ncu-rep":
        raise InputError(f"{path}: not an Nsight Compute report (no NVR header)")
    return read_ncu_csv(path)


MIN_NCU_REPORT = (2026, 3)  # ncu-report 2025.3.1 segfaults in Metric.kind()/unit() on some metrics (seen on H100)


def _check_module_version() -> None:
    """A clear error instead of a crash when an old ncu-report distribution is installed."""
    import importlib.metadata

    try:
        version = importlib.metadata.version("ncu-report")
    except importlib.metadata.PackageNotFoundError:
        return  # Nsight Compute's own copy (extras/python): no metadata to check
    if tuple(int(p) for p in version.split(".")[:2] if p.isdigit()) < MIN_NCU_REPORT:
        raise ToolError(f"ncu-report {version} is too old (it crashes on some reports): "
                        f"pip install 'ncu-report>={MIN_NCU_REPORT[0]}.{MIN_NCU_REPORT[1]}'")


def _load(path: Path):
    _check_module_version()
    import ncu_report

    try:
        return ncu_report, ncu_report.load_report(str(path))
    except Exception as exc:  # the module raises plain RuntimeError/FileNotFoundError with its own text
        raise InputError(f"{path}: ncu_report could not load it ({str(exc).splitlines()[0] if str(exc) else exc})")


IN_PROCESS_ENV = "FLASHSIGHT_NCU_IN_PROCESS"  # "1": read reports in this process (faster; for one report only)
READ_TIMEOUT_ENV = "FLASHSIGHT_NCU_READ_TIMEOUT_S"  # seconds one request may take in a reader (default 3600)


def read_ncu_report_isolated(path: Path, spans: list | None = ...) -> dict[str, pd.DataFrame]:
    """read_ncu_report in a persistent reader process (parsers.ncu_readers: why, and how a large report is
    read in slices by several readers at once). spans: report_spans(path) (None: a layout not judged; left
    out: worked out here); the readers count and check the kernels' metrics. A crash of the module, or a read
    past FLASHSIGHT_NCU_READ_TIMEOUT_S, is an InputError naming the report."""
    if spans is ...:
        spans = report_spans(path)
    if os.environ.get(IN_PROCESS_ENV) == "1":
        return read_ncu_report(path, None if spans is None else slice_layout(path, spans, 0, len(spans)))
    from flashsight.parsers.ncu_readers import pool

    return pool().read(path, spans)


def read_ncu_reports(paths: list[Path]) -> dict[str, dict[str, pd.DataFrame] | Exception]:
    """Several reports read in parallel by the reader pool: each path's tables, or the FlashsightError it raised
    (the same checks and errors as read_ncu for each)."""
    from flashsight.errors import FlashsightError

    if os.environ.get(IN_PROCESS_ENV) == "1":
        out = {}
        for path in paths:
            try:
                out[str(path)] = read_ncu(Path(path))
            except FlashsightError as exc:
                out[str(path)] = exc
        return out
    from flashsight.parsers.ncu_readers import pool

    checked, out, layouts = [], {}, {}
    for path in map(Path, paths):  # the cheap checks here: a file that is no report never reaches a reader
        try:
            check_input_file(path)
            with open(path, "rb") as f:
                head = f.read(4)
            if head != NCU_REP_MAGIC:
                out[str(path)] = read_ncu(path)
                continue
            layouts[str(path)] = report_spans(path)
            checked.append(path)
        except FlashsightError as exc:
            out[str(path)] = exc
        except OSError as exc:
            out[str(path)] = InputError(f"{path}: {exc.strerror or exc}")
    out.update(pool().read_many(checked, layouts))
    return {str(p): out[str(p)] for p in paths}


def report_signature(ctx) -> tuple:
    """What fixes ncu_report's unit state in a process: the first kernel's section names and its GPU."""
    if ctx.num_ranges() == 0 or ctx.range_by_idx(0).num_actions() == 0:
        return ()
    action = ctx.range_by_idx(0).action_by_idx(0)
    sections = tuple(sorted(str(s.name()) if hasattr(s, "name") else str(s) for s in (action.sections() or ())))
    device = action.metric_by_name("device__attribute_display_name")
    return sections, device.as_string() if device is not None else None


def count_kernels(ctx) -> int:
    return sum(ctx.range_by_idx(r).num_actions() for r in range(ctx.num_ranges()))


def _serve() -> int:
    """A persistent reader (parsers.ncu_readers): requests on stdin, replies on stdout, outcomes pickled."""
    from flashsight.errors import FlashsightError

    signature = None
    for line in sys.stdin:
        request = json.loads(line)
        path = Path(request["path"])
        try:
            expected = None  # no spans: a layout not judged (read_ncu_report finds None again)
            if request.get("spans") is not None:  # counted before the module loads it: a malformed kernel never
                first = (request.get("kernels") or [0])[0]  # reaches ncu_report
                expected = slice_layout(path, [tuple(s) for s in request["spans"]], first, request["total"])
            nr, ctx = _load(path)
            try:
                sig = report_signature(ctx)
            except _MODULE_ERRORS as exc:
                raise _damaged(path, exc) from None
            if signature is None:
                signature = sig
            elif sig != signature:  # another kind of report: units of this process would be wrong for it
                sys.stdout.write(json.dumps({"status": "retire"}) + "\n")
                sys.stdout.flush()
                return 0
            if request["op"] == "count":
                outcome = count_kernels(ctx)
            else:
                kernels = request.get("kernels")
                outcome = read_ncu_report(path, expected=expected, kernels=tuple(kernels) if kernels else None,
                                          loaded=(nr, ctx))
            del ctx
        except FlashsightError as exc:
            outcome = exc
        with open(request["out"], "wb") as f:
            pickle.dump(outcome, f, protocol=pickle.HIGHEST_PROTOCOL)
        del outcome
        # ncu_report never frees a kernel it has read, even with its report closed (~15 MB per FlashInfer
        # kernel under --set full): a reader grown past its limit answers, then exits, and a fresh one follows.
        spent = _resident_mib() > float(os.environ.get(READER_LIMIT_ENV) or READER_LIMIT_MIB)
        sys.stdout.write(json.dumps({"status": "ok", "exiting": spent}) + "\n")
        sys.stdout.flush()
        if spent:
            break
    return 0


READER_LIMIT_ENV = "FLASHSIGHT_NCU_READER_MIB"  # resident MiB past which a reader exits after its reply
READER_LIMIT_MIB = 1024


def _resident_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):  # no /proc (macOS): the peak, which only errs towards exiting
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


# What the module raises for a damaged report whose values its own API then rejects.
_MODULE_ERRORS = (TypeError, ValueError, UnicodeError, OverflowError, AttributeError, RuntimeError)


def _damaged(path: Path, exc: Exception) -> InputError:
    detail = str(exc).splitlines()[0][:200] if str(exc) else ""
    return InputError(f"{path}: damaged Nsight Compute report (ncu_report: {type(exc).__name__}"
                      f"{': ' + detail if detail else ''})")


def read_ncu_report(path: Path, expected: list[int] | None = None, kernels: tuple[int, int] | None = None,
                    loaded=None) -> dict[str, pd.DataFrame]:
    """The ncu tables of a .ncu-rep, read in this process. expected: report_layout(path) (computed here when
    not given), checked against what ncu_report read, which drops cut or damaged kernels without a word.
    kernels: only kernel ids lo <= id < hi (a slice of a large report read by one of several readers; an
    empty slice gives {}); loaded: (module, report) when already loaded.

    A damaged report can also make the module hand back what its own API then rejects (names that are not
    UTF-8, None where a number belongs): that is an InputError too, never a traceback."""
    if expected is None:
        expected = report_layout(path)
    try:
        return _read_report(path, expected, kernels, loaded)
    except _MODULE_ERRORS as exc:
        raise _damaged(path, exc) from None


def _read_report(path: Path, expected: list[int] | None, kernels: tuple[int, int] | None,
                 loaded) -> dict[str, pd.DataFrame]:
    nr, ctx = loaded or _load(path)
    identity, kernel_ids, names, values, units, texts = [], [], [], [], [], []
    source_frames = []
    kind_cache: dict[str, tuple[int, str]] = {}
    string_kind = nr.IMetric.ValueKind_STRING
    numeric_kinds = {nr.IMetric.ValueKind_FLOAT, nr.IMetric.ValueKind_DOUBLE, nr.IMetric.ValueKind_UINT32,
                     nr.IMetric.ValueKind_UINT64}
    sass_cache: dict[tuple[str, int], str] = {}
    rules: list[dict] = []
    kernel_id = -1
    judge_counts = judges_counts(expected)
    for r in range(ctx.num_ranges()):
        rng = ctx.range_by_idx(r)
        for a in range(rng.num_actions()):
            kernel_id += 1
            if kernels is not None and not kernels[0] <= kernel_id < kernels[1]:
                continue  # another reader's slice: not even loaded (that reader checks it)
            action = rng.action_by_idx(a)
            all_names = action.metric_names()
            check_kernel(path, expected, kernel_id, action.name(nr.IAction.NameBase_DEMANGLED), len(all_names),
                         judge_counts)
            identity.append(_identity(nr, action, kernel_id))
            metric_names = [n for n in all_names if not n.startswith(_PSEUDO_PREFIXES)]
            for name in metric_names:
                metric = action.metric_by_name(name)
                if name not in kind_cache:
                    kind_cache[name] = (metric.kind(), metric.unit())
                kind, unit = kind_cache[name]
                kernel_ids.append(kernel_id)
                names.append(name)
                units.append(unit)
                if kind == string_kind:
                    values.append(None)
                    texts.append(metric.as_string())
                elif kind in numeric_kinds and metric.has_value():
                    values.append(metric.as_double())  # one call instead of value()'s kind dispatch
                    texts.append(None)
                else:  # no value ('no data' on ncu's pages)
                    values.append(None)
                    texts.append(None)
            rules += _rule_rows(action, kernel_id)
            source = _source_rows(action, kernel_id, identity[-1]["name"], metric_names,
                                  identity[-1]["mangled_name"], sass_cache)
            if source is not None:
                source_frames.append(source)
    check_kernel_count(path, expected, kernel_id + 1)
    if kernel_id < 0:
        raise InputError(f"{path}: the report holds no profiled kernel")
    if not identity:
        return {}
    metrics = pd.DataFrame({
        "kernel_id": np.asarray(kernel_ids, dtype="int64"),
        "metric": pd.Categorical(names),
        "value": pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype("float64"),
        "unit": pd.Categorical(units),
        "text": pd.Series(texts, dtype=object),
    })
    tables = assemble(pd.DataFrame(identity), metrics)
    if source_frames:
        tables["ncu_source"] = pd.concat(source_frames, ignore_index=True)
    tables["ncu_rules"] = pd.DataFrame(rules, columns=RULE_COLUMNS).astype(
        {"kernel_id": "int64", "speedup_pct": "float64"})
    return tables


# The rule results ncu stores with each kernel, as its details page prints them (`ncu_rules` of the CSV reader,
# plus the message's title): message types and speedup kinds are numbers in the report, words on the page.
RULE_COLUMNS = ["kernel_id", "section", "rule", "title", "type", "description", "speedup_type", "speedup_pct"]
_RULE_TYPES = {0: "NONE", 1: "INF", 2: "OPT", 3: "WRN", 4: "ERR"}
_SPEEDUP_TYPES = {1: "local", 2: "global"}
_MARKUP = re.compile(r"@(section|url):([^@]*)@")


def render_rule_text(text: str) -> str:
    """ncu's message markup as its pages print it: '@section:Id:Label@' -> 'Label', '@url:Label:URL@' ->
    'Label (URL)'."""
    def one(match: re.Match) -> str:
        kind, body = match.groups()
        if kind == "section":
            return body.split(":", 1)[-1]
        label, _, url = body.partition(":")
        return f"{label} ({url})" if url else label
    return _MARKUP.sub(one, text or "")


def _rule_rows(action, kernel_id: int) -> list[dict]:
    try:
        results = action.rule_results_as_dicts()
    except Exception:  # a report without rule results, or a module that cannot read them
        return []
    rows = []
    for result in results:
        message = result.get("rule_message") or {}
        if not message.get("type") and not message.get("message"):  # a rule that said nothing: not on ncu's pages
            continue
        speedup = result.get("speedup_estimation") or {}
        rows.append({"kernel_id": kernel_id, "section": result.get("section_identifier"),
                     "rule": result.get("rule_identifier"), "title": message.get("title") or None,
                     "type": _RULE_TYPES.get(message.get("type"), str(message.get("type"))),
                     "description": render_rule_text(message.get("message", "")),
                     "speedup_type": _SPEEDUP_TYPES.get(speedup.get("type")),
                     "speedup_pct": speedup.get("speedup", math.nan)})
    return rows


def _int_metric(action, name: str) -> int | None:
    metric = action.metric_by_name(name)
    if metric is None or not metric.has_value():
        return None
    try:
        return int(metric.value())
    except (TypeError, ValueError):
        return None


def _identity(nr, action, kernel_id: int) -> dict:
    stack: list[tuple[str, str]] = []
    state = action.nvtx_state()
    if state is not None:
        for domain_id in state.domains():
            domain = state.domain_by_id(domain_id)
            ranges = list(domain.push_pop_ranges()) or list(domain.start_end_ranges())
            stack += [(domain.name(), str(r)) for r in ranges]
    nvtx_domain, nvtx_range = nvtx_columns(stack)
    major = _int_metric(action, "device__attribute_compute_capability_major")
    minor = _int_metric(action, "device__attribute_compute_capability_minor")
    dims = {f"{kind}_{axis}": _int_metric(action, f"launch__{kind}_dim_{axis}")
            for kind in ("grid", "block") for axis in "xyz"}
    return {
        "kernel_id": kernel_id,
        "name": action.name(nr.IAction.NameBase_DEMANGLED),
        "short_name": action.name(nr.IAction.NameBase_FUNCTION),
        "mangled_name": action.name(nr.IAction.NameBase_MANGLED),  # join key with nsys's mangledName
        "nvtx_domain": nvtx_domain,
        "nvtx_range": nvtx_range,
        "process_id": None,
        "process_name": None,
        "context_id": _int_metric(action, "launch__context_id"),
        "stream_id": _int_metric(action, "launch__stream_id"),
        "device_id": _int_metric(action, "launch__device_id"),
        "compute_capability": f"{major}.{minor}" if major is not None else None,
        **dims,
    }


def _sass(action, mangled: str, pc: int, cache: dict[tuple[str, int], str]) -> str:
    key = (mangled, pc)
    if key not in cache:
        cache[key] = (action.sass_by_pc(pc) or "").strip()
    return cache[key]


def _source_rows(action, kernel_id: int, name: str, metric_names: list[str], mangled: str,
                 sass_cache: dict[tuple[str, int], str]) -> pd.DataFrame | None:
    """ncu_source rows of one kernel from its per-PC instances (SourceCounters), or None without them.

    Disassembly (sass_by_pc) is ncu_report's slowest call, so within one report a function at the same address
    (the same kernel profiled again, e.g. in repeated NVTX ranges) is disassembled once.
    """
    per_reason = {}
    for metric_name in metric_names:
        parsed = stall_metric(metric_name)
        if parsed and parsed[0] == "pc_sampling":
            per_reason[parsed[1]] = metric_name
    if not per_reason:
        return None
    columns: dict[str, dict[int, float]] = {}
    pcs: set[int] = set()

    from ncu_report import _ncu_report as raw  # per instance: the C calls themselves, not value()'s dispatch

    as_uint64, as_double = raw.IMetric_as_uint64, raw.IMetric_as_double

    def per_pc(metric_name: str) -> dict[int, float]:
        metric = action.metric_by_name(metric_name)
        if metric is None or not metric.has_correlation_ids():
            return {}
        ids = metric.correlation_ids()
        return {as_uint64(ids, i): as_double(metric, i) for i in range(metric.num_instances())}

    for reason, metric_name in per_reason.items():
        columns[f"stall_{reason}"] = per_pc(metric_name)
    for column, metric_name in (("samples", "smsp__pcsamp_sample_count"), ("inst_executed", "inst_executed")):
        columns[column] = per_pc(metric_name)
    for values in columns.values():
        pcs.update(values)
    if not pcs:
        return None
    ordered = sorted(pcs)
    out = pd.DataFrame({
        "kernel_id": pd.array([kernel_id] * len(ordered), dtype="Int64"),
        "name": name,
        "block": 0,
        "address": ordered,
        "sass": [_sass(action, mangled, pc, sass_cache) for pc in ordered],
    })
    files, lines = [], []
    for pc in ordered:
        info = action.source_info(pc)
        files.append(info.file_name() if info is not None else None)
        lines.append(info.line() if info is not None else None)
    out["cuda_file"] = files
    out["cuda_line"] = pd.array(lines, dtype="Int64")
    for column in ("inst_executed", "samples"):
        out[column] = [columns[column].get(pc, 0.0) for pc in ordered]
    for column in sorted(c for c in columns if c.startswith("stall_")):
        out[column] = [columns[column].get(pc, 0.0) for pc in ordered]
    return out


if __name__ == "__main__":
    if sys.argv[1:] != ["--serve"]:
        sys.exit("usage: python -m flashsight.parsers.ncu_report --serve (a reader for parsers.ncu_readers)")
    sys.exit(_serve())
