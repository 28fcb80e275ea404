"""The workload process contract: what a job gives the process it launches, and the measured range's name.

A workload process gets its config as a JSON object in FLASHSIGHT_PARAMS, its job directory (where result.json
goes, and its cwd) in FLASHSIGHT_JOB_DIR, and the observing tool in FLASHSIGHT_PROFILER ("nsys", "ncu" or
empty). A built-in workload measures one config inside the NVTX range `range_name(workload, cfg)` of domain
`flashsight`, so `ncu --nvtx --nvtx-include flashsight@<name>/` profiles exactly the measured kernels.
"""

from __future__ import annotations

from typing import Any

NVTX_DOMAIN = "flashsight"
PARAMS_ENV = "FLASHSIGHT_PARAMS"
JOB_DIR_ENV = "FLASHSIGHT_JOB_DIR"
PROFILER_ENV = "FLASHSIGHT_PROFILER"
BATCH_ENV = "FLASHSIGHT_BATCH"  # a batched process: the JSON file listing its configs
BATCH_MARK = "[flashsight-batch]"  # the batch child's log lines around each config


def range_name(workload: str, cfg: dict) -> str:
    """Deterministic measured-range name: 'rmsnorm batch=128 hidden=4096 ...' in declared param order.

    It avoids the characters ncu's NVTX filter gives meaning to ('/', '@', '[', ']', '*', ',').
    """
    parts = [workload] + [f"{k}={_plain(v)}" for k, v in cfg.items()]
    return " ".join(parts)


def _plain(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    for ch in "/@[]*,":
        text = text.replace(ch, "_")
    return text


def ncu_nvtx_filter(workload: str, cfg: dict) -> str:
    """The --nvtx-include expression that selects the measured range's kernels."""
    return f"{NVTX_DOMAIN}@{range_name(workload, cfg)}/"


# ---------------------------------------------------------------------------------------------- timing
