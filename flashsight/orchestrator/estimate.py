"""A rough duration for --dry-run: measured medians where a run directory has them, else per-tool defaults.

The defaults come from this project's H100 sweep runs (recorded in docs/evidence/device_runs/sweep/): a process
costs interpreter + torch + CUDA context + FlashInfer module load, plus the profiler's own start and export;
in batched mode that is paid once per batch, and each config adds only its own work.

ncu jobs are costed as replay passes x profiled kernels x seconds per pass: ncu replays every kernel once per
pass its sections need, so that product is what a --set full sweep spends its night on. Passes and per-pass
costs were measured on the lent H200 (ncu 2025.3.1): one RMSNorm kernel needs SpeedOfLight 10 passes,
MemoryWorkloadAnalysis 9, ComputeWorkloadAnalysis 11, WarpStateStats 9, SourceCounters 5, the catalog's
metrics alone 17, flashsight's lean default 27 (sections share passes: the sum overstates), --set basic 10,
--set full 38. 8 decode configs (14 kernels: the decode kernel, and its merge kernel where the KV is split) took
49.6 s under --set full in one batched process, of which 40.8 s was replay (one ncu process per config took
118.4 s, one that profiled nothing 9.7 s: docs/evidence/device/scale.log): 77 ms per kernel per pass under full.
The same 8 configs took 24 s with the lean default: 29 ms per pass.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

import pandas as pd

# seconds: (per process, per config) by tool, from those H100 runs: one process per job
# took 11.7 s (none), 9.0 s (nsys), 10.5 s (ncu) per rmsnorm job; batched configs 0.5-1.7 s each in-process,
# ~3 s per config all in (start-up, JIT and the capture's parse shared by the batch).
PROCESS_S = {"none": 9.0, "nsys": 8.0, "ncu": 9.0}
CONFIG_S = {"none": 0.5, "nsys": 1.0, "ncu": 1.5}
JIT_S = 25.0  # first use of a kernel family on a fresh machine: norm 17 s, rope 47 s, decode 11 s, prefill 19 s
WORKLOAD_S = {"jit": 45.0}  # a config that is a long job of its own: the JIT study of one family (norm: 32 s)

# ncu replay passes on the H200 (one kernel), per section alone and per whole set.
SECTION_PASSES = {"SpeedOfLight": 10, "MemoryWorkloadAnalysis": 9, "ComputeWorkloadAnalysis": 11,
                  "WarpStateStats": 9, "SourceCounters": 5}
SET_PASSES = {"lean": 27, "full": 38, "basic": 10}
CATALOG_METRICS_PASSES = 17
PASS_S = {"full": 0.077, "lean": 0.029}  # seconds per kernel per pass (decode on the H200, see above)
OTHER_PASS_S = 0.05  # a set or section list not measured: between the two
# kernels profiled per config (one measured step under ncu), on average: the H200 study (flashsight/sample: decode
# 27 kernels in 16 configs, prefill 9 in 8, RMSNorm 24 in 18, RoPE 8 in 8) and the --set full decode sweep above
KERNELS_PER_CONFIG = {"decode": 1.7, "prefill": 1.1, "rmsnorm": 1.3, "rope": 1.0}
UNKNOWN_KERNELS = 1


@dataclass(frozen=True)
class NcuCost:
    """One ncu job's replay work: kernels x passes x seconds per pass."""

    kernels: float  # per config, on average
    kernels_known: bool
    passes: int
    passes_exact: bool  # False: an upper bound (the sum of the sections' own counts)
    pass_s: float
    label: str  # "full", "lean", "basic" or the section list

    @property
    def seconds(self) -> float:
        return self.kernels * self.passes * self.pass_s


def ncu_cost(job) -> NcuCost:
    """The replay cost of one ncu job (a JobSpec: workload, ncu options)."""
    opts = job.ncu or {}
    kernels = KERNELS_PER_CONFIG.get(job.workload)
    chosen = opts.get("set")
    sections = list(opts.get("sections", ()))
    if sections:
        passes = min(SET_PASSES["full"], sum(SECTION_PASSES.get(s, 10) for s in sections))
        exact, label, pass_s = False, "+".join(sections), OTHER_PASS_S
    elif chosen in SET_PASSES:
        passes, exact, label = SET_PASSES[chosen], True, chosen
        pass_s = PASS_S.get(chosen, OTHER_PASS_S)
    elif chosen:  # a set ncu knows and these tables do not
        passes, exact, label, pass_s = SET_PASSES["full"], False, chosen, OTHER_PASS_S
    else:
        passes, exact, label, pass_s = SET_PASSES["lean"], True, "lean", PASS_S["lean"]
    if opts.get("unique_launches"):
        label += ", unique launches"  # repeats of a launch within the range are skipped: fewer kernels
    return NcuCost(kernels or UNKNOWN_KERNELS, kernels is not None, passes, exact, pass_s, label)


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
        if tool == "ncu":
            per_config = WORKLOAD_S.get(workload, CONFIG_S["none"] + ncu_cost(members[0]).seconds)
        else:
            per_config = WORKLOAD_S.get(workload, CONFIG_S[tool])
        if mode == "batched":
            total += PROCESS_S[tool] * math.ceil(len(members) / batch_size) + per_config * len(members)
        else:
            total += (PROCESS_S[tool] + per_config) * len(members)
    return total


def ncu_cost_table(jobs: list) -> pd.DataFrame:
    """What --dry-run says about ncu: per (workload, ncu options) the configs, kernels, passes and replay
    seconds, then per section what it alone would cost over the same kernels. Empty without ncu jobs."""
    rows = []
    groups: dict[tuple, list] = defaultdict(list)
    for job in jobs:
        if job.tool == "ncu":
            groups[(job.workload, job.group_key())].append(job)
    sections_seen: dict[str, int] = defaultdict(int)  # section -> kernels profiled with it in the plan
    for (workload, _), members in groups.items():
        cost = ncu_cost(members[0])
        kernels = cost.kernels * len(members)
        rows.append({"what": f"{workload} ({cost.label})", "configs": str(len(members)),
                     "kernels": f"{round(kernels)}" + ("" if cost.kernels_known else "?"),
                     "passes": f"{cost.passes}" + ("" if cost.passes_exact else " at most"),
                     "replay_s": round(cost.seconds * len(members), 1)})
        opts = members[0].ncu or {}
        listed = list(opts.get("sections", ())) or (list(SECTION_PASSES) if opts.get("set") in (None, "full") else [])
        for section in listed:
            sections_seen[section] += kernels
    for section, kernels in sections_seen.items():
        passes = SECTION_PASSES.get(section)
        rows.append({"what": f"  section {section} alone", "configs": "", "kernels": str(round(kernels)),
                     "passes": str(passes) if passes is not None else "?",
                     "replay_s": round(kernels * passes * OTHER_PASS_S, 1) if passes is not None else None})
    table = pd.DataFrame(rows, columns=["what", "configs", "kernels", "passes", "replay_s"])
    table.attrs["pass_ms"] = {name: round(seconds * 1000) for name, seconds in PASS_S.items()}  # for the note
    return table


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
