"""The noise model on real launches (prefill 1 x 2048 of the committed H200 run: 100 launches of one kernel) and
the verdict's decision table."""

from __future__ import annotations

import math

import numpy as np
import pytest

import flashsight
from flashsight.analysis import noise
from flashsight.analysis.compare import verdict
from tests.compare_support import RUN_A


@pytest.fixture(scope="module")
def launches() -> np.ndarray:
    kernels = flashsight.load(RUN_A).table("gpu_kernels")
    mine = kernels[(kernels["workload"] == "prefill") & (kernels["seq_len"] == 2048)].sort_values("start_ns")
    assert mine["short_name"].unique().tolist() == ["BatchPrefillWithPagedKVCacheKernel"]
    return mine["duration_ns"].to_numpy("float64")


def test_the_interval_keeps_launch_order_dependence(launches):
    """The same 100 durations, in a worst-case order (sorted: a steady drift) and shuffled: a bootstrap over blocks
    of consecutive launches sees the drift as uncertainty; an iid bootstrap could not tell the two apart."""
    assert noise.block_length(len(launches)) == 10
    drifting = np.sort(launches)
    shuffled = np.random.default_rng(1).permutation(launches)
    low_d, high_d = noise.block_bootstrap_ratio([drifting], [drifting])
    low_s, high_s = noise.block_bootstrap_ratio([shuffled], [shuffled])
    assert low_d < 1 < high_d and low_s < 1 < high_s
    assert (high_d - low_d) > 2.5 * (high_s - low_s)
    low, high = noise.block_bootstrap_ratio([launches], [launches * 1.25])
    assert 1.23 < low < 1.25 < high < 1.27


def test_the_timer_step_widens_the_interval_of_a_microsecond_kernel():
    """nsys's durations on the H200 come in ~32 ns steps: 100 launches of a 2.2 µs merge kernel take a handful of
    values, so their bootstrap medians all coincide; half a step per side keeps the interval honest."""
    kernels = flashsight.load(RUN_A).table("gpu_kernels")
    merge = kernels[(kernels["workload"] == "decode") & (kernels["batch"] == 1) & (kernels["num_kv_heads"] == 8) &
                    (kernels["short_name"] == "PersistentVariableLengthMergeStatesKernel")].sort_values("start_ns")
    durations = merge["duration_ns"].to_numpy("float64")
    assert len(durations) == 100 and len(np.unique(durations)) < 10
    assert 31 <= noise.resolution_ns([durations]) <= 33
    low, high = noise.block_bootstrap_ratio([durations], [durations])
    step = noise.resolution_ns([durations]) / np.median(durations)
    assert low == pytest.approx(1 - step) and high == pytest.approx(1 + step)  # half a step on each side


def test_drift_compares_the_last_third_with_the_first(launches):
    first, last = np.median(launches[:33]), np.median(launches[-33:])
    assert noise.drift_pct([launches]) == pytest.approx(100 * abs(last / first - 1))
    assert noise.drift_pct([np.sort(launches)]) > 3.0  # the sorted order drifts 3.5%; the real one 0.57%
    assert noise.drift_pct([launches]) == pytest.approx(0.5737, abs=1e-4)
    assert math.isnan(noise.drift_pct([launches[:5]]))


def test_too_few_launches_give_no_interval(launches):
    assert all(math.isnan(v) for v in noise.block_bootstrap_ratio([launches[:4]], [launches]))
    judged, why = verdict(1.3, math.nan, math.nan, 5.0, 2.0)
    assert judged == "inconclusive" and "too few launches" in why


def test_repeats_set_the_floor_only_when_enough_rows_have_them():
    assert noise.repeat_floor_pct([1.0, math.nan]) is None
    assert noise.repeat_floor_pct([0.0, 1.0, 2.0, 3.0]) == pytest.approx(np.percentile([0, 1, 2, 3], 95))
    assert noise.repeat_spread_pct([np.array([100.0]), np.array([102.0])]) == pytest.approx(2.0)


@pytest.mark.parametrize("ratio, low, high, expected", [
    (1.25, 1.24, 1.26, "regressed"),
    (0.80, 0.79, 0.81, "improved"),
    (1.01, 0.99, 1.03, "unchanged"),
    (1.06, 1.01, 1.10, "inconclusive"),  # beyond the threshold, but the interval reaches into the floor
    (1.03, 1.02, 1.07, "inconclusive"),  # inside the threshold, but the interval reaches past it
    (1.04, 1.035, 1.045, "unchanged"),  # a real but small change: practically insignificant
])
def test_verdicts_need_the_interval_the_threshold_and_the_floor(ratio, low, high, expected):
    assert verdict(ratio, low, high, 5.0, 2.0)[0] == expected
