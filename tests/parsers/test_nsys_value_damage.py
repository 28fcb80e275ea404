"""Value-level damage in an nsys export (a start that is text or NULL, strings that are blobs) is one clear
InputError or a decoded name, never a traceback: copies of the real H100 capture with single values changed."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from click.testing import CliRunner

from flashsight.cli import main
from flashsight.errors import InputError
from flashsight.parsers.nsys_sqlite import read_nsys, write_nsys
from tests.nsys_report_compare import DATA

FI = DATA / "h100_fi" / "fi.sqlite"


def damaged(tmp_path, *statements: str):
    path = tmp_path / "damaged.sqlite"
    shutil.copyfile(FI, path)
    db = sqlite3.connect(path)
    for sql in statements:
        db.execute(sql)
    db.commit()
    db.close()
    return path


def _without_not_null(table: str) -> list[str]:  # the same rows in a table whose columns accept NULL
    return [f"CREATE TABLE t AS SELECT * FROM {table}", f"DROP TABLE {table}", f"ALTER TABLE t RENAME TO {table}"]


@pytest.mark.parametrize("statements, table", [
    (["UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET start = 'soon' WHERE rowid = 3"], "CUPTI_ACTIVITY_KIND_KERNEL"),
    ([*_without_not_null("CUPTI_ACTIVITY_KIND_KERNEL"), 'UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET "end" = NULL WHERE rowid = 5'],
     "CUPTI_ACTIVITY_KIND_KERNEL"),
    (["UPDATE CUPTI_ACTIVITY_KIND_RUNTIME SET start = X'00ff' WHERE rowid = 7"], "CUPTI_ACTIVITY_KIND_RUNTIME"),
    (["UPDATE CUPTI_ACTIVITY_KIND_MEMCPY SET start = 1.5 WHERE rowid = 1"], "CUPTI_ACTIVITY_KIND_MEMCPY"),
    (['UPDATE NVTX_EVENTS SET "end" = \'later\' WHERE rowid = 2'], "NVTX_EVENTS"),
    ([*_without_not_null("NVTX_EVENTS"), "UPDATE NVTX_EVENTS SET start = NULL WHERE rowid = 1"], "NVTX_EVENTS"),
])
def test_a_damaged_time_is_one_input_error_naming_the_table(tmp_path, statements, table):
    path = damaged(tmp_path, *statements)
    with pytest.raises(InputError, match=rf"damaged\.sqlite: {table} has 1 start/end values that are NULL or not"):
        read_nsys(path)
    with pytest.raises(InputError):
        write_nsys(path, tmp_path / "tables")
    assert not list((tmp_path / "tables").glob("*.parquet")) if (tmp_path / "tables").exists() else True
    result = CliRunner().invoke(main, ["parse", str(path), "--out", str(tmp_path / "cli")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"{table} has 1 start/end values" in result.output


def test_blob_strings_become_decoded_names(tmp_path):
    row = sqlite3.connect(FI).execute(
        "SELECT demangledName FROM CUPTI_ACTIVITY_KIND_KERNEL WHERE rowid = 1").fetchone()[0]
    path = damaged(tmp_path, f"UPDATE StringIds SET value = CAST('RMS' AS BLOB) || X'ff' WHERE id = {row}",
                   "UPDATE NVTX_EVENTS SET text = X'6869ff', textId = NULL WHERE rowid = 1")
    tables = read_nsys(path)
    assert "RMS\ufffd" in set(tables["gpu_kernels"]["name"].astype(str))
    assert "hi\ufffd" in set(tables["nvtx_ranges"]["name"].astype(str))


def test_a_text_grid_size_is_a_missing_value(tmp_path):
    path = damaged(tmp_path, "UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET gridX = 'wide' WHERE rowid = 2")
    k = read_nsys(path)["gpu_kernels"]
    assert k["grid_x"].isna().sum() == 1 and len(k) == 29
