"""Run every kernel workload at its default and at the extremes of its study grid, in one process, on the GPU.

One process so each FlashInfer module is JIT-compiled once and then reused from memory. Every config's result
record goes to OUT/results/NN-<workload>/result.json; a failure is recorded and the next config still runs.
Configs marked optional are skipped once the time budget is spent (they cost extra JIT modules).
Prints one table (workload, params, median ms, TFLOP/s, GB/s, items/s, check) and writes it to OUT/table.md,
and all rows to OUT/summary.json.

Usage: python3 devtools/device_workloads.py OUT [BUDGET_S]
"""

from __future__ import annotations

import gc
import json
import sys
import time
import traceback
from pathlib import Path

from flashsight.errors import FlashsightError
from flashsight.outputs.writers import write_json
from flashsight.workloads import get_workload
from flashsight.workloads.harness import run_workload

NORM_OPS = ("rmsnorm", "fused_add_rmsnorm", "unfused_add_rmsnorm")
ROPE_VARIANTS = ("apply_rope", "apply_rope_inplace", "apply_rope_pos_ids", "apply_rope_with_cos_sin_cache",
                 "apply_rope_with_cos_sin_cache_inplace", "apply_llama31_rope", "apply_llama31_rope_inplace")

# (workload, params, optional). Grid extremes: norm batch 1 / 4096, RoPE tokens 512 / 65536,
# decode batch 1 / 128 x GQA / MHA, prefill batch 1 / 32 x seq 512 / 4096.
CONFIGS: list[tuple[str, dict, bool]] = (
    [("rmsnorm", {}, False)]
    + [("rmsnorm", {"batch": b, "op": op}, False) for b in (1, 4096) for op in NORM_OPS]
    + [("rmsnorm", {"op": op}, False) for op in NORM_OPS[1:]]
    + [("rmsnorm", {"batch": 512}, False)]
    + [("rope", {}, False), ("rope", {"tokens": 512}, False), ("rope", {"tokens": 65536}, False)]
    + [("rope", {"variant": v}, False) for v in ROPE_VARIANTS]
    + [("rope", {"tokens": 65536, "variant": "apply_llama31_rope_inplace"}, False),
       ("rope", {"tokens": 65536, "variant": "apply_rope_with_cos_sin_cache_inplace"}, False),
       ("rope", {"interleave": True}, False),
       ("rope", {"tokens": 65536, "batch": 16, "interleave": True}, False)]
    + [("decode", {}, False)]
    + [("decode", {"batch": b, "num_kv_heads": kh}, False) for b in (1, 128) for kh in (8, 32)]
    + [("decode", {"cuda_graph": True}, False), ("decode", {"batch": 128, "cuda_graph": True}, False),
       ("decode", {"batch": 1, "cuda_graph": True}, False)]
    + [("prefill", {}, False)]
    + [("prefill", {"batch": b, "seq_len": s}, False) for b in (1, 32) for s in (512, 4096)]
    + [("prefill", {"causal": False}, False), ("prefill", {"kv_storage": "ragged"}, False),
       ("prefill", {"batch": 32, "seq_len": 4096, "num_kv_heads": 32}, False),
       ("decode", {"use_tensor_cores": True}, False),  # tensor-core decode reuses the fa2 prefill module
       ("decode", {"batch": 128, "use_tensor_cores": True, "cuda_graph": True}, False)]
    + [("prefill", {"backend": "fa3"}, True), ("prefill", {"backend": "fa3", "batch": 32, "seq_len": 4096}, True),
       ("prefill", {"backend": "fa3", "batch": 1, "seq_len": 512}, True),
       ("rmsnorm", {"dtype": "bfloat16", "batch": 4096}, True),
       ("rope", {"dtype": "bfloat16", "tokens": 65536}, True),
       ("prefill", {"dtype": "bfloat16"}, True), ("decode", {"dtype": "bfloat16"}, True)]
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
        "backend_used": result["notes"].get("backend_used"), "error": None,
    }


def _cells(row: dict) -> list[str]:
    if row.get("error"):
        return [str(row["#"]), row["workload"], row["params"], "-", "-", "-", "-", "-", "FAILED", "-", row["error"]]
    items = f"{_fmt(row['items_per_s'], '.4g')} {row['item_name']}/s" if row["item_name"] else "-"
    check = ("ok" if row["check_ok"] else "MISMATCH") + f" ({_fmt(row['max_abs_err'], '.2g')})"
    return [str(row["#"]), row["workload"], row["params"], _fmt(row["median_ms"], ".4f"), _fmt(row["tflops"], ".2f"),
            _fmt(row["gbps"], ".1f"), _fmt(row["ai"], ".2f"), items, check, _fmt(row["prepare_s"], ".1f"),
            row["backend_used"] or ""]


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    budget_s = float(argv[1]) if len(argv) > 1 else 300.0
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    rows: list[dict] = []
    table = out / "table.md"
    table.write_text("| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n")
    print(" | ".join(COLUMNS), flush=True)
    for index, (name, params, optional) in enumerate(CONFIGS):
        elapsed = time.monotonic() - started
        if optional and elapsed > budget_s:
            row = _row(index, name, params, None, f"skipped: time budget {budget_s:.0f} s spent")
        else:
            job_dir = out / "results" / f"{index:02d}-{name}"
            try:
                result = run_workload(get_workload(name), params, job_dir=job_dir)
                row = _row(index, name, params, result, None)
            except FlashsightError as exc:
                row = _row(index, name, params, None, f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # noqa: BLE001 - a devtool: record, show, go on
                traceback.print_exc()
                row = _row(index, name, params, None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            gc.collect()
            _empty_cache()
        row["elapsed_s"] = round(time.monotonic() - started, 1)
        rows.append(row)
        cells = _cells(row)
        print(" | ".join(cells) + f"   [{row['elapsed_s']} s]", flush=True)
        with table.open("a") as fh:
            fh.write("| " + " | ".join(c.replace("|", "/") for c in cells) + " |\n")
        write_json(rows, out / "summary.json")
    failed = [r for r in rows if r.get("error") and not r["error"].startswith("skipped")]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} configs ran (or were skipped by budget); "
          f"{len(failed)} failed; {time.monotonic() - started:.0f} s", flush=True)
    print(json.dumps({"failed": [f"{r['workload']} {r['params']}: {r['error']}" for r in failed]}, indent=1))
    return 1 if failed else 0


def _empty_cache() -> None:
    import torch

    torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
