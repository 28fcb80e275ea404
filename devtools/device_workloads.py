"""Run every kernel workload at its default and at the extremes of its study grid, on the GPU.

Configs run in one process so each FlashInfer module is JIT-compiled once and then reused from memory. Every
config's result record goes to OUT/results/NN-<workload>/result.json; a failure is recorded and the next config
still runs. A failure that leaves the CUDA context unusable (an asynchronous kernel fault) is detected and the
script re-executes itself in a fresh process for the remaining configs. Configs marked optional are skipped
once the time budget is spent (they cost extra JIT modules). Prints one table (workload, params, median ms,
TFLOP/s, GB/s, items/s, check), appends it to OUT/table.md, and all rows to OUT/summary.json.

Usage: python3 devtools/device_workloads.py OUT [BUDGET_S] [--groups norm,rope,decode,prefill,optional]
(groups: norm rope decode prefill optional graph-wrapper graph-wrapper-nopdl graph-plain graph-plain-nopdl graph-tc)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import traceback
from pathlib import Path

from flashsight.errors import FlashsightError
from flashsight.host.files import write_json
from flashsight.workloads import get_workload
from flashsight.workloads.harness import run_workload

NORM_OPS = ("rmsnorm", "fused_add_rmsnorm", "unfused_add_rmsnorm")
ROPE_VARIANTS = ("apply_rope", "apply_rope_inplace", "apply_rope_pos_ids", "apply_rope_with_cos_sin_cache",
                 "apply_rope_with_cos_sin_cache_inplace", "apply_llama31_rope", "apply_llama31_rope_inplace")
# What a CUDA-graph decode captures: FlashInfer's graph wrapper or the plain one, with PDL as FlashInfer
# chooses or off. Each combination is its own group (run in its own process by the shell script).
GRAPH_COMBOS = {"graph-wrapper": {}, "graph-wrapper-nopdl": {"pdl": "off"},
                "graph-plain": {"graph_wrapper": False}, "graph-plain-nopdl": {"graph_wrapper": False, "pdl": "off"}}

# (group, workload, params, optional). Grid extremes: norm batch 1 / 4096, RoPE tokens 512 / 65536,
# decode batch 1 / 128 x GQA / MHA, prefill batch 1 / 32 x seq 512 / 4096.
CONFIGS: list[tuple[str, str, dict, bool]] = (
    [("norm", "rmsnorm", {}, False)]
    + [("norm", "rmsnorm", {"batch": b, "op": op}, False) for b in (1, 4096) for op in NORM_OPS]
    + [("norm", "rmsnorm", {"op": op}, False) for op in NORM_OPS[1:]]
    + [("norm", "rmsnorm", {"batch": 512}, False)]
    + [("rope", "rope", {}, False), ("rope", "rope", {"tokens": 512}, False), ("rope", "rope", {"tokens": 65536}, False)]
    + [("rope", "rope", {"variant": v}, False) for v in ROPE_VARIANTS]
    + [("rope", "rope", {"tokens": 65536, "variant": "apply_llama31_rope_inplace"}, False),
       ("rope", "rope", {"tokens": 65536, "variant": "apply_rope_with_cos_sin_cache_inplace"}, False),
       ("rope", "rope", {"interleave": True}, False),
       ("rope", "rope", {"tokens": 65536, "batch": 16, "interleave": True}, False)]
    + [("decode", "decode", {}, False)]
    + [("decode", "decode", {"batch": b, "num_kv_heads": kh}, False) for b in (1, 128) for kh in (8, 32)]
    + [("prefill", "prefill", {}, False)]
    + [("prefill", "prefill", {"batch": b, "seq_len": s}, False) for b in (1, 32) for s in (512, 4096)]
    + [("prefill", "prefill", {"causal": False}, False), ("prefill", "prefill", {"kv_storage": "ragged"}, False),
       ("prefill", "prefill", {"batch": 32, "seq_len": 4096, "num_kv_heads": 32}, False),
       ("prefill", "decode", {"use_tensor_cores": True}, False)]  # tensor-core decode reuses the fa2 prefill module
    + [(group, "decode", {"cuda_graph": True, "batch": b, **extra}, False)
       for group, extra in GRAPH_COMBOS.items() for b in (32, 1, 128)]
    + [("graph-tc", "decode", {"cuda_graph": True, "use_tensor_cores": True, "batch": 128}, False)]
    # indptr/offsets RoPE launches batch x heads blocks: the same 65536 tokens as 64 sequences
    + [("optional", "rope", {"tokens": 65536, "batch": 64, "variant": v}, True)
       for v in ("apply_rope_inplace", "apply_llama31_rope_inplace")]
    + [("optional", "prefill", {"backend": "fa3"}, True),
       ("optional", "prefill", {"backend": "fa3", "batch": 32, "seq_len": 4096}, True),
       ("optional", "prefill", {"backend": "fa3", "batch": 1, "seq_len": 512}, True),
       ("optional", "rmsnorm", {"dtype": "bfloat16", "batch": 4096}, True),
       ("optional", "rope", {"dtype": "bfloat16", "tokens": 65536}, True),
       ("optional", "prefill", {"dtype": "bfloat16"}, True), ("optional", "decode", {"dtype": "bfloat16"}, True)]
)

COLUMNS = ("#", "workload", "params", "median ms", "TFLOP/s", "GB/s", "AI", "items/s", "check", "prepare s", "note")


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _row(index: int, workload: str, params: dict, result: dict | None, error: str | None) -> dict:
    shown = " ".join(f"{k}={v}" for k, v in params.items()) or "default"
    if result is None:
        return {"#": index, "workload": workload, "params": shown, "error": error}
    rates, check = result["rates"], result["correctness"]
    item = rates.get("item_name")
    return {
        "#": index, "workload": workload, "params": shown, "config": result["params"],
        "median_ms": result["timing"]["median_ms"], "tflops": rates["achieved_tflops"],
        "gbps": rates["achieved_gbps"], "ai": rates["arithmetic_intensity"],
        "items_per_s": rates.get(f"{item}_per_s") if item else None, "item_name": item,
        "check_ok": check.get("ok"), "max_abs_err": check.get("max_abs_err"), "prepare_s": result["prepare_s"],
        "backend_used": result["notes"].get("backend_used") or result["notes"].get("wrapper"), "error": None,
    }


def _cells(row: dict) -> list[str]:
    if row.get("error"):
        status = "skipped" if row["error"].startswith("skipped") else "FAILED"
        return [str(row["#"]), row["workload"], row["params"], "-", "-", "-", "-", "-", status, "-", row["error"]]
    items = f"{_fmt(row['items_per_s'], '.4g')} {row['item_name']}/s" if row["item_name"] else "-"
    check = ("ok" if row["check_ok"] else "MISMATCH") + f" ({_fmt(row['max_abs_err'], '.2g')})"
    return [str(row["#"]), row["workload"], row["params"], _fmt(row["median_ms"], ".4f"), _fmt(row["tflops"], ".2f"),
            _fmt(row["gbps"], ".1f"), _fmt(row["ai"], ".2f"), items, check, _fmt(row["prepare_s"], ".1f"),
            row["backend_used"] or ""]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("budget_s", type=float, nargs="?", default=300.0)
    parser.add_argument("--groups", default="norm,rope,decode,prefill,optional")
    parser.add_argument("--start", type=int, default=0, help="skip this many of the selected configs")
    args = parser.parse_args(argv)
    out, budget_s, start = args.out, args.budget_s, args.start
    groups = set(args.groups.split(","))
    unknown = groups - {c[0] for c in CONFIGS}
    if unknown:
        parser.error(f"unknown group(s): {', '.join(sorted(unknown))}")
    selected = [(i, c) for i, c in enumerate(CONFIGS) if c[0] in groups]
    out.mkdir(parents=True, exist_ok=True)
    t0 = float(os.environ.setdefault("FS_DEVICE_T0", str(time.time())))
    summary = out / "summary.json"
    rows: list[dict] = json.loads(summary.read_text()) if summary.exists() and start else []
    table = out / "table.md"
    if not table.exists():
        table.write_text("| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n")
    print(" | ".join(COLUMNS), flush=True)
    for position, (index, (group, name, params, optional)) in enumerate(selected):
        if position < start:
            continue
        poisoned = False
        if optional and time.time() - t0 > budget_s:
            row = _row(index, name, params, None, f"skipped: time budget {budget_s:.0f} s spent")
        else:
            try:
                result = run_workload(get_workload(name), params, job_dir=out / "results" / f"{index:02d}-{name}")
                row = _row(index, name, params, result, None)
            except FlashsightError as exc:
                row = _row(index, name, params, None, f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # noqa: BLE001 - a devtool: record, show, go on
                traceback.print_exc()
                row = _row(index, name, params, None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            gc.collect()
            poisoned = not _context_ok()
        row["group"] = group
        row["elapsed_s"] = round(time.time() - t0, 1)
        rows.append(row)
        cells = _cells(row)
        print(" | ".join(cells) + f"   [{row['elapsed_s']} s]", flush=True)
        with table.open("a") as fh:
            fh.write("| " + " | ".join(c.replace("|", "/") for c in cells) + " |\n")
        write_json(rows, summary)
        if poisoned and position + 1 < len(selected):
            print(f"CUDA context unusable after config {index}: continuing in a fresh process", flush=True)
            os.execv(sys.executable, [sys.executable, __file__, str(out), str(budget_s),
                                      "--groups", ",".join(sorted(groups)), "--start", str(position + 1)])
    failed = [r for r in rows if r.get("error") and not r["error"].startswith("skipped")]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} configs ran (or were skipped by budget); "
          f"{len(failed)} failed; {time.time() - t0:.0f} s since the first start", flush=True)
    print(json.dumps({"failed": [f"{r['workload']} {r['params']}: {r['error']}" for r in failed]}, indent=1))
    return 1 if failed else 0


def _context_ok() -> bool:
    """False when the CUDA context is poisoned (an asynchronous fault): later work in it would fail too."""
    import torch

    try:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.zeros(1, device="cuda").add_(1).item()
        return True
    except Exception as exc:  # noqa: BLE001
        print(f"context check: {type(exc).__name__}: {str(exc).splitlines()[0]}", flush=True)
        return False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
