"""Errors a user can act on. The CLI prints them as one line and exits non-zero; nothing else is caught."""


class FlashsightError(Exception):
    """Base class: the message is the whole story, shown without a traceback."""

    exit_code = 2


class InputError(FlashsightError):
    """A file that is missing, truncated, corrupt or not what it claims to be. Name the file in the message."""


class ToolError(FlashsightError):
    """An external tool (nsys, ncu, the qdstrm importer) is missing or failed."""


class ParamError(FlashsightError):
    """A workload parameter or plan value that is unknown, mistyped or out of range."""


class WorkloadError(FlashsightError):
    """A workload ran but failed: a crash, a CUDA error, or output that disagrees with the reference."""

    exit_code = 1


class NotComparableError(FlashsightError):
    """Two runs that differ in what sets kernel times (GPU, driver, clocks, versions, ncu options, dtype)."""
