"""Build flashsight/sample/ (the real run shipped in the package) from a committed run directory.

    python devtools/make_sample.py RUN_DIR [WHAT]     (the shipped one: the default study's run from
                                                        devtools/device_report.sh, tables only)

Copies the run's merged tables, jobs.parquet, env.json and plan.toml (no per-job folders: tables only), and writes
workload_results.parquet from the jobs' result.json files (a sweep of this flashsight writes it itself; the run
was made by one that did not). `flashsight report --sample` renders it on any laptop.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import flashsight  # noqa: E402
from flashsight.api import SAMPLE_DIR  # noqa: E402
from flashsight.host.files import write_table  # noqa: E402


def main(source: Path, what: str) -> None:
    run = flashsight.load(source)
    if SAMPLE_DIR.exists():
        shutil.rmtree(SAMPLE_DIR)
    SAMPLE_DIR.mkdir(parents=True)
    for path in sorted(source.glob("*.parquet")):
        shutil.copy(path, SAMPLE_DIR / path.name)
    for name in ("env.json", "plan.toml"):
        shutil.copy(source / name, SAMPLE_DIR / name)
    for name in ("workload_results", "job_conditions"):
        if run.has(name) and not (source / f"{name}.parquet").exists():
            write_table(run.table(name), SAMPLE_DIR, name)
    (SAMPLE_DIR / "README.md").write_text(
        f"# The sample run\n\nThe merged tables of {what}, shipped so `flashsight report --sample` works without a "
        "GPU. Made by `python devtools/make_sample.py`.\n")
    total = sum(p.stat().st_size for p in SAMPLE_DIR.iterdir())
    print(f"{SAMPLE_DIR}: {len(list(SAMPLE_DIR.iterdir()))} files, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) == 3 else f"the run `{Path(sys.argv[1]).name}`")
