"""The noise model of `compare`: how far apart two medians of kernel launches must be before it means something.

Launches of one kernel in a measured range are not independent samples: clocks sag under sustained load (on the
lent H200 a 0.9 ms prefill kernel drifted from 910 to 972 µs within one range of 100 back-to-back launches), so
neighbouring launches share the GPU's state. Three figures, each for a different part of the noise:

- `block_bootstrap_ratio`: the interval of median(new) / median(base) from a circular block bootstrap over the
  launches in launch order (blocks of ceil(sqrt(n)) consecutive launches keep their dependence); repeats of a
  range are resampled separately and pooled. It says how precisely each range pins its median down.
  The interval is widened by half the timer's resolution on each side (`resolution_ns`: nsys timestamps on the
  H200 come in ~32 ns steps, 1.4% of a 2.2 µs kernel), so a median that cannot move by less than a step never
  gets a zero-width interval.
- `drift_pct`: how far the median moved inside one range (last third against first third). A kernel that drifts
  5% within a range can land 5% apart in two runs of the same code; the verdict's floor takes it in.
- `repeat_floor_pct`: the run-to-run floor estimated from repeats of a range (the same config measured more than
  once, e.g. runs loaded together): the 95th percentile of the spread between the repeats' medians.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

RESAMPLES = 1000
CONFIDENCE = 0.95
MIN_LAUNCHES = 5  # fewer launches per side: no interval (too few to say anything about the noise)
MIN_DRIFT_LAUNCHES = 6  # thirds of at least two launches
MIN_FLOOR_ROWS = 3  # rows with repeats needed before the repeats, not the default, set the floor


def block_length(n: int) -> int:
    return max(1, math.ceil(math.sqrt(n)))


def _resampled_medians(series: Sequence[np.ndarray], rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Medians of `resamples` circular-block-bootstrap copies of the pooled repeats (each resampled on its own)."""
    copies = []
    for values in series:
        n = len(values)
        length = block_length(n)
        blocks = math.ceil(n / length)
        starts = rng.integers(0, n, size=(resamples, blocks))
        index = (starts[:, :, None] + np.arange(length)[None, None, :]).reshape(resamples, -1)[:, :n] % n
        copies.append(values[index])
    return np.median(np.concatenate(copies, axis=1), axis=1)


def block_bootstrap_ratio(base: Sequence[np.ndarray], new: Sequence[np.ndarray], *, seed: int = 0,
                          resamples: int = RESAMPLES, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """(low, high) percentile interval of median(new) / median(base); NaNs when a side has too few launches.

    base, new: the launch durations of each repeat of the range, in launch order.
    """
    if min(_launches(base), _launches(new)) < MIN_LAUNCHES:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    ratios = _resampled_medians(new, rng, resamples) / _resampled_medians(base, rng, resamples)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(ratios, [tail, 100 - tail])
    half_step = sum(0.5 * resolution_ns(side) / float(np.median(np.concatenate(side))) for side in (base, new))
    return float(low * (1 - half_step)), float(high * (1 + half_step))


def resolution_ns(series: Sequence[np.ndarray]) -> float:
    """The finest step the durations resolve: the median gap between neighbouring distinct values (gaps of 1 ns
    are rounding between two timestamps, not a step). 0 when every launch took the same time."""
    values = np.unique(np.concatenate(series))
    gaps = np.diff(values)
    gaps = gaps[gaps > 1]
    return float(np.median(gaps)) if len(gaps) else 0.0


def _launches(series: Sequence[np.ndarray]) -> int:
    return min((len(v) for v in series), default=0)


def drift_pct(series: Sequence[np.ndarray]) -> float:
    """Largest |median(last third) / median(first third) - 1| over the repeats, in %; NaN for short ranges."""
    drifts = []
    for values in series:
        if len(values) < MIN_DRIFT_LAUNCHES:
            continue
        third = len(values) // 3
        first, last = np.median(values[:third]), np.median(values[-third:])
        if first > 0:
            drifts.append(100 * abs(last / first - 1))
    return max(drifts) if drifts else math.nan


def repeat_spread_pct(series: Sequence[np.ndarray]) -> float:
    """max/min - 1 of the repeats' medians, in %; NaN with fewer than two repeats."""
    medians = [float(np.median(v)) for v in series if len(v)]
    if len(medians) < 2 or min(medians) <= 0:
        return math.nan
    return 100 * (max(medians) / min(medians) - 1)


def repeat_floor_pct(spreads: Sequence[float]) -> float | None:
    """The run-to-run floor from the rows that have repeats (95th percentile of their spreads); None if too few."""
    known = [s for s in spreads if not math.isnan(s)]
    if len(known) < MIN_FLOOR_ROWS:
        return None
    return float(np.percentile(known, 95))
