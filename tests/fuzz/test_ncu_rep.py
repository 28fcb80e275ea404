"""Fuzz: damaged Nsight Compute reports (cut at every block end and at random bytes, zeroed 4 KiB regions,
zeroed block headers, lengths off by one, flipped bits) through `flashsight parse`."""

from __future__ import annotations

import struct

import pytest

from tests.fuzz import damage
from tests.fuzz.captures import baseline, data
from tests.fuzz.harness import check, parse_bytes, rows_of_kernels

REPORTS = ("rmsnorm.ncu-rep", "dec.ncu-rep")


def _cases():
    for name in REPORTS:
        raw = data(name)
        blocks = damage.ncu_rep_blocks(raw)
        for i, (start, hlen, end) in enumerate(blocks[:-1]):
            yield "ncu-rep cut at a block end", name, f"end{i}", lambda raw, e=end: damage.cut(raw, e)
        for at in damage.offsets(len(raw), 12, name, "cut", start=8):
            yield "ncu-rep cut at a byte", name, f"at{at}", lambda raw, a=at: damage.cut(raw, a)
        for at in damage.offsets(len(raw), 8, name, "zero"):
            yield "ncu-rep zeroed 4 KiB", name, f"at{at}", lambda raw, a=at: damage.zero(raw, a)
        for i, (start, hlen, end) in enumerate(blocks):
            yield "ncu-rep zeroed block header", name, f"block{i}", \
                lambda raw, s=start, h=hlen: damage.zero(raw, s + 4, min(h, 16))
        for i, (start, hlen, end) in enumerate(blocks[1:5]):
            for delta in (-1, 1):
                yield "ncu-rep length off by one", name, f"block{i + 1}{delta:+d}", \
                    lambda raw, s=start, h=hlen, d=delta: raw[:s] + struct.pack("<I", h + d) + raw[s + 4:]
    for k in range(8):  # mostly the small report: each flipped case is read by ncu_report in full
        yield "ncu-rep flipped bits", "rmsnorm.ncu-rep", f"seed{k}", lambda raw, k=k: damage.flip(raw, 4, "rep", k)
    for k in range(2):
        yield "ncu-rep flipped bits", "dec.ncu-rep", f"seed{k}", lambda raw, k=k: damage.flip(raw, 4, "dec", k)


CASES = list(_cases())


@pytest.mark.parametrize("klass, name, case, make", CASES, ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_damaged_report(tmp_path, klass, name, case, make):
    rows, by_kernel = baseline(name)
    path, out, ran = parse_bytes(tmp_path, name, make(data(name)))
    kernels = sorted(set(by_kernel["ncu_kernels"]))
    shorter = rows_of_kernels(by_kernel, kernels[:-1]) if len(kernels) > 1 else None  # cut between kernels
    check(klass, f"{name}:{case}", ran, named=str(path), baseline=rows, out=out, shorter=shorter)
