"""Names the GPU-only code paths use must exist: CI has no GPU to run them, so pyflakes reads them instead.

(An import lost in a move once failed every built-in workload on the GPU while every CPU test passed.)
"""

from __future__ import annotations

from pathlib import Path

from pyflakes.api import checkPath
from pyflakes.messages import UndefinedExport, UndefinedLocal, UndefinedName
from pyflakes.reporter import Reporter

PACKAGE = Path(__file__).resolve().parents[1] / "flashsight"


class _Collect(Reporter):
    def __init__(self):
        super().__init__(None, None)
        self.problems: list[str] = []

    def flake(self, message):
        if isinstance(message, (UndefinedName, UndefinedLocal, UndefinedExport)):
            self.problems.append(str(message))

    def syntaxError(self, filename, msg, lineno, offset, text):
        self.problems.append(f"{filename}:{lineno}: {msg}")

    def unexpectedError(self, filename, msg):
        self.problems.append(f"{filename}: {msg}")


def test_no_undefined_names_in_the_package():
    reporter = _Collect()
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50
    for path in files:
        checkPath(str(path), reporter)
    assert reporter.problems == []
