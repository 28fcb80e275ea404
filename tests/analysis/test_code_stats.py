"""nsys_summaries._code_stats (the numpy group statistics of nvtx_gpu_proj_sum) against pandas' groupby."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flashsight.analysis.nsys_summaries import _code_stats, _stats


def test_code_stats_equal_a_pandas_groupby():
    rng = np.random.default_rng(7)
    codes = np.concatenate([np.arange(40), rng.integers(0, 40, 5_000)])  # every code used; sizes 1, 2, ... many
    values = rng.integers(0, 10**12, len(codes))
    extra = rng.integers(0, 50, len(codes)).astype(float)
    extra[::7] = np.nan
    ours = _code_stats(codes, values, 40, {"s": (lambda: values, "sum"), "m": (lambda: extra, "mean")})
    g = pd.Series(values).groupby(codes)
    theirs = _stats(g).sort_index()
    for col in ["total", "num", "min", "max"]:
        assert (ours[col].to_numpy() == theirs[col].to_numpy()).all(), col
    for col in ["avg", "med", "std"]:
        assert np.allclose(ours[col], theirs[col], rtol=1e-12, atol=1e-6), col
    assert (ours["s"].to_numpy() == theirs["total"].to_numpy()).all()
    assert np.allclose(ours["m"], pd.Series(extra).groupby(codes).mean().sort_index())


def test_code_stats_of_no_rows_is_an_empty_frame():
    out = _code_stats(np.zeros(0, np.int64), np.zeros(0, np.int64), 0, {"s": (lambda: np.zeros(0), "sum")})
    assert len(out) == 0 and list(out.columns) == ["total", "num", "avg", "med", "min", "max", "std", "s"]
