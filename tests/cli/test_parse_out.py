"""`flashsight parse --out DIR` replaces DIR's table set as a whole (issue 13): no table of an earlier parse
survives, a failed parse leaves the earlier set intact, and an --out that cannot hold tables is one line."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from flashsight.cli import main
from tests.ncu_data import ncu_file
from tests.nsys_report_compare import DATA

FI = DATA / "h100_fi" / "fi.sqlite"
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "h100"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _tables(folder: Path) -> dict[str, int]:
    return {p.name: pq.ParquetFile(p).metadata.num_rows for p in sorted(folder.iterdir())}


def test_a_reused_out_keeps_no_table_of_the_earlier_parse(tmp_path):
    """The issue: a report with source counters, then a raw page without them, into the same --out: the first
    parse's ncu_source.parquet survived and `stalls` showed its hot lines under the second's kernels."""
    out = tmp_path / "T"
    assert run("parse", ncu_file("dec.ncu-rep"), "--out", out).exit_code == 0
    assert "ncu_source.parquet" in _tables(out) and "hot line" in run("stalls", out).output
    result = run("parse", ncu_file("dec_raw.csv"), "--out", out)
    assert result.exit_code == 0, result.output
    alone = tmp_path / "alone"
    assert run("parse", ncu_file("dec_raw.csv"), "--out", alone).exit_code == 0
    assert _tables(out) == _tables(alone) and "ncu_source.parquet" not in _tables(out)
    assert _tables(out)["ncu_kernels.parquet"] == 2
    stalls = run("stalls", out)
    assert stalls.exit_code == 0 and "BatchDecodeWithPagedKVCacheKernel" in stalls.output
    assert "hot line" not in stalls.output  # the page has no source counters: no SASS lines to show


@pytest.mark.skipif(not (SHARED / "fi2.ncu-rep").exists(), reason="needs the shared H100 fixtures")
def test_the_issue_example_with_the_shared_captures(tmp_path):
    """fi2.ncu-rep then dec_raw.csv: `stalls` showed fi2's HMMA.16816.F32 lines under the decode kernel."""
    out = tmp_path / "T"
    assert run("parse", SHARED / "fi2.ncu-rep", "--out", out).exit_code == 0
    assert "HMMA.16816.F32" in run("stalls", out).output
    assert run("parse", SHARED / "dec_raw.csv", "--out", out).exit_code == 0
    assert "ncu_source.parquet" not in _tables(out)
    assert "HMMA" not in run("stalls", out).output


def test_a_failed_parse_leaves_the_earlier_set_as_it_was(tmp_path):
    out = tmp_path / "T"
    assert run("parse", FI, "--out", out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,Kernel Name\n")
    result = run("parse", ncu_file("dec_raw.csv"), bad, "--out", out)
    assert result.exit_code == 1
    assert result.output.splitlines()[-2:] == [
        f"flashsight: error: {bad}: ncu raw CSV without its units row",
        f"flashsight: error: 1 of 2 inputs failed: nothing written to {out}"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["T", "bad.csv"]  # no staging folder left behind


def test_the_same_capture_twice_is_read_once(tmp_path):
    result = run("parse", FI, FI, "--out", tmp_path / "T")
    assert result.exit_code == 0
    assert _tables(tmp_path / "T")["gpu_kernels.parquet"] == 29
    assert f"flashsight: warning: {FI}: the same capture as {FI}: read once" in result.output


def test_an_out_that_cannot_hold_tables_is_one_line(tmp_path):
    """--out naming a file or /dev/null was a FileExistsError traceback; a name over 255 bytes OSError."""
    (tmp_path / "afile").write_text("x")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "sweep.db").write_text("")
    cases = {
        tmp_path / "afile": "--out is a file; give a folder for the tables",
        Path("/dev/null"): "--out is not a folder (a device, FIFO or socket)",
        tmp_path / ("x" * 300): "unusable as --out (File name too long)",
        run_dir: "--out holds more than tables (sweep.db); parse replaces the whole folder: give a new one",
        Path("/sys/flashsight-test"): "cannot write there",
    }
    for out, message in cases.items():
        result = run("parse", FI, "--out", out)
        assert result.exit_code != 0 and result.output.count("\n") == 1, result.output
        assert result.output.startswith("flashsight: error: ") and message in result.output, result.output
    assert (run_dir / "sweep.db").exists() and sorted(p.name for p in run_dir.iterdir()) == ["sweep.db"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_parent(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    result = run("parse", FI, "--out", ro / "T")
    assert result.exit_code != 0 and "cannot write there (Permission denied" in result.output


def test_files_follow_the_umask_and_json_is_json(tmp_path):
    """mkstemp made every output 0600; --format json wrote JSON Lines into *.json."""
    old = os.umask(0o022)
    try:
        result = run("parse", ncu_file("dec_raw.csv"), "--out", tmp_path / "T", "--format", "json",
                     "--format", "jsonl", "--format", "parquet")
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    out = tmp_path / "T"
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o644}
    kernels = json.loads((out / "ncu_kernels.json").read_text())
    assert isinstance(kernels, list) and [k["kernel_id"] for k in kernels] == [0, 1]
    lines = (out / "ncu_kernels.jsonl").read_text().splitlines()
    assert [json.loads(line)["kernel_id"] for line in lines] == [0, 1]
    assert len(pd.read_parquet(out / "ncu_kernels.parquet")) == 2


def test_a_failed_parse_creates_no_folder(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,Kernel Name\n")
    result = run("parse", bad, "--out", tmp_path / "a" / "b")
    assert result.exit_code == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]
