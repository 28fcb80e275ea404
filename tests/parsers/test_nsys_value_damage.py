"""Value-level damage in an nsys export (a start that is text or NULL, a blob string, a text grid size) through
the streaming path: write_nsys and `flashsight parse` refuse it with the one line read_nsys gives (the checks of
nsys_checks, issue 13), and leave no Parquet behind. Copies of the real H100 capture with single values changed.
(The scale branch first decoded blob strings and read a text grid size as missing; issue 13's checks, which
refuse both, were kept.)"""

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


@pytest.mark.parametrize("statements, message", [
    (["UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET start = 'soon' WHERE rowid = 3"],
     "CUPTI_ACTIVITY_KIND_KERNEL.start holds text 'soon' in row 3"),
    ([*_without_not_null("CUPTI_ACTIVITY_KIND_KERNEL"), 'UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET "end" = NULL WHERE rowid = 5'],
     "CUPTI_ACTIVITY_KIND_KERNEL.end holds NULL in row 5"),
    (["UPDATE CUPTI_ACTIVITY_KIND_RUNTIME SET start = X'00ff' WHERE rowid = 7"],
     "CUPTI_ACTIVITY_KIND_RUNTIME.start holds a blob in row 7"),
    (["UPDATE CUPTI_ACTIVITY_KIND_MEMCPY SET start = 1.5 WHERE rowid = 1"],
     "CUPTI_ACTIVITY_KIND_MEMCPY.start holds a real number 1.5 in row 1"),
    (['UPDATE NVTX_EVENTS SET "end" = \'later\' WHERE rowid = 2'], "NVTX_EVENTS.end holds text 'later' in row 2"),
    ([*_without_not_null("NVTX_EVENTS"), "UPDATE NVTX_EVENTS SET start = NULL WHERE rowid = 1"],
     "NVTX_EVENTS.start holds NULL in row 1"),
    (["UPDATE NVTX_EVENTS SET text = X'6869ff', textId = NULL WHERE rowid = 1"], "NVTX_EVENTS.text holds a blob"),
    (["UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET gridX = 'wide' WHERE rowid = 2"],
     "CUPTI_ACTIVITY_KIND_KERNEL.gridX holds text 'wide' in row 2"),
])
def test_damaged_values_are_one_line_for_every_reader(tmp_path, statements, message):
    path = damaged(tmp_path, *statements)
    with pytest.raises(InputError) as err:
        read_nsys(path)
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    with pytest.raises(InputError, match="damaged"):
        write_nsys(path, tmp_path / "tables")
    assert not list((tmp_path / "tables").glob("*.parquet")) if (tmp_path / "tables").exists() else True
    result = CliRunner().invoke(main, ["parse", str(path), "--out", str(tmp_path / "cli")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert message in result.output
