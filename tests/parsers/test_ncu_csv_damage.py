"""ncu CSV pages that lost rows or columns, or carry odd cells, are refused by name or read right (issue 13).
Data: tests/data/ncu dec_raw.csv (2 kernels), ncsv_details.csv (6 kernels), ncsv_source_rms.csv."""

from __future__ import annotations

import csv
import io
import math

import pandas as pd
import pytest

from flashsight.errors import InputError
from flashsight.parsers.ncu_report import read_ncu
from tests.ncu_data import ncu_file, ncu_tables


def _rows(name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(ncu_file(name).read_text())))


def _write_rows(path, rows) -> object:
    with open(path, "w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)
    return path


def _refused(path, message: str) -> str:
    with pytest.raises(InputError) as err:
        read_ncu(path)
    text = str(err.value)
    assert message in text and text.startswith(str(path)) and "\n" not in text, text
    return text


def test_a_raw_page_without_its_units_row(tmp_path):
    """`sed 2d dec_raw.csv` lost a kernel and read duration_ns=7 (the first kernel taken for units)."""
    lines = ncu_file("dec_raw.csv").read_text().splitlines(keepends=True)
    path = tmp_path / "nounits.csv"
    path.write_text(lines[0] + "".join(lines[2:]))
    _refused(path, "ncu raw CSV without its units row (row 2 holds a kernel: ID '0')")


def test_a_header_only_raw_page(tmp_path):
    """Was `KeyError: 'kernel_id'`."""
    lines = ncu_file("dec_raw.csv").read_text().splitlines(keepends=True)
    (tmp_path / "h1.csv").write_text(lines[0])
    (tmp_path / "h2.csv").write_text("".join(lines[:2]))
    _refused(tmp_path / "h1.csv", "without its units row")
    _refused(tmp_path / "h2.csv", "without any kernel row")


def test_the_same_kernel_id_twice(tmp_path):
    rows = _rows("dec_raw.csv")
    _refused(_write_rows(tmp_path / "twice.csv", rows + [rows[2]]), "kernel ID 0 twice")


@pytest.mark.parametrize("column", ["Section Name", "Metric Name", "Metric Value", "Rule Name"])
def test_a_details_page_without_one_of_its_columns_is_not_a_raw_page(tmp_path, column):
    """Without `Section Name` it was read as a raw page: 593 bogus kernels (the file has 6); without
    `Metric Name` it was `KeyError`."""
    rows = _rows("ncsv_details.csv")
    assert len({r[0] for r in rows[1:]}) == 6 and len(rows) - 2 == 593  # header, then a row taken for units
    i = rows[0].index(column)
    path = _write_rows(tmp_path / "details.csv", [r[:i] + r[i + 1:] for r in rows])
    _refused(path, f"ncu details CSV without column(s) {column}")


@pytest.mark.parametrize("text", ["inf", "1e999", "-inf", "1e300"])
def test_a_metric_value_no_int64_holds(tmp_path, text):
    """inf and 1e999 were `OverflowError: cannot convert float infinity to integer`. The metric keeps what the
    page says; the integer column it fills is null rather than a wrong number."""
    rows = _rows("dec_raw.csv")
    k = rows[0].index("gpu__time_duration.sum")
    rows[2][k] = text
    tables = read_ncu(_write_rows(tmp_path / "big.csv", rows))
    kernels, metrics = tables["ncu_kernels"], tables["ncu_metrics"]
    assert kernels["duration_ns"].isna().tolist() == [True, False]
    assert kernels["duration_ns"].iloc[1] == ncu_tables("dec_raw.csv")["ncu_kernels"]["duration_ns"].iloc[1]
    value = metrics.loc[(metrics["kernel_id"] == 0) & (metrics["metric"] == "gpu__time_duration.sum"), "value"]
    expected = float(text) * 1e3  # the page's unit is usecond
    assert value.iloc[0] == expected or (math.isinf(expected) and math.isinf(value.iloc[0]))
    assert len(kernels) == 2 and len(metrics) == len(ncu_tables("dec_raw.csv")["ncu_metrics"])


@pytest.mark.parametrize("page", ["dec_raw.csv", "ncsv_details.csv", "ncsv_source_rms.csv"])
def test_a_byte_order_mark_is_accepted(tmp_path, page):
    """A page saved with a UTF-8 BOM (Excel, PowerShell) was 'not an ncu CSV export'."""
    path = tmp_path / page
    path.write_bytes(b"\xef\xbb\xbf" + ncu_file(page).read_bytes())
    got, want = read_ncu(path), ncu_tables(page)
    assert {k: len(v) for k, v in got.items()} == {k: len(v) for k, v in want.items()}
    for name in got:
        pd.testing.assert_frame_equal(got[name], want[name])


def test_a_source_page_row_of_the_wrong_shape(tmp_path):
    rows = _rows("ncsv_source_rms.csv")
    rows[5] = rows[5][:10]
    _refused(_write_rows(tmp_path / "src.csv", rows), "has 10 fields, its header 67")
    text = ncu_file("ncsv_source_rms.csv").read_text()
    (tmp_path / "quote.csv").write_text(text[:5000] + '"unclosed')
    with pytest.raises(InputError):
        read_ncu(tmp_path / "quote.csv")


def test_a_raw_page_cut_between_two_cells(tmp_path):
    """Found by the fuzz suite: pandas fills a row cut after a closing quote with '' cells, so the cut kernel
    read as a kernel with most metrics empty."""
    text = ncu_file("dec_raw.csv").read_text()
    last_row = text.rindex("\n", 0, len(text) - 1) + 1
    cut = text.index('",', last_row + 5_000) + 2  # just after a cell, in the middle of the last kernel's row
    (tmp_path / "cut.csv").write_text(text[:cut])
    _refused(tmp_path / "cut.csv", "truncated ncu CSV (row 4 has ")


def test_a_details_page_cut_inside_its_last_kernel(tmp_path):
    lines = ncu_file("ncsv_details.csv").read_text().splitlines(keepends=True)
    (tmp_path / "cut.csv").write_text("".join(lines[:-40]))  # a row end inside kernel 5's rows
    _refused(tmp_path / "cut.csv", "truncated ncu details CSV (its last kernel, ID 5, has ")


def test_a_source_page_cut_at_a_row_end(tmp_path):
    lines = ncu_file("ncsv_source_rms.csv").read_text().splitlines(keepends=True)
    (tmp_path / "cut.csv").write_text("".join(lines[:-7]))
    _refused(tmp_path / "cut.csv", "truncated ncu source CSV (the SASS of FusedAddRMSNormKernel stops at ")
