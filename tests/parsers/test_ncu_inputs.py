"""Bad or foreign ncu inputs give one clear InputError; the ncu command line; the metric catalog."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from flashsight.errors import InputError
from flashsight.profilers.ncu import LEAN_SECTIONS, ncu_profile_argv
from flashsight.schema import metric_catalog
from flashsight.parsers.ncu_report import read_ncu
from tests import DATA
from tests.ncu_data import ncu_file, ncu_tables

NSYS_SQLITE = DATA / "nsys" / "cpu_2022" / "cpu.sqlite"


def _cut(src: Path, dst: Path, keep: int | None = None, lines: int | None = None) -> Path:
    data = src.read_bytes()
    if lines is not None:
        data = b"".join(data.splitlines(keepends=True)[:lines])
    dst.write_bytes(data[:keep] if keep is not None else data)
    return dst


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.ncu-rep", "no such file"),
    (lambda d: d, "is a directory"),
    (lambda d: _write(d / "empty.csv", b""), "not an ncu CSV export"),
    (lambda d: _write(d / "notes.ncu-rep", b"just text\n"), "not an Nsight Compute report"),
    (lambda d: _write(d / "other.csv", b"a,b,c\n1,2,3\n"), "not an ncu CSV export"),
    (lambda d: _write(d / "binary.bin", bytes(range(256)) * 4), "not an ncu CSV export"),
    (lambda d: _cut(ncu_file("dec.ncu-rep"), d / "cut.ncu-rep", keep=1_500_000), "truncated Nsight Compute report"),
    (lambda d: _cut(ncu_file("dec.ncu-rep"), d / "cut2.ncu-rep", keep=3_130_770), "truncated Nsight Compute report"),
    (lambda d: _cut(ncu_file("dec_raw.csv"), d / "one_line.csv", lines=1), "without its units row"),
    (lambda d: _cut(ncu_file("dec_raw.csv"), d / "cut_row.csv", keep=150_000), "truncated ncu CSV"),
    (lambda d: _cut(ncu_file("ncsv_details.csv"), d / "cut_details.csv", keep=100_000), "truncated ncu CSV"),
])
def test_bad_inputs_raise_one_line_input_errors(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(InputError) as err:
        read_ncu(path)
    text = str(err.value)
    assert message in text and "\n" not in text and str(path) in text


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_an_nsys_export_is_not_taken_for_ncu(tmp_path):
    with pytest.raises(InputError, match="not an ncu CSV export"):
        read_ncu(shutil.copy(NSYS_SQLITE, tmp_path / "cpu.sqlite"))


def test_banner_lines_before_the_csv_are_skipped(tmp_path):
    """ncu writes '==PROF==' / '==WARNING==' lines to stdout; a redirected export starts with them."""
    page = tmp_path / "with_banner.csv"
    page.write_bytes(b"==WARNING== Found outstanding GPU clock reset, trying to revert...\n"
                     + ncu_file("dec_raw.csv").read_bytes())
    assert read_ncu(page)["ncu_metrics"]["value"].equals(ncu_tables("dec_raw.csv")["ncu_metrics"]["value"])


def test_a_misnamed_report_is_read_by_its_content(tmp_path):
    report = shutil.copy(ncu_file("mm.ncu-rep"), tmp_path / "report.bin")
    assert read_ncu(report)["ncu_kernels"]["short_name"].tolist() == [
        "distribution_elementwise_grid_stride_kernel"]


def test_lean_default_argv():
    argv = ncu_profile_argv(Path("/runs/j1/profile"), ["python3", "-m", "w"], ["decode/", "regex:pre.*/"])
    sections = [argv[i + 1] for i, a in enumerate(argv) if a == "--section"]
    assert sections == list(LEAN_SECTIONS)
    assert "--set" not in argv
    assert argv[argv.index("--metrics") + 1].split(",") == list(metric_catalog.EXTRA_METRICS_SM90)
    tail = argv[argv.index("--nvtx"):]
    assert tail == ["--nvtx", "--nvtx-include", "decode/", "--nvtx-include", "regex:pre.*/", "--export",
                    "/runs/j1/profile", "--force-overwrite", "--target-processes", "all", "python3", "-m", "w"]


def test_full_set_argv_with_extra_metrics():
    argv = ncu_profile_argv(Path("r"), ["t"], [], ncu_set="full", metrics=["a.sum", "dram__bytes_read.sum"],
                            extra_metrics=("dram__bytes_read.sum",))
    assert argv[:3] == ["ncu", "--set", "full"] and "--section" not in argv and "--nvtx" not in argv
    assert argv[argv.index("--metrics") + 1] == "dram__bytes_read.sum,a.sum"  # de-duplicated, order kept
    assert ncu_profile_argv(Path("r"), ["t"], [], sections=["SpeedOfLight"], extra_metrics=())[:3] == [
        "ncu", "--section", "SpeedOfLight"]


def test_catalog_candidates_cover_the_architectures():
    assert metric_catalog.candidates_of("dram_throughput_pct") == (
        "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed",  # SM 9.0
        "dram__throughput.avg.pct_of_peak_sustained_elapsed")  # SM 8.x
    names = {c.name for c in metric_catalog.COLUMNS}
    assert {"duration_ns", "sm_throughput_pct", "tensor_pipe_pct", "achieved_occupancy_pct",
            "registers_per_thread", "grid_size", "block_size"} <= names


@pytest.mark.parametrize("report", ["dec.ncu-rep", "h100/full.ncu-rep", "h100/subset.ncu-rep"])
def test_catalog_resolves_every_column_on_h100_reports(report):
    """What each capture actually filled, per column: the first candidate the report holds."""
    available = set(ncu_tables(report)["ncu_metrics"]["metric"].astype(str))
    resolved = metric_catalog.resolve(available)
    assert resolved["dram_throughput_pct"] == "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed"
    assert "dram__throughput.avg.pct_of_peak_sustained_elapsed" not in available  # absent on SM 9.0
    assert resolved["duration_ns"] == "gpu__time_duration.sum"
    assert resolved["tensor_pipe_pct"] == "sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active"
    catalog = ncu_tables(report)["ncu_catalog"]
    recorded = catalog[catalog["kernel_id"] == 0].set_index("column")["metric"]
    for column, metric in resolved.items():
        if column not in ("grid_size", "block_size"):
            assert recorded[column] == metric or (metric is None and pd.isna(recorded[column])), column


def test_dram_bytes_fall_back_to_rate_times_duration():
    """The details page has no DRAM byte counters, only 'Memory Throughput' (dram__bytes.sum.per_second) and
    'Duration': dram_bytes then comes from their product, and agrees with the raw page's exact counters to the
    page's 2 printed decimals."""
    details = ncu_tables("ncsv_details.csv")
    raw = ncu_tables("ncsv_raw.csv")["ncu_kernels"]
    catalog = details["ncu_catalog"]
    assert set(catalog.loc[catalog["column"] == "dram_bytes", "metric"]) == {
        "dram__bytes.sum.per_second × gpu__time_duration.sum"}
    estimate = details["ncu_kernels"]["dram_bytes"].astype(float)
    exact = raw["dram_bytes"].astype(float)
    # relative error allowed: half a printed digit of each factor (both printed with 2 decimals)
    d = details["ncu_details"]
    printed = {metric: d[d["metric"] == metric].set_index("kernel_id")["text"].str.replace(",", "").astype(float)
               for metric in ("dram__bytes.sum.per_second", "gpu__time_duration.sum")}
    allowed = sum(0.005 / p for p in printed.values()) * 1.01
    assert ((estimate - exact).abs() / exact <= allowed).all()
    assert set(raw.merge(ncu_tables("ncsv_raw.csv")["ncu_catalog"], on="kernel_id").query(
        "column == 'dram_bytes'")["metric"]) == {"dram__bytes_read.sum + dram__bytes_write.sum"}


def test_a_crash_of_the_ncu_report_module_is_a_one_line_error(tmp_path, monkeypatch):
    """Reports are read in a child process: a segfaulting ncu_report (2025.3.1 did) cannot take the caller down."""
    import sys

    from flashsight.parsers.ncu_report import IN_PROCESS_ENV, read_ncu_report_isolated

    crashing_python = tmp_path / "python"
    crashing_python.write_text("#!/bin/sh\nkill -SEGV $$\n")
    crashing_python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(crashing_python))
    monkeypatch.delenv(IN_PROCESS_ENV, raising=False)
    report = tmp_path / "x.ncu-rep"
    report.write_bytes(b"NVR\x00")
    with pytest.raises(InputError, match=r"x\.ncu-rep: the ncu_report module failed reading it \(signal 11"):
        read_ncu_report_isolated(report, None)  # no layout check: straight to the reader
