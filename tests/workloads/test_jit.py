"""The JIT study's bookkeeping, on the records its probes wrote on an H100 (FlashInfer 0.5.3)."""

import json

import pytest
from rich.console import Console

from flashsight.outputs.terminal import print_any_result
from flashsight.workloads.jit import family_record
from tests import DATA as TEST_DATA

DATA = TEST_DATA / "workloads" / "jit_h100"
RESULT = json.loads((DATA / "result.json").read_text())


@pytest.mark.parametrize("family", ["rope", "prefill"])
def test_family_record_is_rebuilt_from_the_probe_records(family):
    cold = json.loads((DATA / f"jit-{family}-cold.json").read_text())
    disk = json.loads((DATA / f"jit-{family}-disk.json").read_text())
    recorded = RESULT["families"][family]
    assert family_record(cold, disk, recorded["cache"]) == recorded


def test_cold_disk_and_memory_hits_as_measured():
    rope, prefill = RESULT["families"]["rope"], RESULT["families"]["prefill"]
    assert rope["cold_s"] == 47.384862055999974  # compile: the first call in an empty cache
    assert rope["disk_hit_s"] == 0.012482410000018263  # a fresh process loading the compiled module
    # memory hit: median of the 3 + 3 later calls of both processes
    assert rope["memory_hit_s"] == (5.176899998105e-05 + 5.518199998277851e-05) / 2
    assert prefill["disk_hit_s"] == 0.020092594000004738
    assert rope["cache"]["modules"] == 1 and rope["cache"]["size_bytes"] == 14_300_496
    assert RESULT["complete"] is True and list(RESULT["families"]) == ["norm", "rope", "decode", "prefill"]


def test_the_terminal_shows_the_study():
    console = Console(record=True, width=120)
    print_any_result(RESULT, console)
    text = console.export_text()
    assert "FlashInfer 0.5.3 JIT" in text
    rope_line = next(line for line in text.splitlines() if line.strip().startswith("rope"))
    assert rope_line.split()[:4] == ["rope", "47.38", "0.012", "0.053"]
    assert "default cache /root/.cache/flashinfer: 20.9 MiB, 3 modules" in text
