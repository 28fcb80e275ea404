"""What changed against a baseline run: needs the compare analysis (`flashsight compare`)."""

from __future__ import annotations

from flashsight.errors import FlashsightError
from flashsight.outputs.report.model import Section


def section(run, baseline) -> Section:
    try:
        from flashsight.analysis import compare  # noqa: F401  (branch compare)
    except ImportError:
        raise FlashsightError("--baseline needs `flashsight compare` (the compare analysis), which this flashsight "
                              "does not have yet") from None
    raise FlashsightError("--baseline: the compare analysis is present but the report does not call it yet")
