"""Benchmark: the report of a 100-job run on this CPU machine (goal < 15 s), beside the time to load its tables.

By default the run is the shipped sample: the default study swept on the lent H200, 104 real jobs, read as it is.
A smaller run (--run tests/data/runs/h200_small_a, 26 jobs) has its configs replicated until there are >= --jobs
jobs: replica k copies every job and every table row with
`replica=k` added to the params (params_json too), and `-r<k>` appended to job_id and config_id, so the copies are
distinct configs of one workload grid (the report treats `replica` as one more swept parameter). The measured
numbers are the real run's; only their count grows.

    python benchmarks/report.py [--run DIR] [--jobs 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import flashsight  # noqa: E402

DEFAULT_RUN = ROOT / "flashsight" / "sample"


def replicate(run_dir: Path, out: Path, jobs_wanted: int) -> int:
    """Write a run directory with run_dir's configs replicated to >= jobs_wanted jobs; returns the job count."""
    jobs = pd.read_parquet(run_dir / "jobs.parquet")
    copies = math.ceil(jobs_wanted / len(jobs))
    if copies == 1:  # large enough already: the real run, untouched
        shutil.copytree(run_dir, out)
        return len(jobs)
    out.mkdir(parents=True)
    for extra in ("env.json", "plan.toml"):
        if (run_dir / extra).exists():
            shutil.copy(run_dir / extra, out / extra)
    for path in sorted(run_dir.glob("*.parquet")):
        df = pd.read_parquet(path)
        parts = []
        for k in range(copies):
            part = df.copy()
            for key in ("job_id", "config_id"):
                if key in part:
                    part[key] = part[key].astype("string") + f"-r{k}"
            if "params_json" in part:
                part["params_json"] = part["params_json"].map(lambda t: json.dumps({**json.loads(t), "replica": k}))
            if "job_id" in part or "config_id" in part:
                part["replica"] = k
            parts.append(part)
        pd.concat(parts, ignore_index=True).to_parquet(out / path.name, index=False)
    return len(jobs) * copies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=DEFAULT_RUN)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flashsight-bench-report-") as tmp:
        run_dir = Path(tmp) / "run"
        n_jobs = replicate(args.run, run_dir, args.jobs)
        sizes = sum(p.stat().st_size for p in run_dir.glob("*.parquet"))
        load_s, report_s = [], []
        for i in range(args.repeat):
            t0 = time.perf_counter()
            run = flashsight.load(run_dir)
            rows = sum(len(run.table(name)) for name in run.table_names)
            load_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            written = flashsight.load(run_dir).report(Path(tmp) / f"report{i}")
            report_s.append(time.perf_counter() - t0)
        figures = len(list(written["figures"].glob("*.png")))
        html_mb = written["html"].stat().st_size / 1e6
        print(f"run: {n_jobs} jobs ({args.run.name} x{n_jobs // len(pd.read_parquet(args.run / 'jobs.parquet'))}), "
              f"{len(run.configs)} configs, {rows:,} table rows, {sizes / 1e6:.1f} MB of Parquet")
        print(f"load the tables (flashsight.load + every table):  best {min(load_s):6.2f} s  "
              f"(runs: {', '.join(f'{s:.2f}' for s in load_s)})")
        print(f"write the report (load + build + md/html/png):     best {min(report_s):6.2f} s  "
              f"(runs: {', '.join(f'{s:.2f}' for s in report_s)})  goal < 15 s: "
              f"{'met' if min(report_s) < 15 else 'NOT met'}")
        print(f"report: {figures} figures, report.html {html_mb:.2f} MB, report.md "
              f"{written['markdown'].stat().st_size / 1e3:.0f} kB")
    return 0 if min(report_s) < 15 else 1


if __name__ == "__main__":
    sys.exit(main())
