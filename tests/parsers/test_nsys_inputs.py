"""Bad inputs: corrupt, truncated, foreign or missing files give one-line errors naming the file, and the
other inputs of the same parse still produce their tables. TARGET_INFO_SYSTEM_ENV never reaches outputs."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from flashsight.errors import FlashsightError, InputError
from flashsight.host.files import write_tables
from flashsight.parsers import read_inputs
from flashsight.parsers.nsys_sqlite import read_nsys
from flashsight.profilers import read_capture
from tests.nsys_report_compare import DATA

FI = DATA / "h100_fi" / "fi.sqlite"


def _bad_files(tmp_path):
    raw = FI.read_bytes()
    (tmp_path / "head.sqlite").write_bytes(raw[:64 * 1024])  # header and schema, tables cut off
    (tmp_path / "half.sqlite").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "text.sqlite").write_text("Time (%),Total Time (ns)\n1,2\n")
    (tmp_path / "empty.sqlite").write_bytes(b"")
    db = sqlite3.connect(tmp_path / "foreign.sqlite")
    db.execute("CREATE TABLE measurements (t INTEGER, value REAL)")
    db.commit()
    db.close()
    return {
        "head.sqlite": "corrupt or truncated", "half.sqlite": "corrupt or truncated",
        "text.sqlite": "not an SQLite file", "empty.sqlite": "not an SQLite file",
        "foreign.sqlite": "not an nsys export", "missing.sqlite": "no such file",
    }


def test_bad_files_give_one_line_input_errors_naming_the_file(tmp_path):
    for name, reason in _bad_files(tmp_path).items():
        with pytest.raises(InputError) as err:
            read_nsys(tmp_path / name)
        message = str(err.value)
        assert message.startswith(str(tmp_path / name)) and reason in message, message
        assert "\n" not in message


def test_parse_keeps_the_good_inputs_and_reports_the_bad(tmp_path):
    _bad_files(tmp_path)
    good = tmp_path / "fi.sqlite"
    shutil.copy(FI, good)
    paths = [tmp_path / "half.sqlite", good, tmp_path / "foreign.sqlite"]
    tables, failures = read_inputs(paths)
    assert set(failures) == {str(tmp_path / "half.sqlite"), str(tmp_path / "foreign.sqlite")}
    assert len(tables["gpu_kernels"]) == 29 and set(tables["gpu_kernels"]["source_file"]) == {str(good)}
    assert all(isinstance(v, str) and "\n" not in v for v in failures.values())


def test_missing_capture_of_a_report_stem(tmp_path):
    with pytest.raises(FlashsightError, match="no such file"):
        read_capture(tmp_path / "nothing.nsys-rep")


def test_profiled_environment_never_reaches_the_outputs(tmp_path):
    """Put a secret into TARGET_INFO_SYSTEM_ENV, parse, write every table: the secret is nowhere."""
    db_path = tmp_path / "fi.sqlite"
    shutil.copy(FI, db_path)
    db = sqlite3.connect(db_path)
    cols = [r[1] for r in db.execute("PRAGMA table_info(TARGET_INFO_SYSTEM_ENV)")]
    assert cols, "the export has a TARGET_INFO_SYSTEM_ENV table"
    secret = "FLASHSIGHT_TEST_TOKEN=hunter2-6f1c"
    values = {c: None for c in cols}
    if "nameId" in cols:  # 2025.x stores the variable through StringIds
        db.execute("INSERT INTO StringIds (id, value) VALUES (987654321, ?)", (secret,))
        values["nameId"] = 987654321
    for c in cols:
        if values[c] is None:
            values[c] = secret if c in ("name", "value", "text") else 0
    db.execute(f"INSERT INTO TARGET_INFO_SYSTEM_ENV ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
               list(values.values()))
    db.commit()
    db.close()
    tables = read_nsys(db_path)
    out = tmp_path / "out"
    for path in write_tables(tables, out, formats=("parquet", "csv")):
        assert b"hunter2-6f1c" not in path.read_bytes(), path
