"""flashsight's tests; they mirror the packages (tests/<package>/test_<topic>.py)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository
DATA = Path(__file__).resolve().parent / "data"  # small real captures and records, one folder per scenario
