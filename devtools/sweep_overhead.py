"""Per-job overhead of the sweep's two modes, side by side: one process per config vs batched configs.

Runs the same configs (rmsnorm, op=rmsnorm, hidden 4096, a few batch sizes) as separate sweeps, per tool and
mode, on a machine whose FlashInfer JIT cache is already warm, and prints per tool:
  wall/job        the sweep's wall time divided by its jobs (what a user waits for per job)
  in-job/job      time inside the jobs' processes (duration_s in jobs.parquet; batched: per config)
  saved/job       process wall/job - batched wall/job: the per-job cost batching removes
Usage: python devtools/sweep_overhead.py OUT_DIR [--batches 1,32,512,4096] [--tools none,nsys,ncu]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

PLAN = """
[sweep]
name = "overhead-{tool}-{mode}"
mode = "{mode}"
batch_size = 16
timeout_s = 600
retries = 0
[[jobs]]
workload = "rmsnorm"
tools = ["{tool}"]
params = {{ batch = [{batches}], hidden = [4096], op = ["rmsnorm"] }}
"""


def run(out: Path, tool: str, mode: str, batches: str) -> dict:
    plan = out / f"{tool}-{mode}.toml"
    plan.write_text(PLAN.format(tool=tool, mode=mode, batches=batches))
    run_dir = out / f"{tool}-{mode}"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "flashsight", "sweep", str(plan), "--out", str(run_dir),
                           "--gpus", os.environ.get("GPU", "0")], capture_output=True, text=True)
    wall = time.monotonic() - started
    jobs = pd.read_parquet(run_dir / "jobs.parquet")
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
    n = len(jobs)
    return {"tool": tool, "mode": mode, "jobs": n, "succeeded": int((jobs.status == "succeeded").sum()),
            "wall_s": round(wall, 1), "wall_per_job_s": round(wall / n, 2),
            "in_job_per_job_s": round(jobs.duration_s.sum() / n, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--batches", default="1,32,512,4096")
    ap.add_argument("--tools", default="none,nsys,ncu")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for tool in args.tools.split(","):
        for mode in ("process", "batched"):
            rows.append(run(args.out, tool, mode, args.batches))
            print(json.dumps(rows[-1]), flush=True)
    df = pd.DataFrame(rows)
    side = df.pivot(index="tool", columns="mode", values="wall_per_job_s")
    side["saved_per_job_s"] = side["process"] - side["batched"]
    inside = df.pivot(index="tool", columns="mode", values="in_job_per_job_s").add_prefix("in_job_")
    table = pd.concat([side, inside, df.pivot(index="tool", columns="mode", values="succeeded")
                       .add_prefix("ok_")], axis=1)
    print("\nper-job wall time (s), process vs batched, same configs:")
    print(table.round(2).to_string())
    table.to_csv(args.out / "overhead.csv")


if __name__ == "__main__":
    main()
