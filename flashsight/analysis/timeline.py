"""One measured step per config, from nsys: the kernels (and memory operations) of one repetition of the step,
and the NVTX ranges around them, on one clock (nsys's session timeline).

A measured range holds `iters` repetitions of the same step: the step is the shortest period of the range's
kernel-name sequence (every repetition launches the same kernels in the same order); the middle repetition is
shown, away from the first one's cold caches. A sequence with no period is one step.
"""

from __future__ import annotations

import pandas as pd

STEP_COLUMNS = ["config_id", "kind", "track", "name", "start_ns", "end_ns", "duration_ns", "rel_start_ns",
                "step", "steps", "step_ns", "busy_ns"]


def step_period(names: list[str]) -> int:
    """The shortest p dividing len(names) such that names is its first p names repeated."""
    n = len(names)
    for p in range(1, n + 1):
        if n % p == 0 and names == names[:p] * (n // p):
            return p
    return n


def measured_steps(gpu_kernels: pd.DataFrame, nvtx_ranges: pd.DataFrame | None = None,
                   gpu_memops: pd.DataFrame | None = None, config_ids=None) -> pd.DataFrame:
    """Rows of one step per config: kind (kernel | memop | nvtx), track ('stream 7', 'thread 922'), name,
    start/end/duration (ns, nsys's clock), rel_start_ns from the step's first GPU operation, step (which one),
    steps (how many the range held), step_ns (to the next step's first kernel) and busy_ns (its kernels' sum)."""
    if gpu_kernels is None or gpu_kernels.empty or "config_id" not in gpu_kernels:
        return pd.DataFrame(columns=STEP_COLUMNS)
    wanted = set(config_ids) if config_ids is not None else None
    out = []
    for cid, kernels in gpu_kernels.groupby("config_id", sort=False):
        if wanted is not None and cid not in wanted:
            continue
        kernels = kernels.sort_values("start_ns", kind="stable")
        names = kernels["short_name"].fillna(kernels["name"]).astype(str).tolist()
        period = step_period(names)
        steps = len(names) // period
        middle = steps // 2
        step = kernels.iloc[middle * period:(middle + 1) * period]
        t0, t1 = int(step["start_ns"].min()), int(step["end_ns"].max())
        # the step lasts until the next one starts: the gap (launch overhead, host work) belongs to it
        following = kernels.iloc[(middle + 1) * period:(middle + 1) * period + 1]
        t_next = max(t1, int(following["start_ns"].iloc[0])) if len(following) else t1
        rows = [pd.DataFrame({"kind": "kernel", "track": "stream " + step["stream_id"].astype(str),
                              "name": step["short_name"].fillna(step["name"]).astype(str),
                              "start_ns": step["start_ns"], "end_ns": step["end_ns"]})]
        if gpu_memops is not None and len(gpu_memops) and "config_id" in gpu_memops:
            ops = gpu_memops[(gpu_memops["config_id"] == cid) & (gpu_memops["end_ns"] > t0) &
                             (gpu_memops["start_ns"] < t_next)]
            if len(ops):
                rows.append(pd.DataFrame({"kind": "memop", "track": "stream " + ops["stream_id"].astype(str)
                                          if "stream_id" in ops else "memory", "name": ops["kind"].astype(str),
                                          "start_ns": ops["start_ns"], "end_ns": ops["end_ns"]}))
        if nvtx_ranges is not None and len(nvtx_ranges) and "config_id" in nvtx_ranges:
            rows.append(_ranges_around(nvtx_ranges[nvtx_ranges["config_id"] == cid], t0, t_next))
        frame = pd.concat(rows, ignore_index=True)
        frame["duration_ns"] = frame["end_ns"] - frame["start_ns"]
        frame["rel_start_ns"] = frame["start_ns"] - t0
        frame.insert(0, "config_id", cid)
        frame["step"], frame["steps"] = middle + 1, steps
        frame["step_ns"] = t_next - t0
        frame["busy_ns"] = int((step["end_ns"] - step["start_ns"]).sum())
        out.append(frame)
    if not out:
        return pd.DataFrame(columns=STEP_COLUMNS)
    return pd.concat(out, ignore_index=True)[STEP_COLUMNS]


def _ranges_around(ranges: pd.DataFrame, t0: int, t1: int) -> pd.DataFrame:
    """The NVTX ranges the step's kernels were launched in (by their GPU projection overlapping [t0, t1)), on
    their thread's track; a range longer than the step (the measured range of all repetitions) is cut to it."""
    start = ranges["gpu_start_ns"] if "gpu_start_ns" in ranges else ranges["start_ns"]
    end = ranges["gpu_end_ns"] if "gpu_end_ns" in ranges else ranges["end_ns"]
    hit = ranges[(end > t0) & (start < t1) & start.notna()]
    if hit.empty:
        return pd.DataFrame(columns=["kind", "track", "name", "start_ns", "end_ns"])
    s, e = start.loc[hit.index].clip(lower=t0), end.loc[hit.index].clip(upper=t1)
    # object first: a categorical domain (nsys's default domain only: no categories) cannot take "" as a value
    domain = hit["domain"].astype(object).fillna("").astype(str) if "domain" in hit else ""
    label = (domain + ":" + hit["name"].astype(str)).str.lstrip(":")
    track = "thread " + hit["tid"].astype(str) if "tid" in hit else "nvtx"
    return pd.DataFrame({"kind": "nvtx", "track": track, "name": label, "start_ns": s.astype("int64"),
                         "end_ns": e.astype("int64")})
