"""What a job launches: the command line of a workload process and the NVTX filter for its measured range."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, replace

from flashsight.errors import ParamError
from flashsight.workloads import BUILTIN, get_workload
from flashsight.workloads.external import is_function_spec, is_python_file, require_file
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
    """A user's file or module:function. Its params are not validated: they pass through as JSON, typed as
    given (the CLI decodes its -p strings before; a plan's TOML values are typed already)."""
    if is_python_file(workload):
        argv = [sys.executable, str(require_file(workload))]
    else:  # the job runs in its own directory: keep the caller's directory importable
        argv = [sys.executable, "-m", "flashsight.workloads.external", workload, "--sys-path", os.getcwd()]
    return Target(workload=workload, argv=argv, params=dict(given), nvtx_includes=list(nvtx_includes),
                  measured_range=None)


def is_external(workload: str) -> bool:
    return workload not in BUILTIN and (is_python_file(workload) or is_function_spec(workload))


MAX_PARAMS_BYTES = 64 * 1024  # FLASHSIGHT_PARAMS is one environment string: Linux refuses one over 128 KiB


def resolve_target(workload: str, given: dict, nvtx_includes: tuple[str, ...] | list[str] = ()) -> Target:
    """A built-in name, a .py file or pkg.mod:function. nvtx_includes, when given, replace the default filter."""
    if is_external(workload):
        target = external_target(workload, given, nvtx_includes)
        size = len(json.dumps(target.params).encode())
        if size > MAX_PARAMS_BYTES:  # exec would fail with "Argument list too long", after a job was started
            raise ParamError(f"{workload}: its params take {size:,} bytes as JSON, more than {MAX_PARAMS_BYTES:,} "
                             "(pass large data through a file)")
        return target
    target = builtin_target(workload, given)
    if nvtx_includes:
        target = replace(target, nvtx_includes=list(nvtx_includes))
    return target
