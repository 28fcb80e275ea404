"""What a job launches: the command line of a workload process and the NVTX filter for its measured range."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace

from flashsight.workloads import BUILTIN, get_workload
from flashsight.workloads.external import decode_params, is_function_spec, is_python_file, require_file
from flashsight.schema.contract import ncu_nvtx_filter, range_name


@dataclass(frozen=True)
class Target:
    workload: str  # the name the user gave (built-in name, file path or module:function)
    argv: list[str]  # the workload process, without any profiler in front
    params: dict  # the resolved config (built-ins: every param with its default filled in)
    nvtx_includes: list[str]  # ncu --nvtx-include expressions; empty: profile every kernel
    measured_range: str | None  # the measured NVTX range's name, when known


def builtin_target(name: str, given: dict) -> Target:
    workload = get_workload(name)
    cfg = workload.resolve(given)
    return Target(
        workload=name,
        argv=[sys.executable, "-m", "flashsight.workloads.entry", name],
        params=cfg,
        nvtx_includes=[ncu_nvtx_filter(name, cfg)],
        measured_range=range_name(name, cfg),
    )


def external_target(workload: str, given: dict, nvtx_includes: tuple[str, ...] | list[str] = ()) -> Target:
    """A user's file or module:function. Its params are not validated: they pass through as JSON."""
    if is_python_file(workload):
        argv = [sys.executable, str(require_file(workload))]
    else:  # the job runs in its own directory: keep the caller's directory importable
        argv = [sys.executable, "-m", "flashsight.workloads.external", workload, "--sys-path", os.getcwd()]
    return Target(workload=workload, argv=argv, params=decode_params(given), nvtx_includes=list(nvtx_includes),
                  measured_range=None)


def is_external(workload: str) -> bool:
    return workload not in BUILTIN and (is_python_file(workload) or is_function_spec(workload))


def resolve_target(workload: str, given: dict, nvtx_includes: tuple[str, ...] | list[str] = ()) -> Target:
    """A built-in name, a .py file or pkg.mod:function. nvtx_includes, when given, replace the default filter."""
    if is_external(workload):
        return external_target(workload, given, nvtx_includes)
    target = builtin_target(workload, given)
    if nvtx_includes:
        target = replace(target, nvtx_includes=list(nvtx_includes))
    return target
