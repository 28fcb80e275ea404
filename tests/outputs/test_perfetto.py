"""`flashsight export --perfetto`: the Chrome trace-event format (JSON object with traceEvents; complete events
with ph/ts/dur/pid/tid; metadata naming processes and threads), kernels on stream tracks, NVTX ranges on thread
tracks, nested as pushed; built from a real nsys capture split per measured range."""

from __future__ import annotations

import gzip
import json

import pytest
from click.testing import CliRunner

import flashsight
from flashsight.cli import main
from flashsight.outputs.perfetto import STREAM_TID_BASE
from tests.outputs.run_fixtures import nsys_only_run


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    run_dir = nsys_only_run(tmp_path_factory.mktemp("perfetto") / "run")
    result = CliRunner().invoke(main, ["export", str(run_dir), "--perfetto"])
    assert result.exit_code == 0, result.output
    path = run_dir / "trace.json.gz"
    assert f"perfetto trace: {path}" in result.output
    with gzip.open(path, "rt") as f:
        return flashsight.load(run_dir), json.load(f)


def test_every_event_has_the_fields_of_its_phase(exported):
    _, trace = exported
    assert set(trace) >= {"traceEvents", "displayTimeUnit"} and trace["displayTimeUnit"] == "ns"
    events = trace["traceEvents"]
    assert {e["ph"] for e in events} == {"X", "M"}
    for e in events:
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int) and isinstance(e["name"], str)
        if e["ph"] == "X":
            assert isinstance(e["ts"], (int, float)) and isinstance(e["dur"], (int, float))
            assert e["ts"] >= 0 and e["dur"] >= 0 and isinstance(e.get("args", {}), dict)
        else:
            assert e["name"] in {"process_name", "thread_name", "process_sort_index"} and "args" in e


def test_kernels_sit_on_stream_tracks_with_their_nsys_times(exported):
    run, trace = exported
    kernels = run.table("gpu_kernels")
    xs = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "kernel"]
    assert len(xs) == len(kernels) == 6  # fi.sqlite's measured ranges: prefill x3, rope, rmsnorm + fused
    assert {e["tid"] for e in xs} == {STREAM_TID_BASE + 7}
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"}
    assert all(names[(e["pid"], e["tid"])] == "stream 7" for e in xs)
    assert sorted(e["args"]["duration_ns"] for e in xs) == sorted(kernels["duration_ns"].tolist())
    for e in xs:
        assert e["dur"] == e["args"]["duration_ns"] / 1e3  # microseconds, the format's unit
    processes = {e["pid"]: e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"}
    assert sorted(processes.values()) == ["prefill", "rmsnorm", "rope"]


def test_nvtx_ranges_sit_on_their_threads_and_nest(exported):
    run, trace = exported
    ranges = run.table("nvtx_ranges")
    xs = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "nvtx"]
    assert len(xs) == len(ranges) == 5
    assert {e["tid"] for e in xs} == set(ranges["tid"].astype(int))
    for pid in {e["pid"] for e in xs}:  # on one track, ranges either nest or do not overlap
        spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in xs if e["pid"] == pid)
        stack: list[float] = []
        for start, end in spans:
            while stack and stack[-1] <= start:
                stack.pop()
            assert not stack or end <= stack[-1]
            stack.append(end)
