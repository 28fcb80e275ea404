"""What changed between two runs: per config and kernel, the nsys medians, their ratio with an interval, a verdict,
and the ncu counters that moved with it. DataFrames in, one DataFrame out; nothing printed, no tool run.

Rows are matched on `config_id` and the kernel: mangled name (the demangled one when a capture has none), grid,
block and `occurrence` (the n-th launch of that kernel within one step of the measured range). Each config also
gets a `step` row, the summed kernel time of one step, so a config whose kernels changed identity (another
template, another grid) is still compared as a whole. A kernel or config seen on one side only is a row with
verdict `base_only` / `new_only`; a config seen on both sides without nsys kernels is `not_compared`. A base-only
and a new-only config one parameter apart (decode page_size 16 → 1: a new config_id) are compared with each other,
the change named in `changed_params`.

A verdict is statistical and practical at once (see analysis/noise.py for the figures):
    regressed     ratio >= 1 + threshold  and the interval's low end above 1 + floor
    improved      ratio <= 1 / (1 + threshold)  and the interval's high end below 1 / (1 + floor)
    unchanged     the whole interval within [1 / (1 + threshold), 1 + threshold]
    inconclusive  anything else: the interval straddles the threshold, or too few launches for one
The floor of a row is the larger of the run-to-run floor (default 2%, estimated from repeats where the runs have
them) and the drift seen inside either side's measured range.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flashsight.analysis import noise
from flashsight.schema.contract import range_name
from flashsight.schema.stalls import NOT_A_STALL

IDENTITY = ["mangled_name", "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z"]
KERNEL_KEY = [*IDENTITY, "occurrence"]
ROW_KEY = ["config_id", "kind", *KERNEL_KEY]
REPEAT_COLUMNS = ("run", "job_id")  # what tells two measured ranges of one config apart
VERDICTS = ("regressed", "improved", "unchanged", "inconclusive", "base_only", "new_only", "not_compared")

DEFAULT_THRESHOLD_PCT = 5.0
DEFAULT_FLOOR_PCT = 2.0

# Counters that say why a time moved, and how much each must change to count as moved.
COUNTERS = ("dram_bytes", "flop", "registers_per_thread", "achieved_occupancy_pct", "top_stall", "top_stall_pct")
RELATIVE_MOVE_PCT = {"dram_bytes": 5.0, "flop": 5.0}  # counted work: a few % is a real change
ABSOLUTE_MOVE = {"registers_per_thread": 0.5, "achieved_occupancy_pct": 5.0}  # any register; 5 occupancy points
STALL_MOVE_POINTS = 5.0  # a top stall that changed while no share moved this much is a near-tie, not a change
SUMMED_COUNTERS = ("dram_bytes", "flop")  # what a step row adds up over its kernels
UNLISTED = "(any other reason)"  # in stall_shares: the largest share a reason not listed can have


@dataclass(frozen=True)
class Floor:
    """The run-to-run floor used and where it came from (given, repeats, default)."""

    pct: float
    source: str


# ------------------------------------------------------------------------------------------------ timing side


def kernel_launches(gpu_kernels: pd.DataFrame, iters: pd.Series | None = None) -> pd.DataFrame:
    """The launches of each config's measured range, in launch order, with `repeat`, `step` and `occurrence`.

    gpu_kernels: nsys kernel rows of the measured ranges, with `config_id` (a sweep's merged table).
    iters: steps per measured range by job_id (result.json's `iters`), where known; else a range's step count is
    the greatest common divisor of its kernels' launch counts.
    """
    if gpu_kernels.empty:
        return _empty_launches()
    df = gpu_kernels.copy()
    df["mangled_name"] = df["mangled_name"].fillna(df["name"]) if "mangled_name" in df else df["name"]
    present = [c for c in REPEAT_COLUMNS if c in df.columns]
    df["repeat"] = "0"
    for column in present:
        df["repeat"] = df["repeat"] + "/" + df[column].astype("string").fillna("")
    df = df.sort_values(["config_id", "repeat", "start_ns"], kind="stable").reset_index(drop=True)
    for column in IDENTITY[1:]:
        df[column] = df[column].astype("int64")
    group = ["config_id", "repeat", *IDENTITY]
    count = df.groupby(group, sort=False)["start_ns"].transform("size")
    steps = _steps_per_range(df, count, iters)
    per_step = count // steps
    nth = df.groupby(group, sort=False).cumcount()
    df["occurrence"] = (nth % per_step).astype("int64")
    df["step"] = (nth // per_step).astype("int64")
    keep = ["config_id", "repeat", "step", *KERNEL_KEY, "short_name", "start_ns", "duration_ns"]
    return df[keep]


def _steps_per_range(df: pd.DataFrame, count: pd.Series, iters: pd.Series | None) -> pd.Series:
    """Steps of each row's measured range: the workload's own iters when every kernel count is a multiple of it."""
    frame = pd.DataFrame({"config_id": df["config_id"], "repeat": df["repeat"], "count": count})
    gcd = frame.groupby(["config_id", "repeat"])["count"].transform(lambda c: int(np.gcd.reduce(c.unique())))
    if iters is None or "job_id" not in df.columns:
        return gcd
    known = df["job_id"].map(iters)
    fits = known.notna() & (known > 0)
    fits &= frame.assign(ok=(count % known.where(fits, 1)) == 0).groupby(["config_id", "repeat"])["ok"].transform("all")
    return known.where(fits, gcd).astype("int64")


def _empty_launches() -> pd.DataFrame:
    columns = {"config_id": "string", "repeat": "string", "step": "int64", "mangled_name": "string",
               **{c: "int64" for c in IDENTITY[1:]}, "occurrence": "int64", "short_name": "string",
               "start_ns": "int64", "duration_ns": "int64"}
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def step_totals(launches: pd.DataFrame) -> pd.DataFrame:
    """One pseudo-launch per step: the summed kernel time of the step (ranges whose steps differ are skipped)."""
    if launches.empty:
        return pd.DataFrame({"config_id": [], "repeat": [], "step": [], "start_ns": [], "duration_ns": []})
    sizes = launches.groupby(["config_id", "repeat", "step"]).size()
    even = sizes.groupby(level=["config_id", "repeat"]).transform(lambda s: s.nunique() == 1)
    keep = even[even].index
    steps = (launches.set_index(["config_id", "repeat", "step"]).loc[lambda d: d.index.isin(keep)]
             .groupby(level=["config_id", "repeat", "step"])
             .agg(start_ns=("start_ns", "min"), duration_ns=("duration_ns", "sum"))
             .reset_index())
    return steps


def _series(launches: pd.DataFrame, steps: pd.DataFrame) -> dict[tuple, dict]:
    """Row key -> {short_name, order, repeats: [durations in launch order]} for kernels and step totals.

    order: where the kernel first launches in its step, so rows read in launch order."""
    out: dict[tuple, dict] = {}
    for config, rows in steps.groupby("config_id", sort=False):
        repeats = [r.sort_values("start_ns")["duration_ns"].to_numpy("float64") for _, r in rows.groupby("repeat")]
        out[(config, "step", *([None] * len(KERNEL_KEY)))] = {"short_name": "(step)", "order": -1,
                                                               "repeats": repeats}
    first = launches[launches["step"] == 0]
    first = first[first["repeat"] == first.groupby("config_id")["repeat"].transform("min")]  # launches in order
    rank = dict(zip(map(tuple, first[["config_id", *KERNEL_KEY]].to_numpy().tolist()),
                    first.groupby("config_id").cumcount()))
    for key, rows in launches.groupby(["config_id", *KERNEL_KEY], sort=False, dropna=False):
        repeats = [r.sort_values("start_ns")["duration_ns"].to_numpy("float64") for _, r in rows.groupby("repeat")]
        out[(key[0], "kernel", *key[1:])] = {"short_name": rows["short_name"].iloc[0],
                                             "order": rank.get(tuple(key), 0), "repeats": repeats}
    return out


# ------------------------------------------------------------------------------------------------ counters side


def kernel_counters(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The ncu counters of each config's kernels, keyed like the timing rows (config_id + KERNEL_KEY).

    From `kernel_observations` when the run has it, else from `ncu_kernels` (+ `warp_stalls` for the top stall).
    The one place that knows where counters come from.
    """
    observations = tables.get("kernel_observations")
    if observations is not None and {"config_id", *IDENTITY} <= set(observations.columns):
        return _counters_from_observations(observations)
    kernels = tables.get("ncu_kernels")
    if kernels is None or kernels.empty or "config_id" not in kernels.columns:
        return _empty_counters()
    df = kernels.copy()
    df["mangled_name"] = df["mangled_name"].fillna(df["name"]) if "mangled_name" in df else df["name"]
    by_job = [c for c in ("run", "job_id") if c in df.columns]
    stalls = _top_stalls(tables.get("warp_stalls"), by_job)
    if stalls is not None:
        df = df.merge(stalls, on=[*by_job, "kernel_id"], how="left")
    for column in COUNTERS:
        if column not in df.columns:
            df[column] = np.nan if column != "top_stall" else None
    df = df.sort_values([*by_job, "kernel_id"], kind="stable")
    df["occurrence"] = df.groupby(["config_id", *by_job, *IDENTITY], sort=False).cumcount()
    return _one_per_key(df)


def _counters_from_observations(obs: pd.DataFrame) -> pd.DataFrame:
    """kernel_observations has one row per config and kernel of the measured step, in launch order: the n-th row
    of one kernel identity within a config is its n-th occurrence in the step."""
    df = obs[obs[IDENTITY[1:]].notna().all(axis=1)].copy()
    df["mangled_name"] = df["mangled_name"].fillna(df["short_name"]) if "short_name" in df else df["mangled_name"]
    if "occurrence" not in df.columns:
        df["occurrence"] = df.groupby(["config_id", *IDENTITY], sort=False).cumcount()
    if {"top_stall", "top_stall_pct", "second_stall", "second_stall_pct"} <= set(df.columns):
        df["stall_shares"] = [_top_two(*values) for values in
                              zip(df["top_stall"], df["top_stall_pct"], df["second_stall"], df["second_stall_pct"])]
    for column in COUNTERS:
        if column not in df.columns:
            df[column] = np.nan if column != "top_stall" else None
    return _one_per_key(df)


def _top_two(top, top_pct, second, second_pct) -> dict | None:
    """The shares kernel_observations keeps (the two largest); any other reason's share is at most the second's."""
    if _missing(top) or _missing(top_pct):
        return None
    shares = {top: float(top_pct)}
    if not _missing(second) and not _missing(second_pct):
        shares[second] = float(second_pct)
    return {**shares, UNLISTED: shares.get(second, 0.0) if not _missing(second) else 0.0}


def _one_per_key(df: pd.DataFrame) -> pd.DataFrame:
    """Several ncu jobs of one config (repeats): numeric counters by median, the top stall of the first."""
    for column in IDENTITY[1:]:
        df[column] = df[column].astype("int64")
    numeric = [c for c in COUNTERS if c != "top_stall"]
    for column in numeric:
        df[column] = pd.to_numeric(df[column], errors="coerce").astype("float64")
    grouped = df.groupby(["config_id", *KERNEL_KEY], sort=False)
    out = grouped[numeric].median()
    out["top_stall"] = grouped["top_stall"].first()
    out["stall_shares"] = grouped["stall_shares"].first() if "stall_shares" in df.columns else None
    return out.reset_index()[["config_id", *KERNEL_KEY, *COUNTERS, "stall_shares"]]


def _top_stalls(stalls: pd.DataFrame | None, by_job: list[str]) -> pd.DataFrame | None:
    """Per kernel: the reason with the largest share (warp-state ratios, PC samples where a report has none: the
    choice kernel_observations makes), and every reason's share of that source (`stall_shares`, to tell a real
    shift from a near-tie that flipped)."""
    if stalls is None or stalls.empty or not {"kernel_id", "reason", "pct", "source"} <= set(stalls.columns):
        return None
    if not set(by_job) <= set(stalls.columns):
        return None
    real = stalls[(stalls["reason"] != NOT_A_STALL) & stalls["pct"].notna()].copy()
    real["rank"] = real["source"].map({"warp_state": 0, "pc_sampling": 1}).fillna(2)
    keys = [*by_job, "kernel_id"]
    best = real[real["rank"] == real.groupby(keys)["rank"].transform("min")]
    best = best.sort_values("pct", ascending=False, kind="stable")
    shares = best.groupby(keys, sort=False).apply(lambda g: dict(zip(g["reason"], g["pct"])), include_groups=False)
    top = best.drop_duplicates(keys)[[*keys, "reason", "pct"]]
    top = top.rename(columns={"reason": "top_stall", "pct": "top_stall_pct"})
    return top.merge(shares.rename("stall_shares").reset_index(), on=keys, how="left")


def _empty_counters() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="string" if c in ("config_id", "mangled_name", "top_stall") else
                                       ("int64" if c in KERNEL_KEY else "float64"))
                          for c in ["config_id", *KERNEL_KEY, *COUNTERS]})
    return frame.assign(stall_shares=pd.Series(dtype="object"))


def step_counters(counters: pd.DataFrame) -> pd.DataFrame:
    """A step row's counters: the counted work (DRAM bytes, FLOP) summed over the config's profiled kernels."""
    summed = counters.groupby("config_id")[list(SUMMED_COUNTERS)].sum(min_count=1).reset_index()
    return summed.assign(kind="step")


def moved_counters(base: dict, new: dict) -> str:
    """'dram_bytes +48.2%, registers_per_thread 64→96, top_stall long_scoreboard→barrier' (empty: none moved)."""
    moved = []
    for column in COUNTERS:
        if column == "top_stall_pct":
            continue
        b, n = base.get(column), new.get(column)
        if _missing(b) or _missing(n):
            continue
        if column == "top_stall":
            if b != n and _stall_shifted(base, new):
                moved.append(f"top_stall {b}→{n}")
        elif column in RELATIVE_MOVE_PCT:
            if b > 0 and abs(100 * (n / b - 1)) >= RELATIVE_MOVE_PCT[column]:
                moved.append(f"{column} {100 * (n / b - 1):+.1f}%")
        elif abs(n - b) >= ABSOLUTE_MOVE[column]:
            moved.append(f"{column} {_number(b)}→{_number(n)}")
    return ", ".join(moved)


def _stall_shifted(base: dict, new: dict) -> bool:
    """A new top stall counts when the shares really moved (>= STALL_MOVE_POINTS), not when two near-equal
    reasons traded places."""
    b_shares, n_shares = base.get("stall_shares"), new.get("stall_shares")
    if isinstance(b_shares, dict) and isinstance(n_shares, dict):
        old_top, new_top = base["top_stall"], new["top_stall"]
        # a reason a side does not list has at most that side's UNLISTED share: the shift is at least this much
        fell = b_shares.get(old_top, 0.0) - n_shares.get(old_top, n_shares.get(UNLISTED, 0.0))
        rose = n_shares.get(new_top, 0.0) - b_shares.get(new_top, b_shares.get(UNLISTED, 0.0))
        return max(fell, rose) >= STALL_MOVE_POINTS
    b_pct, n_pct = base.get("top_stall_pct"), new.get("top_stall_pct")
    return _missing(b_pct) or _missing(n_pct) or abs(n_pct - b_pct) >= STALL_MOVE_POINTS


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


# ------------------------------------------------------------------------------------------------ changed configs


def pair_changed_configs(base: pd.DataFrame | None, new: pd.DataFrame | None) -> dict[str, tuple[str, str]]:
    """Configs on one side only that are one parameter apart: {new config_id: (base config_id, 'page_size 16→1')}.

    A plan that changes one parameter of a config (decode page_size 16 → 1, cuda_graph off → on) gives it a new
    config_id; a base-only and a new-only config of one workload that differ in exactly one parameter, and have
    no other such partner, are compared with each other, the change named on their rows.
    """
    if base is None or new is None or base.empty or new.empty or "params_json" not in base or "params_json" not in new:
        return {}
    only = {side: frame[~frame["config_id"].isin(other["config_id"])]
            for side, frame, other in (("base", base, new), ("new", new, base))}
    params = {side: {r["config_id"]: (r["workload"], json.loads(r["params_json"] or "{}"))
                     for r in frame.to_dict("records")} for side, frame in only.items()}
    candidates: dict[str, list[tuple[str, str]]] = {}
    partners: dict[str, int] = {}
    for new_id, (workload, new_params) in params["new"].items():
        for base_id, (base_workload, base_params) in params["base"].items():
            if base_workload != workload:
                continue
            changed = [k for k in sorted(base_params.keys() | new_params.keys())
                       if base_params.get(k) != new_params.get(k)]
            if len(changed) == 1:
                key = changed[0]
                candidates.setdefault(new_id, []).append(
                    (base_id, f"{key} {base_params.get(key, '–')}→{new_params.get(key, '–')}"))
                partners[base_id] = partners.get(base_id, 0) + 1
    return {new_id: found[0] for new_id, found in candidates.items()
            if len(found) == 1 and partners[found[0][0]] == 1}


def _renamed(tables: dict[str, pd.DataFrame], pairs: dict[str, tuple[str, str]]) -> dict[str, pd.DataFrame]:
    if not pairs:
        return tables
    mapping = {new_id: base_id for new_id, (base_id, _) in pairs.items()}
    return {name: df.assign(config_id=df["config_id"].map(lambda c: mapping.get(c, c)).astype("string"))
            if "config_id" in df.columns else df for name, df in tables.items()}


# ------------------------------------------------------------------------------------------------ verdicts


def verdict(ratio: float, low: float, high: float, threshold_pct: float, floor_pct: float) -> tuple[str, str]:
    """(verdict, why) for one matched row."""
    up, down = 1 + threshold_pct / 100, 1 / (1 + threshold_pct / 100)
    floor_up, floor_down = 1 + floor_pct / 100, 1 / (1 + floor_pct / 100)
    change = f"{100 * (ratio - 1):+.1f}%"
    if math.isnan(low):
        return "inconclusive", f"{change}; too few launches for an interval (< {noise.MIN_LAUNCHES} per side)"
    interval = f"interval {low:.3f}–{high:.3f}"
    if ratio >= up and low > floor_up:
        return "regressed", f"{change}, {interval} above the {floor_pct:.1f}% floor"
    if ratio <= down and high < floor_down:
        return "improved", f"{change}, {interval} below the {floor_pct:.1f}% floor"
    if low >= down and high <= up:
        return "unchanged", f"{change}, {interval} within ±{threshold_pct:g}%"
    if ratio >= up or ratio <= down:
        return "inconclusive", f"{change} but {interval} reaches within the {floor_pct:.1f}% floor"
    return "inconclusive", f"{change} but {interval} reaches past ±{threshold_pct:g}%"


def run_floor(base_series: dict, new_series: dict, given_pct: float | None) -> Floor:
    """The floor given, else the one the repeats of either run show, else the default."""
    if given_pct is not None:
        return Floor(given_pct, "given")
    spreads = {side: [noise.repeat_spread_pct(s["repeats"]) for key, s in series.items() if key[1] == "kernel"]
               for side, series in (("base", base_series), ("new", new_series))}
    estimated = noise.repeat_floor_pct(spreads["base"] + spreads["new"])
    if estimated is not None:
        rows = {side: sum(not math.isnan(v) for v in values) for side, values in spreads.items()}
        return Floor(estimated, f"repeats ({rows['base']} base rows, {rows['new']} new rows)")
    return Floor(DEFAULT_FLOOR_PCT, "default")


# ------------------------------------------------------------------------------------------------ the comparison


def compare_tables(base: dict[str, pd.DataFrame], new: dict[str, pd.DataFrame], *,
                   base_configs: pd.DataFrame | None = None, new_configs: pd.DataFrame | None = None,
                   base_iters: pd.Series | None = None, new_iters: pd.Series | None = None,
                   threshold_pct: float = DEFAULT_THRESHOLD_PCT, floor_pct: float | None = None,
                   throttled: dict[str, set] | None = None) -> pd.DataFrame:
    """One row per config and kernel (and per config step) of either side; see the module docstring.

    base, new: each side's tables (`gpu_kernels` with `config_id`; `ncu_kernels`, `warp_stalls` or
    `kernel_observations` for counters). *_configs: config_id, workload, params_json (Run.configs).
    throttled: {"base"|"new": config_ids whose nsys job ran throttled}: their rows are at most inconclusive.
    The frame's attrs hold the floor used (`floor_pct`, `floor_source`) and the threshold.
    """
    pairs = pair_changed_configs(base_configs, new_configs)
    new = _renamed(new, pairs)
    launches = {side: kernel_launches(_kernels(tables), iters)
                for side, tables, iters in (("base", base, base_iters), ("new", new, new_iters))}
    series = {side: _series(l, step_totals(l)) for side, l in launches.items()}
    floor = run_floor(series["base"], series["new"], floor_pct)
    counters = {side: _counter_lookup(tables) for side, tables in (("base", base), ("new", new))}
    rows = []
    for key in series["base"].keys() | series["new"].keys():
        b, n = series["base"].get(key), series["new"].get(key)
        row = dict(zip(ROW_KEY, key))
        row["short_name"], row["order"] = (b or n)["short_name"], (b or n)["order"]
        row.update(_timing(b, "base"), **_timing(n, "new"))
        if b is None or n is None:
            row["verdict"] = "base_only" if n is None else "new_only"
            row["note"] = "kernel seen in the base run only" if n is None else "kernel seen in the new run only"
        else:
            row.update(_judged(b["repeats"], n["repeats"], threshold_pct, floor.pct))
            row.update(_unless_throttled(row, throttled or {}, pairs))
        base_c, new_c = counters["base"].get(_counter_key(key), {}), counters["new"].get(_counter_key(key), {})
        for column in COUNTERS:
            row[f"base_{column}"], row[f"new_{column}"] = base_c.get(column), new_c.get(column)
        row["counters_moved"] = moved_counters(base_c, new_c)
        rows.append(row)
    measured = {k[0] for k in series["base"]} | {k[0] for k in series["new"]}
    renamed_configs = _renamed({"configs": new_configs}, pairs)["configs"] if new_configs is not None else None
    rows += _unmeasured_configs(base_configs, renamed_configs, measured)
    frame = _with_configs(_frame(rows), base_configs, new_configs)
    by_base = {base_id: (new_id, change) for new_id, (base_id, change) in pairs.items()}
    frame["new_config_id"] = frame["config_id"].map(lambda c: by_base.get(c, (c, None))[0]).astype("string")
    frame["changed_params"] = frame["config_id"].map(lambda c: by_base.get(c, (None, None))[1]).astype("string")
    kind_rank = frame["kind"].map({"config": 0, "step": 1, "kernel": 2})
    frame = (frame.assign(_kind=kind_rank).sort_values(["workload", "config", "_kind", "order", "occurrence"],
                                                       kind="stable", na_position="first")
             .drop(columns=["_kind", "order"]).reset_index(drop=True))
    frame.attrs.update(threshold_pct=threshold_pct, floor_pct=floor.pct, floor_source=floor.source)
    return frame


def _kernels(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    kernels = tables.get("gpu_kernels")
    if kernels is None or "config_id" not in kernels.columns:
        return pd.DataFrame(columns=["config_id", "name", "mangled_name", "start_ns", "duration_ns", *IDENTITY[1:]])
    return kernels[kernels["config_id"].notna()]


def _timing(side: dict | None, prefix: str) -> dict:
    if side is None:
        return {f"{prefix}_launches": 0, f"{prefix}_median_ns": None}
    values = np.concatenate(side["repeats"])
    return {f"{prefix}_launches": len(values), f"{prefix}_median_ns": float(np.median(values))}


def _judged(base: list[np.ndarray], new: list[np.ndarray], threshold_pct: float, floor_pct: float) -> dict:
    ratio = float(np.median(np.concatenate(new)) / np.median(np.concatenate(base)))
    low, high = noise.block_bootstrap_ratio(base, new)
    drift = np.nanmax([noise.drift_pct(base), noise.drift_pct(new), -1.0])
    drift = math.nan if drift < 0 else float(drift)
    row_floor = max(floor_pct, 0.0 if math.isnan(drift) else drift)
    judged, why = verdict(ratio, low, high, threshold_pct, row_floor)
    if row_floor > floor_pct:
        why += f" (the floor is the {drift:.1f}% this kernel drifted within one measured range)"
    return {"ratio": ratio, "ci_low": low, "ci_high": high, "drift_pct": drift, "floor_pct": row_floor,
            "verdict": judged, "note": why}


def _unless_throttled(row: dict, throttled: dict[str, set], pairs: dict) -> dict:
    """A time measured while the GPU throttled says nothing about the code: no regressed/improved verdict."""
    new_ids = {base_id: new_id for new_id, (base_id, _) in pairs.items()}
    sides = [side for side, config in (("base", row["config_id"]), ("new", new_ids.get(row["config_id"],
                                                                                       row["config_id"])))
             if config in throttled.get(side, set())]
    if not sides or row["verdict"] not in ("regressed", "improved"):
        return {}
    return {"verdict": "inconclusive",
            "note": f"{row['note']}; but the GPU throttled during the {' and '.join(sides)} nsys job"}


def _counter_lookup(tables: dict[str, pd.DataFrame]) -> dict[tuple, dict]:
    counters = kernel_counters(tables)
    lookup = {(r["config_id"], "kernel", *(r[c] for c in KERNEL_KEY)): r for r in counters.to_dict("records")}
    for r in step_counters(counters).to_dict("records"):
        lookup[(r["config_id"], "step")] = r
    return lookup


def _counter_key(key: tuple) -> tuple:
    return key if key[1] == "kernel" else key[:2]


def _unmeasured_configs(base: pd.DataFrame | None, new: pd.DataFrame | None, measured: set) -> list[dict]:
    """Configs that have no nsys kernels on either side: listed, so nothing a run holds disappears."""
    ids = {side: set() if frame is None or frame.empty else set(frame["config_id"].dropna())
           for side, frame in (("base", base), ("new", new))}
    rows = []
    for config in sorted((ids["base"] | ids["new"]) - measured):
        where = ("both runs" if config in ids["base"] and config in ids["new"] else
                 "the base run only" if config in ids["base"] else "the new run only")
        judged = ("not_compared" if where == "both runs" else
                  "base_only" if config in ids["base"] else "new_only")
        rows.append({"config_id": config, "kind": "config", "base_launches": 0, "new_launches": 0,
                     "verdict": judged, "note": f"config in {where}, without nsys kernels"})
    return rows


def _frame(rows: list[dict]) -> pd.DataFrame:
    columns = ["config_id", "kind", "short_name", *KERNEL_KEY, "order", "base_launches", "new_launches", "base_median_ns",
               "new_median_ns", "ratio", "ci_low", "ci_high", "drift_pct", "floor_pct", "verdict", "note",
               *[f"{side}_{c}" for c in COUNTERS for side in ("base", "new")], "counters_moved"]
    frame = pd.DataFrame(rows, columns=columns)
    types = {"config_id": "string", "kind": "string", "short_name": "string", "mangled_name": "string",
             **{c: "Int64" for c in [*IDENTITY[1:], "occurrence", "order", "base_launches", "new_launches"]},
             **{c: "float64" for c in ["base_median_ns", "new_median_ns", "ratio", "ci_low", "ci_high", "drift_pct",
                                       "floor_pct"]},
             "verdict": "string", "note": "string", "base_top_stall": "string", "new_top_stall": "string",
             "counters_moved": "string"}
    for column in columns:
        if column.startswith(("base_", "new_")) and column not in types:
            types[column] = "float64"
    return frame.astype(types)


def _with_configs(frame: pd.DataFrame, base: pd.DataFrame | None, new: pd.DataFrame | None) -> pd.DataFrame:
    """workload, config (the measured range's name) and params_json beside each config_id."""
    known = [f for f in (new, base) if f is not None and not f.empty and "config_id" in f.columns]
    if not known:
        return frame.assign(workload=pd.Series(pd.NA, index=frame.index, dtype="string"),
                            config=frame["config_id"], params_json=pd.Series(pd.NA, index=frame.index, dtype="string"))
    configs = pd.concat(known, ignore_index=True).drop_duplicates("config_id")
    info = {}
    for record in configs.to_dict("records"):
        params = json.loads(record["params_json"]) if isinstance(record.get("params_json"), str) else {}
        info[record["config_id"]] = (record.get("workload"), range_name(record.get("workload") or "", params),
                                     json.dumps(params, sort_keys=True))
    pick = lambda i: frame["config_id"].map(lambda c: info.get(c, (None, c, None))[i])  # noqa: E731
    out = frame.copy()
    out.insert(1, "workload", pick(0).astype("string"))
    out.insert(2, "config", pick(1).astype("string"))
    out.insert(3, "params_json", pick(2).astype("string"))
    return out


def regressed(frame: pd.DataFrame) -> bool:
    return bool((frame["verdict"] == "regressed").any())
