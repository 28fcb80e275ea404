"""The committed real run the report tests read: a small sweep on the lent H200 (tables only, no raw captures)."""

from pathlib import Path

REAL_RUN = Path(__file__).resolve().parents[1] / "data" / "runs" / "h200_small_a"
