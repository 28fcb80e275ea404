"""benchmarks/ncu_bigreport.py: a large .ncu-rep made of a real capture's kernels repeated reads as those kernels.

The scale benchmark (issue 14) times reading 1,000 `--set full` kernels; a real capture of that many did not
finish on the lent H200, so the report repeats the H200 capture's 8 kernels. These tests hold the copy to
what it claims: its layout is the source's repeated, and every copy reads back as the kernel it repeats.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import ncu_bigreport  # noqa: E402

from flashsight.parsers.ncu_rep_layout import report_layout  # noqa: E402
from flashsight.parsers.ncu_report import read_ncu_report  # noqa: E402


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    out = tmp_path_factory.mktemp("big") / "k20.ncu-rep"
    info = ncu_bigreport.build(ncu_bigreport.DEFAULT_SOURCE, out, 20)
    source = tmp_path_factory.mktemp("src") / "full.ncu-rep"
    source.write_bytes(ncu_bigreport.read_source(ncu_bigreport.DEFAULT_SOURCE))
    return info, out, source


def test_the_copy_holds_the_source_kernels_repeated(copies):
    info, out, source = copies
    assert (info["source_kernels"], info["kernels"]) == (8, 20)
    src = report_layout(source)
    assert src == [2243] * 8  # metrics per kernel, as the blocks hold them
    assert report_layout(out) == [src[k % 8] for k in range(20)]


def test_every_copy_reads_as_the_kernel_it_repeats(copies):
    _, out, source = copies
    big, src = read_ncu_report(out), read_ncu_report(source)
    assert big["ncu_kernels"]["kernel_id"].tolist() == list(range(20))
    assert big["ncu_kernels"]["name"].tolist() == [src["ncu_kernels"]["name"][k % 8] for k in range(20)]
    for table in ("ncu_metrics", "ncu_source", "ncu_rules"):
        a, b = big[table], src[table]
        for k in (8, 13, 19):  # copies of kernels 0, 5 and 3
            got = a[a["kernel_id"] == k].drop(columns="kernel_id").reset_index(drop=True)
            want = b[b["kernel_id"] == k % 8].drop(columns="kernel_id").reset_index(drop=True)
            assert len(got) == len(want) > 0, (table, k)
            pd.testing.assert_frame_equal(got.astype(object), want.astype(object), obj=f"{table} kernel {k}")
