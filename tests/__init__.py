"""flashsight's tests; they mirror the packages (tests/<package>/test_<topic>.py)."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository
DATA = Path(__file__).resolve().parent / "data"  # small real captures and records, one folder per scenario
IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(problem: str, how: str) -> None:
    """A tool the test needs is absent: a failure under CI=true (CI installs it), a skip elsewhere."""
    import pytest

    if IN_CI:
        pytest.fail(f"CI=true but {problem}: {how}")
    pytest.skip(f"{problem} ({how})")
