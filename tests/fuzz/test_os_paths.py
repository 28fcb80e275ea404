"""Fuzz: hostile paths as inputs, --out folders and plan files (FIFOs, devices, sockets, symlink loops,
dangling links, names too long, paths through a file, huge sparse files, empty files). Each must be one line
naming the path, never a hang: FIFOs also run in a subprocess with a timeout, the way a user meets them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.captures import SOURCES, baseline
from tests.fuzz.harness import check, invoke

ROOT = Path(__file__).resolve().parents[2]
GOOD = SOURCES["fi.sqlite"]


def _fifo(d: Path, name: str) -> Path:
    os.mkfifo(d / name)
    return d / name


def _loop(d: Path, name: str) -> Path:
    (d / name).symlink_to(d / f"{name}.other")
    (d / f"{name}.other").symlink_to(d / name)
    return d / name


def _dangling(d: Path, name: str) -> Path:
    (d / name).symlink_to(d / "never-there")
    return d / name


def _socket(d: Path, name: str) -> Path:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(d / name))
    s.close()
    return d / name


def _sparse(d: Path, name: str) -> Path:
    with open(d / name, "wb") as f:
        f.truncate(3 << 30)  # 3 GiB of holes: reading it whole would be the bug
    return d / name


def _empty(d: Path, name: str) -> Path:
    (d / name).write_bytes(b"")
    return d / name


def _one_byte(d: Path, name: str) -> Path:
    (d / name).write_bytes(b"S")
    return d / name


def _through_a_file(d: Path, name: str) -> Path:
    (d / "plain").write_text("x")
    return d / "plain" / name


INPUTS = [
    ("fifo.csv", _fifo), ("fifo.sqlite", _fifo), ("fifo.ncu-rep", _fifo), ("fifo", _fifo),
    ("loop.sqlite", _loop), ("loop.csv", _loop), ("gone.ncu-rep", _dangling), ("gone.sqlite", _dangling),
    ("sock.csv", _socket), ("big.csv", _sparse), ("big.sqlite", _sparse), ("big.ncu-rep", _sparse),
    ("e.csv", _empty), ("e.sqlite", _empty), ("e.ncu-rep", _empty), ("e.bin", _empty), ("b.ncu-rep", _one_byte),
    ("b.sqlite", _one_byte), ("x.csv", _through_a_file), ("n" * 300 + ".csv", lambda d, n: d / n),
    ("dir.sqlite", lambda d, n: ((d / n).mkdir(), d / n)[1]),
    ("/dev/null", lambda d, n: Path(n)), ("/dev/zero", lambda d, n: Path(n)), ("/dev/urandom", lambda d, n: Path(n)),
]


@pytest.mark.parametrize("name, make", INPUTS, ids=[n[:20] for n, _ in INPUTS])
def test_hostile_input_path(tmp_path, name, make):
    path = make(tmp_path, name)
    out = tmp_path / "out"
    for command in (["parse", path, "--out", out], ["stalls", path]):
        ran = invoke(command, out, seconds=20)
        check("path as input", f"{command[0]} {name[:40]}", ran, named=str(path), baseline={}, out=out)


OUTS = [
    ("afile", lambda d: ((d / "afile").write_text("x"), d / "afile")[1]),
    ("fifo", lambda d: _fifo(d, "fifo")), ("loop", lambda d: _loop(d, "loop")),
    ("socket", lambda d: _socket(d, "sock")), ("/dev/null", lambda d: Path("/dev/null")),
    ("long", lambda d: d / ("o" * 300)), ("through a file", lambda d: _through_a_file(d, "T")),
    ("/sys", lambda d: Path("/sys/flashsight-fuzz")), ("/proc", lambda d: Path("/proc/flashsight-fuzz/T")),
    ("run dir", lambda d: ((d / "run").mkdir(), (d / "run" / "sweep.db").write_text(""), d / "run")[2]),
    ("the input", lambda d: GOOD),
]


@pytest.mark.parametrize("label, make", OUTS, ids=[label for label, _ in OUTS])
def test_hostile_out(tmp_path, label, make):
    out = make(tmp_path)
    try:
        before = sorted(os.listdir(out)) if out.is_dir() and not out.is_symlink() else None
    except OSError:  # a name too long, a loop
        before = None
    ran = invoke(["parse", GOOD, "--out", out], None, seconds=20)
    check("path as --out", label, ran, named=str(out), baseline={}, out=None)
    if before is not None:
        assert sorted(os.listdir(out)) == before  # a folder that is not ours is left as it was


def test_a_symlink_to_a_table_folder_is_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    ran = invoke(["parse", GOOD, "--out", link], real)
    check("path as --out", "symlink to a folder", ran, named=str(GOOD), baseline=baseline("fi.sqlite")[0],
          out=real)
    assert link.is_symlink()


PLANS = [("fifo.toml", _fifo), ("loop.toml", _loop), ("gone.toml", _dangling), ("big.toml", _sparse),
         ("e.toml", _empty), ("dir.toml", lambda d, n: ((d / n).mkdir(), d / n)[1]), ("/dev/null", lambda d, n: Path(n)),
         ("/dev/zero", lambda d, n: Path(n))]


@pytest.mark.parametrize("name, make", PLANS, ids=[n for n, _ in PLANS])
def test_hostile_plan_path(tmp_path, name, make):
    plan = make(tmp_path, name)
    ran = invoke(["sweep", plan, "--dry-run", "--out", tmp_path / "run"], None, seconds=20)
    check("path as plan", name, ran, named=str(plan), baseline=None, out=tmp_path / "run")
    assert ran.exit_code != 0


@pytest.mark.parametrize("args", [["parse", "{fifo}", "--out", "{tmp}/out"], ["stalls", "{fifo}"],
                                  ["sweep", "{fifo}", "--dry-run"]], ids=["parse", "stalls", "sweep"])
def test_a_fifo_in_a_real_process_never_hangs(tmp_path, args):
    """In-process the deadline would catch a hang; here the real `python -m flashsight` must exit by itself."""
    from tests.fuzz.harness import Outcome, RESULTS

    fifo = _fifo(tmp_path, "pipe.csv" if args[0] != "sweep" else "pipe.toml")
    argv = [a.format(fifo=fifo, tmp=tmp_path) for a in args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run([sys.executable, "-m", "flashsight", *argv], capture_output=True, text=True,
                              timeout=60, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        RESULTS.append(Outcome("path as input (process)", argv[0], "violation: hang", 60.0))
        pytest.fail(f"flashsight {' '.join(argv)} hung on a FIFO")
    ok = done.returncode != 0 and done.stderr.count("\n") == 1 and str(fifo) in done.stderr \
        and "Traceback" not in done.stderr
    RESULTS.append(Outcome("path as input (process)", argv[0], "refused" if ok else "violation: message", 0.0,
                           done.stderr[-200:]))
    assert ok, done.stderr
