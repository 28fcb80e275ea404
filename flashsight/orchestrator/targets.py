"""What a job launches: the command line of a workload process and the NVTX filter for its measured range."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from flashsight.workloads import get_workload
from flashsight.workloads.harness import ncu_nvtx_filter, range_name


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


def resolve_target(workload: str, given: dict) -> Target:
    return builtin_target(workload, given)
