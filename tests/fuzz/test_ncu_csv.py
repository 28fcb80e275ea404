"""Fuzz: damaged ncu CSV pages (raw in default and base units, details, source): cut at random bytes and at
row ends, rows and columns dropped, hostile cells, encodings and line endings, through `flashsight parse`."""

from __future__ import annotations

import csv
import io

import pytest

from tests.fuzz import damage
from tests.fuzz.captures import baseline, data
from tests.fuzz.harness import check, parse_bytes, rows_of_kernels

PAGES = ("dec_raw.csv", "raw_base.csv", "details.csv", "source.csv")
CELLS = ("inf", "-inf", "1e999", "nan", "", "n/a", "abc", "1,234,567", "-5", "9" * 30, "0x10", "1e-400")


def _rows(name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data(name).decode())))


def _csv(rows) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


def _without_column(name: str, column: str):
    rows = _rows(name)
    i = rows[0].index(column)
    return lambda raw: _csv([r[:i] + r[i + 1:] if len(r) > i else r for r in rows])


def _cell(name: str, row: int, column: str, text: str):
    rows = [list(r) for r in _rows(name)]
    rows[row][rows[0].index(column)] = text
    return lambda raw: _csv(rows)


def _without_source_column(column: str) -> bytes:
    rows = _rows("source.csv")
    header = next(i for i, r in enumerate(rows) if r[:1] == ["Address"])
    i = rows[header].index(column)
    return _csv(rows[:header] + [r[:i] + r[i + 1:] if len(r) > 3 else r for r in rows[header:]])


def _cases():
    for name in PAGES:
        raw = data(name)
        for at in damage.offsets(len(raw), 8, name, "cut", start=1):
            yield "csv cut at a byte", name, f"at{at}", lambda raw, a=at: damage.cut(raw, a)
        ends = damage.line_ends(raw)
        for at in sorted(damage.rng(name, "ends").sample(ends[:-1], min(4, len(ends) - 1))):
            yield "csv cut at a row end", name, f"line{ends.index(at) + 1}", lambda raw, a=at: damage.cut(raw, a)
        yield "csv encoding", name, "bom", lambda raw: b"\xef\xbb\xbf" + raw
        yield "csv encoding", name, "crlf", lambda raw: raw.replace(b"\n", b"\r\n")
        yield "csv encoding", name, "banner", lambda raw: b"==PROF== Connected to process 1\n" + raw
        yield "csv encoding", name, "nul-bytes", lambda raw: raw[:len(raw) // 2] + b"\x00" * 64 + raw[len(raw) // 2:]
        yield "csv encoding", name, "latin1", lambda raw: raw.replace(b"python3.12", b"pyth\xf6n3.12", 1)
        yield "csv encoding", name, "trailing-garbage", lambda raw: raw + b"this is not csv, really\n"
        yield "csv encoding", name, "empty", lambda raw: b""
        yield "csv zeroed 1 KiB", name, "middle", lambda raw: damage.zero(raw, len(raw) // 2, 1024)
        yield "csv flipped bits", name, "seed0", lambda raw, n=name: damage.flip(raw, 3, n, 0)
    for name in ("dec_raw.csv", "raw_base.csv"):
        for dropped in (0, 1, 2, 3):
            yield "csv dropped row", name, f"row{dropped + 1}", \
                lambda raw, d=dropped: b"".join(raw.splitlines(keepends=True)[:d] + raw.splitlines(keepends=True)[d + 1:])
        for column in ("ID", "Kernel Name", "Process ID", "Block Size", "Grid Size", "CC", "gpu__time_duration.sum",
                       "smsp__pcsamp_warps_issue_stalled_barrier"):
            yield "csv dropped column", name, column, _without_column(name, column)
        for k, text in enumerate(CELLS):
            column = ("gpu__time_duration.sum", "ID", "launch__registers_per_thread")[k % 3]
            yield "csv hostile cell", name, f"{column}={text!r}", _cell(name, 2 + k % 2, column, text)
    for name in ("dec_raw.csv", "details.csv"):
        yield "csv hostile cell", name, "Kernel Name=''", _cell(name, 2, "Kernel Name", "")
    for column in ("Section Name", "Metric Name", "Metric Unit", "Metric Value", "Rule Name", "ID", "Kernel Name"):
        yield "csv dropped column", "details.csv", column, _without_column("details.csv", column)
    for k, text in enumerate(CELLS[:6]):
        yield "csv hostile cell", "details.csv", f"Metric Value={text!r}", _cell("details.csv", 3 + k, "Metric Value", text)
    yield "csv dropped row", "details.csv", "header", lambda raw: b"".join(raw.splitlines(keepends=True)[1:])
    for column in ("Address", "Source"):
        yield "csv dropped column", "source.csv", column, lambda raw, c=column: _without_source_column(c)


CASES = list(_cases())


def _shorter(name: str, case: str, raw: bytes):
    """The rows of the well-formed shorter page this case also is: a page cut at a row end or missing a kernel
    row holds the rows of its remaining kernels; a raw page without one metric column, all but that metric's."""
    if name not in ("dec_raw.csv", "raw_base.csv", "details.csv"):
        return None
    rows, by_kernel = baseline(name)
    if "__" in case:  # a metric column: one ncu_metrics row less per kernel (and a stall metric, its stall rows)
        n = len(set(by_kernel["ncu_kernels"]))
        stall = case.startswith("smsp__pcsamp_warps_issue_stalled_")
        return {**rows, "ncu_metrics": rows["ncu_metrics"] - n,
                **({"warp_stalls": rows["warp_stalls"] - n} if stall else {})}
    try:
        kept = {int(r[0]) for r in csv.reader(io.StringIO(raw.decode(errors="replace"))) if r and r[0].isdigit()}
    except csv.Error:
        return None
    return rows_of_kernels(by_kernel, kept) if kept else None


@pytest.mark.parametrize("klass, name, case, make", CASES, ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_damaged_page(tmp_path, klass, name, case, make):
    rows, _ = baseline(name)
    damaged = make(data(name))
    path, out, ran = parse_bytes(tmp_path, name, damaged)
    check(klass, f"{name}:{case}", ran, named=str(path), baseline=rows, out=out,
          shorter=_shorter(name, case, damaged))
