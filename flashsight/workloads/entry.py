"""`python -m flashsight.workloads.entry WORKLOAD`: the process a profiler launches for a built-in workload.

It follows the same contract as users' own workloads: the config comes as JSON in FLASHSIGHT_PARAMS, the job
directory in FLASHSIGHT_JOB_DIR, and result.json is written there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from flashsight.errors import FlashsightError
from flashsight.workloads import get_workload
from flashsight.schema.contract import JOB_DIR_ENV
from flashsight.workloads.harness import params_from_env, run_workload


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m flashsight.workloads.entry WORKLOAD", file=sys.stderr)
        return 2
    try:
        job_dir = os.environ.get(JOB_DIR_ENV)
        run_workload(get_workload(argv[0]), params_from_env(), job_dir=Path(job_dir) if job_dir else None)
    except FlashsightError as exc:
        print(f"flashsight: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
