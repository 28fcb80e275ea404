"""The block structure of an .ncu-rep file, checked before (and after) ncu_report reads it.

ncu_report loads a cut or damaged report without a word: a report cut between two kernels loses the last ones,
and a damaged kernel comes back with no name and no metrics. What every ncu 2025.3 report looks like (file
header version 7; other layouts are not judged):

    'NVR\\0', u32 length + file header (protobuf)
    blocks: u32 length + block header (protobuf: 1 = number of sources, 2 = number of results, 3 = a session
            record, 5 = payload size) + payload: each source, then each result, as u32 length + protobuf
    a result (one profiled kernel) holds one field-13 entry per metric instance, whose field 1 is the metric id:
    its distinct ids are the metrics ncu_report lists for that kernel
    a source block (a kernel's module) comes just before the result that first uses it, and the session
    records follow the first result: one block each, its field 3 holding field 6 (the device), 8 (three
    versions), 5, 4 (the system) and 11 (the command line), in that order

So a file whose blocks do not end exactly at its end, a payload its entries do not fill, malformed protobuf,
a report that ends on a source block or lacks a session record after its first result, is cut or damaged.
A cut exactly between two later kernels cannot be told from a shorter report: the kernel count says it.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

from flashsight.errors import InputError

_LAYOUT_V7 = b"\x08\x07"  # the file header of every ncu 2025.3 report
_METRIC_FIELD = 13
_SESSION_RECORDS = {4, 5, 6, 8, 11}  # what the session blocks after the first result hold (see above)


def _varint(buf, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(buf, start: int, end: int):
    """(field, wire type, value or (offset, length)) of one protobuf message; ValueError when malformed."""
    i = start
    while i < end:
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise ValueError("field number 0")
        if wire == 0:
            value, i = _varint(buf, i)
            yield field, wire, value
        elif wire == 2:
            length, i = _varint(buf, i)
            if i + length > end:
                raise ValueError("a field runs past its message")
            yield field, wire, (i, length)
            i += length
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
            yield field, wire, None
        else:
            raise ValueError(f"wire type {wire}")
    if i != end:
        raise ValueError("a field runs past its message")


def _metric_count(buf, start: int, end: int) -> int:
    """Distinct metric ids of one result (ProfileResult), its field-13 entries checked on the way."""
    ids = set()
    for field, wire, value in _fields(buf, start, end):
        if field == _METRIC_FIELD and wire == 2:
            s, n = value
            metric_id = None
            for f, w, v in _fields(buf, s, s + n):
                if f == 1 and w == 0 and metric_id is None:
                    metric_id = v
            ids.add(metric_id)
    return len(ids)


def block_bounds(buf) -> list[tuple[int, int, dict[int, int], int]]:
    """(start, header length, header's integer fields, end) of every block of a well-formed report in memory,
    from its own length prefixes, unchecked: for tools that cut or copy blocks (report_spans judges a file)."""
    (length,) = struct.unpack_from("<I", buf, 4)
    pos, out = 8 + length, []
    while pos < len(buf):
        (length,) = struct.unpack_from("<I", buf, pos)
        header = {f: v for f, w, v in _fields(buf, pos + 4, pos + 4 + length) if w == 0}
        end = pos + 4 + length + header.get(5, 0)
        out.append((pos, length, header, end))
        pos = end
    return out


def report_layout(path: Path) -> list[int] | None:
    """The metric count of each result (kernel) in file order, or None for a layout this does not judge.

    InputError naming the file when the blocks say it is cut short or damaged."""
    spans = report_spans(path)
    return None if spans is None else metric_counts(path, spans)


def report_spans(path: Path) -> list[tuple[int, int, int]] | None:
    """Where each result (kernel) lies: (its block's offset, the entry's offset, its length), in file order; None
    for a layout this does not judge. The blocks' structure is checked (InputError when cut or damaged), the
    results' own entries are not: metric_counts does that, for all kernels or for one reader's slice."""
    path = Path(path)
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size < 8:
            raise InputError(f"{path}: truncated Nsight Compute report ({size} bytes)")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            (length,) = struct.unpack_from("<I", m, 4)
            if 8 + length > size:
                raise _truncated(path, size, 8 + length)
            if m[8:8 + length] != _LAYOUT_V7:
                return None
            return _blocks(path, m, 8 + length, size)


def metric_counts(path: Path, spans: list[tuple[int, int, int]], first: int = 0) -> list[int]:
    """The distinct metric ids of each result at `spans` (report_spans' entries for kernels first, first+1, ...);
    InputError when one is not well-formed protobuf."""
    path = Path(path)
    counts = []
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        for k, (at, start, n) in enumerate(spans, first):
            body = m[start:start + n]  # bytes index faster than the map
            try:
                counts.append(_metric_count(body, 0, n))
            except (ValueError, IndexError):
                raise _damaged(path, at, f"kernel #{k} is malformed") from None
    return counts


def slice_layout(path: Path, spans: list[tuple[int, int, int]], first: int, total: int) -> list[int | None]:
    """report_layout's list as one reader of a slice needs it: counted for kernels first..first+len(spans)-1
    (the spans given), None for the other readers' kernels."""
    counts: list[int | None] = [None] * total
    counts[first:first + len(spans)] = metric_counts(path, spans, first)
    return counts


def _blocks(path: Path, m, pos: int, size: int) -> list[tuple[int, int, int]]:
    spans: list[tuple[int, int, int]] = []
    kinds: list[str] = []  # S: source, R: result(s), M: session record
    session: set[int] = set()  # the records after the first result
    while pos < size:
        at = pos
        if pos + 4 > size:
            raise _truncated(path, size, pos + 4)
        (length,) = struct.unpack_from("<I", m, pos)
        if pos + 4 + length > size:
            raise _truncated(path, size, pos + 4 + length)
        try:
            header = {f: v for f, w, v in _fields(m, pos + 4, pos + 4 + length) if w == 0 or f == 3}
        except (ValueError, IndexError):
            raise _damaged(path, at, "its block header is not readable") from None
        sources, results, payload = header.get(1, 0), header.get(2, 0), header.get(5, 0)
        start = pos + 4 + length
        end = start + payload
        if end > size:
            raise _truncated(path, size, end)
        q = start
        for entry in range(sources + results):
            if q + 4 > end:
                raise _damaged(path, at, f"its payload holds {entry} of {sources + results} entries")
            (n,) = struct.unpack_from("<I", m, q)
            if q + 4 + n > end:
                raise _damaged(path, at, f"entry {entry + 1} runs past the payload")
            if entry >= sources:
                spans.append((at, q + 4, n))
            else:
                try:
                    for _ in _fields(m[q + 4:q + 4 + n], 0, n):  # bytes index faster than the map
                        pass
                except (ValueError, IndexError):
                    raise _damaged(path, at, "a kernel's source is malformed") from None
            q += 4 + n
        if q != end:
            raise _damaged(path, at, f"{end - q:,} bytes of its payload belong to no entry")
        kinds.append("R" if results else ("S" if sources else ("M" if 3 in header else "?")))
        if kinds[-1] == "M" and "R" in kinds:
            s, n = header[3]
            try:
                session.update(f for f, _, _ in _fields(m, s, s + n))
            except (ValueError, IndexError):
                raise _damaged(path, at, "its session record is not readable") from None
        pos = end
    if "R" in kinds and not _SESSION_RECORDS <= session:
        where = "before" if not session else "inside"
        raise InputError(f"{path}: truncated Nsight Compute report (cut after its first kernel, {where} the "
                         f"session records ncu writes next)")
    if kinds and kinds[-1] == "S":
        raise InputError(f"{path}: truncated Nsight Compute report (it ends with a kernel's source, not the kernel)")
    return spans


def judges_counts(expected: list[int | None] | None) -> bool:
    """Whether metric counts are judged at all: a layout with no metric entries (every count 0) is one this does
    not know. Kernels another reader counts (None) do not take part."""
    return expected is not None and all(c for c in expected if c is not None)


def check_kernel(path: Path, expected: list[int | None] | None, k: int, name: str | None, metrics: int,
                 judge_counts: bool) -> None:
    """Kernel #k as ncu_report read it (its name, its number of metrics) against what the blocks hold;
    judge_counts: judges_counts(expected), worked out once per report."""
    if expected is None:
        return
    if k >= len(expected):
        raise InputError(f"{path}: damaged Nsight Compute report (ncu_report reads more kernels than its "
                         f"{len(expected)})")
    if not name or (judge_counts and metrics != expected[k]):
        raise InputError(f"{path}: damaged Nsight Compute report (kernel #{k} reads with {metrics:,} of its "
                         f"{expected[k]:,} metrics{'' if name else ' and no name'})")


def check_kernel_count(path: Path, expected: list[int] | None, read: int) -> None:
    if expected is not None and read != len(expected):
        raise InputError(f"{path}: damaged Nsight Compute report (ncu_report read {read} of its "
                         f"{len(expected)} kernels)")


def _truncated(path: Path, size: int, needed: int) -> InputError:
    return InputError(f"{path}: truncated Nsight Compute report ({size:,} bytes; its blocks need {needed:,})")


def _damaged(path: Path, at: int, what: str) -> InputError:
    return InputError(f"{path}: damaged Nsight Compute report (block at byte {at:,}: {what})")
