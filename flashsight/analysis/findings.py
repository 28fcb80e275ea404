"""Findings: rule-based sentences over the joint observation, each with its numbers and the rows behind it.

Input: the observations (one row per config × kernel: `row_id`, `config_id`, `family`, `label`, the config's
parameters, nsys time, ncu counters and rates, `bound`, `top_stall`); output: one row per finding —
finding_id, family, rule, text, refs (row_ids the numbers come from). A rule whose inputs the run lacks says
nothing; no rule invents a number.
"""

from __future__ import annotations

import math

import pandas as pd

COLUMNS = ["finding_id", "family", "rule", "text", "refs"]


def main_kernels(obs: pd.DataFrame) -> pd.DataFrame:
    """Per config, the kernel that takes the most time (nsys median × launches; ncu's duration without nsys)."""
    if obs.empty:
        return obs
    weight = (obs["nsys_median_ns"].astype("float64") * obs["nsys_launches"].astype("float64")).fillna(
        obs["ncu_duration_ns"].astype("float64"))
    ranked = obs.assign(_w=weight.fillna(-1)).sort_values("_w", ascending=False, kind="stable")
    return ranked.groupby("config_id", sort=False).head(1).drop(columns="_w").sort_index()


def findings(obs: pd.DataFrame, clocks: dict | None = None, jit: pd.DataFrame | None = None) -> pd.DataFrame:
    """`jit`: the JIT study's latencies per kernel family (analysis.result_metrics.jit_latencies), when the run
    has them."""
    rows: list[dict] = []
    if not obs.empty:
        main = main_kernels(obs)
        for rule in (_decode_memory_bound, _prefill_tensor, _rmsnorm_fusion, _peak_dram("rmsnorm", "RMSNorm"),
                     _peak_dram("rope", "RoPE"), _top_stalls, _latency_bound, _ncu_clock_gap):
            rows += rule(obs, main, clocks or {})
    if jit is not None and not jit.empty:
        rows += _jit_latency(jit)
    frame = pd.DataFrame(rows, columns=COLUMNS[1:])
    frame.insert(0, "finding_id", [f"finding-{i + 1}" for i in range(len(frame))])
    return frame


def _num(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value


def _pct(value) -> str:
    return f"{_num(value):.0f}%"


def _time(ns) -> str:
    ns = _num(ns)
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.1f} µs"


def _has(df: pd.DataFrame, *columns: str) -> bool:
    return all(c in df and df[c].notna().any() for c in columns)


def _decode_memory_bound(obs, main, clocks):
    """From which batch decode is memory-bound (every larger batch too), and its DRAM % at the largest batch, per
    head layout (query/KV heads)."""
    d = main[main["family"] == "decode"]
    if not _has(d, "batch", "dram_peak_pct", "bound"):
        return []
    heads = [c for c in ("num_qo_heads", "num_kv_heads") if c in d and d[c].notna().any()]
    groups = d.groupby(heads, sort=True) if heads else [((), d)]
    layouts = []
    for key, g in groups:
        g = g.dropna(subset=["batch"]).assign(_b=lambda f: f["batch"].astype("float64")).sort_values("_b")
        if g.empty:
            continue
        key = key if isinstance(key, tuple) else (key,)
        name = "/".join(str(int(_num(k))) for k in key) if heads else ""
        memory = (g["bound"] == "memory").tolist()
        first = next((i for i in range(len(memory)) if all(memory[i:])), None)
        layouts.append({"heads": name, "top": g.iloc[-1], "from": None if first is None else g.iloc[first]})
    if not layouts:
        return []
    layouts.sort(key=lambda lay: -_num(lay["top"]["dram_peak_pct"]))
    refs = [lay["top"]["row_id"] for lay in layouts] + [lay["from"]["row_id"] for lay in layouts if lay["from"] is not None]
    starts = {None if lay["from"] is None else int(_num(lay["from"]["batch"])) for lay in layouts}
    heads_of = (lambda lay: f" with {lay['heads']} heads") if heads else (lambda lay: "")
    if starts == {None}:
        head = "Decode is not memory-bound at any batch of this run (ncu's bound class)"
    elif len(starts) == 1:
        head = f"Decode is memory-bound from batch {starts.pop()} on (ncu's bound class)"
    else:
        head = "Decode is memory-bound from " + ", ".join(
            (f"batch {int(_num(lay['from']['batch']))}" if lay["from"] is not None else "no batch") + heads_of(lay)
            for lay in layouts)
    batches = {int(_num(lay["top"]["batch"])) for lay in layouts}
    rates = [f"{_pct(lay['top']['dram_peak_pct'])}" + (" of DRAM peak" if i == 0 else "") + heads_of(lay)
             + ("" if len(batches) == 1 else f" (batch {int(_num(lay['top']['batch']))})")
             for i, lay in enumerate(layouts)]
    at = f"at batch {batches.pop()} " if len(batches) == 1 else "at its largest batch "
    text = f"{head}; {at}it reaches {' and '.join(rates)} (ncu's DRAM bytes over the nsys time)."
    return [{"family": "decode", "rule": "decode_memory_bound", "text": text, "refs": list(dict.fromkeys(refs))}]


def _path_words(path) -> str:
    """hmma_src_fp16_dst_fp32_sparsity_off -> 'mma.sync fp16→fp32' (ncu's op path, in the words of the ISA)."""
    if not isinstance(path, str) or "_src_" not in path:
        return ""
    op, rest = path.split("_src_", 1)
    types = rest.split("_sparsity_")[0].split("_dst_")
    isa = {"hgmma": "warpgroup MMA", "hmma": "mma.sync", "imma": "integer mma.sync", "igmma": "integer warpgroup MMA"}
    sparse = " sparse" if rest.endswith("sparsity_on") else ""
    return f"{isa.get(op, op)}{sparse} {'→'.join(types)}"


def _prefill_tensor(obs, main, clocks):
    """The prefill kernel's tensor-core share: best and worst config (the kernel with tensor work, not the
    merge kernel that may take longer at short sequences), and how much of its work ran on tensor cores."""
    p = obs[(obs["family"] == "prefill")]
    if not _has(p, "tensor_peak_pct"):
        return []
    p = p.dropna(subset=["tensor_peak_pct"])
    p = p.loc[p.groupby("config_id")["tensor_peak_pct"].idxmax()]
    best, worst = p.loc[p["tensor_peak_pct"].idxmax()], p.loc[p["tensor_peak_pct"].idxmin()]
    rate = _num(best.get("achieved_flop_per_s"))
    text = (f"Prefill reaches {_pct(best['tensor_peak_pct'])} of the dense tensor-core peak at {best['label']}"
            + (f" ({rate / 1e12:.0f} TFLOP/s by the nsys time)" if not math.isnan(rate) else "")
            + (f", {_pct(worst['tensor_peak_pct'])} at {worst['label']}" if worst["row_id"] != best["row_id"] else "")
            + f" ({best['short_name']}; % of the peak at the device's maximum clock)")
    if _has(p, "tensor_flop", "flop"):
        share = (p["tensor_flop"].astype("float64") / p["flop"].astype("float64")).dropna()
        if not share.empty:
            text += (f"; {_span(100 * share)} of its FLOPs run on tensor cores"
                     + (f" ({_path_words(best.get('tensor_path'))})" if _path_words(best.get("tensor_path")) else ""))
    return [{"family": "prefill", "rule": "prefill_tensor_peak", "text": text + ".",
             "refs": list(dict.fromkeys([best["row_id"], worst["row_id"]]))}]


def _bytes(n) -> str:
    n = _num(n)
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _span(values, unit="%") -> str:
    lo, hi = round(min(values)), round(max(values))
    return f"{lo}{unit}" if lo == hi else f"{lo}–{hi}{unit}"


def _rmsnorm_fusion(obs, main, clocks):
    """Fused add+RMSNorm against the unfused pair (add kernel + RMSNorm) of the same shape: DRAM bytes and time,
    one sentence over every shape (the range, and the largest shape's figures)."""
    r = obs[obs["family"] == "rmsnorm"]
    if not _has(r, "op", "dram_bytes"):
        return []
    shape = [c for c in ("batch", "hidden") if c in r and r[c].notna().any()]
    pairs = []
    for key, g in r.groupby(shape, sort=True) if shape else [((), r)]:
        fused, unfused = g[g["op"] == "fused_add_rmsnorm"], g[g["op"] == "unfused_add_rmsnorm"]
        if fused.empty or unfused.empty or fused["dram_bytes"].isna().any() or unfused["dram_bytes"].isna().any():
            continue
        timed = fused["nsys_median_ns"].notna().all() and unfused["nsys_median_ns"].notna().all()
        pairs.append({"key": key if isinstance(key, tuple) else (key,), "fb": fused["dram_bytes"].sum(),
                      "ub": unfused["dram_bytes"].sum(), "kernels": len(unfused),
                      "ft": fused["nsys_median_ns"].sum() if timed else math.nan,
                      "ut": unfused["nsys_median_ns"].sum() if timed else math.nan,
                      "refs": [*fused["row_id"], *unfused["row_id"]]})
    if not pairs:
        return []
    top = pairs[-1]  # the largest shape: groupby sorts the keys
    where = ", ".join(f"{k} {int(_num(v))}" for k, v in zip(shape, top["key"]))
    fewer = [100 * (1 - p["fb"] / p["ub"]) for p in pairs]
    if len(pairs) == 1:
        text = (f"Fused add+RMSNorm moves {fewer[0]:.0f}% fewer DRAM bytes than the unfused pair "
                f"({_bytes(top['fb'])} vs {_bytes(top['ub'])}{', ' + where if where else ''}, ncu)")
    else:
        swept = "; ".join(f"{k} {_span([_num(p['key'][i]) for p in pairs], '')}" for i, k in enumerate(shape))
        text = (f"Fused add+RMSNorm moves {_span(fewer)} fewer DRAM bytes than the unfused pair over {len(pairs)} "
                f"shapes ({swept}; at {where}: {_bytes(top['fb'])} vs {_bytes(top['ub'])}, ncu)")
    timed = [p for p in pairs if not math.isnan(p["ft"])]
    if timed:
        less = [100 * (1 - p["ft"] / p["ut"]) for p in timed]
        t = timed[-1]
        if len(pairs) == 1:
            text += (f" and takes {_time(t['ft'])} against {_time(t['ut'])} for the pair's {t['kernels']} kernels "
                     f"({less[0]:.0f}% less, nsys medians)")
        else:
            text += (f" and takes {_span(less)} less time (at {where}: {_time(t['ft'])} against {_time(t['ut'])} "
                     f"for the pair's {t['kernels']} kernels, nsys medians)")
    return [{"family": "rmsnorm", "rule": "rmsnorm_fusion", "text": text + ".",
             "refs": [r for p in pairs for r in p["refs"]]}]


def _peak_dram(family: str, title: str):
    def rule(obs, main, clocks):
        m = main[main["family"] == family]
        if not _has(m, "dram_peak_pct"):
            return []
        m = m.dropna(subset=["dram_peak_pct"])
        best = m.loc[m["dram_peak_pct"].idxmax()]
        text = (f"{title} reaches at most {_pct(best['dram_peak_pct'])} of DRAM peak "
                f"({_num(best['achieved_dram_bytes_per_s']) / 1e9:,.0f} GB/s, {best['label']}, {best['short_name']}); "
                f"ncu calls it {best['bound'] or 'unclassified'}-bound there.")
        return [{"family": family, "rule": f"{family}_dram_peak", "text": text, "refs": [best["row_id"]]}]
    return rule


def _top_stalls(obs, main, clocks):
    """Per family, its most frequent kernel's top warp stall across the configs."""
    if not _has(obs, "top_stall"):
        return []
    out = []
    for family, g in obs.dropna(subset=["top_stall"]).groupby("family", sort=False):
        kernel = g.groupby("short_name")["config_id"].nunique().sort_values(ascending=False, kind="stable").index[0]
        rows = g[g["short_name"] == kernel]
        counts = rows["top_stall"].value_counts()
        parts = []
        refs = []
        for reason, n in counts.items():
            of = rows[rows["top_stall"] == reason]
            peak = of.loc[of["top_stall_pct"].idxmax()]
            parts.append(f"{reason.replace('_', ' ')} in {n} (up to {_pct(peak['top_stall_pct'])}, {peak['label']})")
            refs.append(peak["row_id"])
        text = (f"{kernel}'s top warp stall across {len(rows)} {family} config{'s' if len(rows) != 1 else ''}: "
                + "; ".join(parts) + ".")
        out.append({"family": family, "rule": "top_stall", "text": text, "refs": refs})
    return out


def _latency_bound(obs, main, clocks):
    if not _has(main, "bound"):
        return []
    lat = main[main["bound"] == "latency"]
    if lat.empty:
        return []
    parts = []
    for family in dict.fromkeys(lat["family"]):  # one clause per family, in the table's order
        bound = list(lat.loc[lat["family"] == family, "label"])
        others = [label for label in main.loc[main["family"] == family, "label"] if label not in bound]
        n = len(bound) + len(others)
        if not others:
            parts.append(f"{family}: all {n}")
        elif len(others) < len(bound) and len(others) <= 3:
            parts.append(f"{family}: {len(bound)} of {n} (all but {', '.join(others)})")
        elif len(bound) <= 5:
            parts.append(f"{family}: {len(bound)} of {n} ({', '.join(bound)})")
        else:
            parts.append(f"{family}: {len(bound)} of {n}")
    return [{"family": None, "rule": "latency_bound",
             "text": (f"{len(lat)} of {len(main)} configs have a latency-bound main kernel (neither compute nor "
                      f"memory reaches 60% of peak under ncu): {'; '.join(parts)}."),
             "refs": list(lat["row_id"])}]


def _seconds(s) -> str:
    s = _num(s)
    return f"{s:.1f} s" if s >= 1 else f"{s * 1e3:.1f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} µs"


def _jit_latency(jit: pd.DataFrame) -> list[dict]:
    """FlashInfer's JIT cost per kernel family: cold compile, disk-cache hit, memory-cache hit (the probe's wall
    times). No kernel rows behind it: refs stay empty."""
    parts = []
    for column, what in (("cold_s", "a cold compile takes"), ("disk_hit_s", "loading the compiled module from the "
                         "disk cache"), ("memory_hit_s", "a call with the module in memory")):
        values = jit[column].astype("float64").dropna() if column in jit else pd.Series(dtype="float64")
        if values.empty:
            continue
        lo, hi = jit.loc[values.idxmin(), "family"], jit.loc[values.idxmax(), "family"]
        parts.append(f"{what} {_seconds(values.min())} ({lo}) to {_seconds(values.max())} ({hi})")
    if not parts:
        return []
    families = jit["family"].nunique()
    text = f"FlashInfer's JIT, over {families} kernel famil{'ies' if families != 1 else 'y'}: " + "; ".join(parts)
    return [{"family": "jit", "rule": "jit_latency", "text": text + " (wall time).", "refs": []}]


def _ncu_clock_gap(obs, main, clocks):
    both = obs.dropna(subset=["ncu_duration_ns", "nsys_median_ns"])
    both = both[both["nsys_median_ns"].astype("float64") > 0]
    if both.empty:
        return []
    ratio = both["ncu_duration_ns"].astype("float64") / both["nsys_median_ns"].astype("float64")
    lo, hi = both.loc[ratio.idxmin()], both.loc[ratio.idxmax()]
    text = (f"Under ncu the kernels take a median {ratio.median():.2f}× their nsys time "
            f"({ratio.min():.2f}× for {lo['short_name']} at {lo['label']} to {ratio.max():.2f}× for "
            f"{hi['short_name']} at {hi['label']}, {len(both)} kernels)")
    hz, top = _num(clocks.get("ncu_sm_clock_median_hz")), _num(clocks.get("device_max_sm_clock_hz"))
    if not math.isnan(hz) and not math.isnan(top):
        text += f": ncu replays at {hz / 1e9:.2f} GHz SM, the GPU reaches {top / 1e9:.2f} GHz"
    return [{"family": None, "rule": "ncu_clock_gap", "text": text + ".", "refs": [lo["row_id"], hi["row_id"]]}]
