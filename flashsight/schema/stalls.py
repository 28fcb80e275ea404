"""The warp-stall vocabulary: one canonical name per reason, with every spelling ncu uses for it.

warp_state (WarpStateStats ratios) and pc_sampling (SourceCounters samples) spell some reasons differently, and
the source page again differently (`stall_long_sb`, `stall_math`, ...); all map to the warp-state names here.
"""

from __future__ import annotations

import re

# canonical reason -> (label, what it usually means for a kernel engineer)
REASONS: dict[str, tuple[str, str]] = {
    "long_scoreboard": ("Long Scoreboard", "waiting on global/local memory (L1TEX: DRAM, L2, spills)"),
    "short_scoreboard": ("Short Scoreboard", "waiting on MIO: shared memory or special-function (MUFU) latency"),
    "barrier": ("Barrier", "synchronisation: warps waiting at __syncthreads / a named barrier"),
    "math_pipe_throttle": ("Math Pipe Throttle", "compute pipe saturated: the math unit is busy"),
    "mio_throttle": ("MIO Throttle", "MIO queue full: too many shared-memory/special-math instructions"),
    "lg_throttle": ("LG Throttle", "local/global memory queue full: too many memory instructions in flight"),
    "tex_throttle": ("Tex Throttle", "texture/L1TEX pipe queue full"),
    "wait": ("Wait", "fixed-latency dependency: waiting on a previous ALU/FMA result"),
    "not_selected": ("Not Selected", "eligible, another warp issued: spare warps, not a latency problem"),
    "selected": ("Selected", "issuing an instruction (not a stall)"),
    "no_instruction": ("No Instruction", "instruction cache miss or waiting for the next instruction"),
    "branch_resolving": ("Branch Resolving", "waiting for a branch target / divergence to resolve"),
    "dispatch_stall": ("Dispatch Stall", "dispatcher could not issue (pipeline conflict)"),
    "drain": ("Drain", "waiting for memory stores to drain at exit"),
    "imc_miss": ("IMC Miss", "immediate constant cache miss"),
    "membar": ("Membar", "waiting on a memory barrier / fence"),
    "misc": ("Misc", "miscellaneous hardware reason"),
    "sleeping": ("Sleeping", "warp asleep (nanosleep / all threads blocked)"),
    "gmma": ("GMMA / Warpgroup Arrive", "waiting on warpgroup MMA (wgmma) operands or completion"),
    "tmem": ("TMEM", "waiting on tensor memory (SM 10.x)"),
}
NOT_A_STALL = "selected"

# Every spelling ncu uses (metric suffixes and source-page stall_* columns) -> canonical reason.
ALIASES: dict[str, str] = {
    **{r: r for r in REASONS},
    "no_instructions": "no_instruction",
    "no_inst": "no_instruction",
    "warpgroup_arrive": "gmma",
    "long_sb": "long_scoreboard",
    "short_sb": "short_scoreboard",
    "math": "math_pipe_throttle",
    "mio": "mio_throttle",
    "lg": "lg_throttle",
    "tex": "tex_throttle",
    "imc": "imc_miss",
    "dispatch": "dispatch_stall",
    "sleep": "sleeping",
}


def canonical_reason(spelling: str) -> str:
    """Canonical name of a stall reason spelled the way any ncu metric or source-page column spells it."""
    key = spelling.strip().lower()
    key = re.sub(r"^stall_", "", key)
    key = re.sub(r"\s*\(not issued\)$", "", key)
    return ALIASES.get(key, key)
