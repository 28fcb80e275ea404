"""Shared access to the ncu test captures in tests/data/ncu (stored gzip'ed: .ncu-rep files compress ~10x).

`ncu_file(name)` gives a plain copy in a temporary folder (made once per test session); `ncu_tables(name)` reads
it with flashsight once and caches the tables (treat them as read-only).
"""

from __future__ import annotations

import atexit
import csv
import functools
import gzip
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from flashsight.parsers.ncu_csv import to_base_unit
from flashsight.parsers.ncu_report import read_ncu
from tests import DATA as TEST_DATA

DATA = TEST_DATA / "ncu"
_TMP = Path(tempfile.mkdtemp(prefix="flashsight-ncu-tests-"))
atexit.register(shutil.rmtree, _TMP, True)


@functools.cache
def ncu_file(name: str) -> Path:
    """tests/data/ncu/<name>(.gz) as a plain file; name may include a sub-folder (h100/full.ncu-rep), or name a
    capture of another scenario folder of tests/data (foundation/rmsnorm_ncu.ncu-rep)."""
    plain = DATA / name
    if plain.exists():
        return plain
    packed = DATA / f"{name}.gz"
    if not packed.exists():
        packed = DATA.parent / f"{name}.gz"
    target = _TMP / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(packed, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


@functools.cache
def ncu_tables(name: str) -> dict[str, pd.DataFrame]:
    return read_ncu(ncu_file(name))


def printed_decimals(text: pd.Series) -> pd.Series:
    return text.fillna("").str.extract(r"\.(\d+)$")[0].str.len().fillna(0).astype(int)


def agree_at_print_precision(exact: pd.Series, printed_value: pd.Series, printed_text: pd.Series,
                             printed_unit: pd.Series) -> pd.Series:
    """exact (base units) equals what ncu printed, to the last digit it printed (half an ulp of the print)."""
    factor = printed_unit.map(lambda u: to_base_unit(u)[1]).astype(float)
    tolerance = 0.5 * 10.0 ** (-printed_decimals(printed_text)) * factor * (1 + 1e-9) + 1e-12 * exact.abs()
    return (exact - printed_value).abs() <= tolerance


def raw_units(path) -> dict[str, str]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        names, units = next(reader), next(reader)
    return dict(zip(names, units))


def assert_report_equals_raw_csv(report: str, raw_csv: str) -> pd.DataFrame:
    """Every metric of `report` read by flashsight equals ncu's own `--page raw` CSV of it (either unit mode),
    to the digits ncu printed; nulls where ncu printed no number. Returns the merged table."""
    rep = ncu_tables(report)["ncu_metrics"]
    csv_ = ncu_tables(raw_csv)["ncu_metrics"]
    merged = rep.merge(csv_, on=["kernel_id", "metric"], how="outer", suffixes=("_rep", "_csv"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", "metric"].head().tolist()
    assert (merged["value_rep"].isna() == merged["value_csv"].isna()).all(), \
        merged.loc[merged["value_rep"].isna() != merged["value_csv"].isna(), ["metric", "text_csv"]].head()
    numeric = merged.dropna(subset=["value_rep"])
    units = raw_units(ncu_file(raw_csv))
    ok = agree_at_print_precision(numeric["value_rep"], numeric["value_csv"], numeric["text_csv"],
                                  numeric["metric"].astype(str).map(units))
    assert ok.all(), numeric.loc[~ok, ["kernel_id", "metric", "value_rep", "text_csv"]].head().to_string()
    # Base units agree too, whatever reports this process read before: ncu_report keeps the unit of some
    # derived__/sass__ metrics from the first report a process loads, so flashsight reads each report in a child
    # of its own. One quirk stays: ncu's CSV prints no unit for idc__requests.sum ('request' in the report).
    unit_rep, unit_csv = merged["unit_rep"].astype(str), merged["unit_csv"].astype(str)
    differs = (unit_csv != "") & (unit_rep != unit_csv)
    assert not differs.any(), merged.loc[differs, ["metric", "unit_rep", "unit_csv"]].drop_duplicates().to_string()
    return numeric
