"""`flashsight report` on bad input: one line on stderr, a non-zero exit, nothing written that looks complete."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from flashsight.cli import main
from tests.outputs.real_run import REAL_RUN


@pytest.mark.parametrize("args, message", [
    (["report", "{missing}"], "{missing}: no such file or folder"),
    (["report", "{empty}"], "{empty}: not a flashsight run"),
    (["report", "{capture}"], "this run has no folder of its own: give the report an output folder (--out)"),
    (["report", str(REAL_RUN), "--out", "{file}"], "{file}"),
    (["report"], "give a RUN_DIR or --sample (one of them)"),
    (["export", str(REAL_RUN)], "choose a format: --perfetto"),
])
def test_bad_input_is_one_line(tmp_path, args, message):
    from tests.ncu_data import ncu_file

    paths = {"{missing}": str(tmp_path / "missing"), "{empty}": str(tmp_path / "empty"),
             "{capture}": str(ncu_file("dec.ncu-rep")), "{file}": str(tmp_path / "a_file")}
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("not a folder\n")
    args = [paths.get(a, a) for a in args]
    for key, value in paths.items():
        message = message.replace(key, value)
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert message in lines[-1] and "Traceback" not in result.output, result.output
    assert len([line for line in lines if "rror" in line]) == 1
    assert not (tmp_path / "a_file" / "report.html").exists()
