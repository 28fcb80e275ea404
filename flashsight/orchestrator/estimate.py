"""A rough duration for --dry-run: measured medians where a run directory has them, else per-tool defaults.

The defaults come from this project's H100 sweep runs (recorded in docs/evidence/device_runs/sweep/): a process
costs interpreter + torch + CUDA context + FlashInfer module load, plus the profiler's own start and export;
in batched mode that is paid once per batch, and each config adds only its own work.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

# seconds: (per process, per config) by tool, from those H100 runs: one process per job
# took 11.7 s (none), 9.0 s (nsys), 10.5 s (ncu) per rmsnorm job; batched configs 0.5-1.7 s each in-process,
# ~3 s per config all in (start-up, JIT and the capture's parse shared by the batch).
PROCESS_S = {"none": 9.0, "nsys": 8.0, "ncu": 9.0}
CONFIG_S = {"none": 0.5, "nsys": 1.0, "ncu": 1.5}
JIT_S = 25.0  # first use of a kernel family on a fresh machine: norm 17 s, rope 47 s, decode 11 s, prefill 19 s
WORKLOAD_S = {"jit": 45.0}  # a config that is a long job of its own: the JIT study of one family (norm: 32 s)


def estimate_s(jobs: list, mode: str, batch_size: int, history: list[tuple[str, str, float]] = ()) -> float:
    """jobs: JobSpec-like objects (workload, tool, group_key()). history: (workload, tool, seconds) measured."""
    measured = defaultdict(list)
    for workload, tool, seconds in history:
        measured[(workload, tool)].append(seconds)
    medians = {key: statistics.median(v) for key, v in measured.items()}
    total = JIT_S * len({job.workload for job in jobs if job.workload in ("rmsnorm", "rope", "decode", "prefill")})
    groups: dict[str, list] = defaultdict(list)
    for job in jobs:
        groups[job.group_key()].append(job)
    for members in groups.values():
        tool, workload = members[0].tool, members[0].workload
        if (workload, tool) in medians:
            total += medians[(workload, tool)] * len(members)
            continue
        per_config = WORKLOAD_S.get(workload, CONFIG_S[tool])
        if mode == "batched":
            total += PROCESS_S[tool] * math.ceil(len(members) / batch_size) + per_config * len(members)
        else:
            total += (PROCESS_S[tool] + per_config) * len(members)
    return total


def preview(plan, out, mode: str | None, batch_size: int | None):
    """What --dry-run shows: (plan, status by job id, estimated seconds, mode, configs per process).

    plan: a loaded Plan, or None to read the one stored in `out` (a --resume --dry-run).
    """
    from flashsight.orchestrator.plan import stored_plan
    from flashsight.orchestrator.state import Store
    from flashsight.schema.layout import STATE_FILE

    if plan is None:
        plan = stored_plan(Store(out / STATE_FILE), out)
    statuses, history = {}, []
    if out is not None and (out / STATE_FILE).exists():
        store = Store(out / STATE_FILE)
        statuses, history = {j["job_id"]: j["status"] for j in store.jobs(False)}, store.durations()
    run_mode = mode or plan.mode
    size = (batch_size or plan.batch_size) if run_mode == "batched" else 1
    todo = [j for j in plan.jobs if statuses.get(j.job_id) not in ("succeeded", "failed", "timed_out")]
    return plan, statuses, estimate_s(todo, run_mode, size, history), run_mode, size
