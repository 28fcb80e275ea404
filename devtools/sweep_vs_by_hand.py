"""The 8-config `--set full` decode sweep two ways, on the GPU machine, printing both wall times.

  flashsight  `flashsight sweep PLAN` (batched: one process, one measured range per config), reports parsed
  by hand     one `ncu --set full --nvtx --nvtx-include flashsight@<range>/` process per config around
              `flashsight run decode -p ... --iters 1` (an expert's loop; it leaves raw reports, nothing parsed)

Then one such process with an NVTX filter that matches nothing: the start-up by hand pays per config, so the
rest of by hand's time is ncu's replay and the speedup any single process can reach is bounded (printed).
The JIT is warmed first so neither side pays for compiling. Figures go to OUT/sweep_vs_by_hand.json as they
come. Usage: python3 devtools/sweep_vs_by_hand.py --out OUT [--configs 8] [--unique-launches]
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GRID = {"batch": [1, 8, 32, 64], "kv_len": [2048], "num_kv_heads": [8, 32]}


def configs(n: int) -> list[dict]:
    keys = list(GRID)
    return [dict(zip(keys, values)) for values in itertools.product(*GRID.values())][:n]


def timed(argv: list[str], log: Path, timeout: float) -> tuple[float, int]:
    t0 = time.perf_counter()
    with open(log, "ab") as f:
        try:
            rc = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    return time.perf_counter() - t0, rc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--configs", type=int, default=8)
    ap.add_argument("--ncu", default=shutil.which("ncu") or "ncu")
    ap.add_argument("--timeout", type=float, default=240, help="per side")
    ap.add_argument("--unique-launches", action="store_true", help="also the flashsight sweep with unique_launches")
    args = ap.parse_args()
    from flashsight.schema.contract import range_name
    from flashsight.workloads import get_workload

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    figures: dict = {"configs": args.configs}
    dump = lambda: (out / "sweep_vs_by_hand.json").write_text(json.dumps(figures, indent=2) + "\n")  # noqa: E731
    fs = [sys.executable, "-m", "flashsight"]
    cfgs = configs(args.configs)

    s, rc = timed(fs + ["run", "decode", *sum((["-p", f"{k}={v}"] for k, v in cfgs[0].items()), []), "--iters", "1"],
                  out / "warmup.log", 300)
    figures["jit_warmup_s"] = round(s, 1)
    dump()

    def plan(extra: str) -> Path:
        path = out / f"plan{extra and '_unique'}.toml"
        grid = ", ".join(f"{k} = {json.dumps(v)}" for k, v in GRID.items())
        path.write_text(f'[sweep]\nname = "decode-full"\nmode = "batched"\nbatch_size = 16\n[[jobs]]\n'
                        f'workload = "decode"\ntools = ["ncu"]\nparams = {{ {grid} }}\n'
                        f'ncu = {{ set = "full"{extra} }}\n')
        return path

    s, rc = timed(fs + ["sweep", str(plan("")), "--out", str(out / "fs")], out / "flashsight_sweep.log", args.timeout)
    figures["flashsight_batched_s"], figures["flashsight_exit"] = round(s, 1), rc
    dump()
    print(f"flashsight batched sweep ({args.configs} configs, --set full, parsed): {s:.1f} s (exit {rc})", flush=True)

    total, codes = 0.0, []
    for k, cfg in enumerate(cfgs):
        name = range_name("decode", get_workload("decode").resolve(cfg))
        argv = [args.ncu, "--set", "full", "--nvtx", "--nvtx-include", f"flashsight@{name}/", "--export",
                str(out / "hand" / f"c{k}"), "--force-overwrite", *fs, "run", "decode",
                *sum((["-p", f"{a}={b}"] for a, b in cfg.items()), []), "--iters", "1"]
        (out / "hand").mkdir(exist_ok=True)
        s, rc = timed(argv, out / "by_hand.log", args.timeout - total)
        total += s
        codes.append(rc)
        figures["by_hand_s"], figures["by_hand_exits"] = round(total, 1), codes
        dump()
        if total >= args.timeout:
            break
    print(f"by hand, one ncu process per config ({len(codes)} of {args.configs} done): {total:.1f} s "
          f"(exits {codes})", flush=True)
    # The same process with an NVTX filter that matches nothing: its start-up and unprofiled run, which the
    # by-hand method pays once per config and a batch once. What is left of by hand's time is ncu's replay.
    argv = [args.ncu, "--set", "full", "--nvtx", "--nvtx-include", "flashsight@no-such-range/", *fs, "run",
            "decode", *sum((["-p", f"{a}={b}"] for a, b in cfgs[0].items()), []), "--iters", "1"]
    s, rc = timed(argv, out / "startup_probe.log", 120)
    figures["process_without_profiling_s"], figures["probe_exit"] = round(s, 1), rc
    if len(codes) == args.configs and rc == 0:
        replay = total - args.configs * s
        figures["by_hand_replay_s"] = round(replay, 1)
        figures["bound_speedup"] = round(total / (s + replay), 2)
        print(f"one process under ncu, nothing profiled: {s:.1f} s; so by hand = {args.configs} x {s:.1f} s "
              f"start-up + {replay:.1f} s of replay, and a single process doing the same replay is at best "
              f"{figures['bound_speedup']:.2f}x faster", flush=True)
    dump()
    if figures.get("flashsight_batched_s") and len(codes) == args.configs:
        figures["speedup"] = round(total / figures["flashsight_batched_s"], 2)
        print(f"flashsight {figures['speedup']:.2f}x faster than by hand")
    if args.unique_launches:
        s, rc = timed(fs + ["sweep", str(plan(", unique_launches = true")), "--out", str(out / "fs_unique"),
                            "--mode", "process"], out / "flashsight_unique.log", args.timeout)
        figures["flashsight_unique_launches_process_mode_s"], figures["flashsight_unique_exit"] = round(s, 1), rc
        print(f"flashsight, unique launches, one process per config: {s:.1f} s (exit {rc})")
    dump()


if __name__ == "__main__":
    main()
