"""Rates by ncu's own time, for kernels nsys did not time: ncu's counters over ncu's duration (its locked clocks).
The joint observation's `achieved_*` use the nsys time; these are the fallback a report labels as ncu's."""

from __future__ import annotations

import pandas as pd


def with_ncu_time_rates(obs: pd.DataFrame) -> pd.DataFrame:
    """obs plus ncu_flop_per_s and ncu_dram_bytes_per_s (counters ÷ ncu_duration_ns)."""
    seconds = obs["ncu_duration_ns"].astype("float64") / 1e9 if "ncu_duration_ns" in obs else None
    out = obs.copy()
    for counter, rate in (("flop", "ncu_flop_per_s"), ("dram_bytes", "ncu_dram_bytes_per_s")):
        out[rate] = (obs[counter].astype("float64") / seconds) if seconds is not None and counter in obs else float("nan")
    return out
