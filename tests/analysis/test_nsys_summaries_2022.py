"""nsys 2022.4's own report shapes (gpukernsum per name and launch shape, nvtxgpuproj with 2022's range names),
against what Debian's nsys 2022.4 printed for the foundation capture and the CPU capture."""

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest

from flashsight.analysis import nsys_summaries as nsys_stats
from flashsight.parsers.nsys_sqlite import read_nsys
from tests.nsys_report_compare import assert_same_rows

DATA = Path(__file__).parents[1] / "data" / "foundation"


@pytest.fixture(scope="module")
def foundation(tmp_path_factory):
    target = tmp_path_factory.mktemp("f2022") / "rmsnorm_nsys.sqlite"
    with gzip.open(DATA / "rmsnorm_nsys.sqlite.gz", "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return read_nsys(target)


def test_gpukernsum_equals_nsys_2022_4_row_for_row(foundation):
    theirs = pd.read_csv(DATA / "rmsnorm_nsys2022_gpukernsum.csv", keep_default_na=False)
    ours = nsys_stats.gpukernsum(foundation)
    assert_same_rows(ours, theirs, ["Name", "GridXYZ", "BlockXYZ"])
    assert list(ours["Total Time (ns)"]) == sorted(theirs["Total Time (ns)"], reverse=True)


def test_nvtxgpuproj_names_default_domain_ranges_by_text_alone(foundation):
    theirs = pd.read_csv(DATA / "rmsnorm_nsys2022_nvtxgpuproj.csv", keep_default_na=False)
    ours = nsys_stats.nvtxgpuproj(foundation)
    theirs["ParentId"] = pd.to_numeric(theirs["ParentId"].replace("None", None)).astype("Int64")
    assert_same_rows(ours, theirs, ["RangeId"])


SHAPES = Path(__file__).parents[1] / "data" / "nsys" / "h100_shapes"


@pytest.mark.parametrize("report, keys", [("gpukernsum", ["Name", "GridXYZ", "BlockXYZ"]), ("nvtxgpuproj", ["RangeId"])])
def test_shapes_2022_reports_equal_nsys_2022_4(report, keys):
    """The shapes capture (nested ranges, two domains, two threads) through Debian's nsys 2022.4
    (`nsys stats -r gpukernsum,nvtxgpuproj` of the 2025.3 export)."""
    theirs = pd.read_csv(SHAPES / f"shapes_nsys2022_{report}.csv", keep_default_na=False)
    if "ParentId" in theirs:
        theirs["ParentId"] = pd.to_numeric(theirs["ParentId"].replace("None", None)).astype("Int64")
    ours = nsys_stats.REPORTS[report](read_nsys(SHAPES / "shapes.sqlite"))
    assert_same_rows(ours, theirs, keys)
    if report == "nvtxgpuproj":
        assert {"step", "attention", "flashsight.A:work"} <= set(ours["Name"])  # default domain: no ':' prefix
