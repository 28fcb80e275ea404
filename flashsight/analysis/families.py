"""Workload families and config labels: which family a workload belongs to, which of its parameters a run swept,
and a short label per config that names only those (what a table row or a plot legend needs).

The five built-in families come first in the study's order; any other workload (a user's file or function) is a
family of its own, named after it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

FAMILY_ORDER = ("prefill", "decode", "rmsnorm", "rope", "jit")
FAMILY_TITLES = {"prefill": "Prefill attention", "decode": "Decode attention", "rmsnorm": "RMSNorm",
                 "rope": "RoPE", "jit": "JIT compilation"}


def family_of(workload: str) -> str:
    """'decode' for the built-in, 'matmul.py' / 'matmul' (of mypkg.bench:matmul) for a user's workload."""
    if workload in FAMILY_ORDER:
        return workload
    if ":" in workload:  # package.module:function
        return workload.rsplit(":", 1)[1]
    return Path(workload).name


def family_title(family: str) -> str:
    return FAMILY_TITLES.get(family, f"User workload {family}")


def ordered_families(workloads) -> list[str]:
    """Families of these workloads: built-ins in the study's order, then the others alphabetically."""
    families = {family_of(w) for w in workloads if isinstance(w, str)}
    return [f for f in FAMILY_ORDER if f in families] + sorted(families - set(FAMILY_ORDER))


def config_params(configs: pd.DataFrame) -> dict[str, dict]:
    """config_id -> its parameters, from params_json where the run has it (every sweep and job directory)."""
    if configs.empty or "params_json" not in configs:
        return {}
    return {cid: json.loads(text) if isinstance(text, str) else {}
            for cid, text in zip(configs["config_id"], configs["params_json"])}


def swept_params(configs: pd.DataFrame, workload: str) -> list[str]:
    """The parameters of `workload` that take more than one value in this run, in declared order."""
    params = [p for cid, p in config_params(configs).items()
              if cid in set(configs.loc[configs["workload"] == workload, "config_id"])]
    names = list(dict.fromkeys(k for p in params for k in p))
    return [k for k in names if len({json.dumps(p.get(k), sort_keys=True) for p in params}) > 1]


def config_labels(configs: pd.DataFrame) -> pd.DataFrame:
    """config_id, workload, family, label ('batch=32 num_kv_heads=8': the swept parameters only; the workload's
    name when it swept none), one row per config, in reading order: families in the study's order, then each
    workload's configs by their swept values (numbers as numbers)."""
    params = config_params(configs)
    rows = []
    families = ordered_families(configs["workload"])
    for workload, part in configs.groupby("workload", sort=False):
        swept = swept_params(configs, workload)
        for cid in part["config_id"]:
            p = params.get(cid, {})
            label = " ".join(f"{k}={_plain(p.get(k))}" for k in swept) or family_of(workload)
            rows.append({"config_id": cid, "workload": workload, "family": family_of(workload), "label": label,
                         "_key": (families.index(family_of(workload)), workload,
                                  tuple(_sort_key(p.get(k)) for k in swept))})
    frame = pd.DataFrame(rows, columns=["config_id", "workload", "family", "label", "_key"])
    order = sorted(range(len(frame)), key=lambda i: frame["_key"].iloc[i])
    return frame.iloc[order].drop(columns="_key").reset_index(drop=True)


def _sort_key(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return (1, 0.0, str(value))
    return (0, float(value), "")


def _plain(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
