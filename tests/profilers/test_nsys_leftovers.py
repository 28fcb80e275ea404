"""Real nsys, no GPU (issue 13): a failed .nsys-rep/.qdstrm parse leaves nothing beside the input, and a
profile that recorded no NVTX range (an NVTX-only program under Debian's nsys 2022.4) warns instead of
reporting a plain success. Skipped where nsys is absent, a failure under CI=true (CI installs it)."""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner

from flashsight.cli import main

@pytest.mark.parametrize("name", ["bad.nsys-rep", "bad.qdstrm"])
def test_a_failed_conversion_leaves_nothing_beside_the_input(nsys, tmp_path, name):
    """Failed parses left `*.export.log` (and could leave a half-imported report) next to the capture."""
    capture = tmp_path / name
    capture.write_bytes(random.Random(13).randbytes(50_000))
    result = CliRunner().invoke(main, ["parse", str(capture), "--out", str(tmp_path / "T")])
    assert result.exit_code != 0 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("flashsight: error: ") and "failed" in result.output
    assert "log " not in result.output  # it names no log file that is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_profile_without_nvtx_ranges_warns(nsys, tmp_path):
    """The `nvtx` package records nothing under nsys 2022.4 (its injection predates nvtxDomainIsEnabled): the
    job succeeded with 0 NVTX rows and no word about it."""
    script = tmp_path / "nvtx_only.py"
    script.write_text('import time, nvtx\nwith nvtx.annotate("step", domain="mine"):\n    time.sleep(0.05)\n')
    result = CliRunner().invoke(main, ["profile", str(script), "--tool", "nsys", "--out", str(tmp_path / "job")])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in result.output.splitlines()
            if line.startswith("  ") and line.endswith(" rows")}
    if rows.get("nvtx_ranges"):
        pytest.skip("this nsys records the nvtx package's ranges: nothing to warn about")
    assert "flashsight: warning: nsys recorded no NVTX range: nvtx_path is empty" in result.output
    import json

    assert json.loads((tmp_path / "job" / "job.json").read_text())["warnings"][0].startswith("nsys recorded no")
