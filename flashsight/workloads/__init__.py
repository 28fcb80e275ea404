"""Built-in workloads by name. Each module defines one Workload subclass; the harness runs them all alike."""

from __future__ import annotations

from flashsight.errors import ParamError
from flashsight.workloads.decode import Decode
from flashsight.workloads.harness import Workload
from flashsight.workloads.jit import Jit
from flashsight.workloads.prefill import Prefill
from flashsight.workloads.rmsnorm import RMSNorm
from flashsight.workloads.rope import Rope

BUILTIN: dict[str, Workload] = {w.name: w for w in (Prefill(), Decode(), RMSNorm(), Rope(), Jit())}


def get_workload(name: str) -> Workload:
    try:
        return BUILTIN[name]
    except KeyError:
        raise ParamError(f"unknown workload {name!r} (built-in: {', '.join(sorted(BUILTIN))})") from None
