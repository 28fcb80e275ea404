"""Cut and damaged .ncu-rep files are refused by name (issue 13), or, where a cut cannot be told from a shorter
report, the kernel count is said. Data: tests/data/ncu (gzip'ed copies of the shared H100 captures, ncu 2025.3)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from flashsight.cli import main
from flashsight.errors import InputError
from flashsight.parsers.ncu_rep_layout import report_layout
from flashsight.parsers.ncu_report import read_ncu
from tests.fuzz.damage import ncu_rep_blocks
from tests.ncu_data import ncu_file, ncu_tables


def _blocks(path) -> list[tuple[int, int]]:
    """(offset, end) of every block, from the file's own length prefixes."""
    return [(start, end) for start, _, end in ncu_rep_blocks(path.read_bytes())]


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_issue_cut_between_kernels_is_refused(tmp_path):
    """`head -c 1985117 dec.ncu-rep` (what a killed ncu leaves): it parsed with 1 kernel of 2, exit 0."""
    cut = _write(tmp_path, "cut.ncu-rep", ncu_file("dec.ncu-rep").read_bytes()[:1985117])
    result = CliRunner().invoke(main, ["parse", str(cut), "--out", str(tmp_path / "T")])
    assert result.exit_code == 1
    assert result.output == (f"flashsight: error: {cut}: truncated Nsight Compute report (cut after its first "
                             "kernel, before the session records ncu writes next)\n")
    assert not (tmp_path / "T").exists()


@pytest.mark.parametrize("offset", [700_000, 1_000_000])  # found by ncu_report's read; by the blocks
def test_zeroed_4k_inside_a_kernel_is_refused_and_stalls_never_shows_an_empty_kernel(tmp_path, offset):
    """Zeroing 4 KiB inside mm.ncu-rep gave exit 0, a kernel with no metrics and `#0 None duration –`."""
    data = bytearray(ncu_file("mm.ncu-rep").read_bytes())
    data[offset:offset + 4096] = bytes(4096)
    damaged = _write(tmp_path, "zeroed.ncu-rep", bytes(data))
    with pytest.raises(InputError, match=r"damaged Nsight Compute report") as err:
        read_ncu(damaged)
    assert str(err.value).startswith(str(damaged)) and "\n" not in str(err.value)
    result = CliRunner().invoke(main, ["stalls", str(damaged)])
    assert result.exit_code != 0 and "None" not in result.output and result.output.count("\n") == 1


def test_every_block_boundary_of_a_two_kernel_report(tmp_path):
    """Cut at each block boundary: refused, except after the first kernel's complete session records, which
    reads as the 1-kernel report it then is (no format can tell) and says so."""
    source = ncu_file("dec.ncu-rep")
    data = source.read_bytes()
    ends = [end for _, end in _blocks(source)]
    assert ends[-1] == len(data) and len(ends) == 12
    readable = []
    for end in ends[:-1]:
        path = _write(tmp_path, f"cut{end}.ncu-rep", data[:end])
        try:
            readable.append((end, report_layout(path)))
        except InputError as exc:
            assert "truncated Nsight Compute report" in str(exc)
    assert readable == [(145, []), (1994334, [2243])]  # nothing profiled yet; one whole kernel
    with pytest.raises(InputError, match="holds no profiled kernel"):
        read_ncu(tmp_path / "cut145.ncu-rep")
    shorter = tmp_path / "cut1994334.ncu-rep"
    result = CliRunner().invoke(main, ["parse", str(shorter), "--out", str(tmp_path / "T")])
    assert result.exit_code == 0, result.output
    assert f"{shorter}: 1 ncu kernel\n" in result.output  # the count a sweep compares with what it launched
    full = ncu_tables("dec.ncu-rep")["ncu_kernels"]
    import pandas as pd

    got = pd.read_parquet(tmp_path / "T" / "ncu_kernels.parquet")
    assert got["short_name"].tolist() == full["short_name"].tolist()[:1]


def test_the_metric_count_of_each_kernel_is_what_ncu_report_lists():
    """The blocks' own count (distinct metric ids of each result) equals ncu_report's metric_names()."""
    for name, kernels in (("dec.ncu-rep", 2), ("mm.ncu-rep", 1)):
        counts = report_layout(ncu_file(name))
        assert len(counts) == kernels
        metrics = ncu_tables(name)["ncu_metrics"]
        # ncu_metrics leaves out ncu's 'group:'/'breakdown:' pseudo metrics; the blocks count them too
        assert all(n >= m for n, m in zip(counts, metrics.groupby("kernel_id").size()))
    assert report_layout(ncu_file("dec.ncu-rep")) == [2243, 2243]


def test_a_damaged_block_header_and_a_payload_with_bytes_to_spare(tmp_path):
    data = bytearray(ncu_file("mm.ncu-rep").read_bytes())
    start, end = _blocks(ncu_file("mm.ncu-rep"))[2]  # the kernel's block
    broken = bytearray(data)
    broken[start + 4:start + 12] = b"\xff" * 8  # its header: not protobuf any more
    with pytest.raises(InputError, match="damaged Nsight Compute report .block at byte 615,980: its block header"):
        report_layout(_write(tmp_path, "hdr.ncu-rep", bytes(broken)))
    with pytest.raises(InputError, match="truncated Nsight Compute report"):
        report_layout(_write(tmp_path, "short.ncu-rep", bytes(data[:-1])))
    with pytest.raises(InputError, match="blocks need"):
        report_layout(_write(tmp_path, "tiny.ncu-rep", bytes(data[:9])))
