"""name_key: one text for a kernel whichever tool and page named it (on the committed H100 captures)."""

import gzip
import shutil

import pytest

from flashsight.parsers import read_input
from flashsight.schema.kernel_names import name_key
from tests.ncu_data import DATA, ncu_tables


@pytest.mark.parametrize("report, page", [("h100/full.ncu-rep", "h100/full_raw.csv"),
                                          ("h100/subset.ncu-rep", "h100/subset_raw.csv"),
                                          ("dec.ncu-rep", "dec_raw.csv"), ("mm.ncu-rep", "mm_raw.csv")])
def test_the_csv_pages_lossy_names_key_like_the_reports(report, page):
    """The raw page drops literal casts, namespaces and brackets ('<unnamed>' -> 'unnamed>', '[lambda' ->
    'lambda'): the texts differ, their keys do not."""
    ours, theirs = ncu_tables(report)["ncu_kernels"]["name"], ncu_tables(page)["ncu_kernels"]["name"]
    assert (ours != theirs).any()
    assert [name_key(n) for n in ours] == [name_key(n) for n in theirs]
    assert len({name_key(n) for n in ours}) == ours.nunique()  # and tells different kernels apart


def test_nsys_demangled_names_equal_the_reports(tmp_path):
    """nsys's demangledName of the foundation RMSNorm launches is the report's NameBase_DEMANGLED, so a CSV-born
    ncu row keys like the nsys launch too."""
    sqlite = tmp_path / "rmsnorm.sqlite"
    with gzip.open(DATA.parent / "foundation" / "rmsnorm_nsys.sqlite.gz", "rb") as src, open(sqlite, "wb") as dst:
        shutil.copyfileobj(src, dst)
    kernels = read_input(sqlite)["gpu_kernels"]
    ncu = ncu_tables("foundation/rmsnorm_ncu.ncu-rep")["ncu_kernels"].iloc[0]
    nsys = kernels[kernels["mangled_name"] == ncu["mangled_name"]]
    assert len(nsys) == 112 and set(nsys["name"].astype(str)) == {ncu["name"]}
    assert name_key(ncu["name"]) == "voidRMSNormKernel<8,__half>(T2*,T2*,T2*,unsignedint,unsignedint,unsignedint," \
                                    "float,float)"
    assert name_key(None) is None
