"""Fixtures shared by the test folders: the real nsys (or a skip), and real captures that several folders parse."""

from __future__ import annotations

import pandas as pd
import pytest

from flashsight.parsers import read_input
from flashsight.profilers import tools
from tests import DATA, missing


@pytest.fixture(scope="module")
def nsys():
    """Debian's nsys (CI installs it): skipped where it is absent, a failure under CI=true."""
    tools.clear_cache()
    tool = tools.find_nsys()
    if tool is None:
        missing("nsys is not installed", "CI installs it with .ci/install-nsys.sh")
    return tool


@pytest.fixture(scope="session")
def fi_tables() -> dict[str, pd.DataFrame]:
    """The H100 FlashInfer capture (nsys 2025.3: prefill x3, rope, rmsnorm ranges), parsed; treat as read-only."""
    return read_input(DATA / "nsys" / "h100_fi" / "fi.sqlite")


@pytest.fixture(scope="session")
def cpu_tables() -> dict[str, pd.DataFrame]:
    """The CPU-only capture of cpu_nvtx.py (Debian nsys 2022.4: NVTX ranges, no GPU tables), parsed; read-only."""
    return read_input(DATA / "nsys" / "cpu_2022" / "cpu.sqlite")
