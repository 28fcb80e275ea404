"""The persistent ncu_report readers (parsers.ncu_readers) on the committed H100 reports.

ncu_report keeps the unit of three derived__/sass__ metrics from the first report a process loaded: a reader
serves one kind of report (section set + GPU) and retires at another. A large report read in kernel slices by
several readers gives the same tables as one reader. A crashing module fails its report only.
"""

from __future__ import annotations

import os
import sys

import pandas as pd
import pytest

from flashsight.errors import InputError
from flashsight.parsers import ncu_readers
from flashsight.parsers.ncu_report import read_ncu_reports
from tests.ncu_data import ncu_file, raw_units

SPILLS = ["derived__memory_l2_theoretical_sectors_global_excessive", "sass__inst_executed_register_spilling_mem_local",
          "sass__inst_executed_register_spilling_mem_shared"]


@pytest.fixture
def out_of_process(monkeypatch):
    monkeypatch.delenv("FLASHSIGHT_NCU_IN_PROCESS", raising=False)


def _units(tables, metrics):
    m = tables["ncu_metrics"]
    return m[m["metric"].isin(metrics)].drop_duplicates("metric").set_index("metric")["unit"].astype(str).to_dict()


def test_one_reader_keeps_units_right_across_report_kinds(out_of_process):
    pool = ncu_readers.ReaderPool(1)
    try:
        full = pool.read(ncu_file("h100/full.ncu-rep"))
        subset = pool.read(ncu_file("h100/subset.ncu-rep"))  # after --set full in the same pool
        dec = pool.read(ncu_file("dec.ncu-rep"))
        assert pool.started == 3  # full, then a fresh reader for subset, then one for dec (full's kind again)
    finally:
        pool.close()
    csv_units = raw_units(ncu_file("h100/subset_raw_base.csv"))  # ncu --print-units base
    assert _units(subset, SPILLS) == {m: csv_units[m] for m in SPILLS} == {m: "byte" for m in SPILLS}
    assert set(_units(full, SPILLS).values()) <= {"sector", "inst"}
    assert len(dec["ncu_kernels"]) > 0


def test_reports_of_one_kind_share_a_reader(out_of_process):
    pool = ncu_readers.ReaderPool(1)
    try:
        for _ in range(3):
            pool.read(ncu_file("dec.ncu-rep"))
        pool.read(ncu_file("mm.ncu-rep"))
        assert pool.started == 1
    finally:
        pool.close()


def test_slices_read_by_several_readers_equal_one_read(out_of_process, monkeypatch):
    report = ncu_file("h100/full.ncu-rep")
    one = ncu_readers.ReaderPool(1)
    several = ncu_readers.ReaderPool(3)
    monkeypatch.setattr(ncu_readers, "MIN_SLICE", 2)  # 7 kernels: three slices
    monkeypatch.setattr(ncu_readers, "SLICE_BYTES", 0)
    try:
        whole, sliced = one.read(report), several.read(report)
        assert several.started >= 2
    finally:
        one.close()
        several.close()
    assert set(whole) == set(sliced)
    for name in whole:
        a, b = whole[name], sliced[name]
        assert list(a.columns) == list(b.columns), name
        same_missing = lambda df: df.astype(object).where(df.notna(), None)  # noqa: E731  (None or NaN: missing)
        pd.testing.assert_frame_equal(same_missing(a), same_missing(b), check_dtype=False, obj=name)
    assert sliced["ncu_kernels"]["kernel_id"].tolist() == list(range(7))


CRASHING_READER = """#!{python}
import os, signal, sys
sys.path.insert(0, {root!r})
from flashsight.parsers import ncu_report
real = ncu_report.read_ncu_report
def crash_on_dec(path, **kw):
    if "dec" in str(path):
        os.kill(os.getpid(), signal.SIGSEGV)
    return real(path, **kw)
ncu_report.read_ncu_report = crash_on_dec
sys.exit(ncu_report._serve())
"""


def test_a_reader_crash_fails_its_report_only(out_of_process, tmp_path, monkeypatch):
    script = tmp_path / "python"
    script.write_text(CRASHING_READER.format(python=sys.executable, root=os.getcwd()))
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(script))
    results = read_ncu_reports([ncu_file("dec.ncu-rep"), ncu_file("mm.ncu-rep"), tmp_path / "missing.ncu-rep"])
    dec, mm, missing = results.values()
    assert isinstance(dec, InputError) and "the ncu_report module failed reading it (signal 11" in str(dec)
    assert len(mm["ncu_kernels"]) > 0
    assert isinstance(missing, InputError)


HANGING_READER = """#!{python}
import sys, time
sys.path.insert(0, {root!r})
from flashsight.parsers import ncu_report
def hang_on_dec(path, **kw):
    if "dec" in str(path):
        time.sleep(3600)
    return real(path, **kw)
real = ncu_report.read_ncu_report
ncu_report.read_ncu_report = hang_on_dec
sys.exit(ncu_report._serve())
"""


def test_a_reader_that_hangs_is_a_one_line_error_after_the_timeout(out_of_process, tmp_path, monkeypatch):
    """A damaged report can make the module spin: FLASHSIGHT_NCU_READ_TIMEOUT_S bounds each read, the reader is
    killed, and the next report gets a fresh one."""
    script = tmp_path / "python"
    script.write_text(HANGING_READER.format(python=sys.executable, root=os.getcwd()))
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(script))
    monkeypatch.setenv("FLASHSIGHT_NCU_READ_TIMEOUT_S", "3")
    pool = ncu_readers.ReaderPool(1)
    try:
        with pytest.raises(InputError, match=r"dec\.ncu-rep: the ncu_report module did not finish reading it in 3 s"):
            pool.read(ncu_file("dec.ncu-rep"))
        assert len(pool.read(ncu_file("mm.ncu-rep"))["ncu_kernels"]) > 0
        assert pool.started == 2
    finally:
        pool.close()


def test_one_reader_reads_a_large_report_in_pieces(out_of_process, monkeypatch):
    """ncu_report keeps what it has read: at most MAX_SLICE kernels per request, even with a single reader."""
    report = ncu_file("h100/full.ncu-rep")
    monkeypatch.setattr(ncu_readers, "SLICE_BYTES", 0)
    pool = ncu_readers.ReaderPool(1)
    whole = pool.read(report)
    monkeypatch.setattr(ncu_readers, "MAX_SLICE", 2)  # 7 kernels: four pieces
    asked = []
    request = pool._request
    monkeypatch.setattr(pool, "_request", lambda path, op, kernels=None, *a: asked.append(kernels) or
                        request(path, op, kernels, *a))
    try:
        pieces = pool.read(report)
    finally:
        pool.close()
    assert asked == [(0, 2), (2, 4), (4, 5), (5, 1 << 62)]
    assert pieces["ncu_kernels"]["kernel_id"].tolist() == list(range(7))
    pd.testing.assert_frame_equal(pieces["ncu_metrics"].astype(object), whole["ncu_metrics"].astype(object))


def test_a_reader_past_its_memory_limit_exits_after_its_reply(out_of_process, monkeypatch):
    """ncu_report never frees a kernel it has read: a reader whose resident memory passes
    FLASHSIGHT_NCU_READER_MIB answers, then exits, and the next request gets a fresh reader."""
    monkeypatch.setenv("FLASHSIGHT_NCU_READER_MIB", "1")
    pool = ncu_readers.ReaderPool(1)
    try:
        reads = [pool.read(ncu_file("dec.ncu-rep")) for _ in range(3)]
        assert pool.started == 3
        assert pool.idle.empty()  # none kept: each exited after its reply
    finally:
        pool.close()
    assert all(r["ncu_metrics"].equals(reads[0]["ncu_metrics"]) for r in reads)
