"""A tiny workload file for the sweep's fault tests (no GPU): it does what its `behaviour` parameter says.

Params: behaviour = ok | segv | hang | flaky | exit; ledger = a file to append to; state = a folder for markers;
work_s = seconds of "work" (a child process holds it, so a killed tree is visible); value = anything.
Ledger lines: `start <job_dir> <nonce> <gpu> <ns>` first, `done ...` after result.json is written, so a test
can tell a run that completed from one that was cut off (gpu: CUDA_VISIBLE_DEVICES, ns: wall clock). Children carry FLASHSIGHT_TEST_MARK in their
environment for the orphan check.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

params = json.loads(os.environ["FLASHSIGHT_PARAMS"])
job_dir = Path(os.environ["FLASHSIGHT_JOB_DIR"])
behaviour = params.get("behaviour", "ok")
nonce = f"{os.getpid()}-{time.time_ns()}"


def ledger(kind):
    if params.get("ledger"):
        with open(params["ledger"], "a") as f:
            gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "-")
            f.write(f"{kind} {job_dir.name} {nonce} {gpu} {time.time_ns()}\n")  # one short write: whole or absent


def work(seconds):
    """Work for `seconds` while holding a child that would live on for an hour if this process were killed
    (like ncu's target under ncu): an orphan left by a killed tree is there to be found."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    try:
        time.sleep(seconds)
    finally:
        child.kill()
        child.wait()


ledger("start")
print(f"fault workload: {behaviour} {params.get('value', '')}", flush=True)
if behaviour == "segv":
    print("about to crash", flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)
elif behaviour == "hang":
    work(3600)
elif behaviour == "exit":
    print("Error: the workload gave up", file=sys.stderr, flush=True)
    sys.exit(3)
elif behaviour == "flaky":
    marker = Path(params["state"]) / f"{job_dir.name}.tried"
    if not marker.exists():
        marker.write_text("once")
        print("RuntimeError: CUDA error: an illegal memory access was encountered (first try)", file=sys.stderr)
        sys.exit(1)
work(float(params.get("work_s", 0)))
tmp = job_dir / f".result.{nonce}.tmp"
tmp.write_text(json.dumps({"workload": "fault", "params": params, "nonce": nonce}))
os.replace(tmp, job_dir / "result.json")
ledger("done")
