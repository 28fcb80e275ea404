"""Several inputs as one table set (issue 13): a capture given twice is read once, kernel_id joins across
inputs, and paths that are not regular files say what they are without opening them (a FIFO would hang)."""

from __future__ import annotations

import os
import shutil
import socket

import pytest

from flashsight.errors import InputError
from flashsight.parsers import read_inputs
from flashsight.parsers.input_file import check_input_file
from tests.ncu_data import ncu_file
from tests.nsys_report_compare import DATA

FI = DATA / "h100_fi" / "fi.sqlite"


def test_the_same_export_twice_is_read_once(tmp_path):
    """`parse X.sqlite X.sqlite` doubled every table."""
    copy = shutil.copy(FI, tmp_path / "copy.sqlite")
    link = tmp_path / "link.sqlite"
    link.symlink_to(FI)
    notes = []
    tables, failures = read_inputs([FI, FI, copy, link], notes=notes)
    assert not failures
    assert len(tables["gpu_kernels"]) == 29 and set(tables["gpu_kernels"]["source_file"]) == {str(FI)}
    skipped = [n for n in notes if n.level == "warning"]
    assert [n.path for n in skipped] == [str(FI), str(copy), str(link)]
    assert all(n.text == f"the same capture as {FI}: read once" for n in skipped)


def test_kernel_ids_are_unique_across_inputs_and_join_right():
    """kernel_id restarted in each input, so joining two reports' ncu_metrics to ncu_kernels multiplied rows."""
    dec, mm = ncu_file("dec_raw.csv"), ncu_file("mm_raw.csv")
    tables, failures = read_inputs([dec, mm])
    assert not failures
    kernels, metrics = tables["ncu_kernels"], tables["ncu_metrics"]
    assert kernels["kernel_id"].tolist() == [0, 1, 2] and kernels["ncu_id"].tolist() == [0, 1, 0]
    assert kernels["kernel_id"].is_unique
    joined = metrics.merge(kernels[["kernel_id", "source_file"]], on="kernel_id", suffixes=("", "_k"))
    assert len(joined) == len(metrics) and (joined["source_file"] == joined["source_file_k"]).all()
    for table in ("warp_stalls", "ncu_catalog"):
        assert set(tables[table]["kernel_id"]) == {0, 1, 2}
    one = read_inputs([mm])[0]["ncu_kernels"]
    assert one["kernel_id"].tolist() == one["ncu_id"].tolist() == [0]  # alone, kernel_id is ncu's own ID


def test_what_was_read_is_said_per_input():
    notes = []
    read_inputs([ncu_file("dec_raw.csv"), FI], notes=notes)
    assert [str(n) for n in notes] == [f"{ncu_file('dec_raw.csv')}: 2 ncu kernels",
                                       f"{FI}: 29 GPU kernels, 5 NVTX ranges"]


def _check(path) -> str:
    with pytest.raises(InputError) as err:
        check_input_file(path)
    assert "\n" not in str(err.value) and str(err.value).startswith(f"{path}: ")
    return str(err.value)[len(str(path)) + 2:]


def test_paths_that_are_not_regular_files_say_what_they_are(tmp_path):
    """FIFOs hung `parse`; symlink loops, FIFOs and /dev/null were 'no such file' or 'not recognised'."""
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.sqlite"
    loop.symlink_to(tmp_path / "loop2.sqlite")
    (tmp_path / "loop2.sqlite").symlink_to(loop)
    dangling = tmp_path / "gone.ncu-rep"
    dangling.symlink_to(tmp_path / "never.ncu-rep")
    sock_path = tmp_path / "s.sqlite"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        assert _check(fifo) == "is a FIFO (named pipe), not a capture"
        assert _check(sock_path) == "is a socket, not a capture"
    finally:
        sock.close()
    assert _check(loop) == "a symlink loop (too many levels of symbolic links)"
    assert _check(dangling) == f"a symlink to {tmp_path / 'never.ncu-rep'}, which does not exist"
    assert _check("/dev/null") == "is a character device, not a capture"
    assert _check(tmp_path) == "is a directory, not a capture (give the .sqlite/.nsys-rep/.ncu-rep/.csv)"
    assert _check(tmp_path / ("x" * 300 + ".csv")) == "file name too long"
    assert _check(tmp_path / "missing.csv") == "no such file"
    tables, failures = read_inputs([fifo, loop, "/dev/null", FI])
    assert len(failures) == 3 and len(tables["gpu_kernels"]) == 29


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file(tmp_path):
    path = shutil.copy(FI, tmp_path / "fi.sqlite")
    os.chmod(path, 0)
    assert _check(path) == "permission denied"

