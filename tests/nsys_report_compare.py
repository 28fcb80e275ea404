"""Row-for-row comparison of a flashsight summary with the CSV nsys itself wrote for the same capture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests import DATA as TEST_DATA

DATA = TEST_DATA / "nsys"

# Columns nsys prints as rounded floats (one decimal): compared to within rounding, all others exactly.
ROUNDED = ("Time (%)", "Avg (ns)", "Med (ns)", "StdDev (ns)", "Proj Avg (ns)", "Proj Med (ns)",
           "Proj StdDev (ns)", "Avg GPU Ops", "Avg Range Lvl", "Avg Num Child")


def read_nsys_csv(path: Path) -> pd.DataFrame:
    # nsys stats may print a NOTICE line before the header when it reuses an export.
    lines = Path(path).read_text().splitlines()
    skip = next(i for i, line in enumerate(lines) if "," in line and not line.startswith("NOTICE"))
    return pd.read_csv(path, skiprows=skip, keep_default_na=False, na_values=[""])


def assert_same_rows(ours: pd.DataFrame, theirs: pd.DataFrame, keys: list[str]) -> None:
    """Same columns, same set of rows (by keys), integer columns equal, rounded columns within 0.05."""
    assert list(ours.columns) == list(theirs.columns), (list(ours.columns), list(theirs.columns))
    assert len(ours) == len(theirs), f"{len(ours)} rows here, {len(theirs)} in nsys's CSV"
    a = ours.set_index(keys).sort_index()
    b = theirs.set_index(keys).sort_index()
    assert not a.index.duplicated().any() and not b.index.duplicated().any(), "keys must identify rows"
    assert list(a.index) == list(b.index), sorted(set(a.index) ^ set(b.index))[:5]
    for col in a.columns:
        x, y = a[col], b[col]
        if col in ROUNDED:
            assert np.allclose(x.astype(float), y.astype(float), atol=0.05 + 1e-9, rtol=0), (col, x, y)
        elif pd.api.types.is_numeric_dtype(y) or y.isna().all():
            xa = pd.to_numeric(x.astype(object), errors="coerce")
            assert (xa.isna().to_numpy() == y.isna().to_numpy()).all(), (col, x[xa.isna() != y.isna()])
            assert (xa.dropna().astype("int64") == y.dropna().astype("int64")).all(), (col, x, y)
        else:
            assert (x.astype(str) == y.astype(str)).all(), (col, x[x.astype(str) != y.astype(str)])
