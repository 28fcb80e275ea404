"""`python -m flashsight.orchestrator.batch_child PYTHON_TARGET_ARGV...`: several configs of one workload, one process.

The configs come as a JSON list in the file named by FLASHSIGHT_BATCH: [{"job_id", "params", "job_dir"}, ...].
For each, the target (`python -m module ...` or `python file.py ...`) runs again in this process with the
usual per-job contract (FLASHSIGHT_PARAMS, FLASHSIGHT_JOB_DIR, cwd = the job directory), so imports, CUDA
context, FlashInfer's JIT modules and allocator pools are paid once per batch, while each config still gets
its own measured NVTX range and result.json. A config that fails in Python is recorded and the next one runs;
a crash (a signal) or a CUDA context left unusable by a failed config ends the batch, and the orchestrator
reruns the unfinished configs one process each.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import time
import traceback
from pathlib import Path

from flashsight.schema.contract import BATCH_ENV, BATCH_MARK as MARK
from flashsight.schema.layout import BATCH_STATUS_FILE as STATUS_FILE


def main(argv: list[str]) -> int:
    from flashsight.host.files import write_json
    from flashsight.schema.contract import JOB_DIR_ENV, PARAMS_ENV

    if len(argv) < 2:
        print("usage: python -m flashsight.orchestrator.batch_child PYTHON (-m MODULE | FILE) [ARGS...]",
              file=sys.stderr)
        return 2
    configs = json.loads(Path(os.environ[BATCH_ENV]).read_text())
    for cfg in configs:
        job_dir = Path(cfg["job_dir"])
        os.environ[PARAMS_ENV] = json.dumps(cfg["params"])
        os.environ[JOB_DIR_ENV] = str(job_dir)
        os.chdir(job_dir)
        print(f"{MARK} begin {cfg['job_id']}", flush=True)
        started = time.monotonic()
        rc, error = _run_once(argv[1:])
        sys.stdout.flush()
        sys.stderr.flush()
        write_json({"job_id": cfg["job_id"], "rc": rc, "error": error,
                    "duration_s": time.monotonic() - started}, job_dir / STATUS_FILE)
        print(f"{MARK} end {cfg['job_id']} rc={rc}", flush=True)
        if rc != 0 and not _cuda_usable():
            # An asynchronous CUDA fault poisons the context: every later config would fail here for nothing.
            print(f"{MARK} the CUDA context is unusable after {cfg['job_id']}: the remaining configs run alone",
                  flush=True)
            return 3
    return 0


def _cuda_usable() -> bool:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return True
    try:
        torch.cuda.synchronize()
        torch.empty(1, device="cuda").add_(1).item()
        return True
    except Exception:  # noqa: BLE001 - any error here means the context is gone
        return False


def _run_once(target: list[str]) -> tuple[int, str | None]:
    """Run the target's __main__ once; (exit code, error line)."""
    saved_argv = sys.argv
    try:
        if target[0] == "-m":
            sys.argv = [target[1], *target[2:]]
            runpy.run_module(target[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(target)
            runpy.run_path(target[0], run_name="__main__")
        return 0, None
    except SystemExit as exc:
        code = exc.code
        if code is None or code == 0:
            return 0, None
        return (code if isinstance(code, int) else 1), (None if isinstance(code, int) else str(code))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the config failed; the process (and the next config) goes on
        traceback.print_exc()
        return 1, f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        sys.argv = saved_argv


if __name__ == "__main__":
    sys.exit(main(sys.argv))
