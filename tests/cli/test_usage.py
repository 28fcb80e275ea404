"""Usage errors are one line and piped output is not wrapped (issue 13; a built-in run without torch:
tests/cli/test_basics.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flashsight.cli import main
from flashsight.workloads import BUILTIN

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("args, message", [
    (["parse"], "flashsight: error: Missing argument 'INPUTS...'. (see 'flashsight parse --help')"),
    (["sweep", "--bogus"], "flashsight: error: No such option '--bogus'."),
    (["profile", "rmsnorm"], "flashsight: error: Missing option '--tool'. Choose from: nsys, ncu "
                             "(see 'flashsight profile --help')"),
    (["nosuchcmd"], "flashsight: error: No such command 'nosuchcmd'. (see 'flashsight --help')"),
    (["stalls", "x", "--top", "99"], "flashsight: error: Invalid value for '--top': 99 is not in the range"),
    (["profile", "w.py", "--tool", "nsys", "--timeout", "nan"],
     "flashsight: error: Invalid value for '--timeout': 'nan' is not a finite number"),
    (["sweep", "--min-free-gb", "inf", "--dry-run"], "flashsight: error: Invalid value for '--min-free-gb'"),
])
def test_usage_errors_are_one_line(args, message):
    """click printed a usage line, a hint and the error: three lines (more for a choice list)."""
    result = run(*args)
    assert result.exit_code == 2
    assert result.output.startswith(message) and result.output.count("\n") == 1, result.output


def test_help_and_version_are_unchanged():
    assert run("--version").output == "flashsight, version 0.1.0\n"
    assert run("parse", "--help").output.startswith("Usage: ")
    bare = run()
    assert "Commands:" in bare.output and "flashsight: error" not in bare.output


def test_piped_output_is_not_wrapped_at_80_columns():
    """`flashsight workloads | cat` cut variant names: every choice of every parameter is on its own line."""
    done = subprocess.run([sys.executable, "-m", "flashsight", "workloads"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLUMNS": ""}, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for workload in BUILTIN.values():
        for param in workload.describe()["params"]:
            if "choices" in param:
                allowed = ", ".join(map(str, param["choices"]))
                assert any(allowed in line and line.split()[0] == param["name"] for line in lines), param
    assert max(len(line) for line in lines) > 80

