"""Real nsys, no GPU: profile a CPU-only NVTX script, import the .qdstrm, export, parse, and compare with
nsys's own nvtx_sum of the same export. Runs in CI (.ci/install-nsys.sh installs Debian's nsys); skipped
only where nsys is absent outside CI, and a failure in CI when nsys is missing there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flashsight.profilers import nsys as nsys_orch
from flashsight.host import procs
from flashsight.analysis import nsys_summaries as nsys_stats
from flashsight.profilers import read_capture
from flashsight.parsers.nsys_sqlite import read_nsys
from tests.nsys_report_compare import DATA, assert_same_rows, read_nsys_csv

@pytest.fixture(scope="module")
def capture(nsys, tmp_path_factory):
    out = tmp_path_factory.mktemp("nsys_live")
    stem = out / "cpu"
    done = nsys_orch.profile(stem, [sys.executable, str(DATA / "cpu_nvtx.py")], out / "profile.log",
                             trace="nvtx", timeout_s=180)
    assert done.ok, f"nsys profile failed ({done.describe_failure()}):\n{done.log_tail(30)}"
    return stem


def test_profile_import_export_and_parse(capture):
    sqlite = nsys_orch.to_sqlite(capture, timeout_s=180)
    assert sqlite == capture.with_suffix(".sqlite") and sqlite.is_file()
    r = read_nsys(sqlite)["nvtx_ranges"]
    counts = r.groupby([r["domain"].astype(object).fillna(""), r["name"].astype(str), r["style"].astype(str)]).size()
    assert counts.to_dict() == {
        ("", "outer", "PushPop"): 2, ("", "inner", "PushPop"): 4, ("", "se_same", "StartEnd"): 1,
        ("", "se_cross", "StartEnd"): 1, ("flashsight.cpu", "phase", "PushPop"): 1,
        ("flashsight.cpu", "helper_work", "PushPop"): 3,
    }
    inner = r[r["name"] == "inner"]
    assert (inner["depth"] == 1).all() and set(inner["nvtx_path"].astype(str)) == {"outer/inner"}
    outer_ids = set(r.loc[r["name"] == "outer", "range_id"])
    assert set(inner["parent"]) == outer_ids
    helper = r[r["name"] == "helper_work"]
    assert helper["tid"].nunique() == 1 and helper["tid"].iloc[0] != inner["tid"].iloc[0]
    cross = r[r["name"] == "se_cross"].iloc[0]
    assert cross["end_tid"] == helper["tid"].iloc[0]  # started on the main thread, ended on `helper`
    assert ((r["end_ns"] - r["start_ns"]) == r["duration_ns"]).all() and (r["duration_ns"] > 0).all()


def test_nvtx_sum_equals_this_nsys(capture, nsys, tmp_path):
    sqlite = nsys_orch.to_sqlite(capture, timeout_s=180)
    report = "nvtxsum" if nsys_orch_version(sqlite) < (2023,) else "nvtx_sum"
    prefix = tmp_path / "ref"
    done = procs.run_logged([nsys.path, "stats", "-r", report, "-f", "csv", "--force-overwrite", "true",
                             "-o", str(prefix), str(sqlite)], tmp_path / "stats.log", timeout_s=180)
    assert done.ok, done.log_tail()
    ours = nsys_stats.nvtx_sum(read_nsys(sqlite))
    assert_same_rows(ours, read_nsys_csv(Path(f"{prefix}_{report}.csv")), ["Range", "Style"])


def nsys_orch_version(sqlite):
    from flashsight.parsers.nsys_sqlite import open_export, version_tuple

    export = open_export(sqlite)
    export.conn.close()
    return version_tuple(export.version)


def test_read_capture_accepts_the_report_and_the_qdstrm(capture, tmp_path):
    """A .qdstrm alone goes through the importer; a .nsys-rep alone through nsys export."""
    names = {"outer", "inner", "se_same", "se_cross", "phase", "helper_work"}
    only_qdstrm = tmp_path / "q"
    only_qdstrm.mkdir()
    qdstrm = capture.with_suffix(".qdstrm")
    if not qdstrm.is_file():
        pytest.skip("this nsys imported its own .qdstrm")
    shutil.copy(qdstrm, only_qdstrm / "cpu.qdstrm")
    tables = read_capture(only_qdstrm / "cpu.qdstrm")
    assert set(tables["nvtx_ranges"]["name"].astype(str)) == names
    assert (only_qdstrm / "cpu.nsys-rep").is_file() and (only_qdstrm / "cpu.sqlite").is_file()
    only_rep = tmp_path / "r"
    only_rep.mkdir()
    shutil.copy(only_qdstrm / "cpu.nsys-rep", only_rep / "cpu.nsys-rep")
    assert set(read_capture(only_rep / "cpu.nsys-rep")["nvtx_ranges"]["name"].astype(str)) == names


def test_no_agent_left_behind(capture):
    assert not nsys_orch.agent_pids() - _agents_before_tests, "an nsys --start-agent outlived the run"


_agents_before_tests = nsys_orch.agent_pids()


def test_argv_has_the_lean_defaults(tmp_path):
    argv = nsys_orch.nsys_profile_argv(tmp_path / "x", ["python3", "w.py"], nsys="/opt/nsys")
    assert argv[:2] == ["/opt/nsys", "profile"]
    for flag in ("--trace=cuda,nvtx", "--sample=none", "--cpuctxsw=none", "--force-overwrite=true"):
        assert flag in argv
    assert argv[-4:] == ["-o", str(tmp_path / "x"), "python3", "w.py"]
    extra = nsys_orch.nsys_profile_argv(tmp_path / "x", ["t"], trace="nvtx", extra=("--cuda-graph-trace=node",),
                                        nsys="/opt/nsys")
    assert "--trace=nvtx" in extra and "--cuda-graph-trace=node" in extra


def test_ending_new_agents_ends_only_the_new_ones(tmp_path):
    """A stand-in agent (a Python that sleeps, started as `nsys -c ... --start-agent`) that appears inside
    the block is ended by pid; one that was already running is left alone."""
    fake = tmp_path / "nsys"
    fake.symlink_to(os.path.realpath(sys.executable))
    argv = [str(fake), "-S", "-c", "import time; time.sleep(60)", "--start-agent"]
    old = subprocess.Popen(argv)
    try:
        time.sleep(0.3)
        assert old.pid in nsys_orch.agent_pids()
        with nsys_orch.ending_new_agents():
            new = subprocess.Popen(argv)
            time.sleep(0.3)
            assert new.pid in nsys_orch.agent_pids()
        assert new.wait(timeout=10) != 0  # ended by a signal
        assert old.poll() is None, "the agent that was there before must survive"
    finally:
        old.kill()
        old.wait()
