"""The fuzz suite's summary: cases and verdicts by class, printed at the end of the session (the figures the
issue-13 note quotes). FLASHSIGHT_FUZZ_SUMMARY=path also writes them as JSON."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict

import pytest

from tests.fuzz.harness import RESULTS

VERDICTS = ("refused", "same", "shorter", "warned")


@pytest.fixture(autouse=True)
def _bounded_ncu_reads(monkeypatch):
    """A child reading a damaged report gets 45 s, not an hour (a hang is then a one-line error, and the
    harness's own deadline still catches anything longer)."""
    monkeypatch.setenv("FLASHSIGHT_NCU_READ_TIMEOUT_S", "45")


def summary() -> dict:
    by_class: dict[str, Counter] = defaultdict(Counter)
    seconds: Counter = Counter()
    for r in RESULTS:
        by_class[r.klass][r.verdict if r.ok else "violation"] += 1
        seconds[r.klass] += r.seconds
    return {k: {**{v: c.get(v, 0) for v in (*VERDICTS, "violation")}, "cases": sum(c.values()),
                "seconds": round(seconds[k], 1)} for k, c in sorted(by_class.items())}


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    table = summary()
    tr = terminalreporter
    tr.section("fuzz: damaged and hostile inputs by class")
    head = f"{'class':<28}{'cases':>6}" + "".join(f"{v:>10}" for v in (*VERDICTS, "violation")) + f"{'seconds':>9}"
    tr.write_line(head)
    totals = Counter()
    for klass, row in table.items():
        tr.write_line(f"{klass:<28}{row['cases']:>6}" + "".join(f"{row[v]:>10}" for v in (*VERDICTS, "violation"))
                      + f"{row['seconds']:>9.1f}")
        totals.update({k: v for k, v in row.items()})
    tr.write_line(f"{'total':<28}{totals['cases']:>6}" + "".join(f"{totals[v]:>10}" for v in (*VERDICTS, "violation"))
                  + f"{totals['seconds']:>9.1f}")
    tr.write_line("refused: one-line error naming the input, nothing written | same: exit 0, every table as "
                  "undamaged | shorter: exit 0 with exactly the rows of a well-formed shorter capture no format "
                  "can tell from a cut one, kernel count said | warned: exit 0, a warning names the loss")
    if os.environ.get("FLASHSIGHT_FUZZ_SUMMARY"):
        cases = [{"class": r.klass, "case": r.case, "verdict": r.verdict, "detail": r.detail,
                  "seconds": round(r.seconds, 2)} for r in RESULTS]
        with open(os.environ["FLASHSIGHT_FUZZ_SUMMARY"], "w") as f:
            json.dump({"by_class": table, "cases": cases}, f, indent=2)
