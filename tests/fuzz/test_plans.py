"""Fuzz: hostile sweep plans through `flashsight sweep PLAN --dry-run`: each is refused in one line naming
the plan (and nothing is created), or accepted with exactly the jobs it describes, within seconds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fuzz.harness import Outcome, RESULTS, check, invoke

ECHO = Path(__file__).resolve().parents[1] / "data" / "workloads" / "echo_params.py"
JOB = f'[[jobs]]\nworkload = "{ECHO}"\ntools = ["none"]\n'
BIG_AXIS = ", ".join(map(str, range(5000)))

# (label, plan text or bytes, jobs it holds when it is valid: None = must be refused)
PLANS = [
    ("not toml", "[[jobs]\nworkload = 1", None),
    ("no jobs", "[sweep]\nname = 'x'\n", None),
    ("jobs not a list", "jobs = 3\n", None),
    ("unknown top key", JOB + "[other]\n", None),
    ("bom", "\ufeff" + JOB, None),
    ("latin-1 bytes", (JOB + "# caf\xe9\n").encode("latin-1"), None),
    ("nul bytes", JOB.encode() + b"\x00\x00", None),
    ("timeout nan", JOB + "timeout_s = nan\n", None),
    ("timeout inf", JOB + "timeout_s = inf\n", None),
    ("timeout -inf", JOB + "timeout_s = -inf\n", None),
    ("timeout 0", JOB + "timeout_s = 0\n", None),
    ("timeout huge", JOB + "timeout_s = 1e308\n", None),
    ("timeout string", JOB + 'timeout_s = "600"\n', None),
    ("timeout bool", JOB + "timeout_s = true\n", None),
    ("retries huge", JOB + "retries = 1000000\n", None),
    ("retries 2^63", JOB + "retries = 9223372036854775807\n", None),
    ("retries negative", JOB + "retries = -1\n", None),
    ("retries float", JOB + "retries = 1.5\n", None),
    ("min_free_gb nan", "[sweep]\nmin_free_gb = nan\n" + JOB, None),
    ("min_free_gb -1", "[sweep]\nmin_free_gb = -1\n" + JOB, None),
    ("min_free_gb huge", "[sweep]\nmin_free_gb = 1e300\n" + JOB, None),
    ("batch_size 0", "[sweep]\nbatch_size = 0\n" + JOB, None),
    ("mode", "[sweep]\nmode = 'fast'\n" + JOB, None),
    ("name traversal", "[sweep]\nname = '../../etc'\n" + JOB, None),
    ("name empty", "[sweep]\nname = ''\n" + JOB, None),
    ("name newline", '[sweep]\nname = "a\\nb"\n' + JOB, None),
    ("grid of 10^7", JOB + f"params = {{ a = [{BIG_AXIS}], b = [{BIG_AXIS[:4000]}] }}\n", None),
    ("value 200k chars", JOB + f'params = {{ x = ["{"y" * 200_000}"] }}\n', None),
    ("value nan", JOB + "params = { x = [nan] }\n", None),
    ("value inf", JOB + "params = { x = inf }\n", None),
    ("nested list", JOB + "params = { x = [[1, 2]] }\n", None),
    ("inline table value", JOB + "params = { x = { y = 1 } }\n", None),
    ("datetime value", JOB + "params = { x = 1979-05-27T07:32:00Z }\n", None),
    ("empty list", JOB + "params = { x = [] }\n", None),
    ("params a string", JOB + 'params = "everything"\n', None),
    ("tools empty", f'[[jobs]]\nworkload = "{ECHO}"\ntools = []\n', None),
    ("tools unknown", f'[[jobs]]\nworkload = "{ECHO}"\ntools = ["gdb"]\n', None),
    ("ncu option injection", f'[[jobs]]\nworkload = "{ECHO}"\ntools = ["ncu"]\nncu = {{ set = "--launch-skip 5" }}\n',
     None),
    ("nvtx include injection", JOB + 'nvtx_include = ["-o /tmp/x"]\n', None),
    ("workload missing file", '[[jobs]]\nworkload = "nope.py"\n', None),
    ("workload shell", '[[jobs]]\nworkload = "rmsnorm; rm -rf /"\n', None),
    ("builtin bad type", '[[jobs]]\nworkload = "rmsnorm"\ntools = ["none"]\nparams = { batch = [1, "1", true, 1.0] }\n',
     None),
    ("deep nesting", "a = " + "[" * 2000 + "]" * 2000 + "\n" + JOB, None),
    ("typed values", JOB + 'params = { x = [1, "1", true, 1.0, "1e3", " 7 ", "true", -0.0] }\n', 8),
    ("one value twice", JOB + "params = { x = [1, 1, 1] }\n", 1),
    ("unicode keys and values", JOB + 'params = { "ключ" = ["значение", "ü"], n = [2] }\n', 2),
    ("grid 3x4x5", JOB + "params = { a = [1, 2, 3], b = [1, 2, 3, 4], c = [1, 2, 3, 4, 5] }\n", 60),
    ("long but allowed value", JOB + f'params = {{ x = ["{"z" * 4096}"] }}\n', 1),
    ("two blocks, one job twice", JOB + JOB, 1),
    ("builtin coerced", '[[jobs]]\nworkload = "rmsnorm"\ntools = ["none"]\nparams = { batch = [8, 8.0, "8"] }\n', 1),
]


@pytest.mark.parametrize("label, text, jobs", PLANS, ids=[p[0] for p in PLANS])
def test_hostile_plan(tmp_path, label, text, jobs):
    plan = tmp_path / "plan.toml"
    plan.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "run"
    ran = invoke(["sweep", plan, "--dry-run", "--out", out], None, seconds=30)
    if jobs is None:
        check("hostile plan", label, ran, named=str(plan), baseline=None, out=out)
        if ran.exit_code == 0:
            RESULTS[-1] = Outcome("hostile plan", label, "violation: accepted", ran.seconds, ran.output[-200:])
            pytest.fail(f"{label}: accepted, should be refused")
        return
    found = re.search(r"^(\d+) jobs, (\d+) to run", ran.output, re.M)
    verdict = "same" if ran.exit_code == 0 and found and int(found.group(1)) == jobs else "violation: jobs"
    RESULTS.append(Outcome("hostile plan", label, verdict, ran.seconds, ran.output[-200:]))
    assert verdict == "same", ran.output[-500:]
    assert not out.exists()
