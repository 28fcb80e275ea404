"""Number formatting for report cells: one place, so every table prints a quantity the same way.
A missing value prints as an en dash, never as 'nan'."""

from __future__ import annotations

import pandas as pd

DASH = "–"


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array: not one missing scalar
        return False


def ns(value) -> str:
    if _missing(value):
        return DASH
    value = float(value)
    if value >= 1e9:
        return f"{value / 1e9:.2f} s"
    if value >= 1e6:
        return f"{value / 1e6:.3f} ms"
    if value >= 1e3:
        return f"{value / 1e3:.2f} µs"
    return f"{value:.0f} ns"


def seconds(value) -> str:
    return DASH if _missing(value) else ns(float(value) * 1e9)


def pct(value, digits: int = 1) -> str:
    return DASH if _missing(value) else f"{float(value):.{digits}f}%"


def rate(value, unit: str, scale: float, digits: int = 1) -> str:
    return DASH if _missing(value) else f"{float(value) / scale:,.{digits}f} {unit}"


def tflops(value) -> str:
    return rate(value, "TFLOP/s", 1e12, 2)


def gbps(value) -> str:
    return rate(value, "GB/s", 1e9, 0)


def bytes_(value) -> str:
    if _missing(value):
        return DASH
    value = float(value)
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f} B"


def gib(value) -> str:
    return DASH if _missing(value) else f"{float(value) / 2**30:.1f} GiB"


def si(value, unit: str = "") -> str:
    """1.23 M, 45.6 k: counts and item rates whose size varies by orders of magnitude."""
    if _missing(value):
        return DASH
    value = float(value)
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def hz(value) -> str:
    return DASH if _missing(value) else f"{float(value) / 1e9:.3f} GHz"


def count(value) -> str:
    if _missing(value):
        return DASH
    value = float(value)
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def text(value) -> str:
    return DASH if _missing(value) or value == "" else str(value)


def missing(value) -> bool:
    return _missing(value)
